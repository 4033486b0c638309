//! Active gRPC health probe of the addresses in Tempo's rings.
//!
//! For one address, [`probe`] makes two standard `grpc.health.v1.Health/Check` calls: one in
//! plaintext (HTTP/2 without TLS, as Tempo's distributor dials when
//! `ingester_client.grpc_client_config.tls_enabled` is false) and one over TLS (ALPN `h2`).
//! Each attempt is bounded by the timeout and classified: it connected or not, the TLS
//! handshake worked or not, the server answered `SERVING` or not. "Plaintext fails, TLS
//! answers" is direct proof that Tempo's gRPC server has TLS and a plaintext client cannot
//! reach it — the motivating incident — even before any span flows.
//!
//! The probe sends nothing but the health request: no credentials, no data. That is why the
//! TLS attempt does not verify the certificate by default (it asks whether the server speaks
//! TLS, not whether to trust it); a CA file and server name make it verify.
//!
//! Addresses come only from the rings of configured Tempo targets. A ring in a single-binary
//! Tempo advertises loopback (`127.0.0.1:9095`), which is only meaningful on Tempo's own
//! host: [`probe_address`] replaces a loopback or unspecified host with the Tempo target's
//! host, so spanflow never probes its own machine by mistake.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::net::TcpStream;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::source::trust;

/// How the probe connects; built once from the config.
#[derive(Clone)]
pub struct ProbeSettings {
    pub timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

/// Why probe settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error("probes.grpc_tls.ca_file {0}")]
    CaFile(#[from] trust::CaFileError),
    #[error("probes.grpc_tls.server_name {name:?}: not a valid DNS name or IP address")]
    ServerName { name: String },
}

impl ProbeSettings {
    /// Without a CA file the TLS attempt accepts any certificate (see the module doc).
    pub fn new(
        timeout: Duration,
        ca_file: Option<&Path>,
        server_name: Option<&str>,
        insecure_skip_verify: bool,
    ) -> Result<ProbeSettings, ProbeSetupError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default protocol versions");
        let mut config = match ca_file {
            Some(path) if !insecure_skip_verify => {
                // A certificate in the file that the server presents as its own is trusted
                // as pinned, as for targets (see `trust`).
                let verifier = trust::ServerVerifier::from_file(path, provider.clone())?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(trust::ServerVerifier::any_certificate(
                    provider,
                )))
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        if let Some(name) = server_name {
            ServerName::try_from(name.to_owned()).map_err(|_| ProbeSetupError::ServerName {
                name: name.to_owned(),
            })?;
        }
        Ok(ProbeSettings {
            timeout,
            tls: Arc::new(config),
            server_name: server_name.map(str::to_owned),
        })
    }
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// The health service answered `SERVING`.
    Serving,
    /// The server answered, with another status or a gRPC error.
    NotServing { status: String },
    /// No answer: see `stage` for how far it got.
    Failed { stage: FailedAt, message: String },
}

/// How far a failed attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedAt {
    /// No TCP connection (refused, unroutable).
    Connect,
    /// The TLS handshake failed (a plaintext server, or an untrusted certificate).
    Handshake,
    /// Connected, but no gRPC answer: HTTP/2 or gRPC failed (a TLS server sent garbage to
    /// a plaintext client, or the reverse).
    Protocol,
    /// The timeout passed.
    Timeout,
}

impl Answer {
    pub fn answered(&self) -> bool {
        !matches!(self, Answer::Failed { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Answer::Serving => "SERVING".to_owned(),
            Answer::NotServing { status } => format!("answered {status}"),
            Answer::Failed { stage, message } => {
                format!("no answer ({}): {message}", stage.as_str())
            }
        }
    }
}

impl FailedAt {
    pub fn as_str(self) -> &'static str {
        match self {
            FailedAt::Connect => "connect failed",
            FailedAt::Handshake => "TLS handshake failed",
            FailedAt::Protocol => "no gRPC answer",
            FailedAt::Timeout => "timed out",
        }
    }
}

/// Both attempts against one address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// The ring's address, as Tempo advertises it.
    pub ring_address: String,
    /// The address actually probed (see [`probe_address`]).
    pub address: String,
    pub plaintext: Answer,
    pub tls: Answer,
    /// Seconds since the probe ran (probes are repeated once a minute per address).
    #[serde(default)]
    pub age_seconds: f64,
}

/// What the two attempts together say about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaks {
    /// TLS answers, plaintext does not: a plaintext client cannot reach it.
    TlsOnly,
    PlaintextOnly,
    Both,
    /// Neither attempt got an answer (not reachable from spanflow; says nothing about TLS).
    Unreachable,
}

impl ProbeResult {
    pub fn speaks(&self) -> Speaks {
        match (self.plaintext.answered(), self.tls.answered()) {
            (false, true) => Speaks::TlsOnly,
            (true, false) => Speaks::PlaintextOnly,
            (true, true) => Speaks::Both,
            (false, false) => Speaks::Unreachable,
        }
    }
}

/// The address to probe for a ring address, given the Tempo target's host.
pub fn probe_address(ring_address: &str, tempo_host: &str) -> String {
    let Some((host, port)) = ring_address.rsplit_once(':') else {
        return ring_address.to_owned();
    };
    let host_ip = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    let local = host.is_empty()
        || host.eq_ignore_ascii_case("localhost")
        || host_ip.is_some_and(|ip| ip.is_loopback() || ip.is_unspecified());
    let tempo_ip = tempo_host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    let tempo_local =
        tempo_host.eq_ignore_ascii_case("localhost") || tempo_ip.is_some_and(|ip| ip.is_loopback());
    if local && !tempo_local {
        let host = match tempo_ip {
            Some(IpAddr::V6(_)) if !tempo_host.starts_with('[') => format!("[{tempo_host}]"),
            _ => tempo_host.to_owned(),
        };
        format!("{host}:{port}")
    } else {
        ring_address.to_owned()
    }
}

/// Probes one address in plaintext and over TLS, one after the other.
pub async fn probe(ring_address: &str, address: &str, settings: &ProbeSettings) -> ProbeResult {
    let plaintext = attempt(address, None, settings).await;
    let tls = attempt(address, Some(settings), settings).await;
    ProbeResult {
        ring_address: ring_address.to_owned(),
        address: address.to_owned(),
        plaintext,
        tls,
        age_seconds: 0.0,
    }
}

async fn attempt(address: &str, tls: Option<&ProbeSettings>, settings: &ProbeSettings) -> Answer {
    match tokio::time::timeout(settings.timeout, attempt_unbounded(address, tls)).await {
        Ok(answer) => answer,
        Err(_) => Answer::Failed {
            stage: FailedAt::Timeout,
            message: format!("no answer within {:?}", settings.timeout),
        },
    }
}

async fn attempt_unbounded(address: &str, tls: Option<&ProbeSettings>) -> Answer {
    let failed = |stage, message: String| Answer::Failed { stage, message };
    let tcp = match TcpStream::connect(address).await {
        Ok(s) => s,
        Err(e) => return failed(FailedAt::Connect, e.to_string()),
    };
    let _ = tcp.set_nodelay(true);
    let channel = match tls {
        None => connect_over(address, "plaintext", tcp).await,
        Some(settings) => {
            let host = address
                .rsplit_once(':')
                .map_or(address, |(h, _)| h)
                .trim_matches(['[', ']']);
            let name = settings.server_name.as_deref().unwrap_or(host);
            let Ok(name) = ServerName::try_from(name.to_owned()) else {
                return failed(
                    FailedAt::Handshake,
                    format!("{name:?} is not a server name"),
                );
            };
            let connector = tokio_rustls::TlsConnector::from(settings.tls.clone());
            match connector.connect(name, tcp).await {
                Ok(stream) => connect_over(address, "TLS", stream).await,
                Err(e) => {
                    let text = crate::source::scrape::error_chain(&e);
                    let text = match trust::explain(&text, trust::Fields("probes.grpc_tls")) {
                        Some(hint) => format!("{text} — {hint}"),
                        None => text,
                    };
                    return failed(FailedAt::Handshake, text);
                }
            }
        }
    };
    let channel = match channel {
        Ok(c) => c,
        Err(e) => return failed(FailedAt::Protocol, crate::source::scrape::error_chain(&e)),
    };
    let request = HealthCheckRequest {
        service: String::new(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => match response.into_inner().status() {
            ServingStatus::Serving => Answer::Serving,
            other => Answer::NotServing {
                status: other.as_str_name().to_owned(),
            },
        },
        // A gRPC status from the server is an answer; a transport error is not.
        Err(status) if status.code() == tonic::Code::Unimplemented => Answer::NotServing {
            status: "UNIMPLEMENTED (no health service)".to_owned(),
        },
        Err(status) if is_transport_failure(&status) => {
            let mut message = status.message().to_owned();
            if let Some(source) = std::error::Error::source(&status) {
                let chain = crate::source::scrape::error_chain(source);
                message = if chain.starts_with(&message) {
                    chain
                } else {
                    format!("{message}: {chain}")
                };
            }
            failed(FailedAt::Protocol, message)
        }
        Err(status) => Answer::NotServing {
            status: format!("{:?}: {}", status.code(), status.message()),
        },
    }
}

/// Whether a gRPC error came from the connection rather than from the server: tonic makes
/// those statuses locally from a transport error (an `h2 protocol error` when a TLS-only
/// server answers a plaintext client with a TLS alert) and keeps that error as the source;
/// a status the server sent has none.
fn is_transport_failure(status: &tonic::Status) -> bool {
    use std::error::Error;
    status.source().is_some()
        || status.code() == tonic::Code::Unavailable
        || status.message().contains("h2 protocol error")
}

/// Runs HTTP/2 over an already connected stream.
async fn connect_over<S>(
    address: &str,
    mode: &'static str,
    stream: S,
) -> Result<tonic::transport::Channel, tonic::transport::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    // The stream is handed over once. tonic asks again only when the HTTP/2 handshake on it
    // failed, which is what that second call reports.
    let slot = Arc::new(Mutex::new(Some(TokioIo::new(stream))));
    let connector = tower::service_fn(move |_uri| {
        let taken = slot.lock().map(|mut s| s.take()).unwrap_or(None);
        async move {
            taken.ok_or_else(|| {
                std::io::Error::other(format!(
                    "the server closed or rejected the HTTP/2 handshake: it does not speak gRPC in {mode}"
                ))
            })
        }
    });
    Endpoint::from_shared(format!("http://{address}"))?
        .connect_with_connector(connector)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ring_addresses_are_rewritten_to_the_tempo_host() {
        assert_eq!(
            probe_address("127.0.0.1:9095", "tempo.svc"),
            "tempo.svc:9095"
        );
        assert_eq!(probe_address("0.0.0.0:9095", "10.0.0.7"), "10.0.0.7:9095");
        assert_eq!(probe_address("[::1]:9095", "fd00::7"), "[fd00::7]:9095");
        assert_eq!(probe_address("localhost:9095", "tempo"), "tempo:9095");
        // Spanflow on Tempo's host: the loopback address is right as it is.
        assert_eq!(
            probe_address("127.0.0.1:9095", "127.0.0.1"),
            "127.0.0.1:9095"
        );
        // A routable ring address is probed as advertised.
        assert_eq!(probe_address("10.1.2.3:9095", "tempo.svc"), "10.1.2.3:9095");
    }

    #[test]
    fn speaks_combines_both_attempts() {
        let failed = Answer::Failed {
            stage: FailedAt::Protocol,
            message: "x".into(),
        };
        let r = |plaintext: Answer, tls: Answer| ProbeResult {
            ring_address: "a:1".into(),
            address: "a:1".into(),
            plaintext,
            tls,
            age_seconds: 0.0,
        };
        assert_eq!(r(failed.clone(), Answer::Serving).speaks(), Speaks::TlsOnly);
        assert_eq!(
            r(Answer::Serving, failed.clone()).speaks(),
            Speaks::PlaintextOnly
        );
        assert_eq!(r(failed.clone(), failed).speaks(), Speaks::Unreachable);
    }
}
