//! Diagnosis end to end on the real Tempo captures: each scenario of `testdata/fixtures/`
//! yields exactly its expected cause — in the snapshot, in `/api/v1/status`, in
//! `spanflow_diagnosis` on `/metrics`, and in the report of the `spanflow diagnose` binary —
//! served by a real HTTP server on 127.0.0.1 at the captured paths. Missing or garbage status
//! endpoints degrade to "unavailable" with a reason; the gRPC probe is checked against a real
//! TLS-only gRPC server.

mod common;

use std::sync::Arc;

use arc_swap::ArcSwap;
use common::{
    FixtureServer, Poller, extrapolated_series, read_testdata, replay_pair, run_diagnose,
};
use spanflow::snapshot::Snapshot;

/// (cause, stage) of every detected cause.
fn found(s: &Snapshot) -> Vec<(String, String)> {
    s.pipelines[0]
        .causes
        .iter()
        .map(|d| (d.cause.as_str().to_owned(), d.stage.as_str().to_owned()))
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(c, s)| ((*c).to_owned(), (*s).to_owned()))
        .collect()
}

/// Serves a snapshot through spanflow's real router; returns the base URL.
async fn serve(snapshot: Snapshot) -> String {
    let shared = Arc::new(ArcSwap::from_pointee(snapshot));
    let app =
        spanflow::serve::web::router(shared, "/metrics", spanflow::serve::web::Lifecycle::fixed());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// The causes as the JSON API and the metrics endpoint show them.
async fn causes_over_http(snapshot: Snapshot) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let base = serve(snapshot).await;
    let json: serde_json::Value = reqwest::get(format!("{base}/api/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let from_json = json["pipelines"][0]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["fix"].as_str().is_some_and(|f| !f.is_empty()), "{c}");
            assert!(
                c["evidence"].as_array().is_some_and(|e| !e.is_empty()),
                "{c}"
            );
            (
                c["cause"].as_str().unwrap().to_owned(),
                c["stage"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut from_metrics = Vec::new();
    let families =
        spanflow::source::expfmt::parse(&metrics, spanflow::source::expfmt::Format::Text).unwrap();
    for family in families.iter().filter(|f| f.name == "spanflow_diagnosis") {
        for sample in &family.samples {
            assert_eq!(sample.value, 1.0);
            let label = |n: &str| sample.labels.get(n).unwrap().into_owned();
            from_metrics.push((label("cause"), label("stage")));
        }
    }
    (from_json, from_metrics)
}

async fn assert_pair_diagnosed(dir: &str, want: &[(&str, &str)]) {
    let s = replay_pair(dir).await;
    assert_eq!(
        found(&s),
        expected(want),
        "{dir}: {:#?}",
        s.pipelines[0].causes
    );
    let (json, metrics) = causes_over_http(s).await;
    assert_eq!(json, expected(want), "{dir}: /api/v1/status");
    assert_eq!(metrics, expected(want), "{dir}: /metrics");
}

#[tokio::test]
async fn healthy_captures_yield_no_cause() {
    assert_pair_diagnosed("fixtures/tempo-2.7.2/healthy", &[]).await;
    assert_pair_diagnosed("fixtures/tempo-2.7.2/healthy-steady", &[]).await;
}

#[tokio::test]
async fn tls_mismatch_capture_yields_grpc_tls_mismatch_confirmed_by_the_config() {
    assert_pair_diagnosed(
        "fixtures/tempo-2.7.2/tls-mismatch",
        &[("grpc_tls_mismatch", "tempo_ingester")],
    )
    .await;
    let s = replay_pair("fixtures/tempo-2.7.2/tls-mismatch").await;
    let d = &s.pipelines[0].causes[0];
    assert_eq!(d.certainty.as_str(), "confirmed");
    assert_eq!(d.severity.as_str(), "critical");
    let evidence = d.evidence.join("\n");
    for needle in [
        "310 spans refused, 0 accepted",
        "13 of 13 ingester appends failed",
        "1 ACTIVE ingester(s)",
        "server.grpc_tls_config has a certificate; ingester_client.grpc_client_config.tls_enabled is false",
    ] {
        assert!(
            evidence.contains(needle),
            "missing {needle:?} in\n{evidence}"
        );
    }
    assert!(d.fix.contains("tls_enabled: true"));
}

#[tokio::test]
async fn ring_rf3_capture_yields_too_few_ingesters_for_the_replication_factor() {
    assert_pair_diagnosed(
        "fixtures/tempo-2.7.2/ring-rf3",
        &[("ingesters_below_replication_factor", "tempo_distributor")],
    )
    .await;
    let s = replay_pair("fixtures/tempo-2.7.2/ring-rf3").await;
    let evidence = s.pipelines[0].causes[0].evidence.join("\n");
    assert!(evidence.contains("replication_factor 3"), "{evidence}");
    assert!(evidence.contains("1 member(s), 1 ACTIVE"), "{evidence}");
}

#[tokio::test]
async fn rate_limited_capture_yields_rate_limited() {
    assert_pair_diagnosed(
        "fixtures/tempo-2.7.2/rate-limited",
        &[("rate_limited", "tempo_distributor")],
    )
    .await;
}

#[tokio::test]
async fn startup_yields_no_cause_while_ready_is_503() {
    let phases = [
        "t0-just-started",
        "before-ready-after-100-spans",
        "after-ready",
    ];
    let dir = |p: &str| format!("fixtures/tempo-2.7.2/startup/{p}");
    let server = FixtureServer::start(&dir(phases[0])).await;
    let mut poller = Poller::tempo(&server.base);
    for phase in phases {
        server.switch_to(&dir(phase));
        server.set_metrics(read_testdata(&format!("{}/metrics.txt", dir(phase))));
        let s = poller.poll().await;
        assert_eq!(found(&s), expected(&[]), "{phase}");
        if phase == "before-ready-after-100-spans" {
            let ready = s.pipelines[0].targets[0]
                .tempo
                .as_ref()
                .unwrap()
                .ready
                .ok()
                .unwrap();
            assert!(!ready.ready, "the capture's /ready is 503");
        }
    }
}

/// Replays a 2 s series folder with its `endpoints/` capture; the causes after every step.
async fn replay_series(dir: &str) -> Vec<Snapshot> {
    let server = FixtureServer::start(&format!("{dir}/endpoints")).await;
    let mut poller = Poller::tempo(&server.base);
    let mut files: Vec<_> = std::fs::read_dir(common::testdata(&format!("{}/metrics", dir)))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        server.set_metrics(std::fs::read(f).unwrap());
        out.push(poller.poll().await);
    }
    out
}

#[tokio::test]
async fn series_keep_their_diagnosis_at_every_step() {
    for (dir, want) in [
        ("fixtures/tempo-2.7.2-series/healthy", vec![]),
        ("fixtures/tempo-3.0.3-series/healthy", vec![]),
        (
            "fixtures/tempo-2.7.2-series/tls-mismatch",
            vec![("grpc_tls_mismatch", "tempo_ingester")],
        ),
    ] {
        let snapshots = replay_series(dir).await;
        let mut matched = 0;
        for (step, s) in snapshots.iter().enumerate().skip(1) {
            let blocked = s.pipelines[0].blocked_stage.is_some();
            if want.is_empty() {
                assert_eq!(found(s), expected(&[]), "{dir} step {step}");
            } else if blocked {
                assert_eq!(found(s), expected(&want), "{dir} step {step}");
                matched += 1;
            }
        }
        assert!(
            want.is_empty() || matched > 10,
            "{dir}: only {matched} steps"
        );
    }
}

#[tokio::test]
async fn rate_limited_series_of_both_versions_yield_rate_limited() {
    for dir in [
        "fixtures/tempo-2.7.2-series/rate-limited",
        "fixtures/tempo-3.0.3-series/rate-limited",
    ] {
        let snapshots = replay_series(dir).await;
        let mut limited = 0;
        for (step, s) in snapshots.iter().enumerate().skip(1) {
            let refusing = s.pipelines[0]
                .stages
                .iter()
                .any(|r| r.stage.as_str() == "tempo_distributor" && r.judged.failure > 0.0);
            if refusing {
                assert_eq!(
                    found(s),
                    expected(&[("rate_limited", "tempo_distributor")]),
                    "{dir} step {step}"
                );
                limited += 1;
            }
        }
        assert!(limited > 10, "{dir}: only {limited} steps with refusals");
    }
}

#[tokio::test]
async fn missing_or_garbage_status_endpoints_degrade_to_unavailable_with_a_reason() {
    let dir = "fixtures/tempo-2.7.2/tls-mismatch";
    let server = FixtureServer::start(dir).await;
    server.set_body("/status/config", false, "<html>login required</html>");
    server.set_body("/ingester/ring", true, "{\"shards\": 12");
    server.set_body("/status/services", false, vec![0xff, 0xfe, 0x00]);
    let mut poller = Poller::tempo(&server.base);
    server.set_metrics(read_testdata(&format!("{dir}/metrics_before_spans.txt")));
    poller.poll().await;
    server.set_metrics(read_testdata(&format!("{dir}/metrics.txt")));
    let s = poller.poll().await;
    let status = &s.pipelines[0].targets[0].tempo.as_ref().unwrap().status;
    match &status.config {
        spanflow::source::tempo::Read::Unavailable(why) => {
            assert!(why.contains("/status/config: not the YAML"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    match &status.ingester_ring {
        spanflow::source::tempo::Read::Unavailable(why) => {
            assert!(why.contains("/ingester/ring: not ring JSON"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    match &status.services {
        spanflow::source::tempo::Read::Unavailable(why) => {
            assert!(why.contains("not UTF-8"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // Without the config and the ring page, the evidence cannot separate a TLS mismatch
    // from another transport failure: both, as possible, with what would tell them apart.
    let causes: Vec<_> = s.pipelines[0]
        .causes
        .iter()
        .map(|d| (d.cause.as_str(), d.certainty.as_str()))
        .collect();
    assert_eq!(
        causes,
        [
            ("grpc_tls_mismatch", "possible"),
            ("ingester_push_failing", "possible")
        ]
    );
    assert!(s.pipelines[0].causes.iter().all(|d| d.tell_apart.is_some()));

    // A Tempo that has none of the endpoints (404 everywhere but /metrics).
    let bare = common::PageServer::start().await;
    let mut poller = Poller::tempo(&bare.base);
    bare.set(
        read_testdata(&format!("{dir}/metrics.txt")),
        common::TEMPO_CONTENT_TYPE,
    );
    let s = poller.poll().await;
    let status = &s.pipelines[0].targets[0].tempo.as_ref().unwrap().status;
    match &status.config {
        spanflow::source::tempo::Read::Unavailable(why) => {
            assert!(why.contains("/status/config"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_probe_of_a_real_tls_only_ingester_proves_the_mismatch_without_the_config() {
    let dir = "fixtures/tempo-2.7.2/tls-mismatch";
    let (ingester, server, mut poller) = common::probed_tls_only_ingester(dir).await;
    server.set_metrics(read_testdata(&format!("{dir}/metrics_before_spans.txt")));
    poller.poll().await;
    server.set_metrics(read_testdata(&format!("{dir}/metrics.txt")));
    let s = poller.poll().await;
    let causes: Vec<_> = s.pipelines[0]
        .causes
        .iter()
        .map(|d| (d.cause.as_str(), d.certainty.as_str()))
        .collect();
    assert_eq!(
        causes,
        [("grpc_tls_mismatch", "likely")],
        "{:#?}",
        s.pipelines[0].causes
    );
    let evidence = s.pipelines[0].causes[0].evidence.join("\n");
    assert!(
        evidence.contains(&format!("probe of {}: plaintext no answer", ingester.addr))
            && evidence.contains("TLS SERVING"),
        "{evidence}"
    );
}

// ---- the `spanflow diagnose` binary --------------------------------------------------------

#[tokio::test]
async fn diagnose_prints_the_tls_mismatch_cause_and_fix_and_exits_1() {
    let (code, out, err) = run_diagnose("fixtures/tempo-2.7.2/tls-mismatch", &[]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    for needle in [
        "Spans stop at tempo_ingester",
        "> tempo_ingester",
        "BLOCKED",
        "[critical] grpc_tls_mismatch at tempo_ingester (confirmed)",
        "fix: either enable TLS on Tempo's gRPC clients",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(
        !out.contains('\x1b'),
        "no colour when NO_COLOR is set and not a TTY"
    );
}

#[tokio::test]
async fn diagnose_reports_each_capture_with_its_exit_code() {
    for (dir, code, cause) in [
        ("fixtures/tempo-2.7.2/healthy-steady", 0, None),
        (
            "fixtures/tempo-2.7.2/ring-rf3",
            1,
            Some("ingesters_below_replication_factor"),
        ),
        ("fixtures/tempo-2.7.2/rate-limited", 1, Some("rate_limited")),
    ] {
        let (got, out, err) = run_diagnose(dir, &["--output", "json"]).await;
        assert_eq!(got, code, "{dir}\n{out}\n{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let causes: Vec<&str> = report["pipelines"][0]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cause"].as_str().unwrap())
            .collect();
        assert_eq!(causes, cause.into_iter().collect::<Vec<_>>(), "{dir}");
    }
}

#[tokio::test]
async fn diagnose_without_a_config_or_with_a_bad_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
                .args(args)
                .current_dir(dir)
                .output()
                .await
                .unwrap()
        }
    };
    let none = run(vec!["diagnose".into()]).await;
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--config.file"));
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "targets:\n  - {name: t, role: tempo, url: 'nope'}\n").unwrap();
    let invalid = run(vec![
        "diagnose".into(),
        "--config.file".into(),
        bad.display().to_string(),
    ])
    .await;
    assert_eq!(invalid.status.code(), Some(2));
    let wait = run(vec!["diagnose".into(), "--wait".into(), "forever".into()]).await;
    assert_eq!(wait.status.code(), Some(2));
}

#[tokio::test]
async fn hostile_values_from_tempo_are_escaped_on_the_status_page() {
    let dir = "fixtures/tempo-2.7.2/tls-mismatch";
    let server = FixtureServer::start(dir).await;
    let ring = read_testdata(&format!("{dir}/ingester_ring.json"))
        .replace("\"id\":\"vm\"", "\"id\":\"<img src=x onerror=alert(1)>\"");
    server.set_body("/ingester/ring", true, ring);
    let hostile = |page: String| {
        page.replace(
            "version=\"v2.7.2\"",
            "version=\"<script>alert(1)</script>\"",
        )
        .replace(
            "reason=\"internal_error\"",
            "reason=\"<script>alert(2)</script>\"",
        )
    };
    let mut poller = Poller::tempo(&server.base);
    server.set_metrics(hostile(read_testdata(&format!(
        "{dir}/metrics_before_spans.txt"
    ))));
    poller.poll().await;
    server.set_metrics(hostile(read_testdata(&format!("{dir}/metrics.txt"))));
    let s = poller.poll().await;
    assert_eq!(
        s.pipelines[0].targets[0].version.as_deref(),
        Some("<script>alert(1)</script>")
    );
    let base = serve(s).await;
    let page = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "version not shown escaped"
    );
    assert!(
        page.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "discard reason not shown escaped"
    );
    assert!(
        !page.contains("<script>") && !page.contains("<img"),
        "unescaped markup on the page"
    );
}

/// Tempo's status endpoints are read on the first poll, then again only when a failure
/// counter moved (every poll of an incident) or after `tempo::STATUS_REFRESH`; in between
/// the evidence is the last reading, with its age.
#[tokio::test]
async fn status_endpoints_are_read_when_something_fails_not_on_every_poll() {
    let healthy = "fixtures/tempo-2.7.2/healthy";
    let broken = "fixtures/tempo-2.7.2/tls-mismatch";
    let server = FixtureServer::start(healthy).await;
    server.play_metrics(extrapolated_series(healthy, 20));
    let mut poller = Poller::tempo(&server.base);
    for _ in 0..5 {
        poller.poll().await;
    }
    assert_eq!(server.requests_for("/metrics"), 5);
    assert_eq!(
        server.requests_for("/status/config"),
        1,
        "healthy: read once"
    );
    let s = poller.poll().await;
    let age = s.pipelines[0].targets[0]
        .tempo
        .as_ref()
        .unwrap()
        .status_age_seconds;
    assert!(age > 0.0, "the kept reading says how old it is: {age}");

    // The incident's first page is its capture from before any span was sent; from the
    // second on, spans are refused.
    server.switch_to(broken);
    server.play_metrics(extrapolated_series(broken, 20));
    poller.poll().await;
    for n in 1..=3 {
        let s = poller.poll().await;
        assert_eq!(
            server.requests_for("/status/config"),
            1 + n,
            "refusing: read on every poll"
        );
        assert_eq!(
            s.pipelines[0].targets[0]
                .tempo
                .as_ref()
                .unwrap()
                .status_age_seconds,
            0.0
        );
    }
}

#[tokio::test]
async fn a_tempo_down_from_the_start_keeps_its_version_dependent_stages_in_the_report() {
    let port = common::free_port();
    let (code, text, _) =
        common::run_diagnose_against(&format!("http://127.0.0.1:{port}"), &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("tempo_distributor   unknown"), "{text}");
    assert!(
        text.contains("(not shown yet: tempo_ingester (Tempo 2.x) or tempo_live_store and tempo_kafka (3.x): shown once a Tempo target answers"),
        "{text}"
    );
}
