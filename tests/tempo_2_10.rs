//! What a live Tempo 2.10.8 showed, replayed from its captures by a real HTTP server on
//! 127.0.0.1: a TLS mismatch before any traffic is a latent cause (not "healthy"); the
//! reverse mismatch gets the fix that points its way; both sides on TLS with an untrusted CA
//! is "likely", certificate trust first; `/ready` 503 from the query-frontend is a read-path
//! cause; no traffic at all is its own verdict; `/ready` is read on every poll.

mod common;

use common::{FixtureServer, Poller, extrapolated_series, read_testdata, run_diagnose};
use spanflow::model::stage::{Stage, StageStatus};

const NO_TRAFFIC: &str = "fixtures/tempo-2.10.8/tls-mismatch-no-traffic";
const REVERSE: &str = "fixtures/tempo-2.10.8/tls-mismatch-reverse";
const UNTRUSTED: &str = "fixtures/tempo-2.10.8/client-tls-untrusted-ca";

/// Polls a capture folder `polls` times along its extrapolated series.
async fn replay(dir: &str, polls: usize) -> spanflow::snapshot::Snapshot {
    let server = FixtureServer::start(dir).await;
    server.play_metrics(extrapolated_series(dir, polls));
    let mut poller = Poller::tempo(&server.base);
    let mut last = None;
    for _ in 0..polls {
        last = Some(poller.poll().await);
    }
    last.unwrap()
}

#[tokio::test]
async fn a_tls_mismatch_before_any_traffic_is_latent_and_blocks_the_ingester_stage() {
    let s = replay(NO_TRAFFIC, 4).await;
    assert_eq!(
        common::status(&s, Stage::TempoDistributor),
        StageStatus::Idle
    );
    assert_eq!(
        common::status(&s, Stage::TempoIngester),
        StageStatus::Failing
    );
    assert_eq!(s.pipelines[0].blocked_stage, Some(Stage::TempoIngester));
    assert!(!s.healthy && !s.pipelines[0].idle);
    let causes: Vec<(&str, &str, &str, bool)> = s.pipelines[0]
        .causes
        .iter()
        .map(|d| {
            (
                d.cause.as_str(),
                d.stage.as_str(),
                d.certainty.as_str(),
                d.latent,
            )
        })
        .collect();
    assert_eq!(
        causes,
        [
            ("grpc_tls_mismatch", "tempo_ingester", "confirmed", true),
            (
                "query_frontend_no_queriers",
                "tempo_query",
                "confirmed",
                false
            ),
        ]
    );
    let reason = &s.pipelines[0]
        .stages
        .iter()
        .find(|r| r.stage == Stage::TempoIngester)
        .unwrap()
        .reason;
    assert!(reason.contains("grpc_tls_mismatch (latent)"), "{reason}");
}

#[tokio::test]
async fn diagnose_on_the_no_traffic_mismatch_exits_1_naming_the_latent_cause() {
    let (code, out, err) = run_diagnose(NO_TRAFFIC, &[]).await;
    println!("{out}");
    assert_eq!(code, 1, "{out}\n{err}");
    for needle in [
        "Spans stop at tempo_ingester",
        "[critical] grpc_tls_mismatch at tempo_ingester (confirmed; latent: no traffic yet, and the first span will not pass)",
        "server.grpc_tls_config has a certificate; ingester_client.grpc_client_config.tls_enabled is false",
        "fix: either enable TLS on Tempo's gRPC clients",
        "[warning] query_frontend_no_queriers at tempo_query (confirmed)",
        "querier.frontend_worker.grpc_client_config.tls_enabled is false while server.grpc_tls_config has a certificate",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let (_, json, _) = run_diagnose(NO_TRAFFIC, &["--output", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["pipelines"][0]["verdict"], "blocked");
    assert_eq!(
        report["pipelines"][0]["causes"][0]["cause"],
        "grpc_tls_mismatch"
    );
    assert_eq!(report["pipelines"][0]["causes"][0]["latent"], true);
}

#[tokio::test]
async fn the_probe_alone_shows_the_latent_mismatch_against_a_real_tls_only_grpc_server() {
    let (_ingester, server, mut poller) = common::probed_tls_only_ingester(NO_TRAFFIC).await;
    server.set_metrics(read_testdata(&format!("{NO_TRAFFIC}/metrics.txt")));
    poller.poll().await;
    let s = poller.poll().await;
    let d = &s.pipelines[0].causes[0];
    assert_eq!(
        (d.cause.as_str(), d.certainty.as_str(), d.latent),
        ("grpc_tls_mismatch", "likely", true),
        "{:#?}",
        s.pipelines[0].causes
    );
    assert!(
        d.evidence.join("\n").contains("TLS SERVING"),
        "{:?}",
        d.evidence
    );
    assert_eq!(s.pipelines[0].blocked_stage, Some(Stage::TempoIngester));
}

#[tokio::test]
async fn the_reverse_mismatch_gets_the_fix_that_points_its_way() {
    let (code, out, err) = run_diagnose(REVERSE, &[]).await;
    println!("{out}");
    assert_eq!(code, 1, "{out}\n{err}");
    for needle in [
        "[critical] grpc_tls_mismatch at tempo_ingester (confirmed)",
        "server.grpc_tls_config has no certificate; ingester_client.grpc_client_config.tls_enabled is true",
        "fix: either set tls_enabled: false on Tempo's gRPC clients",
        "or give server.grpc_tls_config a certificate",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(!out.contains("enable TLS on Tempo's gRPC clients"), "{out}");
    assert!(!out.contains("has no a"), "{out}");
}

#[tokio::test]
async fn both_sides_on_tls_with_an_untrusted_ca_is_likely_with_certificate_trust_first() {
    let (code, out, err) = run_diagnose(UNTRUSTED, &[]).await;
    println!("{out}");
    assert_eq!(code, 1, "{out}\n{err}");
    for needle in [
        "[critical] ingester_push_failing at tempo_ingester (likely)",
        "cannot tell whether the distributor trusts the ingesters' certificate",
        "has no tls_ca_path",
        "to tell apart: alternatives, most likely first: certificate trust",
        "fix: first make the distributor trust the ingesters' certificate: set ingester_client.grpc_client_config.tls_ca_path",
        "tls_insecure_skip_verify",
        "counts include the sender's retries",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(
        !out.contains("ingester_push_failing at tempo_ingester (confirmed)"),
        "{out}"
    );
}

#[tokio::test]
async fn no_traffic_on_a_healthy_tempo_is_idle_not_healthy_and_diagnose_exits_3() {
    // The healthy capture's page, served unchanged: nothing moves.
    let dir = "fixtures/tempo-2.7.2/healthy";
    let server = FixtureServer::start(dir).await;
    server.set_metrics(read_testdata(&format!("{dir}/metrics.txt")));
    let (code, out, err) = common::run_diagnose_against(&server.base, &[]).await;
    println!("{out}");
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        out.starts_with(
            "Pipeline default: No traffic in the window — nothing shows the pipeline works\n"
        ),
        "{out}"
    );
    // Since when, for every stage not ok: spanflow only knows since it first saw them.
    assert_eq!(
        out.matches("idle for at least ").count(),
        3,
        "a since-line per idle stage: {out}"
    );
    assert!(out.contains("send traffic through the app"), "{out}");
    let (_, json, _) = common::run_diagnose_against(&server.base, &["--output", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["pipelines"][0]["verdict"], "idle");
    assert_eq!(report["pipelines"][0]["idle"], true);
    assert_eq!(report["healthy"], true);
}

#[tokio::test]
async fn the_metrics_say_idle_and_healthy_apart() {
    let dir = "fixtures/tempo-2.7.2/healthy";
    let server = FixtureServer::start(dir).await;
    server.set_metrics(read_testdata(&format!("{dir}/metrics.txt")));
    let spanflow = common::Spanflow::start(
        &format!(
            "poll_interval: 200ms\nwindow: 1s\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{}'}}\n",
            server.base
        ),
        &[],
        std::process::Stdio::null(),
    )
    .await;
    let mut idle = None;
    for _ in 0..100 {
        let page = spanflow.metrics().await;
        if let Some(v) = common::sample(&page, "spanflow_pipeline_idle")
            && v == 1.0
        {
            idle = Some(page);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let page = idle.expect("spanflow_pipeline_idle 1 within 10 s");
    assert_eq!(
        common::sample(&page, "spanflow_pipeline_healthy"),
        Some(1.0)
    );
}

#[tokio::test]
async fn ready_is_read_on_every_poll_and_the_heavy_endpoints_are_not() {
    let dir = "fixtures/tempo-2.7.2/startup/before-ready-after-100-spans";
    let server = FixtureServer::start(dir).await;
    server.play_metrics(extrapolated_series("fixtures/tempo-2.7.2/healthy", 8));
    let mut poller = Poller::tempo(&server.base);
    let s = poller.poll().await;
    let ready = |s: &spanflow::snapshot::Snapshot| {
        s.pipelines[0].targets[0]
            .tempo
            .as_ref()
            .unwrap()
            .ready
            .ok()
            .unwrap()
            .ready
    };
    assert!(!ready(&s), "the capture's /ready is 503");
    // Tempo turns ready (the capture 15 s later): the next poll shows it, and reads the
    // other endpoints once more.
    server.switch_to("fixtures/tempo-2.7.2/startup/after-ready");
    let s = poller.poll().await;
    assert!(ready(&s));
    let services_after_ready = server.requests_for("/status/services");
    for _ in 0..4 {
        let s = poller.poll().await;
        assert!(ready(&s));
        assert!(
            s.pipelines[0].targets[0]
                .tempo
                .as_ref()
                .unwrap()
                .status_age_seconds
                >= 0.0
        );
    }
    assert_eq!(server.requests_for("/ready"), 6);
    assert_eq!(
        server.requests_for("/status/services"),
        services_after_ready,
        "while ready and nothing fails, the heavy endpoints are kept"
    );
}

#[tokio::test]
async fn serve_logs_the_blocked_pipeline_once() {
    use tokio::io::AsyncBufReadExt;
    let server = FixtureServer::start(NO_TRAFFIC).await;
    server.set_metrics(read_testdata(&format!("{NO_TRAFFIC}/metrics.txt")));
    let mut spanflow = common::Spanflow::start(
        &format!(
            "poll_interval: 200ms\nwindow: 1s\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{}'}}\n",
            server.base
        ),
        &[],
        std::process::Stdio::piped(),
    )
    .await;
    let stderr = spanflow.child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    // Five seconds of log: the first polls, then many unchanged derives.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
    })
    .await;
    let blocked: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("pipeline blocked"))
        .collect();
    assert_eq!(blocked.len(), 1, "{seen:#?}");
    assert!(
        blocked[0].contains("WARN")
            && blocked[0].contains("stage=\"tempo_ingester\"")
            && blocked[0].contains("cause=\"grpc_tls_mismatch\""),
        "{}",
        blocked[0]
    );
    let turned = seen
        .iter()
        .filter(|l| l.contains("stage turned failing"))
        .count();
    assert_eq!(turned, 1, "{seen:#?}");
}
