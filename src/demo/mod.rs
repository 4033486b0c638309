//! An embedded, simulated tracing pipeline for `spanflow demo`.
//!
//! One HTTP server on 127.0.0.1 plays three targets: an app (`/app/metrics`), an
//! OpenTelemetry Collector (`/otelcol/metrics`) and a Tempo 2.7.2 single binary (`/tempo`
//! as API base: `/tempo/metrics`, `/tempo/ready`, `/tempo/api/status/buildinfo`,
//! `/tempo/status/services`, `/tempo/status/config`, `/tempo/ingester/ring`), whose ingester
//! is a real gRPC health server ([`DemoIngesters`]) so the probe works on the demo too. The
//! Collector takes OTLP traces (`POST /otelcol/v1/traces`, and gRPC on its own port) and
//! Tempo serves them back (`/tempo/api/traces/<id>`), so the canary runs on the demo too
//! ([`otlp`]). Their
//! counters grow with time at the rates of the current [`Scenario`], the way the real
//! captures in `testdata/fixtures/` grow (20 spans/s, 15 over gRPC and 5 over HTTP, one
//! push per batch, a labelled series created at its first event). Everything is generated
//! here: the binary needs no fixture at run time.
//!
//! The scenario can be switched while running (`POST /scenario?name=…` on the simulator, or
//! `POST /demo/scenario?name=…` on spanflow), so a user watches a stage turn failing and
//! recover.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::selector::Selector;
use crate::config::{AppSelectors, Config, Target};
use crate::model::stage::Role;

pub mod grpc;
pub mod otlp;

/// A state of the simulated pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every hop passes every span on.
    Healthy,
    /// The incident: Tempo's gRPC server has TLS, the distributor dials in plaintext.
    /// Every push to the ingester fails, every span is refused, the Collector's exporter
    /// fails and its queue fills.
    TlsMismatch,
    /// Tempo's ingestion rate limit refuses about half the spans.
    RateLimited,
    /// Replication factor 3 with three ingesters: ~1/3 of appends are cancelled, nothing is
    /// refused. Healthy.
    Rf3Healthy,
    /// Replication factor 3 with one ingester: every push refused before any append.
    RingRf3,
    /// Every counter healthy, but traces never become queryable: the Collector accepts
    /// them and drops them (a tail sampler, a misrouted exporter). Only the canary sees it.
    SilentLoss,
    /// The Collector sends 100 spans/s, Tempo accepts 70: spans lost between the hops
    /// while both report success.
    LossyHop,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Healthy,
        Scenario::TlsMismatch,
        Scenario::RateLimited,
        Scenario::Rf3Healthy,
        Scenario::RingRf3,
        Scenario::SilentLoss,
        Scenario::LossyHop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::TlsMismatch => "tls-mismatch",
            Scenario::RateLimited => "rate-limited",
            Scenario::Rf3Healthy => "rf3-healthy",
            Scenario::RingRf3 => "ring-rf3",
            Scenario::SilentLoss => "silent-loss",
            Scenario::LossyHop => "lossy-hop",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn names() -> String {
        Scenario::ALL.map(Scenario::name).join(", ")
    }

    /// Per-second increases of every simulated counter.
    fn rates(self) -> Rates {
        let spans = 20.0;
        let pushes = 2.0; // the SDK batches: one push carries ~10 spans
        let mut r = Rates {
            app_exported: spans,
            col_accepted: spans,
            col_sent: spans,
            tempo_accepted: spans,
            tempo_received: spans,
            appends: pushes,
            traces_created: 4.0,
            blocks_flushed: 1.0 / 30.0,
            ..Rates::default()
        };
        match self {
            Scenario::Healthy | Scenario::SilentLoss => {}
            Scenario::LossyHop => {
                r.app_exported = 100.0;
                r.col_accepted = 100.0;
                r.col_sent = 100.0;
                r.tempo_accepted = 70.0;
                r.tempo_received = 70.0;
                r.appends = 7.0;
            }
            Scenario::Rf3Healthy => {
                r.appends = pushes * 3.0;
                r.append_failures = pushes; // the third write of each push is cancelled
            }
            Scenario::TlsMismatch => {
                r.col_sent = 0.0;
                r.col_send_failed = spans;
                r.tempo_accepted = 0.0;
                r.tempo_refused = spans;
                r.append_failures = pushes;
                r.discarded_internal_error = spans;
                r.traces_created = 0.0;
                r.blocks_flushed = 0.0;
                r.queue_growth = 25.0;
            }
            Scenario::RingRf3 => {
                r.col_sent = 0.0;
                r.col_send_failed = spans;
                r.tempo_accepted = 0.0;
                r.tempo_refused = spans;
                r.appends = 0.0;
                r.discarded_internal_error = spans;
                r.traces_created = 0.0;
                r.blocks_flushed = 0.0;
                r.queue_growth = 25.0;
            }
            Scenario::RateLimited => {
                r.col_sent = spans / 2.0;
                r.col_send_failed = spans / 2.0;
                r.tempo_accepted = spans / 2.0;
                r.tempo_received = spans / 2.0;
                r.tempo_refused = spans / 2.0;
                r.appends = pushes / 2.0;
                r.discarded_rate_limited = spans / 2.0;
                r.traces_created = 2.0;
            }
        }
        r
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Rates {
    app_exported: f64,
    col_accepted: f64,
    col_sent: f64,
    col_send_failed: f64,
    tempo_accepted: f64,
    tempo_refused: f64,
    tempo_received: f64,
    appends: f64,
    append_failures: f64,
    traces_created: f64,
    blocks_flushed: f64,
    discarded_internal_error: f64,
    discarded_rate_limited: f64,
    /// Queue items added per second while the exporter fails (drains when it recovers).
    queue_growth: f64,
}

const QUEUE_CAPACITY: f64 = 1000.0;

/// The simulated counters.
#[derive(Debug)]
struct Simulation {
    scenario: Scenario,
    last: Instant,
    started_unix: f64,
    totals: BTreeMap<&'static str, f64>,
    queue_size: f64,
}

impl Simulation {
    fn new(scenario: Scenario) -> Simulation {
        Simulation {
            scenario,
            last: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            totals: BTreeMap::new(),
            queue_size: 0.0,
        }
    }

    /// Brings every counter up to now at the current scenario's rates.
    fn advance(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let r = self.scenario.rates();
        let mut add = |name: &'static str, rate: f64| {
            *self.totals.entry(name).or_insert(0.0) += rate * dt;
        };
        add("app_exported", r.app_exported);
        add("col_accepted", r.col_accepted);
        add("col_sent", r.col_sent);
        add("col_send_failed", r.col_send_failed);
        add("tempo_accepted", r.tempo_accepted);
        add("tempo_refused", r.tempo_refused);
        add("tempo_received", r.tempo_received);
        add("appends", r.appends);
        add("append_failures", r.append_failures);
        add("traces_created", r.traces_created);
        add("blocks_flushed", r.blocks_flushed);
        add("discarded_internal_error", r.discarded_internal_error);
        add("discarded_rate_limited", r.discarded_rate_limited);
        self.queue_size = if r.queue_growth > 0.0 {
            (self.queue_size + r.queue_growth * dt).min(QUEUE_CAPACITY)
        } else {
            (self.queue_size - 200.0 * dt).max(0.0)
        };
    }

    fn total(&self, name: &str) -> u64 {
        self.totals.get(name).copied().unwrap_or(0.0).floor() as u64
    }
}

/// A handle on the running simulation, to switch scenarios.
#[derive(Clone)]
pub struct DemoControl {
    sim: Arc<Mutex<Simulation>>,
    ingesters: IngesterAddresses,
    traces: otlp::SharedTraces,
}

impl DemoControl {
    pub fn scenario(&self) -> Scenario {
        self.sim.lock().expect("simulation lock").scenario
    }

    pub fn switch(&self, scenario: Scenario) {
        let mut sim = self.sim.lock().expect("simulation lock");
        sim.advance();
        sim.scenario = scenario;
    }

    /// Routes to switch the scenario: `GET /scenario` tells it, `POST /scenario?name=…`
    /// changes it.
    pub fn routes(&self, path: &str) -> Router {
        Router::new()
            .route(path, get(get_scenario).post(post_scenario))
            .with_state(self.clone())
    }
}

#[derive(Deserialize)]
struct ScenarioQuery {
    name: Option<String>,
}

async fn get_scenario(State(control): State<DemoControl>) -> String {
    format!("{}\n", control.scenario().name())
}

async fn post_scenario(
    State(control): State<DemoControl>,
    Query(q): Query<ScenarioQuery>,
    body: String,
) -> impl IntoResponse {
    let name = q.name.unwrap_or_else(|| body.trim().to_owned());
    match Scenario::from_name(&name) {
        Some(s) => {
            control.switch(s);
            tracing::info!(scenario = s.name(), "demo scenario switched");
            (StatusCode::OK, format!("scenario {}\n", s.name()))
        }
        None => (
            StatusCode::BAD_REQUEST,
            format!("unknown scenario {name:?}; known: {}\n", Scenario::names()),
        ),
    }
}

/// The simulated Tempo's ingester: two real gRPC health servers on 127.0.0.1, one speaking
/// plaintext (a healthy ingester) and one TLS only (the ingester of the incident, whose gRPC
/// server has `server.grpc_tls_config`). The ring page advertises the one the scenario
/// needs, so spanflow's probe sees what it would see on a real Tempo.
pub struct DemoIngesters {
    pub plaintext: grpc::HealthServer,
    pub tls_only: grpc::HealthServer,
}

impl DemoIngesters {
    pub async fn start() -> std::io::Result<DemoIngesters> {
        let cert = grpc::self_signed().map_err(std::io::Error::other)?;
        Ok(DemoIngesters {
            plaintext: grpc::serve_health(None).await?,
            tls_only: grpc::serve_health(Some(cert)).await?,
        })
    }

    fn addresses(&self) -> IngesterAddresses {
        IngesterAddresses {
            plaintext: self.plaintext.addr.to_string(),
            tls_only: self.tls_only.addr.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct IngesterAddresses {
    plaintext: String,
    tls_only: String,
}

/// The simulated pipeline's HTTP server, ready to be served.
pub fn simulator(scenario: Scenario, ingesters: &DemoIngesters) -> (Router, DemoControl) {
    let control = DemoControl {
        sim: Arc::new(Mutex::new(Simulation::new(scenario))),
        ingesters: ingesters.addresses(),
        traces: otlp::SharedTraces::default(),
    };
    let router = Router::new()
        .route("/app/metrics", get(|State(c): State<DemoControl>| async move { c.page(app_page) }))
        .route("/otelcol/metrics", get(|State(c): State<DemoControl>| async move { c.page(collector_page) }))
        .route("/tempo/metrics", get(|State(c): State<DemoControl>| async move { c.page(tempo_page) }))
        .route("/tempo/ready", get(|| async { "ready\n" }))
        .route("/otelcol/v1/traces", axum::routing::post(otlp::receive_http))
        .route("/tempo/api/traces/{id}", get(otlp::query))
        .route("/tempo/status/services", get(|| async { TEMPO_SERVICES }))
        .route("/tempo/status/config", get(|State(c): State<DemoControl>| async move { c.tempo_config() }))
        .route("/tempo/ingester/ring", get(|State(c): State<DemoControl>, headers: axum::http::HeaderMap| async move { c.ingester_ring(&headers) }))
        .route(
            "/tempo/api/status/buildinfo",
            get(|| async {
                axum::Json(serde_json::json!({"version":"v2.7.2","revision":"b33945abd","branch":"release-v2.7","buildUser":"","buildDate":"","goVersion":"go1.23.5"}))
            }),
        )
        .with_state(control.clone())
        .merge(control.routes("/scenario"));
    (router, control)
}

impl DemoControl {
    fn page(&self, render: fn(&Simulation) -> String) -> impl IntoResponse + use<> {
        let mut sim = self.sim.lock().expect("simulation lock");
        sim.advance();
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&sim),
        )
    }
}

const TEMPO_SERVICES: &str = "GET /status/services
+------------------------+---------+--------------+
| SERVICE NAME           |  STATUS | FAILURE CASE |
+------------------------+---------+--------------+
| distributor            | Running |              |
| ingester               | Running |              |
| memberlist-kv          | Running |              |
| querier                | Running |              |
| query-frontend         | Running |              |
| ring                   | Running |              |
| server                 | Running |              |
| store                  | Running |              |
+------------------------+---------+--------------+
";

impl DemoControl {
    /// The scenario's ingester ring: member names, and whether they are the TLS-only one.
    fn ring_members(&self) -> (Vec<&'static str>, &str, u32) {
        let a = &self.ingesters;
        match self.scenario() {
            Scenario::Healthy
            | Scenario::RateLimited
            | Scenario::SilentLoss
            | Scenario::LossyHop => (vec!["ingester-0"], &a.plaintext, 1),
            Scenario::TlsMismatch => (vec!["ingester-0"], &a.tls_only, 1),
            Scenario::Rf3Healthy => (
                vec!["ingester-0", "ingester-1", "ingester-2"],
                &a.plaintext,
                3,
            ),
            Scenario::RingRf3 => (vec!["ingester-0"], &a.plaintext, 3),
        }
    }

    /// `/status/config` as Tempo writes it, with the few keys that differ by scenario.
    fn tempo_config(&self) -> String {
        let (_, _, replication_factor) = self.ring_members();
        let server_cert = if self.scenario() == Scenario::TlsMismatch {
            "/etc/tempo/tls/server.crt"
        } else {
            "\"\""
        };
        format!(
            "GET /status/config\n---\ntarget: all\nserver:\n    http_listen_port: 3200\n    grpc_listen_port: 9095\n    grpc_tls_config:\n        cert: \"\"\n        key: null\n        cert_file: {server_cert}\n        key_file: \"\"\ningester_client:\n    grpc_client_config:\n        tls_enabled: false\n        tls_cert_path: \"\"\ningester:\n    lifecycler:\n        ring:\n            replication_factor: {replication_factor}\nstorage:\n    trace:\n        backend: local\n        s3:\n            secret_key: \"\"\n"
        )
    }

    /// `/ingester/ring`: JSON when asked for it (as dskit answers), else a short HTML page.
    fn ingester_ring(&self, headers: &axum::http::HeaderMap) -> axum::response::Response {
        let (members, address, _) = self.ring_members();
        let shards: Vec<serde_json::Value> = members
            .iter()
            .map(|id| serde_json::json!({"id": id, "state": "ACTIVE", "address": address, "zone": "", "tokens": []}))
            .collect();
        let json = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
        if json {
            axum::Json(serde_json::json!({"shards": shards, "now": ""})).into_response()
        } else {
            let rows: String = members
                .iter()
                .map(|id| format!("<tr><td>{id}</td><td>ACTIVE</td><td>{address}</td></tr>"))
                .collect();
            axum::response::Html(format!(
                "<html><body><h1>Ingester ring</h1><table>{rows}</table></body></html>"
            ))
            .into_response()
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn app_page(sim: &Simulation) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "otel_sdk_exporter_span_exported_total",
        "counter",
        "Spans exported by the SDK's exporter.",
    );
    let exported = sim.total("app_exported");
    let _ = writeln!(
        out,
        "otel_sdk_exporter_span_exported_total{{error_type=\"\"}} {exported}"
    );
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(
        out,
        "process_start_time_seconds {}",
        sim.started_unix.floor()
    );
    out
}

fn collector_page(sim: &Simulation) -> String {
    let mut out = String::new();
    let svc = "service_instance_id=\"5f1c2d4e-demo\",service_name=\"otelcol-contrib\",service_version=\"0.102.0\"";
    family(
        &mut out,
        "otelcol_exporter_queue_capacity",
        "gauge",
        "Fixed capacity of the retry queue (in batches)",
    );
    let _ = writeln!(
        out,
        "otelcol_exporter_queue_capacity{{exporter=\"otlp/tempo\",{svc}}} {QUEUE_CAPACITY}"
    );
    family(
        &mut out,
        "otelcol_exporter_queue_size",
        "gauge",
        "Current size of the retry queue (in batches)",
    );
    let _ = writeln!(
        out,
        "otelcol_exporter_queue_size{{exporter=\"otlp/tempo\",{svc}}} {}",
        sim.queue_size.floor()
    );
    family(
        &mut out,
        "otelcol_exporter_send_failed_spans",
        "counter",
        "Number of spans in failed attempts to send to destination.",
    );
    let _ = writeln!(
        out,
        "otelcol_exporter_send_failed_spans{{exporter=\"otlp/tempo\",{svc}}} {}",
        sim.total("col_send_failed")
    );
    family(
        &mut out,
        "otelcol_exporter_sent_spans",
        "counter",
        "Number of spans successfully sent to destination.",
    );
    let _ = writeln!(
        out,
        "otelcol_exporter_sent_spans{{exporter=\"otlp/tempo\",{svc}}} {}",
        sim.total("col_sent")
    );
    family(
        &mut out,
        "otelcol_process_uptime",
        "counter",
        "Uptime of the process",
    );
    let _ = writeln!(
        out,
        "otelcol_process_uptime{{{svc}}} {:.3}",
        sim.last.elapsed().as_secs_f64()
    );
    family(
        &mut out,
        "otelcol_receiver_accepted_spans",
        "counter",
        "Number of spans successfully pushed into the pipeline.",
    );
    let _ = writeln!(
        out,
        "otelcol_receiver_accepted_spans{{receiver=\"otlp\",{svc},transport=\"grpc\"}} {}",
        sim.total("col_accepted")
    );
    family(
        &mut out,
        "otelcol_receiver_refused_spans",
        "counter",
        "Number of spans that could not be pushed into the pipeline.",
    );
    let _ = writeln!(
        out,
        "otelcol_receiver_refused_spans{{receiver=\"otlp\",{svc},transport=\"grpc\"}} 0"
    );
    out
}

/// One family of a simulated page: name, type, HELP, and its series (labels as written,
/// value). With `from_first_event`, a series appears only once its value is above zero
/// and the family only with one such series — as Tempo creates a labelled series at its
/// first event.
struct SimFamily {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    series: Vec<(&'static str, String)>,
    from_first_event: bool,
}

fn write_families(out: &mut String, families: Vec<SimFamily>) {
    for f in families {
        let series: Vec<_> = f
            .series
            .into_iter()
            .filter(|(_, v)| !f.from_first_event || v != "0")
            .collect();
        if series.is_empty() {
            continue;
        }
        family(out, f.name, f.kind, f.help);
        for (labels, value) in series {
            let _ = writeln!(out, "{}{labels} {value}", f.name);
        }
    }
}

/// A Tempo 2.7.2 page: the write-path families with their real names, labels and HELP
/// texts, a labelled series only once its first event happened, and a little of the rest.
///
/// One piece on purpose: the table of families reads top to bottom as Tempo's page does.
fn tempo_page(sim: &Simulation) -> String {
    let total = |key: &str| sim.total(key).to_string();
    // 15 of the 20 spans/s come over gRPC, 5 over HTTP.
    let split = |key: &str| {
        let all = sim.total(key);
        ((all - all / 4).to_string(), (all / 4).to_string())
    };
    let (acc_grpc, acc_http) = split("tempo_accepted");
    let (ref_grpc, ref_http) = split("tempo_refused");
    let plain = |name, kind, help, series: Vec<(&'static str, String)>| SimFamily {
        name,
        kind,
        help,
        series,
        from_first_event: false,
    };
    let on_event = |name, help, series| SimFamily {
        from_first_event: true,
        ..plain(name, "counter", help, series)
    };
    let families = vec![
        plain(
            "go_goroutines",
            "gauge",
            "Number of goroutines that currently exist.",
            vec![("", "412".into())],
        ),
        plain(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            vec![("", sim.started_unix.floor().to_string())],
        ),
        plain(
            "tempo_build_info",
            "gauge",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which tempo was built, and the goos and goarch for the build.",
            vec![(
                "{branch=\"release-v2.7\",goarch=\"amd64\",goos=\"linux\",goversion=\"go1.23.5\",revision=\"b33945abd\",tags=\"unknown\",version=\"v2.7.2\"}",
                "1".into(),
            )],
        ),
        on_event(
            "tempo_discarded_spans_total",
            "The total number of samples that were discarded.",
            vec![
                (
                    "{reason=\"internal_error\",tenant=\"single-tenant\"}",
                    total("discarded_internal_error"),
                ),
                (
                    "{reason=\"rate_limited\",tenant=\"single-tenant\"}",
                    total("discarded_rate_limited"),
                ),
            ],
        ),
        on_event(
            "tempo_distributor_ingester_append_failures_total",
            "The total number of failed batch appends sent to ingesters.",
            vec![("{ingester=\"127.0.0.1:9095\"}", total("append_failures"))],
        ),
        on_event(
            "tempo_distributor_ingester_appends_total",
            "The total number of batch appends sent to ingesters.",
            vec![("{ingester=\"127.0.0.1:9095\"}", total("appends"))],
        ),
        plain(
            "tempo_distributor_spans_received_total",
            "counter",
            "The total number of spans received per tenant",
            vec![("{tenant=\"single-tenant\"}", total("tempo_received"))],
        ),
        plain(
            "tempo_ingester_blocks_flushed_total",
            "counter",
            "The total number of blocks flushed",
            vec![("", total("blocks_flushed"))],
        ),
        plain(
            "tempo_ingester_failed_flushes_total",
            "counter",
            "The total number of failed traces",
            vec![("", "0".into())],
        ),
        on_event(
            "tempo_ingester_traces_created_total",
            "The total number of traces created per tenant.",
            vec![("{tenant=\"single-tenant\"}", total("traces_created"))],
        ),
        plain(
            "tempo_receiver_accepted_spans",
            "counter",
            "Number of spans successfully pushed into the pipeline.",
            vec![
                (
                    "{receiver=\"tempo/otlp_receiver\",transport=\"grpc\"}",
                    acc_grpc,
                ),
                (
                    "{receiver=\"tempo/otlp_receiver\",transport=\"http\"}",
                    acc_http,
                ),
            ],
        ),
        plain(
            "tempo_receiver_refused_spans",
            "counter",
            "Number of spans that could not be pushed into the pipeline.",
            vec![
                (
                    "{receiver=\"tempo/otlp_receiver\",transport=\"grpc\"}",
                    ref_grpc,
                ),
                (
                    "{receiver=\"tempo/otlp_receiver\",transport=\"http\"}",
                    ref_http,
                ),
            ],
        ),
    ];
    let mut out = String::new();
    write_families(&mut out, families);
    out
}

/// The configuration spanflow uses to watch the simulator at `base` (e.g.
/// `http://127.0.0.1:41234`): short intervals so a scenario switch shows within seconds.
pub fn config(base: &str) -> Config {
    let target = |name: &str, role: Role, path: &str| Target {
        timeout: std::time::Duration::from_secs(1),
        ..Target::new(
            name,
            role,
            reqwest::Url::parse(&format!("{base}{path}")).expect("simulator URL"),
        )
    };
    let mut app = target("backend", Role::App, "/app/metrics");
    app.app_selectors = Some(AppSelectors {
        success: Selector::parse("otel_sdk_exporter_span_exported_total{error_type=\"\"}")
            .expect("valid selector"),
        failure: Selector::parse("otel_sdk_exporter_span_exported_total{error_type!=\"\"}")
            .expect("valid selector"),
    });
    let tempo = target("tempo", Role::Tempo, "/tempo");
    let mut pipeline = crate::config::Pipeline::default_with(BTreeMap::new());
    // The canary writes to the simulated Collector's OTLP/HTTP receiver and reads back from
    // the simulated Tempo; short times so a lost trace shows within seconds.
    pipeline.canary = Some(Arc::new(crate::config::canary::Canary {
        interval: std::time::Duration::from_secs(2),
        write: target("canary", Role::Collector, "/otelcol"),
        protocol: crate::config::canary::Protocol::HttpProtobuf,
        read: tempo.clone(),
        timeout: std::time::Duration::from_secs(8),
        slow_after: std::time::Duration::from_secs(4),
        service_name: crate::config::canary::DEFAULT_SERVICE_NAME.to_owned(),
    }));
    Config {
        poll_interval: std::time::Duration::from_secs(2),
        window: std::time::Duration::from_secs(60),
        body_size_limit: crate::config::DEFAULT_BODY_SIZE_LIMIT,
        thresholds: BTreeMap::new(),
        probes: crate::config::Probes::default_for(std::time::Duration::from_secs(2)),
        pipelines: vec![pipeline],
        targets: vec![
            app,
            target("otelcol", Role::Collector, "/otelcol/metrics"),
            tempo,
        ],
        balance_below: crate::config::DEFAULT_BALANCE_BELOW,
        max_tenants: crate::config::DEFAULT_MAX_TENANTS,
    }
}
