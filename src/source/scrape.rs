//! Fetches a target's pages over HTTP(S), within its timeout and body size cap.
//!
//! One [`TargetClient`] per configured target carries the TLS settings (custom CA, client
//! certificate, server name, skip-verify), the credentials (bearer token file, basic auth)
//! and the extra headers. [`TargetClient::fetch`] returns the body or a [`ScrapeError`]
//! classified as `timeout`, `connect`, `tls`, `http_status` or `too_large` — the `reason`
//! label of `spanflow_target_scrape_errors_total` (`parse` is added by the caller that
//! reads the body). The whole request, body included, must finish within the target's
//! timeout; the body is refused as soon as it grows past the cap, not after it was read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use thiserror::Error;

use crate::config::{Auth, Target};
use crate::source::trust;

/// What spanflow asks for: the text format first, because Tempo's counters without
/// `_total` (`tempo_receiver_accepted_spans`) lose their type in its OpenMetrics output
/// (seen on Tempo 2.7.2: testdata/fixtures/tempo-2.7.2/healthy/metrics_openmetrics.txt);
/// OpenMetrics is read too. `escaping=underscores` asks a Prometheus 3-era server (client_golang
/// negotiates it per request) for classic names, so dotted OpenTelemetry names arrive as
/// `otelcol_signal`, never quoted; quoted names sent anyway are read too
/// (`expfmt::escape_quoted_names`).
pub const METRICS_ACCEPT: &str = "text/plain;version=0.0.4;escaping=underscores;q=1,application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,*/*;q=0.1";

/// A fetched page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The HTTP status; [`TargetClient::fetch`] returns only 2xx pages.
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ScrapeError {
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("HTTP status {status}{hint}")]
    HttpStatus { status: u16, hint: &'static str },
    #[error("body larger than the {limit}-byte limit (body_size_limit)")]
    TooLarge { limit: u64 },
    #[error("cannot read credentials: {0}")]
    Credentials(String),
    #[error("unparsable page: {0}")]
    Parse(String),
}

impl ScrapeError {
    /// The `reason` label value.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Timeout(_) => "timeout",
            ScrapeError::Connect(_) | ScrapeError::Credentials(_) => "connect",
            ScrapeError::Tls(_) => "tls",
            ScrapeError::HttpStatus { .. } => "http_status",
            ScrapeError::TooLarge { .. } => "too_large",
            ScrapeError::Parse(_) => "parse",
        }
    }

    pub const REASONS: [&'static str; 6] = [
        "timeout",
        "connect",
        "tls",
        "http_status",
        "too_large",
        "parse",
    ];
}

/// Errors building a client from a target's settings (unreadable CA file and the like).
#[derive(Debug, Error)]
#[error("target {target:?}: {field}: {message}")]
pub struct ClientSetupError {
    pub target: String,
    pub field: &'static str,
    pub message: String,
}

/// An HTTP client bound to one target.
#[derive(Debug, Clone)]
pub struct TargetClient {
    client: reqwest::Client,
    /// The URL as requested: with `server_name` set, its host is that name.
    base: reqwest::Url,
    headers: HeaderMap,
    auth: Auth,
    timeout: Duration,
    body_size_limit: u64,
}

/// The HTTP clients built so far, one per distinct set of transport settings (TLS files,
/// skip-verify, server name, connect timeout). Targets that share settings — usually all of
/// them — share one client and its connection pool: each client loads the TLS roots and
/// keeps its own pool, which at a thousand targets would cost hundreds of megabytes.
#[derive(Default)]
pub struct SharedClients {
    built: HashMap<TransportKey, reqwest::Client>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TransportKey {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    insecure_skip_verify: bool,
    /// With a server name, the name and the addresses it is pinned to.
    pinned: Option<(String, Vec<SocketAddr>)>,
    connect_timeout: Duration,
}

impl TargetClient {
    /// A client for one target on its own (tests, `check-config`).
    pub fn new(target: &Target, body_size_limit: u64) -> Result<TargetClient, ClientSetupError> {
        TargetClient::shared(target, body_size_limit, &mut SharedClients::default())
    }

    /// A client for `target`, sharing the HTTP client of earlier targets with the same
    /// transport settings.
    pub fn shared(
        target: &Target,
        body_size_limit: u64,
        clients: &mut SharedClients,
    ) -> Result<TargetClient, ClientSetupError> {
        let fail = |field: &'static str, message: String| ClientSetupError {
            target: target.name.clone(),
            field,
            message,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &target.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| fail("headers", e.to_string()))?;
            let value = HeaderValue::from_str(value).map_err(|e| fail("headers", e.to_string()))?;
            headers.insert(name, value);
        }
        let tls = &target.tls;
        let mut base = target.url.clone();
        let pinned = match &tls.server_name {
            Some(server_name) => {
                // reqwest verifies the certificate against the URL's host, so the request
                // goes to `server_name` and that name is pinned to the configured host's
                // addresses.
                let addrs = resolve(&target.url).map_err(|m| fail("url", m))?;
                base.set_host(Some(server_name))
                    .map_err(|e| fail("tls.server_name", e.to_string()))?;
                Some((server_name.clone(), addrs))
            }
            None => None,
        };
        if let Auth::Bearer { token_file }
        | Auth::Basic {
            password_file: Some(token_file),
            ..
        } = &target.auth
        {
            // Read once now so a wrong path fails at start-up; read again on every poll so a
            // rotated token is picked up.
            std::fs::read_to_string(token_file)
                .map_err(|e| fail("auth", format!("{}: {e}", token_file.display())))?;
        }
        let key = TransportKey {
            ca_file: tls.ca_file.clone(),
            cert_file: tls.cert_file.clone(),
            key_file: tls.key_file.clone(),
            insecure_skip_verify: tls.insecure_skip_verify,
            pinned,
            connect_timeout: target.timeout,
        };
        let client = match clients.built.get(&key) {
            Some(client) => client.clone(),
            None => {
                let client = build_client(&key).map_err(|(field, message)| fail(field, message))?;
                clients.built.insert(key, client.clone());
                client
            }
        };
        Ok(TargetClient {
            client,
            base,
            headers,
            auth: target.auth.clone(),
            timeout: target.timeout,
            body_size_limit,
        })
    }

    /// The configured URL (as requested).
    pub fn url(&self) -> &reqwest::Url {
        &self.base
    }

    /// The whole-request timeout.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// The URL without user or password, for showing.
    pub fn shown_url(&self) -> String {
        let mut shown = self.base.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.to_string()
    }

    /// `path` beneath the configured URL, for Tempo whose URL is its API base.
    pub fn endpoint(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    /// GETs `url`, enforcing the timeout on the whole exchange and the size cap while
    /// reading; any status other than 2xx is an error.
    pub async fn fetch(&self, url: reqwest::Url, accept: &str) -> Result<Page, ScrapeError> {
        let page = self.fetch_any_status(url, accept).await?;
        if (200..300).contains(&page.status) {
            return Ok(page);
        }
        let hint = match page.status {
            401 | 403 => " (check basic_auth or bearer_token_file)",
            404 => " (check the url: for tempo it is the API base, e.g. http://tempo:3200)",
            _ => "",
        };
        Err(ScrapeError::HttpStatus {
            status: page.status,
            hint,
        })
    }

    /// As [`TargetClient::fetch`], but returns the page whatever its status (Tempo's `/ready`
    /// explains a 503 in its body).
    pub async fn fetch_any_status(
        &self,
        url: reqwest::Url,
        accept: &str,
    ) -> Result<Page, ScrapeError> {
        let request = self.client.get(url).header(ACCEPT, accept);
        match tokio::time::timeout(self.timeout, self.send_unbounded(request)).await {
            Ok(result) => result,
            Err(_) => Err(ScrapeError::Timeout(self.timeout)),
        }
    }

    /// POSTs `body` as `content_type` to `url` (the canary's OTLP/HTTP write), within the
    /// timeout and the body cap, and returns the answer whatever its status.
    pub async fn post_any_status(
        &self,
        url: reqwest::Url,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Page, ScrapeError> {
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, content_type)
            .header(ACCEPT, content_type)
            .body(body);
        match tokio::time::timeout(self.timeout, self.send_unbounded(request)).await {
            Ok(result) => result,
            Err(_) => Err(ScrapeError::Timeout(self.timeout)),
        }
    }

    async fn send_unbounded(&self, request: reqwest::RequestBuilder) -> Result<Page, ScrapeError> {
        let mut request = request.headers(self.headers.clone());
        match &self.auth {
            Auth::None => {}
            Auth::Bearer { token_file } => {
                let token = read_secret_file(token_file)?;
                request = request.header(AUTHORIZATION, format!("Bearer {}", token.trim()));
            }
            Auth::Basic {
                username,
                password,
                password_file,
            } => {
                let password = match (password, password_file) {
                    (Some(p), _) => Some(p.expose().to_owned()),
                    (None, Some(file)) => Some(
                        read_secret_file(file)?
                            .trim_end_matches(['\r', '\n'])
                            .to_owned(),
                    ),
                    (None, None) => None,
                };
                request = request.basic_auth(username, password);
            }
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| classify(e, self.timeout))?;
        let status = response.status().as_u16();
        let limit = self.body_size_limit;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(ScrapeError::TooLarge { limit });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let capacity = response.content_length().unwrap_or(64 * 1024).min(limit);
        let mut body = Vec::with_capacity(capacity as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify(e, self.timeout))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(ScrapeError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Page {
            status,
            body,
            content_type,
        })
    }
}

fn read_secret_file(path: &std::path::Path) -> Result<String, ScrapeError> {
    std::fs::read_to_string(path)
        .map_err(|e| ScrapeError::Credentials(format!("{}: {}", path.display(), e.kind())))
}

/// An HTTP client with one set of transport settings.
fn build_client(key: &TransportKey) -> Result<reqwest::Client, (&'static str, String)> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("spanflow/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .connect_timeout(key.connect_timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        // No idle connections: each request connects anew. An idle connection keeps its
        // read buffer (sized to the last page read), so at a thousand targets the pool
        // grew RSS without bound (240 → 330 MB in 90 s) — more than the connects cost (a
        // whole Tempo poll, connect included, is ~140 µs of CPU; benches/serve.rs).
        .pool_max_idle_per_host(0)
        .pool_idle_timeout(Duration::from_secs(30));
    match (&key.ca_file, key.insecure_skip_verify) {
        (Some(ca_file), false) => {
            builder = builder.tls_backend_preconfigured(ca_file_tls(key, ca_file)?)
        }
        (ca_file, skip) => {
            if let Some(ca_file) = ca_file {
                let pem = std::fs::read(ca_file)
                    .map_err(|e| ("tls.ca_file", format!("{}: {e}", ca_file.display())))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    (
                        "tls.ca_file",
                        format!("{}: not a PEM certificate bundle: {e}", ca_file.display()),
                    )
                })?;
                builder = builder.tls_certs_only(certs);
            }
            if let Some(identity) = client_identity(key)? {
                builder = builder.identity(identity);
            }
            if skip {
                builder = builder.tls_danger_accept_invalid_certs(true);
            }
        }
    }
    if let Some((server_name, addrs)) = &key.pinned {
        builder = builder.resolve_to_addrs(server_name, addrs);
    }
    builder.build().map_err(|e| ("tls", error_chain(&e)))
}

/// The client certificate and key for mutual TLS, when configured.
fn client_identity(
    key: &TransportKey,
) -> Result<Option<reqwest::Identity>, (&'static str, String)> {
    let (Some(cert_file), Some(key_file)) = (&key.cert_file, &key.key_file) else {
        return Ok(None);
    };
    let mut pem = read_file("tls.cert_file", cert_file)?;
    pem.push(b'\n');
    pem.extend(read_file("tls.key_file", key_file)?);
    reqwest::Identity::from_pem(&pem)
        .map(Some)
        .map_err(|e| ("tls.cert_file", format!("client certificate and key: {e}")))
}

fn read_file(
    field: &'static str,
    path: &std::path::Path,
) -> Result<Vec<u8>, (&'static str, String)> {
    std::fs::read(path).map_err(|e| (field, format!("{}: {e}", path.display())))
}

/// The TLS settings of a target with a `ca_file`: its certificates are the roots, and a
/// server certificate that is itself in the file is trusted as pinned ([`trust`]).
fn ca_file_tls(
    key: &TransportKey,
    ca_file: &std::path::Path,
) -> Result<rustls::ClientConfig, (&'static str, String)> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = trust::ServerVerifier::from_file(ca_file, provider.clone())
        .map_err(|e| ("tls.ca_file", e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ("tls", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(verifier));
    let mut config = match (&key.cert_file, &key.key_file) {
        (Some(cert_file), Some(key_file)) => {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::{CertificateDer, PrivateKeyDer};
            let chain = CertificateDer::pem_slice_iter(&read_file("tls.cert_file", cert_file)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ("tls.cert_file", format!("{}: {e}", cert_file.display())))?;
            let private = PrivateKeyDer::from_pem_slice(&read_file("tls.key_file", key_file)?)
                .map_err(|e| ("tls.key_file", format!("{}: {e}", key_file.display())))?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| ("tls.cert_file", format!("client certificate and key: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The addresses of a URL's host and port, for pinning a `server_name` to them.
fn resolve(url: &reqwest::Url) -> Result<Vec<SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().ok_or("no port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .map(|a| a.collect())
        .map_err(|e| format!("cannot resolve {host}: {e}"))
}

/// Sorts a transport error into a reason. TLS failures surface as connect errors whose
/// source chain names the handshake problem, so the chain is read.
fn classify(e: reqwest::Error, timeout: Duration) -> ScrapeError {
    // The URL may hold credentials, and the target's name says which URL it was.
    let e = e.without_url();
    let chain = error_chain(&e);
    if e.is_timeout() {
        return ScrapeError::Timeout(timeout);
    }
    let lower = chain.to_ascii_lowercase();
    const TLS_MARKERS: [&str; 6] = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "peer sent no certificates",
        "alert",
    ];
    if TLS_MARKERS.iter().any(|m| lower.contains(m)) {
        return match trust::explain(&chain, trust::Fields("tls")) {
            Some(hint) => ScrapeError::Tls(format!("{chain} — {hint}")),
            None => ScrapeError::Tls(chain),
        };
    }
    ScrapeError::Connect(chain)
}

/// An error and its sources, joined by `: ` (the `{:#}` style of anyhow).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn targets_with_the_same_transport_share_one_client() {
        let mut yaml = String::from("targets:\n");
        for i in 0..50 {
            yaml.push_str(&format!(
                "  - {{name: t{i}, role: collector, url: 'http://127.0.0.1:{}/metrics', headers: {{X-Tenant: t{i}}}}}\n",
                9000 + i
            ));
        }
        yaml.push_str("  - {name: other, role: collector, url: 'https://127.0.0.1:1/metrics', tls: {insecure_skip_verify: true}}\n");
        let config = Config::from_yaml(&yaml, "test").unwrap();
        let mut shared = SharedClients::default();
        let clients: Vec<TargetClient> = config
            .targets
            .iter()
            .map(|t| TargetClient::shared(t, 1 << 20, &mut shared).unwrap())
            .collect();
        assert_eq!(shared.built.len(), 2);
        // Headers stay each target's own.
        assert_eq!(clients[7].headers["x-tenant"], "t7");
    }
}
