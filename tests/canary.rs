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
}

#[derive(Default)]
struct Stored {
    mode: Option<Mode>,
    /// Trace ID → when it arrived, its spans.
    traces: HashMap<Vec<u8>, (Instant, Vec<Span>)>,
    requests: Vec<ExportTraceServiceRequest>,
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
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, "not OTLP").into_response();
    };
    match store(&shared, request) {
        Ok(()) => (
            [("content-type", "application/x-protobuf")],
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn query(State(shared): State<Shared>, Path(id): Path<String>) -> axum::response::Response {
    let s = shared.lock().unwrap();
    let mode = s.mode.unwrap_or(Mode::Store);
    match mode {
        Mode::Error500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "querier unavailable").into_response();
        }
        Mode::Garbage => return (StatusCode::OK, vec![0xffu8, 0xff, 0xff, 0x01]).into_response(),
        _ => {}
    }
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
