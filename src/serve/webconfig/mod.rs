//! `--web.config.file`: TLS and basic authentication for spanflow's own HTTP server, in
//! the format of Prometheus' exporter-toolkit, so one file serves every exporter.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: spanflow.crt          # relative paths are read beside this file
//!   key_file: spanflow.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12               # TLS12 (default) or TLS13; max_version likewise
//! basic_auth_users:
//!   prometheus: $2y$10$...           # bcrypt hashes only
//! ```
//!
//! [`load`] reads and checks everything at start-up — the files exist and parse, the key
//! matches the certificate, every hash is bcrypt — and names the field that is wrong. The
//! settings the toolkit has and rustls cannot honour (TLS 1.0/1.1, `RequestClientCert`,
//! cipher and curve lists, extra headers) are refused by name rather than ignored, so a
//! file never promises more than spanflow does. With users configured, every endpoint
//! answers 401 without valid credentials, `POST /-/reload` included. Hashes and passwords
//! never reach the log or an error message.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A web configuration that passed every check.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub basic_auth: Option<Arc<BasicAuth>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field(
                "basic_auth_users",
                &self.basic_auth.as_ref().map(|a| a.users.len()),
            )
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum WebConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    // The toolkit's Go-specific knobs: refused by name if set.
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// spanflow serves HTTP/1.1 only; `http2: true` (the toolkit's default) is accepted
    /// because Prometheus scrapes over HTTP/1.1 either way.
    #[allow(dead_code)] // read by serde so the key is accepted
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Reads and checks a web configuration file.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    from_text(&text, path)
}

/// Checks a web configuration's `text`, read from `path` (which names it in errors and
/// anchors relative certificate paths).
pub(crate) fn from_text(text: &str, path: &Path) -> Result<WebConfig, WebConfigError> {
    let shown = path.display().to_string();
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig {
            tls_server_config: None,
            http_server_config: None,
            basic_auth_users: None,
        }
    } else {
        serde_saphyr::from_str(text).map_err(|e| WebConfigError::Syntax {
            path: shown.clone(),
            message: crate::config::yaml_error_text(&e, text, &shown),
        })?
    };
    let invalid = |field: &str, message: String| WebConfigError::Invalid {
        path: shown.clone(),
        field: field.to_owned(),
        message,
    };
    let beside = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(p)
        }
    };
    if let Some(http) = &raw.http_server_config
        && http.headers.is_some()
    {
        return Err(invalid(
            "http_server_config.headers",
            "not supported by spanflow".into(),
        ));
    }
    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => Some(Arc::new(tls_config(t, &beside, &invalid)?)),
    };
    let basic_auth = match raw.basic_auth_users {
        None => None,
        Some(users) if users.is_empty() => None,
        Some(users) => {
            for (user, hash) in &users {
                if user.contains(':') {
                    return Err(invalid(
                        "basic_auth_users",
                        format!("user {user:?}: a user name cannot contain ':'"),
                    ));
                }
                if hash.parse::<bcrypt::HashParts>().is_err() {
                    return Err(invalid(
                        "basic_auth_users",
                        format!(
                            "user {user:?}: not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                        ),
                    ));
                }
            }
            Some(Arc::new(BasicAuth::new(users)))
        }
    };
    Ok(WebConfig { tls, basic_auth })
}

/// Builds the TLS server settings of `tls_server_config`, refusing by name what rustls
/// cannot honour.
fn tls_config(
    t: RawTls,
    beside: &dyn Fn(&Path) -> PathBuf,
    invalid: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<rustls::ServerConfig, WebConfigError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    for (name, set) in [
        ("cipher_suites", t.cipher_suites.is_some()),
        ("curve_preferences", t.curve_preferences.is_some()),
        ("client_allowed_sans", t.client_allowed_sans.is_some()),
    ] {
        if set {
            return Err(invalid(
                &field(name),
                "not supported by spanflow (rustls chooses safe suites and curves itself)".into(),
            ));
        }
    }
    let _ = t.prefer_server_cipher_suites; // a no-op in Go since 1.18 as well
    let (certs, key) = certificate_and_key(&t, beside, invalid)?;
    let versions = protocol_versions(&t, invalid)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(&field("min_version"), e.to_string()))?;
    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let verifier = |optional: bool| -> Result<_, WebConfigError> {
        let roots = client_roots(&t, auth_type, beside, invalid)?;
        let builder =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| invalid(&field("client_ca_file"), e.to_string()))
    };
    let builder = match auth_type {
        "NoClientCert" | "" => {
            if t.client_ca_file.is_some() {
                return Err(invalid(
                    &field("client_ca_file"),
                    "set without a client_auth_type that checks client certificates".into(),
                ));
            }
            builder.with_no_client_auth()
        }
        "RequireAndVerifyClientCert" => builder.with_client_cert_verifier(verifier(false)?),
        "VerifyClientCertIfGiven" => builder.with_client_cert_verifier(verifier(true)?),
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(invalid(
                &field("client_auth_type"),
                format!(
                    "{auth_type} (a client certificate nobody verifies) is not supported; use RequireAndVerifyClientCert or VerifyClientCertIfGiven"
                ),
            ));
        }
        other => {
            return Err(invalid(
                &field("client_auth_type"),
                format!(
                    "{other:?}: expected NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        invalid(
            &field("key_file"),
            format!("does not go with cert_file: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `cert_file` and `key_file`: both needed, read beside the web config file.
fn certificate_and_key(
    t: &RawTls,
    beside: &dyn Fn(&Path) -> PathBuf,
    invalid: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), WebConfigError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    let (Some(cert_file), Some(key_file)) = (&t.cert_file, &t.key_file) else {
        let missing = if t.cert_file.is_none() {
            "cert_file"
        } else {
            "key_file"
        };
        return Err(invalid(
            &field(missing),
            "needed: TLS takes a certificate and its key".into(),
        ));
    };
    let cert_path = beside(cert_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| invalid(&field("cert_file"), format!("{}: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(invalid(
            &field("cert_file"),
            format!("{}: no certificate in it", cert_path.display()),
        ));
    }
    let key_path = beside(key_file);
    // The key's own parse error could quote key material; say only what is wrong.
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        invalid(
            &field("key_file"),
            format!(
                "{}: not a PEM private key ({})",
                key_path.display(),
                kind_of(&e)
            ),
        )
    })?;
    Ok((certs, key))
}

/// `min_version` and `max_version`: TLS 1.2 and 1.3 only.
fn protocol_versions(
    t: &RawTls,
    invalid: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    let version = |name: &str, value: &Option<String>, default: u8| match value.as_deref() {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(v @ ("TLS10" | "TLS11")) => Err(invalid(
            &field(name),
            format!("{v} is not supported (rustls speaks TLS 1.2 and 1.3)"),
        )),
        Some(v) => Err(invalid(
            &field(name),
            format!("{v:?}: expected TLS12 or TLS13"),
        )),
    };
    let min = version("min_version", &t.min_version, 12)?;
    let max = version("max_version", &t.max_version, 13)?;
    if min > max {
        return Err(invalid(
            &field("min_version"),
            "is above max_version".into(),
        ));
    }
    Ok(
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect(),
    )
}

/// `client_ca_file`: the CAs client certificates are verified against.
fn client_roots(
    t: &RawTls,
    auth_type: &str,
    beside: &dyn Fn(&Path) -> PathBuf,
    invalid: &dyn Fn(&str, String) -> WebConfigError,
) -> Result<Arc<rustls::RootCertStore>, WebConfigError> {
    let field = "tls_server_config.client_ca_file";
    let Some(ca) = &t.client_ca_file else {
        return Err(invalid(
            field,
            format!("needed with client_auth_type {auth_type}"),
        ));
    };
    let ca_path = beside(ca);
    let shown = |e: &dyn std::fmt::Display| invalid(field, format!("{}: {e}", ca_path.display()));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&ca_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| shown(&e))?;
    for cert in certs {
        roots.add(cert).map_err(|e| shown(&e))?;
    }
    if roots.is_empty() {
        return Err(invalid(
            field,
            format!("{}: no certificate in it", ca_path.display()),
        ));
    }
    Ok(Arc::new(roots))
}

/// What went wrong reading a PEM file, without any of its content.
fn kind_of(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no key in it".into(),
        _ => "malformed PEM".into(),
    }
}

/// `basic_auth_users`: checks `Authorization: Basic` against bcrypt hashes. bcrypt is slow
/// on purpose (tens of milliseconds at cost 10), so a pair that checked out once is
/// remembered — as a keyed hash, never the password — and a scrape every few seconds costs
/// one lookup. Unknown users are checked against a dummy hash, so the time an answer takes
/// does not tell which users exist.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    hasher: RandomState,
    verified: Mutex<HashSet<u64>>,
}

/// Remembered good credentials; beyond this many the memory starts again.
const MAX_REMEMBERED: usize = 1024;

/// A bcrypt hash of a random string, to spend the same time on unknown users as on
/// known ones.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = RandomState::new().hash_one(0u8);
        bcrypt::hash(format!("{random:x}"), bcrypt::DEFAULT_COST).unwrap_or_default()
    })
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> BasicAuth {
        BasicAuth {
            users,
            hasher: RandomState::new(),
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Whether the `Authorization` header holds a configured user and its password.
    pub async fn allows(self: &Arc<Self>, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let key = self.hasher.hash_one((&user, &password));
        if self.remembered().contains(&key) {
            return true;
        }
        let auth = self.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let (hash, known) = match auth.users.get(&user) {
                Some(h) => (h.as_str(), true),
                None => (dummy_hash(), false),
            };
            let matches = bcrypt::verify(password.as_bytes(), hash).unwrap_or(false);
            known && matches
        })
        .await
        .unwrap_or(false);
        if checked {
            let mut remembered = self.remembered();
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
            remembered.insert(key);
        }
        checked
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `Basic base64(user:password)` → (user, password).
fn credentials(header: &HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Middleware: 401 with a `WWW-Authenticate` challenge unless the credentials check out.
pub async fn require_basic_auth(
    State(auth): State<Arc<BasicAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if auth
        .allows(request.headers().get(header::AUTHORIZATION))
        .await
    {
        return next.run(request).await;
    }
    tracing::debug!(path = %request.uri().path(), "request without valid credentials");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"spanflow\"")],
        "Unauthorized\n",
    )
        .into_response()
}

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; beyond, new connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

/// A TLS listener for `axum::serve`: connections are accepted and their handshakes run
/// concurrently in the background (a slow or failing client holds up no other), and only
/// finished handshakes are handed to the server.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum::serve does.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task ended (it only does when dropped): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests;
