//! The canary over real OTLP: spanflow writes to an OTLP/HTTP receiver (an axum `/v1/traces`
//! handler) and an OTLP/gRPC one (tonic's `TraceServiceServer`) on 127.0.0.1, each decoding
//! what it got; a Tempo stand-in (constructed: it serves the real Tempo 2.7.2 `/metrics`
//! capture and `/api/traces/<id>` from what the receivers stored) stores, drops, delays,
//! loses one span, fails with 500 or answers garbage. spanflow's canary stage, causes and
//! metrics must say which.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
use prost::Message;
use spanflow::model::stage::{Stage, StageStatus};
use spanflow::snapshot::Snapshot;

/// What the Tempo stand-in does with canary traces.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Store,
    /// Accepts writes, never has the trace.
    Drop,
    /// Has the trace this long after it arrived.
    Delay(Duration),
    /// Has the trace without its middle span.
    DropOneSpan,
    /// `/api/traces` answers 500.
    Error500,
    /// `/api/traces` answers 200 with bytes that are no trace.
    Garbage,
    /// The OTLP receivers refuse the write (HTTP 400, gRPC INVALID_ARGUMENT).
    RefuseWrites,
    /// The OTLP/HTTP receiver stores two spans of three and says so in `partial_success`.
    PartialSuccess,
    /// The OTLP/HTTP receiver reads the write and never answers.
    HangWrites,
    /// `/api/traces` answers 429, as Tempo's query-frontend does over its queue limit.
    TooManyRequests,
    /// `/api/traces` answers 200 with a 50 MB body.
    Huge,
    /// `/api/traces` never answers.
    HangQueries,
}

/// The size of [`Mode::Huge`]'s answer.
const HUGE: usize = 50 << 20;

#[derive(Default)]
struct Stored {
    mode: Option<Mode>,
    /// Trace ID → when it arrived, its spans.
    traces: HashMap<Vec<u8>, (Instant, Vec<Span>)>,
    requests: Vec<ExportTraceServiceRequest>,
    /// Queries being answered now, and the most there ever were at once.
    open_queries: usize,
    max_open_queries: usize,
}

/// Counts a query as open while it lives (the client hanging up drops it).
struct OpenQuery(Shared);

impl OpenQuery {
    fn new(shared: &Shared) -> OpenQuery {
        let mut s = shared.lock().unwrap();
        s.open_queries += 1;
        s.max_open_queries = s.max_open_queries.max(s.open_queries);
        OpenQuery(shared.clone())
    }
}

impl Drop for OpenQuery {
    fn drop(&mut self) {
        self.0.lock().unwrap().open_queries -= 1;
    }
}

type Shared = Arc<Mutex<Stored>>;

fn store(shared: &Shared, request: ExportTraceServiceRequest) -> Result<(), String> {
    let mut s = shared.lock().unwrap();
    if s.mode == Some(Mode::RefuseWrites) {
        return Err("tenant ops is not allowed to write".into());
    }
    for span in request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        s.traces
            .entry(span.trace_id.clone())
            .or_insert_with(|| (Instant::now(), Vec::new()))
            .1
            .push(span.clone());
    }
    s.requests.push(request);
    Ok(())
}

async fn otlp_http(State(shared): State<Shared>, body: Bytes) -> axum::response::Response {
    let Ok(mut request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, "not OTLP").into_response();
    };
    let mode = shared.lock().unwrap().mode;
    let mut answer = ExportTraceServiceResponse::default();
    match mode {
        Some(Mode::HangWrites) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Some(Mode::PartialSuccess) => {
            request.resource_spans[0].scope_spans[0].spans.truncate(1);
            answer.partial_success = Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: 2,
                    error_message: "2 spans over the max attribute size".into(),
                },
            );
        }
        _ => {}
    }
    match store(&shared, request) {
        Ok(()) => (
            [("content-type", "application/x-protobuf")],
            answer.encode_to_vec(),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn query(State(shared): State<Shared>, Path(id): Path<String>) -> axum::response::Response {
    let _open = OpenQuery::new(&shared);
    let mode = shared.lock().unwrap().mode.unwrap_or(Mode::Store);
    match mode {
        Mode::Error500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "querier unavailable").into_response();
        }
        Mode::Garbage => return (StatusCode::OK, vec![0xffu8, 0xff, 0xff, 0x01]).into_response(),
        Mode::TooManyRequests => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "job queue full",
            )
                .into_response();
        }
        Mode::Huge => return (StatusCode::OK, vec![0x0au8; HUGE]).into_response(),
        Mode::HangQueries => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        _ => {}
    }
    let s = shared.lock().unwrap();
    let trace_id: Vec<u8> = (0..id.len() / 2)
        .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let Some((arrived, spans)) = s.traces.get(&trace_id) else {
        return (StatusCode::NOT_FOUND, "trace not found").into_response();
    };
    let mut spans = spans.clone();
    match mode {
        Mode::Drop => return (StatusCode::NOT_FOUND, "trace not found").into_response(),
        Mode::Delay(d) if arrived.elapsed() < d => {
            return (StatusCode::NOT_FOUND, "trace not found").into_response();
        }
        Mode::DropOneSpan => {
            spans.remove(1);
        }
        _ => {}
    }
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    (
        [("content-type", "application/protobuf")],
        data.encode_to_vec(),
    )
        .into_response()
}

struct Grpc(Shared);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let tenant = request
            .metadata()
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if tenant != "ops" {
            return Err(tonic::Status::permission_denied(format!(
                "no tenant: X-Scope-OrgID {tenant:?}"
            )));
        }
        store(&self.0, request.into_inner())
            .map(|()| tonic::Response::new(ExportTraceServiceResponse::default()))
            .map_err(tonic::Status::invalid_argument)
    }
}

/// The Tempo stand-in's routes: the OTLP/HTTP receiver, the query API, `/metrics`.
fn tempo_app(shared: Shared) -> axum::Router {
    let page = common::read_testdata("fixtures/tempo-2.7.2/healthy/metrics.txt");
    axum::Router::new()
        .route("/v1/traces", axum::routing::post(otlp_http))
        .route("/api/traces/{id}", axum::routing::get(query))
        .route(
            "/metrics",
            axum::routing::get(move || {
                let page = page.clone();
                async move { ([("content-type", common::TEMPO_CONTENT_TYPE)], page) }
            }),
        )
        .with_state(shared)
}

/// The Tempo stand-in and both OTLP receivers: (base URL, gRPC URL, shared state).
async fn tempo() -> (String, String, Shared) {
    let shared: Shared = Arc::default();
    let app = tempo_app(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let address: std::net::SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let service = TraceServiceServer::new(Grpc(shared.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(address)
            .await
            .unwrap()
    });
    common::wait_tcp(&address.to_string()).await;
    (base, format!("http://{address}"), shared)
}

fn config(base: &str, write: &str) -> Arc<spanflow::config::Config> {
    Arc::new(
        spanflow::config::Config::from_yaml(
            &format!(
                "poll_interval: 1s\nwindow: 20s\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{base}', timeout: 900ms}}\ncanary:\n  interval: 1s\n  timeout: 3s\n  slow_after: 1500ms\n  write: {write}\n  read: {{target: tempo}}\n"
            ),
            "canary.yml",
        )
        .unwrap(),
    )
}

/// Runs spanflow until `check` holds for its snapshot (20 s at most).
async fn until(
    config: Arc<spanflow::config::Config>,
    check: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let engine = spanflow::engine::start(config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = engine.snapshot.load_full();
        if check(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "never came: {:#?}",
            s.pipelines[0].canary
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn canary_status(s: &Snapshot) -> Option<StageStatus> {
    s.pipelines[0]
        .stages
        .iter()
        .find(|st| st.stage == Stage::Canary)
        .map(|st| st.status)
}

fn causes(s: &Snapshot) -> Vec<&'static str> {
    s.pipelines[0]
        .causes
        .iter()
        .map(|d| d.cause.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_trace_is_found_with_its_ids_parentage_and_attributes_over_http() {
    let (base, _, shared) = tempo().await;
    let s = until(
        config(
            &base,
            &format!("{{endpoint: '{base}', headers: {{X-Scope-OrgID: ops}}}}"),
        ),
        |s| s.pipelines[0].canary.as_ref().is_some_and(|c| c.found >= 2),
    )
    .await;
    assert_eq!(canary_status(&s), Some(StageStatus::Ok));
    let c = s.pipelines[0].canary.as_ref().unwrap();
    assert!(
        c.latency.count >= 2 && c.p90_seconds.unwrap() < 3.0,
        "{c:#?}"
    );
    // What the receiver decoded: one resource with the service name, three chained spans
    // of one trace, each marked as the canary and kept by samplers.
    let stored = shared.lock().unwrap();
    let request = &stored.requests[0];
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(resource.attributes[0].key, "service.name");
    assert_eq!(
        format!("{:?}", resource.attributes[0].value),
        format!(
            "{:?}",
            Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        "spanflow-canary".into()
                    )
                )
            })
        )
    );
    let spans = &request.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 3);
    assert!(
        spans
            .iter()
            .all(|sp| sp.trace_id == spans[0].trace_id && sp.trace_id.len() == 16)
    );
    assert!(spans[0].parent_span_id.is_empty());
    assert_eq!(spans[1].parent_span_id, spans[0].span_id);
    assert_eq!(spans[2].parent_span_id, spans[1].span_id);
    for sp in spans {
        let keys: Vec<&str> = sp.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["spanflow.canary", "sampling.priority"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_writes_carry_the_headers_as_metadata() {
    let (base, grpc, shared) = tempo().await;
    let s = until(
        config(
            &base,
            &format!("{{endpoint: '{grpc}', protocol: grpc, headers: {{X-Scope-OrgID: ops}}}}"),
        ),
        |s| s.pipelines[0].canary.as_ref().is_some_and(|c| c.found >= 1),
    )
    .await;
    assert_eq!(canary_status(&s), Some(StageStatus::Ok));
    assert!(!shared.lock().unwrap().requests.is_empty());
    // Without the tenant the gRPC receiver refuses: write_failed with the gRPC code.
    let s = until(
        config(&base, &format!("{{endpoint: '{grpc}', protocol: grpc}}")),
        |s| {
            s.pipelines[0]
                .canary
                .as_ref()
                .is_some_and(|c| c.write_failed >= 1)
        },
    )
    .await;
    let c = s.pipelines[0].canary.as_ref().unwrap();
    assert!(
        c.last_write_error
            .as_ref()
            .unwrap()
            .contains("PermissionDenied: no tenant"),
        "{c:#?}"
    );
    assert!(
        causes(&s).contains(&"canary_write_rejected"),
        "{:?}",
        causes(&s)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_way_of_losing_a_trace_is_told_apart() {
    let cases: [(Mode, &str); 5] = [
        (Mode::Drop, "missing"),
        (Mode::DropOneSpan, "incomplete"),
        (Mode::Error500, "query_errors"),
        (Mode::Garbage, "parse"),
        (Mode::RefuseWrites, "write_failed"),
    ];
    for (mode, what) in cases {
        let (base, _, shared) = tempo().await;
        shared.lock().unwrap().mode = Some(mode);
        // The counter stages are judged from their second poll: the cause comes then.
        let cause = match mode {
            Mode::Drop | Mode::DropOneSpan => "silent_loss",
            Mode::Error500 | Mode::Garbage => "query_path_failing",
            _ => "canary_write_rejected",
        };
        let s = until(config(&base, &format!("{{endpoint: '{base}'}}")), |s| {
            causes(s).contains(&cause)
                && s.pipelines[0].canary.as_ref().is_some_and(|c| match what {
                    "missing" => c.missing >= 1,
                    "incomplete" => c.incomplete >= 1,
                    "query_errors" => c.query_errors_total["http_status"] >= 2,
                    "parse" => c.query_errors_total["parse"] >= 2,
                    _ => c.write_failed >= 1,
                })
        })
        .await;
        let found = causes(&s);
        let c = s.pipelines[0].canary.as_ref().unwrap();
        match mode {
            Mode::Drop | Mode::DropOneSpan => {
                // Every counter stage is fine (the capture's counters do not move: idle), the
                // canary is not: silent loss, and the canary is the blocked stage.
                assert_eq!(canary_status(&s), Some(StageStatus::Failing), "{mode:?}");
                assert_eq!(
                    s.pipelines[0].blocked_stage,
                    Some(Stage::Canary),
                    "{mode:?}"
                );
                assert!(found.contains(&"silent_loss"), "{mode:?}: {found:?}");
            }
            Mode::Error500 | Mode::Garbage => {
                assert!(found.contains(&"query_path_failing"), "{mode:?}: {found:?}");
                assert!(c.last_query_error.is_some());
            }
            _ => {
                assert!(found.contains(&"canary_write_rejected"), "{found:?}");
                assert!(
                    c.last_write_error
                        .as_ref()
                        .unwrap()
                        .contains("HTTP 400: tenant ops is not allowed"),
                    "{c:#?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_trace_is_found_late_and_named_slow() {
    let (base, _, shared) = tempo().await;
    shared.lock().unwrap().mode = Some(Mode::Delay(Duration::from_millis(1800)));
    let s = until(config(&base, &format!("{{endpoint: '{base}'}}")), |s| {
        s.pipelines[0].canary.as_ref().is_some_and(|c| c.found >= 2)
    })
    .await;
    let c = s.pipelines[0].canary.as_ref().unwrap();
    assert!(c.p50_seconds.unwrap() >= 1.8, "{c:#?}");
    // Not there at the reads 0.25 s, 0.75 s and 1.75 s after the write; found at 3.75 s.
    assert!(causes(&s).contains(&"canary_slow"), "{:?}", causes(&s));
    let metrics = common::metrics_text(&s);
    for line in [
        "spanflow_canary_latency_seconds_bucket{pipeline=\"default\",le=\"1\"} 0",
        "spanflow_canary_traces_total{pipeline=\"default\",result=\"found\"} ",
        "spanflow_canary_last_found_timestamp_seconds{pipeline=\"default\"} ",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_path_verifies_tls_with_the_ca_file() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (base, _, shared) = tempo().await;
    // The same receiver over https, with a certificate for localhost only this test trusts.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
        cert.cert.pem().into_bytes(),
        cert.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    let app = tempo_app(shared.clone());
    tokio::spawn(async move { server.serve(app.into_make_service()).await.unwrap() });
    let https = format!("https://localhost:{port}");
    let s = until(
        config(
            &base,
            &format!(
                "{{endpoint: '{https}', tls: {{ca_file: '{}'}}}}",
                ca.display()
            ),
        ),
        |s| s.pipelines[0].canary.as_ref().is_some_and(|c| c.found >= 1),
    )
    .await;
    assert_eq!(canary_status(&s), Some(StageStatus::Ok));
    // Without the CA the write fails on the handshake, and says so.
    let s = until(config(&base, &format!("{{endpoint: '{https}'}}")), |s| {
        s.pipelines[0]
            .canary
            .as_ref()
            .is_some_and(|c| c.write_failed >= 1)
    })
    .await;
    let c = s.pipelines[0].canary.as_ref().unwrap();
    assert!(
        c.last_write_error.as_ref().unwrap().contains("TLS"),
        "{c:#?}"
    );
}

/// The Tempo stand-in's routes on 127.0.0.1:`port` until its handle shuts it down: every
/// connection closed at once, as when the process dies.
async fn serve_at(app: axum::Router, port: u16) -> axum_server::Handle<std::net::SocketAddr> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();
    let listener = socket.listen(1024).unwrap().into_std().unwrap();
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp(listener)
        .unwrap()
        .handle(handle.clone());
    tokio::spawn(async move { server.serve(app.into_make_service()).await });
    common::wait_tcp(&format!("127.0.0.1:{port}")).await;
    handle
}

/// The spanflow binary writing canary traces to an OTLP/HTTP receiver of its own and reading
/// them from the Tempo stand-in, which can be stopped and started again on its port.
struct FaultRig {
    shared: Shared,
    tempo_port: u16,
    tempo: axum_server::Handle<std::net::SocketAddr>,
    _receiver: axum_server::Handle<std::net::SocketAddr>,
    spanflow: common::Spanflow,
}

/// The body cap of [`FaultRig`]'s config: a 50 MB trace is refused at 4 MiB.
const BODY_CAP: usize = 4 << 20;

/// A canary every second, followed for 3 s; the write times out after 500 ms; Tempo polled
/// every 500 ms with a 450 ms timeout.
fn binary_config(tempo: &str, write: &str) -> String {
    format!(
        "poll_interval: 500ms\nwindow: 20s\nbody_size_limit: {BODY_CAP}\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{tempo}', timeout: 450ms}}\ncanary:\n  interval: 1s\n  timeout: 3s\n  slow_after: 1500ms\n  write: {write}\n  read: {{target: tempo}}\n"
    )
}

impl FaultRig {
    async fn start() -> FaultRig {
        let shared: Shared = Arc::default();
        let tempo_port = common::free_port();
        let tempo = serve_at(tempo_app(shared.clone()), tempo_port).await;
        let receiver_port = common::free_port();
        let receiver = serve_at(
            axum::Router::new()
                .route("/v1/traces", axum::routing::post(otlp_http))
                .with_state(shared.clone()),
            receiver_port,
        )
        .await;
        let yaml = binary_config(
            &format!("http://127.0.0.1:{tempo_port}"),
            &format!("{{endpoint: 'http://127.0.0.1:{receiver_port}', timeout: 500ms}}"),
        );
        let spanflow = common::Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
        let rig = FaultRig {
            shared,
            tempo_port,
            tempo,
            _receiver: receiver,
            spanflow,
        };
        rig.until("two canaries found", |p| traces(p, "found") >= 2.0, false)
            .await;
        rig
    }

    fn set(&self, mode: Mode) {
        self.shared.lock().unwrap().mode = Some(mode);
    }

    /// Reads `/metrics` until `done`; while `tempo_up`, every page shows Tempo polled and
    /// its distributor `ok`: the canary never holds the polls up.
    async fn until(
        &self,
        what: &str,
        done: impl Fn(&str) -> bool,
        tempo_up: bool,
    ) -> (String, Vec<Duration>) {
        self.spanflow
            .metrics_until(what, Duration::from_secs(25), |page| {
                if tempo_up {
                    assert_eq!(
                        common::sample(page, "spanflow_target_up{target=\"tempo\",role=\"tempo\"}"),
                        Some(1.0),
                        "{what}: Tempo not polled:\n{page}"
                    );
                    assert!(
                        page.contains("spanflow_stage_status{pipeline=\"default\",stage=\"tempo_distributor\",status=\"ok\"} 1")
                            || page.contains("stage=\"tempo_distributor\",status=\"idle\"} 1"),
                        "{what}: the distributor judged otherwise:\n{page}"
                    );
                }
                done(page)
            })
            .await
    }

    /// Switches `mode` on until `counted` has grown by two, checks nothing else was counted
    /// for it, then back to storing until two more traces are found.
    async fn check(&self, mode: Mode, counted: &[(&str, &str)]) -> String {
        let before = self.spanflow.metrics().await;
        self.set(mode);
        let (page, mut took) = self
            .until(
                &format!("{mode:?}: two more {counted:?}"),
                |p| {
                    counted
                        .iter()
                        .all(|c| count(p, *c) >= count(&before, *c) + 2.0)
                },
                true,
            )
            .await;
        for other in COUNTED
            .iter()
            .filter(|c| !counted.contains(c) && **c != ("result", "found"))
        {
            assert_eq!(
                count(&page, *other),
                count(&before, *other),
                "{mode:?} counted as {other:?}"
            );
        }
        self.set(Mode::Store);
        let found = traces(&page, "found");
        let (_, more) = self
            .until(
                &format!("{mode:?}: found again"),
                |p| traces(p, "found") >= found + 2.0,
                true,
            )
            .await;
        took.extend(more);
        common::assert_prompt(&took, &format!("{mode:?}"));
        page
    }
}

/// Every outcome the canary counts: results of `spanflow_canary_traces_total` ("result"),
/// reasons of `spanflow_canary_query_errors_total` ("read") and of
/// `spanflow_canary_write_errors_total` ("write").
const COUNTED: [(&str, &str); 16] = [
    ("result", "found"),
    ("result", "incomplete"),
    ("result", "missing"),
    ("result", "write_failed"),
    ("read", "timeout"),
    ("read", "connect"),
    ("read", "http_status"),
    ("read", "too_large"),
    ("read", "parse"),
    ("write", "timeout"),
    ("write", "connect"),
    ("write", "tls"),
    ("write", "too_large"),
    ("write", "refused"),
    ("write", "parse"),
    ("write", "rejected"),
];

fn count(page: &str, (kind, value): (&str, &str)) -> f64 {
    let (family, label) = match kind {
        "result" => ("spanflow_canary_traces_total", "result"),
        "read" => ("spanflow_canary_query_errors_total", "reason"),
        _ => ("spanflow_canary_write_errors_total", "reason"),
    };
    common::sample(page, &format!("{family}{{{label}=\"{value}\"}}")).unwrap_or(0.0)
}

fn traces(page: &str, result: &str) -> f64 {
    count(page, ("result", result))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_canary_fault_is_counted_by_name_and_never_holds_polling_up() {
    let rig = FaultRig::start().await;
    rig.check(
        Mode::PartialSuccess,
        &[("result", "write_failed"), ("write", "rejected")],
    )
    .await;
    let error = rig.spanflow.status().await["pipelines"][0]["canary"]["last_write_error"].clone();
    assert_eq!(
        error,
        "2 of 3 spans rejected: 2 spans over the max attribute size"
    );
    rig.check(
        Mode::HangWrites,
        &[("result", "write_failed"), ("write", "timeout")],
    )
    .await;
    let error = rig.spanflow.status().await["pipelines"][0]["canary"]["last_write_error"].clone();
    assert!(error.as_str().unwrap().contains("timed out"), "{error}");
    rig.check(Mode::TooManyRequests, &[("read", "http_status")])
        .await;
    let rss = rig.spanflow.rss_kib();
    rig.check(Mode::Huge, &[("read", "too_large")]).await;
    let after = rig.spanflow.rss_kib();
    eprintln!("RSS {rss} KiB before two 50 MB traces, {after} KiB after");
    assert!(
        after < rss + 3 * (BODY_CAP as u64 >> 10),
        "RSS {rss} KiB → {after} KiB over 50 MB answers capped at {BODY_CAP} bytes"
    );
    rig.check(Mode::Garbage, &[("read", "parse")]).await;
    // Reads that never end: each is cut at the read timeout, and no more traces are
    // followed at once than the bound (3 s / 1 s + 1).
    rig.check(Mode::HangQueries, &[("read", "timeout")]).await;
    let most = rig.shared.lock().unwrap().max_open_queries;
    assert!(
        most <= 4,
        "{most} reads open at once, more than the 4 in flight allowed"
    );
}

/// Tempo restarts while canary traces are being followed: the reads meanwhile fail as
/// `connect`, nothing turns `failing`, and once Tempo is back (with what it had stored, as
/// its WAL keeps it) traces are found again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempo_restarting_mid_wait_is_connect_errors_then_found() {
    let rig = FaultRig::start().await;
    // Each trace becomes queryable 1.2 s after it arrived: every trace is mid-wait when
    // Tempo goes.
    rig.set(Mode::Delay(Duration::from_millis(1200)));
    let before = rig.spanflow.metrics().await;
    rig.tempo.shutdown();
    let (_, mut took) = rig
        .until(
            "reads failing while Tempo is down",
            |p| {
                count(p, ("read", "connect")) >= count(&before, ("read", "connect")) + 1.0
                    && common::sample(p, "spanflow_target_up{target=\"tempo\",role=\"tempo\"}")
                        == Some(0.0)
            },
            false,
        )
        .await;
    let (page, more) = rig.until("Tempo down a moment", |_| true, false).await;
    took.extend(more);
    assert!(!page.contains("status=\"failing\"} 1"), "{page}");
    let _tempo = serve_at(tempo_app(rig.shared.clone()), rig.tempo_port).await;
    let found = traces(&page, "found");
    let (_, more) = rig
        .until(
            "traces found after the restart",
            |p| traces(p, "found") >= found + 2.0,
            false,
        )
        .await;
    took.extend(more);
    common::assert_prompt(&took, "Tempo restarting");
}

/// Writes that cannot reach the entry — nothing listening, TLS spoken to a plaintext
/// receiver, gRPC to an HTTP-only one — fail as `write_failed` with the cause named, while
/// Tempo is still polled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_refusing_or_mismatched_entry_fail_named() {
    let shared: Shared = Arc::default();
    let tempo_port = common::free_port();
    let _tempo = serve_at(tempo_app(shared.clone()), tempo_port).await;
    let tempo = format!("http://127.0.0.1:{tempo_port}");
    let closed = common::free_port();
    for (write, reason, message) in [
        (
            format!("{{endpoint: 'http://127.0.0.1:{closed}'}}"),
            "connect",
            "Connection refused",
        ),
        (
            format!(
                "{{endpoint: 'https://127.0.0.1:{tempo_port}', tls: {{insecure_skip_verify: true}}}}"
            ),
            "tls",
            "TLS",
        ),
        (
            format!("{{endpoint: 'http://127.0.0.1:{tempo_port}', protocol: grpc}}"),
            "refused",
            "gRPC",
        ),
    ] {
        let spanflow = common::Spanflow::start(
            &binary_config(&tempo, &write),
            &[],
            std::process::Stdio::null(),
        )
        .await;
        let (page, took) = spanflow
            .metrics_until(&write, Duration::from_secs(20), |p| {
                traces(p, "write_failed") >= 2.0
                    && common::sample(p, "spanflow_target_up{target=\"tempo\",role=\"tempo\"}")
                        == Some(1.0)
            })
            .await;
        assert_eq!(traces(&page, "found"), 0.0);
        assert_eq!(
            count(&page, ("write", reason)),
            traces(&page, "write_failed"),
            "{write}: every failed write counted as {reason}:\n{page}"
        );
        let error = spanflow.status().await["pipelines"][0]["canary"]["last_write_error"].clone();
        eprintln!("{write}: {reason}: {error}");
        assert!(
            error.as_str().unwrap().contains(message),
            "{write}: {message:?} not in {error}"
        );
        common::assert_prompt(&took, &write);
    }
}
