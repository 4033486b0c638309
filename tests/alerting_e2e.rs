//! End to end with real components, all on 127.0.0.1: `spanflow` watching two pipelines —
//! `prod-eu`, a Tempo 2.7.2 replaying the TLS-mismatch capture, and `prod-us`, one replaying
//! the healthy capture (each served by a real HTTP server) — a real Prometheus (Debian
//! `prometheus`) scraping it with the shipped rule files, a real Alertmanager (Debian
//! `prometheus-alertmanager`) routing to a webhook receiver run by this test. The critical
//! alert must arrive for prod-eu only, with the blocked stage, the pipeline and the cause;
//! after prod-eu's Tempo turns healthy it must arrive resolved, and nothing may ever fire
//! for prod-us.
//!
//! For speed the rules are copied with every `for:` shortened to 1s and Prometheus scrapes and
//! evaluates every second; the expressions and annotations are the shipped ones, untouched.
//! Every wait is bounded and every process is killed when the test ends.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// The shipped rules with `for:` shortened; nothing else changes.
fn rules_for_test(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for name in ["spanflow-alerts.yaml", "spanflow-recording.yaml"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("alerts")
                .join(name),
        )
        .unwrap();
        let shortened: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("for: ") {
                    let indent = &l[..l.len() - l.trim_start().len()];
                    format!("{indent}for: 1s\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let path = dir.join(name);
        std::fs::write(&path, shortened).unwrap();
        files.push(path.display().to_string());
    }
    files
}

/// Alerts received by the webhook: (arrival, status, labels, annotations).
type Received = Arc<Mutex<Vec<(Instant, Value)>>>;

/// Checks the tools are installed; a folder for logs and data, and the webhook.
async fn prepared() -> (tempfile::TempDir, String, Received) {
    for tool in [PROMETHEUS, ALERTMANAGER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} missing: apt-get install prometheus prometheus-alertmanager (scripts/test.sh does)"
        );
    }
    let (hook, received) = webhook().await;
    (tempfile::tempdir().unwrap(), hook, received)
}

async fn webhook() -> (String, Received) {
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let store = store.clone();
            async move {
                let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let now = Instant::now();
                for alert in payload["alerts"].as_array().into_iter().flatten() {
                    store.lock().unwrap().push((now, alert.clone()));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn wait_for_alert(received: &Received, status: &str, limit: Duration) -> (Instant, Value) {
    wait_for(received, "SpanflowPipelineBlocked", status, limit).await
}

async fn wait_for(
    received: &Received,
    alertname: &str,
    status: &str,
    limit: Duration,
) -> (Instant, Value) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let found = received
            .lock()
            .unwrap()
            .iter()
            .find(|(_, a)| a["labels"]["alertname"] == alertname && a["status"] == status)
            .cloned();
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "no {status} {alertname} at the webhook within {limit:?}; received: {:?}",
        received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, a)| (a["labels"]["alertname"].clone(), a["status"].clone()))
            .collect::<Vec<_>>()
    );
}

/// A real Alertmanager routing every alert to `hook`, and a real Prometheus scraping spanflow
/// at `spanflow` every second with the shipped rules (`for:` shortened); killed when dropped.
async fn alerting_stack(
    logs: &Path,
    hook: &str,
    spanflow: &str,
) -> ([tokio::process::Child; 2], u16) {
    // Alertmanager routing everything to the test's webhook.
    let am_port = common::free_port();
    let am_config = logs.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, job, instance, pipeline, stage]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: '{hook}'\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let alertmanager = common::spawn_logged(
        ALERTMANAGER,
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", logs.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        &logs.join("alertmanager.log"),
    );
    common::wait_http_ok(
        &format!("http://127.0.0.1:{am_port}/-/ready"),
        Duration::from_secs(30),
    )
    .await;

    // Prometheus scraping spanflow with the shipped rules.
    let rule_files = rules_for_test(logs);
    let prom_port = common::free_port();
    let prom_config = logs.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: spanflow\n    static_configs:\n      - targets: ['{spanflow}']\n",
            rule_files.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ")
        ),
    )
    .unwrap();
    let prometheus = common::spawn_logged(
        PROMETHEUS,
        &[
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", logs.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &logs.join("prometheus.log"),
    );
    common::wait_http_ok(
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        Duration::from_secs(30),
    )
    .await;

    ([alertmanager, prometheus], prom_port)
}

#[tokio::test]
async fn the_broken_pipeline_of_two_pages_through_prometheus_and_alertmanager_and_resolves() {
    let (dir, hook, received) = prepared().await;
    let logs = dir.path();

    // Two Tempos replaying captures with counters that keep moving (one page per poll).
    let eu = common::FixtureServer::start("fixtures/tempo-2.7.2/tls-mismatch").await;
    eu.play_metrics(common::extrapolated_series(
        "fixtures/tempo-2.7.2/tls-mismatch",
        600,
    ));
    let us = common::FixtureServer::start("fixtures/tempo-2.7.2/healthy").await;
    us.play_metrics(common::extrapolated_series(
        "fixtures/tempo-2.7.2/healthy",
        600,
    ));

    // spanflow watching both.
    let spanflow_port = common::free_port();
    let spanflow = format!("127.0.0.1:{spanflow_port}");
    let config = logs.join("spanflow.yml");
    std::fs::write(
        &config,
        format!(
            "poll_interval: 1s\nwindow: 30s\nprobes: {{grpc_health: false}}\npipelines:\n  - name: prod-eu\n    targets: [{{name: tempo, role: tempo, url: '{}'}}]\n  - name: prod-us\n    targets: [{{name: tempo, role: tempo, url: '{}'}}]\n",
            eu.base, us.base
        ),
    )
    .unwrap();
    let started = Instant::now();
    let _spanflow = common::spawn_logged(
        env!("CARGO_BIN_EXE_spanflow"),
        &[
            "--config.file".into(),
            config.display().to_string(),
            "--web.listen-address".into(),
            spanflow.clone(),
            "--log.level".into(),
            "warn".into(),
        ],
        &logs.join("spanflow.log"),
    );
    common::wait_http_ok(
        &format!("http://{spanflow}/-/healthy"),
        Duration::from_secs(20),
    )
    .await;

    let (_stack, prom_port) = alerting_stack(logs, &hook, &spanflow).await;

    // The page: critical, the blocked stage, the cause in the description.
    let (fired_at, alert) = wait_for_alert(&received, "firing", Duration::from_secs(90)).await;
    let labels = &alert["labels"];
    assert_eq!(labels["severity"], "critical", "{alert}");
    assert_eq!(labels["stage"], "tempo_ingester", "{alert}");
    assert_eq!(labels["pipeline"], "prod-eu", "{alert}");
    assert_eq!(labels["job"], "spanflow", "{alert}");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("Spans of pipeline prod-eu stop at stage tempo_ingester"),
        "{description}"
    );
    assert!(description.contains("Failing since "), "{description}");
    assert!(
        description.contains("Cause: grpc_tls_mismatch"),
        "{description}"
    );
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "docs/runbook.md#spanflowpipelineblocked"
    );
    eprintln!(
        "critical alert at the webhook {:.1} s after spanflow started",
        fired_at.duration_since(started).as_secs_f64()
    );

    // Recovery: prod-eu's Tempo is fixed (its counters restart from the healthy capture's),
    // the alert arrives resolved.
    eu.switch_to("fixtures/tempo-2.7.2/healthy");
    eu.play_metrics(common::extrapolated_series(
        "fixtures/tempo-2.7.2/healthy",
        600,
    ));
    let switch_at = Instant::now();
    let (resolved_at, resolved) =
        wait_for_alert(&received, "resolved", Duration::from_secs(90)).await;
    assert_eq!(resolved["labels"]["stage"], "tempo_ingester");
    assert_eq!(resolved["labels"]["pipeline"], "prod-eu");

    // Nothing ever fired for the healthy pipeline, though its alerts were evaluated all along.
    let for_us: Vec<Value> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| a["labels"]["pipeline"] == "prod-us")
        .map(|(_, a)| a.clone())
        .collect();
    assert!(for_us.is_empty(), "alerts for prod-us: {for_us:?}");
    let blocked: Value = reqwest::get(format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query=spanflow_pipeline_blocked_stage%7Bpipeline%3D%22prod-us%22%7D"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let series = blocked["data"]["result"].as_array().unwrap();
    assert!(!series.is_empty(), "Prometheus scraped prod-us: {blocked}");
    eprintln!(
        "resolved at the webhook {:.1} s after the switch to healthy",
        resolved_at.duration_since(switch_at).as_secs_f64()
    );

    // Prometheus saw the recording rules' inputs absent (spanflow only): no error, just no series.
    let rules: Value = reqwest::get(format!("http://127.0.0.1:{prom_port}/api/v1/rules"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_ne!(
                rule["health"], "err",
                "rule {} failed: {}",
                rule["name"], rule["lastError"]
            );
        }
    }
}

/// The demo's silent loss — every counter healthy, the Collector drops the traces — pages
/// through the canary alone.
#[tokio::test]
async fn silent_loss_pages_through_the_canary() {
    let (dir, hook, received) = prepared().await;
    let logs = dir.path();
    let spanflow = format!("127.0.0.1:{}", common::free_port());
    let _spanflow = common::spawn_logged(
        env!("CARGO_BIN_EXE_spanflow"),
        &[
            "demo".into(),
            "--scenario".into(),
            "silent-loss".into(),
            "--web.listen-address".into(),
            spanflow.clone(),
        ],
        &logs.join("spanflow.log"),
    );
    common::wait_http_ok(
        &format!("http://{spanflow}/-/healthy"),
        Duration::from_secs(20),
    )
    .await;
    let _stack = alerting_stack(logs, &hook, &spanflow).await;
    let (_, alert) = wait_for(
        &received,
        "SpanflowCanaryMissing",
        "firing",
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    assert_eq!(alert["labels"]["pipeline"], "default", "{alert}");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(description.contains("Cause: silent_loss"), "{description}");
    assert!(
        description.contains("were not found in Tempo, and none was"),
        "{description}"
    );
    // Nothing counted says so: no stage but the canary pages.
    let blocked: Vec<Value> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| a["labels"]["alertname"] == "SpanflowPipelineBlocked")
        .map(|(_, a)| a["labels"]["stage"].clone())
        .collect();
    assert!(blocked.iter().all(|s| s == "canary"), "{blocked:?}");
}
