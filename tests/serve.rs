//! spanflow's own endpoints: the golden `/metrics` of a real fixture (checked by
//! `promtool check metrics`), content negotiation, the JSON status, health and readiness,
//! and a running engine that keeps serving while a target sends garbage.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PageServer, TEMPO_CONTENT_TYPE};
use spanflow::serve::metrics::{self, BuildInfo};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/tls-mismatch.metrics"
);

const BUILD: BuildInfo = BuildInfo {
    version: "0.0.0-test",
    revision: "golden",
    rustversion: "1.95.0",
};

/// The TLS-mismatch capture, polled before and after the spans, as `/metrics` text.
async fn tls_mismatch_exposition() -> String {
    let mut snapshot = common::replay_pair("fixtures/tempo-2.7.2/tls-mismatch").await;
    // The target URL carries the test server's random port; the golden file does not.
    let target = std::sync::Arc::make_mut(&mut snapshot.pipelines[0].derived.targets[0]);
    target.url = "http://127.0.0.1:3200/".into();
    target.address = "127.0.0.1:3200".into();
    let loaded = spanflow::serve::reload::ReloadStatus {
        successful: true,
        last_success_unix: 1_795_312_800.0,
    };
    metrics::encode_text(&metrics::families(&snapshot, 0.25, &BUILD, &loaded))
}

/// node_exporter's end-to-end style: the whole output against a committed file.
/// `UPDATE_GOLDEN=1 cargo test --test serve` rewrites it after a deliberate change.
#[tokio::test]
async fn metrics_output_matches_the_golden_file() {
    let got = tls_mismatch_exposition().await;
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &got).unwrap();
    }
    let want = std::fs::read_to_string(GOLDEN).expect("tests/golden/tls-mismatch.metrics");
    assert_eq!(
        got, want,
        "the /metrics output changed; if on purpose, rerun with UPDATE_GOLDEN=1"
    );
}

#[test]
fn golden_output_passes_promtool_check_metrics() {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is required (Debian package prometheus; .ci/run and scripts/test.sh install it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(std::fs::read(GOLDEN).unwrap().as_slice())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics: {report}");
    assert!(report.trim().is_empty(), "promtool lint findings: {report}");
}

/// A running engine and web server on 127.0.0.1 against a fixture server.
async fn serve(tempo_base: &str) -> (String, spanflow::engine::Engine) {
    let yaml = format!(
        "poll_interval: 200ms\nwindow: 2s\ntargets:\n  - {{name: tempo, role: tempo, url: '{tempo_base}', timeout: 150ms}}\n"
    );
    let config = Arc::new(spanflow::config::Config::from_yaml(&yaml, "test").unwrap());
    let engine = spanflow::engine::start(config).unwrap();
    let app = spanflow::serve::web::router(
        engine.snapshot.clone(),
        "/metrics",
        spanflow::serve::web::Lifecycle::fixed(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, engine)
}

async fn wait_for(client: &reqwest::Client, url: &str, needle: &str) -> String {
    for _ in 0..50 {
        let body = client.get(url).send().await.unwrap().text().await.unwrap();
        if body.contains(needle) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never contained {needle:?}");
}

#[tokio::test]
async fn endpoints_answer_with_exact_content_types_and_keep_serving_through_garbage() {
    let tempo = PageServer::start().await;
    tempo.set(
        common::read_testdata("fixtures/tempo-2.7.2/healthy/metrics.txt"),
        TEMPO_CONTENT_TYPE,
    );
    let (base, _engine) = serve(&tempo.base).await;
    let client = reqwest::Client::new();

    let ready = client.get(format!("{base}/-/ready")).send().await.unwrap();
    assert!(ready.status() == 503 || ready.status() == 200);
    let address = tempo.base.trim_start_matches("http://").to_owned();
    wait_for(
        &client,
        &format!("{base}/metrics"),
        &format!("spanflow_target_up{{pipeline=\"default\",target=\"tempo\",address=\"{address}\",role=\"tempo\"}} 1"),
    )
    .await;
    assert_eq!(
        client
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/-/healthy"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let text = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        text.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let om = client
        .get(format!("{base}/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        om.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = om.text().await.unwrap();
    assert!(om.ends_with("# EOF\n"));
    spanflow::source::expfmt::parse(&om, spanflow::source::expfmt::Format::OpenMetrics)
        .expect("valid OpenMetrics");

    let json: serde_json::Value = client
        .get(format!("{base}/api/v1/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["pipelines"][0]["name"], "default");
    assert_eq!(json["pipelines"][0]["targets"][0]["name"], "tempo");
    assert_eq!(
        json["pipelines"][0]["targets"][0]["address"],
        address.as_str()
    );
    assert_eq!(
        json["pipelines"][0]["stages"][0]["stage"],
        "tempo_distributor"
    );
    assert!(json["snapshot_age_seconds"].as_f64().unwrap() < 5.0);

    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"default/stage-tempo_distributor\""));

    // The target turns to garbage: spanflow keeps serving and says so.
    tempo.set("\u{0}\u{1}garbage{{{", "text/plain");
    let metrics = wait_for(
        &client,
        &format!("{base}/metrics"),
        &format!("spanflow_target_up{{pipeline=\"default\",target=\"tempo\",address=\"{address}\",role=\"tempo\"}} 0"),
    )
    .await;
    assert!(
        common::sample(
            &metrics,
            "spanflow_stage_status{stage=\"tempo_distributor\",status=\"unknown\"}"
        ) == Some(1.0)
    );
    assert_ne!(
        common::sample(
            &metrics,
            "spanflow_target_scrape_errors_total{target=\"tempo\",reason=\"parse\"}"
        ),
        Some(0.0)
    );
}
