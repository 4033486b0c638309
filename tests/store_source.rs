//! A pipeline read from a real Prometheus (Debian `prometheus`, installed by
//! `scripts/test.sh`) agrees with the same pipelines scraped directly.
//!
//! Real HTTP servers on 127.0.0.1 replay the real Tempo 2.7.2 and 3.0.3 series
//! (`testdata/fixtures/*-series/`) by the clock, one page a second (they were captured every
//! 2 s: time runs twice as fast, ratios are the same). A real Prometheus scrapes each every
//! second with its own `cluster` label set in `static_configs`. One spanflow reads every
//! replay directly (a pipeline per capture) and the same data from Prometheus
//! (`source.prometheus`, `split_by: [cluster]`): per cluster the two paths must give the
//! same stage statuses and blocked stage, and success ratios within 2 %. A second test
//! replays a healthy series that restarts (counters back to zero): the Prometheus path
//! shows no failure at the reset.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{FixtureServer, Spanflow, series_pages};
use serde_json::Value;

/// The captures replayed: (cluster label, series folder).
const CAPTURES: [(&str, &str); 5] = [
    ("healthy", "fixtures/tempo-2.7.2-series/healthy"),
    ("tls-mismatch", "fixtures/tempo-2.7.2-series/tls-mismatch"),
    ("rate-limited", "fixtures/tempo-2.7.2-series/rate-limited"),
    ("v3-healthy", "fixtures/tempo-3.0.3-series/healthy"),
    (
        "v3-rate-limited",
        "fixtures/tempo-3.0.3-series/rate-limited",
    ),
];

/// The store-sourced pipeline `fleet` over `prometheus`.
fn fleet_pipeline(prometheus: &str) -> String {
    format!(
        "  - name: fleet\n    source:\n      prometheus:\n        url: '{prometheus}'\n        timeout: 900ms\n        scrape_interval: 1s\n        status_window: 4s\n        split_by: [cluster]\n        roles:\n          tempo: '{{job=\"tempo\"}}'\n"
    )
}

/// One pipeline's stages as `(stage → (status, ratio))` — each tenant of Tempo's distributor
/// too, as `tempo_distributor/tenant=<name>` — and its blocked stage.
type Stages = (BTreeMap<String, (String, Option<f64>)>, Option<String>);

fn stages_of(status: &Value, pipeline: &str) -> Option<Stages> {
    let p = status["pipelines"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == pipeline)?;
    let tenants = p["tenants"].as_array()?.iter().map(|t| {
        (
            format!(
                "{}/tenant={}",
                t["stage"].as_str().unwrap(),
                t["tenant"].as_str().unwrap()
            ),
            (
                t["status"].as_str().unwrap().to_owned(),
                t["success_ratio"].as_f64(),
            ),
        )
    });
    let stages = p["stages"]
        .as_array()?
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                (
                    s["status"].as_str().unwrap().to_owned(),
                    s["success_ratio"].as_f64(),
                ),
            )
        })
        .chain(tenants)
        .collect();
    Some((stages, p["blocked_stage"].as_str().map(str::to_owned)))
}

/// Where the two paths disagree for one cluster (empty when they agree).
fn disagreement(direct: &Stages, store: &Stages) -> Vec<String> {
    let mut out = Vec::new();
    if direct.1 != store.1 {
        out.push(format!("blocked {:?} vs {:?}", direct.1, store.1));
    }
    if direct.0.keys().ne(store.0.keys()) {
        out.push(format!(
            "stages {:?} vs {:?}",
            direct.0.keys().collect::<Vec<_>>(),
            store.0.keys().collect::<Vec<_>>()
        ));
    }
    for (stage, (status, ratio)) in &direct.0 {
        let Some((other, other_ratio)) = store.0.get(stage) else {
            continue;
        };
        if status != other {
            out.push(format!("{stage} {status} vs {other}"));
        }
        if let (Some(a), Some(b)) = (ratio, other_ratio)
            && (a - b).abs() > 0.02
        {
            out.push(format!("{stage} ratio {a:.4} vs {b:.4}"));
        }
    }
    out
}

/// One row of the agreement table.
fn row(cluster: &str, direct: &Stages, store: &Stages) -> String {
    let cells: Vec<String> = direct
        .0
        .iter()
        .map(|(stage, (status, ratio))| {
            let (other, other_ratio) = store.0.get(stage).cloned().unwrap_or_default();
            let shown = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.3}"));
            format!(
                "{stage}: {status} {} / {other} {}",
                shown(*ratio),
                shown(other_ratio)
            )
        })
        .collect();
    format!(
        "| {cluster} | {} | {:?} / {:?} |",
        cells.join("; "),
        direct.1,
        store.1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_path_agrees_with_direct_scraping_on_every_capture() {
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for (cluster, dir) in CAPTURES {
        let server = FixtureServer::start(&format!("{dir}/endpoints")).await;
        let address = server.base.trim_start_matches("http://").to_owned();
        targets.push((cluster.to_owned(), address));
        servers.push((cluster, dir, server));
    }
    let prometheus = common::Prometheus::scraping(&targets).await;

    let mut yaml =
        String::from("poll_interval: 1s\nwindow: 20s\nprobes: {grpc_health: false}\npipelines:\n");
    for (cluster, _, server) in &servers {
        yaml.push_str(&format!(
            "  - name: {cluster}\n    targets:\n      - {{name: tempo, role: tempo, url: '{}', timeout: 900ms}}\n",
            server.base
        ));
    }
    yaml.push_str(&fleet_pipeline(&prometheus.url));
    // Every replay starts now, so both paths see the same moment of each capture.
    for (_, dir, server) in &servers {
        server.play_metrics_every(series_pages(dir), Duration::from_secs(1));
    }
    let started = Instant::now();
    let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;

    // Compared once the window is full, while every capture still has traffic (the
    // shortest has 43 pages): the two paths must agree on every cluster at one moment.
    tokio::time::sleep(Duration::from_secs(24).saturating_sub(started.elapsed())).await;
    let mut last = Vec::new();
    let mut agreed = None;
    while started.elapsed() < Duration::from_secs(40) {
        let status = spanflow.status().await;
        let mut table = Vec::new();
        let mut apart = Vec::new();
        for (cluster, _, _) in &servers {
            let direct = stages_of(&status, cluster).expect("the direct pipeline");
            let Some(store) = stages_of(&status, &format!("fleet/{cluster}")) else {
                apart.push(format!("{cluster}: no fleet/{cluster} pipeline"));
                continue;
            };
            table.push(row(cluster, &direct, &store));
            for d in disagreement(&direct, &store) {
                apart.push(format!("{cluster}: {d}"));
            }
        }
        if apart.is_empty() {
            agreed = Some(table);
            break;
        }
        last = apart;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let Some(table) = agreed else {
        panic!(
            "the Prometheus path and direct scraping never agreed on every capture; last differences:\n{}\n{}",
            last.join("\n"),
            serde_json::to_string_pretty(&spanflow.status().await["sources"]).unwrap()
        );
    };
    eprintln!(
        "| cluster | stage: direct status ratio / Prometheus status ratio | blocked (direct / Prometheus) |\n|---|---|---|\n{}",
        table.join("\n")
    );
    // The contract is the same: the store-sourced pipelines are on /metrics by name, and
    // the source's own health is there.
    let metrics = spanflow.metrics().await;
    for expected in [
        "spanflow_pipeline_blocked_stage{pipeline=\"fleet/tls-mismatch\",stage=\"tempo_ingester\"} 1",
        "spanflow_source_up{pipeline=\"fleet\",source=\"prometheus\"} 1",
        "spanflow_source_partial{pipeline=\"fleet\"} 0",
    ] {
        assert!(metrics.contains(expected), "{expected} not in:\n{metrics}");
    }
}

/// A healthy series that restarts halfway (every counter back to zero, as after a Tempo
/// restart; a constructed page order of a real capture).
fn restarting(dir: &str) -> Vec<String> {
    let pages = series_pages(dir);
    let half: Vec<String> = pages[..pages.len() / 2].to_vec();
    half.iter().chain(half.iter()).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_reset_is_no_failure_through_prometheus() {
    let dir = "fixtures/tempo-2.7.2-series/healthy";
    let server = FixtureServer::start(&format!("{dir}/endpoints")).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let prometheus = common::Prometheus::scraping(&[("restarts".to_owned(), address)]).await;
    let pages = restarting(dir);
    let reset_at = pages.len() / 2;
    server.play_metrics_every(pages, Duration::from_secs(1));
    let started = Instant::now();
    let yaml = format!(
        "poll_interval: 1s\nwindow: 10s\nprobes: {{grpc_health: false}}\npipelines:\n{}",
        fleet_pipeline(&prometheus.url)
    );
    let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
    // From before the reset to well after it, no stage of the pipeline is ever failing.
    let until = Duration::from_secs(reset_at as u64 + 12);
    let mut seen_ok_after_reset = false;
    tokio::time::sleep(Duration::from_secs(reset_at as u64 - 6).saturating_sub(started.elapsed()))
        .await;
    while started.elapsed() < until {
        let status = spanflow.status().await;
        if let Some((stages, blocked)) = stages_of(&status, "fleet/restarts") {
            assert_eq!(blocked, None, "{stages:?}");
            for (stage, (s, ratio)) in &stages {
                assert!(
                    s != "failing" && s != "degraded",
                    "{stage} {s} ({ratio:?}) at {:?} (reset at {reset_at} s)",
                    started.elapsed()
                );
            }
            if started.elapsed() > Duration::from_secs(reset_at as u64 + 4) {
                seen_ok_after_reset |= stages
                    .get("tempo_distributor")
                    .is_some_and(|(s, _)| s == "ok");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        seen_ok_after_reset,
        "the distributor was never ok after the reset"
    );
}

/// A store-sourced pipeline over the query API at `url` (no split unless `split`).
fn store_yaml(url: &str, extra: &str) -> String {
    format!(
        "poll_interval: 1s\nwindow: 10s\nprobes: {{grpc_health: false}}\npipelines:\n  - name: fleet\n    source:\n      prometheus:\n        url: '{url}'\n        timeout: 500ms\n        scrape_interval: 1s\n        roles: {{tempo: '{{job=\"tempo\"}}'}}\n{extra}"
    )
}

/// Polls spanflow's status until `check` holds for it (10 s at most), and returns it.
async fn status_when(spanflow: &Spanflow, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = spanflow.status().await;
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "never came: {status:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn mimir_thanos_shapes_and_partial_answers_reach_the_pipeline() {
    // Mimir behind its /prometheus prefix with a tenant, and Thanos' parameters passed
    // through; a partial answer (Thanos says so in `warnings`).
    let partial = r#"{"status":"success","warnings":["store gateway eu-2 unreachable"],"data":{"resultType":"vector","result":[{"metric":{"cluster":"eu"},"value":[1,"7"]}]}}"#;
    let (base, seen) = common::query_api(200, partial, Duration::ZERO).await;
    let yaml = store_yaml(
        &format!("{base}/prometheus"),
        "        headers: {X-Scope-OrgID: ops}\n        params: {dedup: 'true', partial_response: 'true'}\n        split_by: [cluster]\n",
    );
    let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
    let status = status_when(&spanflow, |s| {
        s["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fleet/eu")
    })
    .await;
    let (path, params, tenant) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(path, "/prometheus/api/v1/query");
    assert_eq!(tenant.as_deref(), Some("ops"));
    for want in [("dedup", "true"), ("partial_response", "true")] {
        assert!(
            params.iter().any(|(k, v)| k == want.0 && v == want.1),
            "{params:?}"
        );
    }
    assert!(params.iter().any(|(k, _)| k == "time"), "{params:?}");
    let eu = status["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fleet/eu")
        .unwrap();
    assert_eq!(eu["partial"], true, "{eu:#}");
    assert_eq!(eu["source"], "fleet");
    assert_eq!(
        status["sources"][0]["warnings"][0],
        "store gateway eu-2 unreachable"
    );
    let metrics = spanflow.metrics().await;
    assert!(
        metrics.contains("spanflow_source_partial{pipeline=\"fleet\"} 1"),
        "{metrics}"
    );
    let page = spanflow.get("/").await.unwrap();
    assert!(page.contains("id=\"fleet/eu/partial\""), "{page}");
    assert!(page.contains("store gateway eu-2 unreachable"), "{page}");
}

#[tokio::test]
async fn errors_proxies_and_slow_stores_make_every_stage_unknown_with_the_message() {
    let error = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error"}"#;
    let cases = [
        (
            400,
            error,
            Duration::ZERO,
            "api_error",
            "bad_data: invalid parameter",
        ),
        (
            503,
            "upstream connect error\n",
            Duration::ZERO,
            "http_status",
            "HTTP status 503: upstream connect error",
        ),
        (
            200,
            "{}",
            Duration::from_secs(3),
            "timeout",
            "timed out after 500ms",
        ),
    ];
    for (code, body, delay, reason, message) in cases {
        let (base, _) = common::query_api(code, body, delay).await;
        let spanflow =
            Spanflow::start(&store_yaml(&base, ""), &[], std::process::Stdio::null()).await;
        let status = status_when(&spanflow, |s| s["sources"][0]["up"] == false).await;
        let fleet = &status["pipelines"][0];
        assert_eq!(fleet["name"], "fleet");
        for stage in fleet["stages"].as_array().unwrap() {
            assert_eq!(stage["status"], "unknown", "{reason}: {stage:#}");
            assert!(
                stage["reason"].as_str().unwrap().contains(message),
                "{reason}: {stage:#}"
            );
        }
        assert!(
            status["sources"][0]["last_error"]
                .as_str()
                .unwrap()
                .contains(message),
            "{status:#}"
        );
        let metrics = spanflow.metrics().await;
        for expected in [
            "spanflow_source_up{pipeline=\"fleet\",source=\"prometheus\"} 0".to_owned(),
            format!(
                "spanflow_source_query_errors_total{{pipeline=\"fleet\",reason=\"{reason}\"}} "
            ),
        ] {
            assert!(metrics.contains(&expected), "{expected}:\n{metrics}");
        }
        assert!(
            common::sample(
                &metrics,
                &format!(
                    "spanflow_source_query_errors_total{{pipeline=\"fleet\",reason=\"{reason}\"}}"
                )
            )
            .unwrap()
                >= 1.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_names_the_cause_from_the_store_and_says_what_tempo_api_would_add() {
    let dir = "fixtures/tempo-2.7.2-series/tls-mismatch";
    let server = FixtureServer::start(&format!("{dir}/endpoints")).await;
    // The cluster label is the Tempo's address, so a tempo_api template can name it.
    let address = server.base.trim_start_matches("http://").to_owned();
    let prometheus = common::Prometheus::scraping(&[(address.clone(), address.clone())]).await;
    server.play_metrics_every(series_pages(dir), Duration::from_secs(1));
    let started = Instant::now();
    let pipeline = |name: &str, extra: &str| {
        format!(
            "  - name: {name}\n    source:\n      prometheus:\n        url: '{}'\n        timeout: 900ms\n        scrape_interval: 1s\n        status_window: 4s\n        split_by: [cluster]\n        roles: {{tempo: '{{job=\"tempo\"}}'}}\n{extra}",
            prometheus.url
        )
    };
    let yaml = format!(
        "poll_interval: 1s\nwindow: 10s\nprobes: {{grpc_health: false}}\npipelines:\n{}{}",
        pipeline("without", ""),
        pipeline("with", "        tempo_api: {url: 'http://{cluster}'}\n"),
    );
    // The store holds the history: once it has a window of the incident, one diagnose of a
    // couple of seconds says it all.
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(started.elapsed())).await;
    let (code, out, err) = common::run_diagnose_on(&yaml, "2s", &["--output", "json"]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let pipeline = |name: &str| {
        report["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == format!("{name}/{address}"))
            .unwrap_or_else(|| panic!("no {name}/{address} in {report:#}"))
            .clone()
    };
    for name in ["with", "without"] {
        let p = pipeline(name);
        assert_eq!(p["blocked_stage"], "tempo_ingester", "{p:#}");
    }
    let cause = |p: &Value| {
        p["causes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cause"] == "grpc_tls_mismatch")
            .cloned()
            .unwrap_or_else(|| panic!("no grpc_tls_mismatch in {p:#}"))
    };
    // With Tempo's API, /status/config proves it; without, it is one of two possible
    // causes and the evidence says what was not read.
    let with = cause(&pipeline("with"));
    assert_eq!(with["certainty"], "confirmed", "{with:#}");
    let without = cause(&pipeline("without"));
    assert_eq!(without["certainty"], "possible", "{without:#}");
    let evidence = without["evidence"].to_string();
    assert!(
        evidence.contains(spanflow::diagnose::STORE_WITHOUT_TEMPO_API),
        "{evidence}"
    );
    assert!(!with["evidence"].to_string().contains("has no tempo_api"));
    // The words: one pipeline by its configured name covers its split pipelines, and the
    // store is named with its health.
    let (code, out, err) = common::run_diagnose_on(&yaml, "2s", &["--pipeline", "without"]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "Pipeline without/{address}: Spans stop at tempo_ingester"
        )),
        "{out}"
    );
    assert!(!out.contains("Pipeline with/"), "{out}");
    assert!(
        out.contains(&format!(
            "Sources:\n  without from prometheus {}/: up, ",
            prometheus.url
        )),
        "{out}"
    );
    assert!(out.contains("in the status window"), "{out}");
}
