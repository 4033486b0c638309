//! The demo's trace path: the simulated Collector's OTLP receivers (HTTP `POST
//! /otelcol/v1/traces` on the simulator, and a real gRPC `TraceService` on its own port) and
//! the simulated Tempo's query API (`GET /tempo/api/traces/<id>`, protobuf).
//!
//! Input: OTLP writes (the canary's, or anyone's). Output: the traces, stored and served back
//! — except in the `silent-loss` scenario, where writes are accepted and dropped, as a tail
//! sampler or a misrouted exporter would. At most [`MAX_TRACES`] traces are kept (the oldest
//! go first). It never reads counters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use prost::Message;

use super::{DemoControl, Scenario};

/// Traces the simulated Tempo keeps at most.
pub const MAX_TRACES: usize = 1000;

/// The simulated Tempo's traces: trace ID → resource spans.
#[derive(Default)]
pub(super) struct TraceStore {
    traces: BTreeMap<Vec<u8>, Vec<ResourceSpans>>,
    order: VecDeque<Vec<u8>>,
}

impl TraceStore {
    /// Keeps what `request` carries unless the scenario loses it.
    fn take(&mut self, scenario: Scenario, request: ExportTraceServiceRequest) {
        if scenario == Scenario::SilentLoss {
            return;
        }
        for resource in request.resource_spans {
            let Some(id) = resource
                .scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(|s| s.trace_id.clone())
                .next()
            else {
                continue;
            };
            if !self.traces.contains_key(&id) {
                self.order.push_back(id.clone());
                if self.order.len() > MAX_TRACES
                    && let Some(old) = self.order.pop_front()
                {
                    self.traces.remove(&old);
                }
            }
            self.traces.entry(id).or_default().push(resource);
        }
    }
}

pub(super) type SharedTraces = Arc<Mutex<TraceStore>>;

/// `POST /otelcol/v1/traces`: the Collector's OTLP/HTTP receiver.
pub(super) async fn receive_http(
    State(control): State<DemoControl>,
    body: Bytes,
) -> axum::response::Response {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (
            StatusCode::BAD_REQUEST,
            "not an OTLP ExportTraceServiceRequest\n",
        )
            .into_response();
    };
    let scenario = control.scenario();
    control
        .traces
        .lock()
        .expect("trace store lock")
        .take(scenario, request);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

/// `GET /tempo/api/traces/<32 hex>`: the trace as `tempopb.Trace` (protobuf), or 404.
pub(super) async fn query(
    State(control): State<DemoControl>,
    Path(id): Path<String>,
) -> axum::response::Response {
    let bytes: Option<Vec<u8>> = (id.len() == 32)
        .then(|| {
            (0..16)
                .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).ok())
                .collect()
        })
        .flatten();
    let Some(bytes) = bytes else {
        return (StatusCode::BAD_REQUEST, "trace id must be 32 hex digits\n").into_response();
    };
    let store = control.traces.lock().expect("trace store lock");
    match store.traces.get(&bytes) {
        None => (StatusCode::NOT_FOUND, "trace not found\n").into_response(),
        Some(resource_spans) => (
            [(header::CONTENT_TYPE, "application/protobuf")],
            TracesData {
                resource_spans: resource_spans.clone(),
            }
            .encode_to_vec(),
        )
            .into_response(),
    }
}

/// The Collector's OTLP/gRPC receiver.
pub struct GrpcReceiver(pub(super) DemoControl);

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let scenario = self.0.scenario();
        self.0
            .traces
            .lock()
            .map_err(|_| tonic::Status::internal("trace store lock"))?
            .take(scenario, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Serves the gRPC receiver on 127.0.0.1 (a free port) until the runtime stops.
pub async fn serve_grpc(control: DemoControl) -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    drop(listener);
    let service = TraceServiceServer::new(GrpcReceiver(control));
    tokio::spawn(async move {
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(service)
            .serve(address)
            .await
        {
            tracing::error!(error = %e, "demo OTLP/gRPC receiver stopped");
        }
    });
    Ok(address)
}
