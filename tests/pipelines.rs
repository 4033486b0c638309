//! Two pipelines in one spanflow, each a Tempo 2.7.2 replaying a real capture served by a
//! real HTTP server on 127.0.0.1: `prod-eu` the TLS mismatch between distributor and
//! ingesters, `prod-us` healthy. Each must show its own truth — in `/metrics`, on the status
//! page (worst first, with since-when and the timeline strip), in `/api/v1/status` (its
//! events) and in `spanflow diagnose` (all, or one by `--pipeline`, with that one's exit
//! code) — and a reload must keep the timeline of the pipeline that stays.

mod common;

use std::time::{Duration, Instant};

use common::FixtureServer;

const BROKEN: &str = "fixtures/tempo-2.7.2/tls-mismatch";
const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy";

async fn replaying(dir: &str) -> FixtureServer {
    let server = FixtureServer::start(dir).await;
    server.play_metrics(common::extrapolated_series(dir, 600));
    server
}

fn two_pipelines(poll: &str, eu: &str, us: &str) -> String {
    format!(
        "poll_interval: {poll}\nwindow: 30s\nprobes: {{grpc_health: false}}\npipelines:\n  - name: prod-us\n    targets: [{{name: tempo, role: tempo, url: '{us}'}}]\n  - name: prod-eu\n    targets: [{{name: tempo, role: tempo, url: '{eu}'}}]\n"
    )
}

/// `spanflow diagnose --wait 3s` on `yaml` with `extra` flags.
async fn diagnose(yaml: &str, extra: &[&str]) -> (i32, String, String) {
    common::run_diagnose_on(yaml, "3s", extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_reports_each_pipeline_worst_first_and_one_by_name() {
    let eu = replaying(BROKEN).await;
    let us = replaying(HEALTHY).await;
    let yaml = two_pipelines("15s", &eu.base, &us.base);

    let (code, out, err) = diagnose(&yaml, &[]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    // Worst first, though prod-us is written first.
    let eu_at = out
        .find("Pipeline prod-eu: Spans stop at tempo_ingester\n")
        .unwrap_or_else(|| panic!("{out}"));
    let us_at = out
        .find("Pipeline prod-us: Pipeline healthy\n")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(eu_at < us_at, "{out}");
    let eu_part = &out[eu_at..us_at];
    assert!(
        eu_part.contains("grpc_tls_mismatch at tempo_ingester"),
        "{eu_part}"
    );
    assert!(
        eu_part.contains("failing for at least "),
        "since-when of the failing stages: {eu_part}"
    );
    assert!(!out[us_at..].contains("grpc_tls_mismatch"), "{out}");

    let (code, out, _) = diagnose(&yaml, &["--pipeline", "prod-us"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("Pipeline prod-us: Pipeline healthy\n"),
        "{out}"
    );
    assert!(!out.contains("prod-eu"), "{out}");

    let (code, json, _) = diagnose(&yaml, &["--pipeline", "prod-eu", "--output", "json"]).await;
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = report["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod-eu"]);
    assert_eq!(report["pipelines"][0]["verdict"], "blocked");
    assert!(
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["pipeline"] == "prod-eu")
    );

    let (code, _, err) = diagnose(&yaml, &["--pipeline", "prod-ap"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("--pipeline \"prod-ap\": no such pipeline")
            && err.contains("prod-us, prod-eu"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_metrics_page_and_events_keep_the_pipelines_apart_and_survive_a_reload() {
    let eu = replaying(BROKEN).await;
    let us = replaying(HEALTHY).await;
    let yaml = two_pipelines("500ms", &eu.base, &us.base);
    let spanflow = common::Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let m = spanflow.metrics().await;
        let blocked = common::sample(
            &m,
            "spanflow_pipeline_blocked_stage{pipeline=\"prod-eu\",stage=\"tempo_ingester\"}",
        );
        let healthy = common::sample(&m, "spanflow_pipeline_healthy{pipeline=\"prod-us\"}");
        if blocked == Some(1.0) && healthy == Some(1.0) {
            break m;
        }
        assert!(Instant::now() < deadline, "not both judged:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (series, want) in [
        ("spanflow_pipeline_healthy{pipeline=\"prod-eu\"}", 0.0),
        (
            "spanflow_pipeline_blocked_stage{pipeline=\"prod-us\",stage=\"tempo_ingester\"}",
            0.0,
        ),
        (
            "spanflow_diagnosis{pipeline=\"prod-eu\",cause=\"grpc_tls_mismatch\",stage=\"tempo_ingester\"}",
            1.0,
        ),
        (
            "spanflow_stage_status{pipeline=\"prod-us\",stage=\"tempo_distributor\",status=\"ok\"}",
            1.0,
        ),
        (
            "spanflow_stage_status{pipeline=\"prod-eu\",stage=\"tempo_distributor\",status=\"failing\"}",
            1.0,
        ),
    ] {
        assert_eq!(common::sample(&metrics, series), Some(want), "{series}");
    }
    assert!(
        !metrics.contains("spanflow_diagnosis{pipeline=\"prod-us\""),
        "{metrics}"
    );
    let changed = common::sample(
        &metrics,
        "spanflow_stage_status_changed_timestamp_seconds{pipeline=\"prod-eu\",stage=\"tempo_ingester\"}",
    )
    .expect("since-when of prod-eu's ingester stage");

    // The page: the overall verdict names the worst pipeline, which comes first.
    let page = spanflow.get("/").await.unwrap();
    assert!(
        page.contains(
            "<h1 id=\"verdict\">prod-eu: Spans stop at tempo_ingester (1 of 2 pipelines need attention)</h1>"
        ),
        "{page}"
    );
    let eu_at = page.find("id=\"pipeline-prod-eu\"").unwrap();
    let us_at = page.find("id=\"pipeline-prod-us\"").unwrap();
    assert!(eu_at < us_at);
    assert!(page[eu_at..us_at].contains("id=\"prod-eu/stage-tempo_ingester\""));
    assert!(page[eu_at..us_at].contains("failing for at least "));
    assert!(page[eu_at..us_at].contains("<svg class=\"strip\""));
    assert!(page[us_at..].contains("id=\"prod-us/stage-tempo_distributor\""));

    // Events: the ingester of prod-eu turned failing once, at the time the metric says.
    let status = spanflow.status().await;
    let turned: Vec<&serde_json::Value> = status["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["pipeline"] == "prod-eu" && e["stage"] == "tempo_ingester")
        .collect();
    assert_eq!(turned.len(), 1, "{turned:?}");
    assert_eq!(turned[0]["to"], "failing");
    // serde_json reads decimals to within an ulp, not always exactly.
    let same_time = |v: &serde_json::Value| v.as_f64().is_some_and(|t| (t - changed).abs() < 1e-3);
    assert!(same_time(&turned[0]["unix"]), "{turned:?} vs {changed}");
    assert_eq!(turned[0]["causes"][0], "grpc_tls_mismatch");

    // A reload that drops prod-us keeps prod-eu's timeline and forgets prod-us'.
    std::fs::write(
        &spanflow.config,
        format!(
            "poll_interval: 500ms\nwindow: 30s\nprobes: {{grpc_health: false}}\npipelines:\n  - name: prod-eu\n    targets: [{{name: tempo, role: tempo, url: '{}'}}]\n",
            eu.base
        ),
    )
    .unwrap();
    let reloaded = spanflow
        .http
        .post(format!("{}/-/reload", spanflow.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    let status = spanflow.status().await;
    let events = status["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["pipeline"] == "prod-eu"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["stage"] == "tempo_ingester" && same_time(&e["unix"])),
        "{events:?}"
    );
    let stage = status["pipelines"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "tempo_ingester")
        .cloned()
        .unwrap();
    assert!(same_time(&stage["since_unix"]), "{stage} vs {changed}");
}
