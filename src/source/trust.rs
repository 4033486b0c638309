//! Which server certificates spanflow's TLS clients trust when a `ca_file` is given, and
//! what a refused certificate means in words.
//!
//! Input: the PEM bundle of a `ca_file` (`targets[].tls.ca_file`, `probes.grpc_tls.ca_file`).
//! Output: a rustls [`ServerCertVerifier`] ([`ServerVerifier`]) that verifies as WebPKI
//! does against those roots — and, beside that, trusts a server whose end-entity
//! certificate is byte for byte one of the certificates in the file (pinned), still
//! checking its validity period and the name. And [`explain`], which turns a handshake
//! error into what to do, naming the config field.
//!
//! Why pinning: the common self-signed one-liner
//! (`openssl req -x509 -newkey rsa:2048 -nodes -keyout tempo.key -out tempo.crt -subj /CN=tempo`)
//! makes a certificate with `CA:TRUE`; WebPKI refuses a CA certificate as a server's own
//! (`CaUsedAsEndEntity`) while curl accepts it when given it as `--cacert`. Giving that very
//! file as `ca_file` says "trust this certificate", so spanflow does.
//!
//! It never accepts a certificate outside the file, never skips the validity period, and
//! never reads anything but the file it is given.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// Why a `ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("{path}: {source}")]
    Pem {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path}: no usable certificate in it")]
    NoCertificate { path: String },
}

/// Verifies server certificates against the roots of a `ca_file`, and trusts a server
/// certificate that is itself in the file (see the module doc) — or, for the probe without
/// a CA file, accepts any certificate. Either way the handshake's signatures are checked.
#[derive(Debug)]
pub struct ServerVerifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
enum Trust {
    /// Any certificate: the question is whether the server speaks TLS, not whether to
    /// trust it (the gRPC probe sends nothing but a health check).
    Any,
    CaFile {
        /// `None` when no certificate of the file can serve as a root: then only pinned
        /// certificates are trusted.
        webpki: Option<Arc<WebPkiServerVerifier>>,
        pinned: Vec<CertificateDer<'static>>,
    },
}

impl ServerVerifier {
    /// Accepts any certificate, but checks the handshake signatures, so a TLS server is
    /// recognised as one.
    pub fn any_certificate(provider: Arc<CryptoProvider>) -> ServerVerifier {
        ServerVerifier {
            trust: Trust::Any,
            provider,
        }
    }

    /// Reads the PEM bundle at `path`.
    pub fn from_file(
        path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ServerVerifier, CaFileError> {
        let shown = path.display().to_string();
        let pem_error = |source| CaFileError::Pem {
            path: shown.clone(),
            source,
        };
        let mut pinned = Vec::new();
        for cert in CertificateDer::pem_file_iter(path).map_err(pem_error)? {
            pinned.push(cert.map_err(pem_error)?);
        }
        ServerVerifier::from_certificates(pinned, provider)
            .ok_or(CaFileError::NoCertificate { path: shown })
    }

    /// `None` when `certs` is empty.
    pub fn from_certificates(
        certs: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Option<ServerVerifier> {
        if certs.is_empty() {
            return None;
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in &certs {
            // A certificate WebPKI cannot take as a root can still be pinned.
            let _ = roots.add(cert.clone());
        }
        let webpki = (!roots.is_empty())
            .then(|| {
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .ok()
            })
            .flatten();
        Some(ServerVerifier {
            trust: Trust::CaFile {
                webpki,
                pinned: certs,
            },
            provider,
        })
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (webpki, pinned) = match &self.trust {
            Trust::Any => return Ok(ServerCertVerified::assertion()),
            Trust::CaFile { webpki, pinned } => (webpki, pinned),
        };
        if pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            check_pinned(end_entity, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        match webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(CertificateError::UnknownIssuer.into()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A pinned certificate still has to be valid now and name the server.
fn check_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, parsed) =
        X509Certificate::from_der(cert.as_ref()).map_err(|_| CertificateError::BadEncoding)?;
    let validity = parsed.validity();
    let now_secs = now.as_secs() as i64;
    if now_secs < validity.not_before.timestamp() {
        return Err(CertificateError::NotValidYet.into());
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(CertificateError::Expired.into());
    }
    let names = certificate_names(&parsed);
    if names.iter().any(|n| n.matches(server_name)) {
        return Ok(());
    }
    Err(CertificateError::NotValidForNameContext {
        expected: server_name.to_owned(),
        presented: names.iter().map(CertName::to_string).collect(),
    }
    .into())
}

/// A name a certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CertName {
    Dns(String),
    Ip(IpAddr),
}

impl std::fmt::Display for CertName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertName::Dns(name) => write!(f, "DnsName({name:?})"),
            CertName::Ip(ip) => write!(f, "IpAddress({ip})"),
        }
    }
}

impl CertName {
    fn matches(&self, server_name: &ServerName<'_>) -> bool {
        match (self, server_name) {
            (CertName::Dns(pattern), ServerName::DnsName(name)) => {
                dns_matches(pattern, name.as_ref())
            }
            (CertName::Ip(ip), ServerName::IpAddress(addr)) => IpAddr::from(*addr) == *ip,
            _ => false,
        }
    }
}

/// The subjectAltName DNS names and addresses; a certificate without any (the one-liner's
/// `-subj /CN=tempo`) is valid for its common name, as curl and OpenSSL take it.
fn certificate_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<CertName> {
    use x509_parser::extensions::GeneralName;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(CertName::Dns(dns.to_string())),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(CertName::Ip(IpAddr::from(
                        <[u8; 4]>::try_from(*bytes).expect("four bytes"),
                    ))),
                    16 => names.push(CertName::Ip(IpAddr::from(
                        <[u8; 16]>::try_from(*bytes).expect("sixteen bytes"),
                    ))),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                match cn.parse::<IpAddr>() {
                    Ok(ip) => names.push(CertName::Ip(ip)),
                    Err(_) => names.push(CertName::Dns(cn.to_owned())),
                }
            }
        }
    }
    names
}

/// RFC 6125 matching: case-insensitive, a `*` only as the whole left-most label.
fn dns_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    let name = name.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

/// Which config fields a hint names: `tls` for a target, `probes.grpc_tls` for the probe.
#[derive(Debug, Clone, Copy)]
pub struct Fields(pub &'static str);

/// What to do about a TLS handshake error, from its text (the error chain of reqwest or
/// tonic, which ends in rustls' message): `None` when the error is not one of these.
/// A table rather than a match so that a new rustls wording is one row.
pub fn explain(error_text: &str, fields: Fields) -> Option<String> {
    let prefix = fields.0;
    const HINTS: [(&str, &str); 7] = [
        (
            "CaUsedAsEndEntity",
            "the server presents a CA certificate as its own: put that very certificate in {p}.ca_file (spanflow then trusts it as pinned), or give the server a leaf certificate signed by a CA",
        ),
        (
            "UnknownIssuer",
            "the server's certificate is signed by a CA spanflow does not trust: set {p}.ca_file to the CA that signed it",
        ),
        (
            // An issuer of the same name as a CA in the file, but another key.
            "BadSignature",
            "the server's certificate is signed by a CA spanflow does not trust (one in {p}.ca_file has its name, not its key): set {p}.ca_file to the CA that signed it",
        ),
        (
            "not valid for name",
            "set {p}.server_name to one of the names the certificate is valid for: {names}",
        ),
        (
            "NotValidForName",
            "set {p}.server_name to one of the names the certificate is valid for: {names}",
        ),
        ("Expired", "the server's certificate has expired: renew it"),
        (
            "NotValidYet",
            "the server's certificate is not valid yet: check the clocks of both hosts",
        ),
    ];
    let (_, hint) = HINTS
        .iter()
        .find(|(marker, _)| error_text.contains(marker))?;
    let names = presented_names(error_text).join(", ");
    let names = if names.is_empty() {
        "(see the certificate's subjectAltName)".to_owned()
    } else {
        names
    };
    Some(hint.replace("{p}", prefix).replace("{names}", &names))
}

/// The names in rustls' "certificate is only valid for DnsName(\"a\") or IpAddress(…)".
fn presented_names(text: &str) -> Vec<String> {
    let Some((_, list)) = text.split_once("is only valid for ") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut rest = list;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let inner = rest[open + 1..open + close].trim_matches('"');
        names.push(inner.to_owned());
        rest = &rest[open + close + 1..];
        if !rest.starts_with(", ") && !rest.starts_with(" or ") {
            break;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_label_only() {
        assert!(dns_matches("tempo", "TEMPO"));
        assert!(dns_matches("*.tempo.svc", "a.tempo.svc"));
        assert!(!dns_matches("*.tempo.svc", "a.b.tempo.svc"));
        assert!(!dns_matches("*.tempo.svc", "tempo.svc"));
        assert!(!dns_matches("tempo", "tempo2"));
    }

    #[test]
    fn hints_name_the_field_and_the_names() {
        let text = "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"tempo\") or IpAddress(10.0.0.1)";
        assert_eq!(
            explain(text, Fields("tls")).unwrap(),
            "set tls.server_name to one of the names the certificate is valid for: tempo, 10.0.0.1"
        );
        assert_eq!(
            explain(
                "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                Fields("probes.grpc_tls")
            )
            .unwrap(),
            "the server presents a CA certificate as its own: put that very certificate in probes.grpc_tls.ca_file (spanflow then trusts it as pinned), or give the server a leaf certificate signed by a CA"
        );
        assert_eq!(
            explain("invalid peer certificate: UnknownIssuer", Fields("tls")).unwrap(),
            "the server's certificate is signed by a CA spanflow does not trust: set tls.ca_file to the CA that signed it"
        );
        assert_eq!(explain("connection refused", Fields("tls")), None);
    }
}
