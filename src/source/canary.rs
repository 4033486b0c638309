//! The canary trace: written at a pipeline's entry over OTLP, read back from Tempo's query API.
//!
//! Input: the pipeline's [`Canary`] settings. Output: for a write, whether the entry accepted
//! the trace ([`WriteError`] with the HTTP status or gRPC code and the message when it did
//! not, or when it rejected spans in a partial success); for a read, whether Tempo has the
//! whole trace, part of it, not yet, or answered with an error ([`ReadOutcome`]). The trace
//! is built with the OTLP protobuf types, not an SDK: its IDs must be known and each write's
//! outcome seen. It never retries, waits or keeps anything: that is `engine::canary`.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
use prost::Message;

use crate::config::canary::{Canary, Protocol};
use crate::source::scrape::{ClientSetupError, ScrapeError, TargetClient};

/// Spans in a canary trace: root → child → grandchild, so a lost middle span shows as a
/// broken chain.
pub const SPANS: usize = 3;

/// One canary trace's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanaryTrace {
    pub trace_id: [u8; 16],
    pub span_ids: [[u8; 8]; SPANS],
}

impl CanaryTrace {
    /// Fresh random IDs, never zero (an all-zero ID is invalid in OTLP).
    pub fn random() -> CanaryTrace {
        let next = || loop {
            let v = random_u64();
            if v != 0 {
                return v;
            }
        };
        let mut trace_id = [0; 16];
        trace_id[..8].copy_from_slice(&next().to_be_bytes());
        trace_id[8..].copy_from_slice(&next().to_be_bytes());
        let span_ids = [
            next().to_be_bytes(),
            next().to_be_bytes(),
            next().to_be_bytes(),
        ];
        CanaryTrace { trace_id, span_ids }
    }

    /// The trace ID as Tempo's API wants it: 32 lowercase hex digits.
    pub fn hex_id(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The OTLP request that carries this trace, starting at `now`.
    pub fn request(&self, service_name: &str, now: SystemTime) -> ExportTraceServiceRequest {
        let start = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let attribute = |key: &str, value: any_value::Value| KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        };
        let names = [
            "spanflow canary",
            "spanflow canary hop",
            "spanflow canary leaf",
        ];
        let spans = (0..SPANS)
            .map(|i| Span {
                trace_id: self.trace_id.to_vec(),
                span_id: self.span_ids[i].to_vec(),
                parent_span_id: if i == 0 {
                    Vec::new()
                } else {
                    self.span_ids[i - 1].to_vec()
                },
                name: names[i].to_owned(),
                kind: 1, // SPAN_KIND_INTERNAL
                // Nested: each child inside its parent, a millisecond shorter at each end.
                start_time_unix_nano: start + i as u64 * 1_000_000,
                end_time_unix_nano: start + (10 - i as u64) * 1_000_000,
                attributes: vec![
                    attribute("spanflow.canary", any_value::Value::BoolValue(true)),
                    // Probabilistic samplers keep a trace with sampling.priority > 0.
                    attribute("sampling.priority", any_value::Value::IntValue(1)),
                ],
                flags: 0x100 | 0x01, // the parent's remoteness is known; sampled
                ..Span::default()
            })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![attribute(
                        "service.name",
                        any_value::Value::StringValue(service_name.to_owned()),
                    )],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "spanflow".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

/// Random 64-bit values from the standard library's randomly keyed hasher: canary IDs must
/// not repeat, they need not be unpredictable.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// Why the entry did not take a canary trace.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// No answer: connect, TLS, timeout, an answer over the body cap; `reason` says which,
    /// as a failed poll's reason would.
    #[error("{message}")]
    Transport {
        reason: &'static str,
        message: String,
    },
    /// The entry answered with an error: an HTTP status or a gRPC code, and its message.
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
    /// A success status whose body is not an OTLP answer.
    #[error("{code}: not an OTLP response: {message}")]
    Unreadable { code: String, message: String },
    /// A partial success that rejected spans.
    #[error("{rejected} of {SPANS} spans rejected: {message}")]
    Rejected { rejected: i64, message: String },
}

impl WriteError {
    /// Every reason, as `spanflow_canary_write_errors_total{reason}` names them.
    pub const REASONS: [&'static str; 7] = [
        "timeout",
        "connect",
        "tls",
        "too_large",
        "refused",
        "parse",
        "rejected",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            WriteError::Transport { reason, .. } => reason,
            WriteError::Refused { .. } => "refused",
            WriteError::Unreadable { .. } => "parse",
            WriteError::Rejected { .. } => "rejected",
        }
    }

    fn timeout(after: Duration) -> WriteError {
        WriteError::Transport {
            reason: "timeout",
            message: format!("timed out after {after:?}"),
        }
    }
}

/// Writes canary traces to one entry.
#[derive(Clone)]
pub struct CanaryWriter {
    protocol: Protocol,
    client: TargetClient,
    service_name: String,
    /// Sent as gRPC metadata (HTTP writes send them as headers through the client).
    headers: std::collections::BTreeMap<String, String>,
    /// For gRPC over https: the TLS settings and the name the certificate is checked against.
    grpc_tls: Option<(std::sync::Arc<rustls::ClientConfig>, String)>,
}

impl std::fmt::Debug for CanaryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanaryWriter")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.client.shown_url())
            .finish()
    }
}

impl CanaryWriter {
    pub fn new(canary: &Canary, body_size_limit: u64) -> Result<CanaryWriter, ClientSetupError> {
        let grpc_tls = match (canary.protocol, canary.write.url.scheme()) {
            (Protocol::Grpc, "https") => Some(grpc_tls(&canary.write)?),
            _ => None,
        };
        Ok(CanaryWriter {
            protocol: canary.protocol,
            client: TargetClient::new(&canary.write, body_size_limit)?,
            service_name: canary.service_name.clone(),
            headers: canary.write.headers.clone(),
            grpc_tls,
        })
    }

    /// Sends `trace`, starting now; `Ok` when the entry accepted every span.
    pub async fn write(&self, trace: &CanaryTrace) -> Result<(), WriteError> {
        let request = trace.request(&self.service_name, SystemTime::now());
        let response = match self.protocol {
            Protocol::HttpProtobuf => self.write_http(request).await?,
            Protocol::Grpc => self.write_grpc(request).await?,
        };
        match response.partial_success {
            Some(p) if p.rejected_spans > 0 => Err(WriteError::Rejected {
                rejected: p.rejected_spans,
                message: p.error_message,
            }),
            _ => Ok(()),
        }
    }

    async fn write_http(
        &self,
        request: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, WriteError> {
        let url = self.client.endpoint("v1/traces");
        let page = self
            .client
            .post_any_status(url, "application/x-protobuf", request.encode_to_vec())
            .await
            .map_err(|e| WriteError::Transport {
                // A transport failure; an HTTP status comes back as a page.
                reason: e.reason(),
                message: e.to_string(),
            })?;
        http_answer(page.status, &page.body)
    }

    async fn write_grpc(
        &self,
        request: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, WriteError> {
        let url = self.client.url().clone();
        let timeout = self.client.timeout();
        let channel = tokio::time::timeout(timeout, grpc_channel(&url, self.grpc_tls.clone()))
            .await
            .map_err(|_| WriteError::timeout(timeout))?
            .map_err(|e| WriteError::Transport {
                reason: transport_reason(e.as_ref()),
                message: format!("{url}: {}", crate::source::scrape::error_chain(e.as_ref())),
            })?;
        let mut client = TraceServiceClient::new(channel);
        let mut call = tonic::Request::new(request);
        call.set_timeout(timeout);
        for (k, v) in &self.headers {
            let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes());
            if let (Ok(key), Ok(value)) = (key, v.parse()) {
                call.metadata_mut().insert(key, value);
            }
        }
        match tokio::time::timeout(timeout, client.export(call)).await {
            Err(_) => Err(WriteError::timeout(timeout)),
            Ok(Ok(answer)) => Ok(answer.into_inner()),
            Ok(Err(status)) => Err(WriteError::Refused {
                code: format!("gRPC {:?}", status.code()),
                message: status.message().to_owned(),
            }),
        }
    }
}

/// What an OTLP/HTTP export answer with `status` and `body` says: the response (whose
/// partial success the caller reads), or the refusal with its status and message.
pub(crate) fn http_answer(
    status: u16,
    body: &[u8],
) -> Result<ExportTraceServiceResponse, WriteError> {
    if !(200..300).contains(&status) {
        // An OTLP/HTTP error body is a google.rpc.Status (message in field 2); anything
        // else is shown as text.
        let message = String::from_utf8_lossy(body);
        let shown: String = message.trim().chars().take(300).collect();
        return Err(WriteError::Refused {
            code: format!("HTTP {status}"),
            message: shown,
        });
    }
    if body.is_empty() {
        return Ok(ExportTraceServiceResponse::default());
    }
    ExportTraceServiceResponse::decode(body).map_err(|e| WriteError::Unreadable {
        code: format!("HTTP {status}"),
        message: e.to_string(),
    })
}

/// `tls` when a TLS error is among the causes of a gRPC connection's failure, else `connect`.
fn transport_reason(e: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut cause = Some(e);
    while let Some(e) = cause {
        let tls = e.downcast_ref::<rustls::Error>().is_some()
            || e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        if tls {
            return "tls";
        }
        cause = e.source();
    }
    "connect"
}

/// The rustls settings of a gRPC write over https: verified against `tls.ca_file` (a
/// certificate in it that the server presents as its own is pinned, as for targets), or not
/// at all with `insecure_skip_verify` (configuration checks one of the two is set).
fn grpc_tls(
    write: &crate::config::Target,
) -> Result<(std::sync::Arc<rustls::ClientConfig>, String), ClientSetupError> {
    use std::sync::Arc;
    let fail = |field: &'static str, message: String| ClientSetupError {
        target: "canary".to_owned(),
        field,
        message,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("write.tls", e.to_string()))?
        .dangerous();
    let verifier = match (&write.tls.ca_file, write.tls.insecure_skip_verify) {
        (Some(path), false) => crate::source::trust::ServerVerifier::from_file(path, provider)
            .map_err(|e| fail("write.tls.ca_file", e.to_string()))?,
        _ => crate::source::trust::ServerVerifier::any_certificate(provider),
    };
    let mut config = builder
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = write
        .tls
        .server_name
        .clone()
        .unwrap_or_else(|| write.url.host_str().unwrap_or_default().to_owned());
    Ok((Arc::new(config), name))
}

/// A gRPC channel to `url`: plaintext for `http://`, TLS for `https://`.
async fn grpc_channel(
    url: &reqwest::Url,
    tls: Option<(std::sync::Arc<rustls::ClientConfig>, String)>,
) -> Result<tonic::transport::Channel, Box<dyn std::error::Error + Send + Sync>> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(4317);
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{host}:{port}"))?;
    let Some((config, name)) = tls else {
        return Ok(endpoint.connect().await?);
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let address = format!("{host}:{port}");
    let connect = tower::service_fn(move |_uri| {
        let connector = connector.clone();
        let address = address.clone();
        let name = name.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(&address).await?;
            let name =
                rustls::pki_types::ServerName::try_from(name).map_err(std::io::Error::other)?;
            let stream = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector(connect).await?)
}

/// What Tempo's query API says of a canary trace.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutcome {
    /// 404, or an empty trace: not queryable yet.
    NotYet,
    /// Every span, each with its parent.
    Found,
    /// Some spans, or a span whose parent is missing.
    Incomplete { spans: usize },
    /// Anything else: an error status, a body that is not a trace, no answer.
    Error {
        reason: &'static str,
        message: String,
    },
}

impl ReadOutcome {
    /// Every `reason` of an error, as `spanflow_canary_query_errors_total` has them.
    pub const REASONS: [&'static str; 6] = ScrapeError::REASONS;
}

/// Reads canary traces back from one Tempo.
#[derive(Debug, Clone)]
pub struct CanaryReader {
    client: TargetClient,
}

impl CanaryReader {
    pub fn new(canary: &Canary, body_size_limit: u64) -> Result<CanaryReader, ClientSetupError> {
        Ok(CanaryReader {
            client: TargetClient::new(&canary.read, body_size_limit)?,
        })
    }

    /// `GET <tempo>/api/traces/<id>` as protobuf.
    pub async fn read(&self, trace: &CanaryTrace) -> ReadOutcome {
        let url = self
            .client
            .endpoint(&format!("api/traces/{}", trace.hex_id()));
        let page = match self
            .client
            .fetch_any_status(url, "application/protobuf")
            .await
        {
            Ok(page) => page,
            Err(e) => {
                return ReadOutcome::Error {
                    reason: e.reason(),
                    message: e.to_string(),
                };
            }
        };
        match page.status {
            404 => ReadOutcome::NotYet,
            200..=299 => judge_trace(trace, &page.body),
            status => ReadOutcome::Error {
                reason: ScrapeError::HttpStatus { status, hint: "" }.reason(),
                message: format!(
                    "HTTP status {status}: {}",
                    String::from_utf8_lossy(&page.body)
                        .trim()
                        .chars()
                        .take(300)
                        .collect::<String>()
                ),
            },
        }
    }
}

/// Whether a `tempopb.Trace` body (wire-compatible with OTLP `TracesData`: field 1 is the
/// resource spans) holds the whole canary trace.
pub fn judge_trace(trace: &CanaryTrace, body: &[u8]) -> ReadOutcome {
    let data = match TracesData::decode(body) {
        Ok(data) => data,
        Err(e) => {
            return ReadOutcome::Error {
                reason: "parse",
                message: format!("not a protobuf trace: {e}"),
            };
        }
    };
    let spans: Vec<&Span> = data
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| s.trace_id == trace.trace_id)
        .collect();
    if spans.is_empty() {
        return ReadOutcome::NotYet;
    }
    let complete = trace.span_ids.iter().enumerate().all(|(i, id)| {
        spans.iter().any(|s| {
            s.span_id == id
                && (i == 0 && s.parent_span_id.is_empty()
                    || i > 0 && s.parent_span_id == trace.span_ids[i - 1])
        })
    });
    if complete {
        ReadOutcome::Found
    } else {
        ReadOutcome::Incomplete { spans: spans.len() }
    }
}

/// The write's time bound, for callers that schedule around it.
pub fn write_timeout(canary: &Canary) -> Duration {
    canary.write.timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(trace: &CanaryTrace, keep: &[usize]) -> Vec<u8> {
        let mut request = trace.request("svc", SystemTime::now());
        request.resource_spans[0].scope_spans[0]
            .spans
            .retain(|s| keep.iter().any(|&i| s.span_id == trace.span_ids[i]));
        TracesData {
            resource_spans: request.resource_spans,
        }
        .encode_to_vec()
    }

    #[test]
    fn ids_are_fresh_and_non_zero_and_spans_chain() {
        let a = CanaryTrace::random();
        let b = CanaryTrace::random();
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.trace_id, [0; 16]);
        assert_eq!(a.hex_id().len(), 32);
        let request = a.request("spanflow-canary", SystemTime::now());
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), SPANS);
        assert!(spans[0].parent_span_id.is_empty());
        assert_eq!(spans[1].parent_span_id, spans[0].span_id);
        assert_eq!(spans[2].parent_span_id, spans[1].span_id);
        assert!(
            spans
                .iter()
                .all(|s| s.start_time_unix_nano < s.end_time_unix_nano)
        );
        // What one write costs on the wire.
        let size = request.encode_to_vec().len();
        eprintln!("canary request: {size} bytes");
        assert!(size < 1024, "{size} bytes");
    }

    #[test]
    fn a_whole_trace_is_found_a_part_incomplete_nothing_not_yet_garbage_an_error() {
        let t = CanaryTrace::random();
        assert_eq!(judge_trace(&t, &data(&t, &[0, 1, 2])), ReadOutcome::Found);
        assert_eq!(
            judge_trace(&t, &data(&t, &[0, 2])),
            ReadOutcome::Incomplete { spans: 2 }
        );
        assert_eq!(judge_trace(&t, &data(&t, &[])), ReadOutcome::NotYet);
        assert_eq!(judge_trace(&t, b""), ReadOutcome::NotYet);
        assert!(matches!(
            judge_trace(&t, b"\xff\xff\xff garbage"),
            ReadOutcome::Error {
                reason: "parse",
                ..
            }
        ));
        // Another trace's spans are not this one's.
        let other = CanaryTrace::random();
        assert_eq!(
            judge_trace(&t, &data(&other, &[0, 1, 2])),
            ReadOutcome::NotYet
        );
    }
}
