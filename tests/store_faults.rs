//! The fault table of the Prometheus source: a real Prometheus scrapes a Tempo (the 2.7.2
//! healthy capture, extrapolated, served on 127.0.0.1 a page a second) and spanflow reads
//! the pipeline from it through a proxy that passes every query on — or, when a fault is
//! on, answers in its place as a failing store, a proxy in front of one, or a hostile one
//! would. For every fault: `/metrics` keeps answering within its budget, the failed polls
//! are counted under their named reason, every stage of the pipeline is `unknown` with the
//! error in its reason and no ratio shown (nothing stale as fresh), and the pipeline comes
//! back `ok` when the fault ends. Answers with `warnings` are used and marked partial. The
//! store restarting (killed, then started on its data again) is the last fault.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{FixtureServer, Spanflow, assert_prompt, sample};

const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy";
const LIMIT: Duration = Duration::from_secs(30);
/// The body cap of the config below.
const BODY_CAP: usize = 1 << 20;

/// What the proxy answers in the store's place.
#[derive(Debug, Clone)]
enum Fault {
    None,
    /// This status and body.
    Answer(u16, String),
    /// The store's own answer, after this long.
    Slow(Duration),
    /// The store's own answer with `warnings` added.
    Warnings,
}

/// A proxy in front of a real Prometheus that applies [`Fault`]s to its query API.
struct StoreProxy {
    base: String,
    fault: Arc<Mutex<Fault>>,
}

impl StoreProxy {
    async fn start(upstream: String) -> StoreProxy {
        let fault = Arc::new(Mutex::new(Fault::None));
        let current = fault.clone();
        let client = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let fault = current.lock().unwrap().clone();
            let client = client.clone();
            let url = format!("{upstream}{}", request.uri());
            async move {
                let pass_on = || async {
                    let answer = client.get(&url).send().await.ok()?;
                    let status = answer.status().as_u16();
                    Some((status, answer.text().await.ok()?))
                };
                let (status, body) = match fault {
                    Fault::Answer(status, body) => (status, body),
                    Fault::None => pass_on().await.unwrap_or((502, "store down\n".into())),
                    Fault::Slow(delay) => {
                        tokio::time::sleep(delay).await;
                        pass_on().await.unwrap_or((502, "store down\n".into()))
                    }
                    Fault::Warnings => {
                        let (status, body) =
                            pass_on().await.unwrap_or((502, "store down\n".into()));
                        let body = body.replacen(
                            r#""status":"success","#,
                            r#""status":"success","warnings":["store-gateway-2: unreachable"],"#,
                            1,
                        );
                        (status, body)
                    }
                };
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        });
        let base = common::serve_on_loopback(app).await;
        StoreProxy { base, fault }
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

struct Rig {
    prometheus: common::Prometheus,
    proxy: StoreProxy,
    spanflow: Spanflow,
    _tempo: FixtureServer,
}

impl Rig {
    /// Tempo, Prometheus scraping it, the proxy, spanflow reading through it (a 500 ms
    /// query timeout, a 1 MiB body cap, at most 1,000 series an answer); waits until the
    /// distributor is `ok` from the store's numbers. Without `through_proxy` spanflow reads
    /// the store directly.
    async fn start(through_proxy: bool) -> Rig {
        let tempo = FixtureServer::start(HEALTHY).await;
        tempo.play_metrics_every(
            common::extrapolated_series(HEALTHY, 600),
            Duration::from_secs(1),
        );
        let address = tempo.base.trim_start_matches("http://").to_owned();
        let prometheus = common::Prometheus::scraping(&[("eu".to_owned(), address)]).await;
        let proxy = StoreProxy::start(prometheus.url.clone()).await;
        let url = if through_proxy {
            &proxy.base
        } else {
            &prometheus.url
        };
        let yaml = format!(
            "poll_interval: 500ms\nwindow: 10s\nbody_size_limit: {BODY_CAP}\nprobes: {{grpc_health: false}}\npipelines:\n  - name: fleet\n    source:\n      prometheus:\n        url: '{url}'\n        timeout: 500ms\n        scrape_interval: 1s\n        max_series: 1000\n        roles: {{tempo: '{{job=\"tempo\"}}'}}\n"
        );
        let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
        let rig = Rig {
            prometheus,
            proxy,
            spanflow,
            _tempo: tempo,
        };
        rig.until("the distributor ok from the store", |p| {
            distributor(p) == "ok"
        })
        .await;
        rig
    }

    /// Reads `/metrics` until `done`; no page may show a stage `failing`.
    async fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> (String, Vec<Duration>) {
        self.spanflow
            .metrics_until(what, LIMIT, |page| {
                assert!(
                    !page.contains("status=\"failing\"} 1"),
                    "{what}: a store fault is not a failing stage:\n{page}"
                );
                done(page)
            })
            .await
    }

    /// Switches `fault` on, checks the contract of the module doc with `reason` the error
    /// counted and `message` a part of the error shown, then switches it off and waits for
    /// the pipeline to come back.
    async fn check(&self, fault: Fault, reason: &str, message: &str) {
        let what = format!("{fault:.60?}");
        let before = errors(&self.spanflow.metrics().await, reason);
        self.proxy.set(fault);
        let (page, mut took) = self
            .until(&format!("{what}: two {reason} errors"), |p| {
                errors(p, reason) >= before + 2.0 && source_up(p) == Some(0.0)
            })
            .await;
        self.assert_all_unknown(&page, &what, message).await;
        self.proxy.set(Fault::None);
        let (_, more) = self
            .until(&format!("{what}: recovery"), |p| {
                distributor(p) == "ok" && source_up(p) == Some(1.0)
            })
            .await;
        took.extend(more);
        assert_prompt(&took, &what);
    }

    /// Every stage `unknown` with `message` in its reason, and no ratio on `page`.
    async fn assert_all_unknown(&self, page: &str, what: &str, message: &str) {
        assert!(
            !page.contains("spanflow_stage_success_ratio{pipeline=\"fleet\""),
            "{what}: a ratio shown while the store fails:\n{page}"
        );
        let status = self.spanflow.status().await;
        for stage in status["pipelines"][0]["stages"].as_array().unwrap() {
            assert_eq!(stage["status"], "unknown", "{what}: {stage:#}");
            assert!(
                stage["reason"].as_str().unwrap().contains(message),
                "{what}: {message:?} not in {stage:#}"
            );
        }
    }
}

fn errors(page: &str, reason: &str) -> f64 {
    sample(
        page,
        &format!("spanflow_source_query_errors_total{{pipeline=\"fleet\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(0.0)
}

fn source_up(page: &str) -> Option<f64> {
    sample(
        page,
        "spanflow_source_up{pipeline=\"fleet\",source=\"prometheus\"}",
    )
}

fn distributor(page: &str) -> &'static str {
    common::stage_status(page, "tempo_distributor")
}

/// A success answer whose one sample has the value `value`.
fn vector_with(value: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"job":"tempo"}},"value":[1733380000,"{value}"]}}]}}}}"#
    )
}

/// A success answer of `n` series.
fn vector_of(n: usize) -> String {
    let samples: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"metric":{{"pod":"p{i}"}},"value":[1733380000,"1"]}}"#))
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        samples.join(",")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_fault_is_unknown_named_and_recovered_from() {
    let rig = Rig::start(true).await;
    rig.check(
        Fault::Answer(503, "upstream connect error or disconnect/reset\n".into()),
        "http_status",
        "HTTP status 503: upstream connect error",
    )
    .await;
    // Every errorType of Prometheus' API (web/api/v1/api.go), each under its own status.
    for (status, error_type) in [
        (503, "timeout"),
        (503, "canceled"),
        (422, "execution"),
        (400, "bad_data"),
        (500, "internal"),
        (503, "unavailable"),
        (404, "not_found"),
        (406, "not_acceptable"),
    ] {
        let body = format!(
            r#"{{"status":"error","errorType":"{error_type}","error":"the store says {error_type}"}}"#
        );
        rig.check(
            Fault::Answer(status, body),
            "api_error",
            &format!("{error_type}: the store says {error_type} (HTTP {status})"),
        )
        .await;
    }
    rig.check(
        Fault::Answer(200, format!("\"{}\"", "x".repeat(BODY_CAP + 1))),
        "too_large",
        &format!("body larger than the {BODY_CAP}-byte limit (body_size_limit)"),
    )
    .await;
    rig.check(
        Fault::Slow(Duration::from_secs(2)),
        "timeout",
        "timed out after 500ms",
    )
    .await;
    for value in ["NaN", "+Inf", "-Inf"] {
        rig.check(
            Fault::Answer(200, vector_with(value)),
            "bad_value",
            &format!("has the value {value}"),
        )
        .await;
    }
    rig.check(
        Fault::Answer(200, vector_of(5000)),
        "too_many_series",
        "5000 series",
    )
    .await;
    rig.check(
        Fault::Answer(200, "<html>502 Bad Gateway</html>".into()),
        "parse",
        "not a Prometheus query answer",
    )
    .await;
}

/// Thanos' partial answers: used (the pipeline stays `ok`), marked partial on `/metrics`,
/// and no longer marked once whole again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_warnings_are_used_and_marked_partial() {
    let rig = Rig::start(true).await;
    rig.proxy.set(Fault::Warnings);
    let (page, mut took) = rig
        .until("a partial answer", |p| {
            sample(p, "spanflow_source_partial{pipeline=\"fleet\"}") == Some(1.0)
        })
        .await;
    assert_eq!(distributor(&page), "ok");
    assert_eq!(source_up(&page), Some(1.0));
    let status = rig.spanflow.status().await;
    assert_eq!(
        status["sources"][0]["warnings"][0],
        "store-gateway-2: unreachable"
    );
    rig.proxy.set(Fault::None);
    let (_, more) = rig
        .until("whole again", |p| {
            sample(p, "spanflow_source_partial{pipeline=\"fleet\"}") == Some(0.0)
        })
        .await;
    took.extend(more);
    assert_prompt(&took, "warnings");
}

/// The store is killed and started again on its data: while it is down every poll fails
/// as `connect` and nothing is shown as current; once it is back, the pipeline is `ok`
/// again from the same series, with no failure at the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_restarting_is_unknown_then_ok_again() {
    let mut rig = Rig::start(false).await;
    let before = errors(&rig.spanflow.metrics().await, "connect");
    rig.prometheus.stop().await;
    let (page, mut took) = rig
        .until("the store down", |p| {
            errors(p, "connect") >= before + 2.0 && source_up(p) == Some(0.0)
        })
        .await;
    rig.assert_all_unknown(&page, "store down", "Connection refused")
        .await;
    rig.prometheus.start_again().await;
    let (_, more) = rig
        .until("the store back", |p| {
            distributor(p) == "ok" && source_up(p) == Some(1.0)
        })
        .await;
    took.extend(more);
    assert_prompt(&took, "store restart");
}
