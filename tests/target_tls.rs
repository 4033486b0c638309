//! Which server certificates a target's `tls.ca_file` (and the probe's
//! `probes.grpc_tls.ca_file`) makes spanflow trust, against real HTTPS and gRPC servers on
//! 127.0.0.1 with rcgen certificates of each kind: the common self-signed one-liner
//! (`openssl req -x509 … -subj /CN=tempo`: CA:TRUE, no subjectAltName) given as its own
//! `ca_file` is trusted as pinned, still checked for its validity and name; every refusal
//! says what to do, naming the field.

mod common;

use common::Poller;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy/metrics.txt";

/// A certificate and its key, PEM.
struct Pem {
    cert: String,
    key: String,
}

/// What `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=tempo` makes: self-signed,
/// CA:TRUE (OpenSSL's default v3_ca extensions), the name only in the common name.
fn one_liner(not_after: Option<(i32, u8, u8)>) -> Pem {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "tempo");
    if let Some((y, m, d)) = not_after {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(y, m, d);
    }
    let cert = params.self_signed(&key).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A CA named `ca_name`, and a leaf it signs for `names`.
fn ca_and_leaf(ca_name: &str, names: &[&str]) -> (Pem, Pem) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    (
        Pem {
            cert: ca_cert.pem(),
            key: ca_key.serialize_pem(),
        },
        Pem {
            cert: leaf.pem(),
            key: key.serialize_pem(),
        },
    )
}

/// A real HTTPS server on 127.0.0.1 presenting `pem`, serving the healthy Tempo page.
async fn https_server(pem: &Pem) -> (u16, axum_server::Handle<std::net::SocketAddr>) {
    common::https_server(&pem.cert, &pem.key, common::read_testdata(HEALTHY)).await
}

/// Polls a Tempo target at `https://127.0.0.1:port` with `ca_file` holding `ca` and the
/// given `server_name`; the target's last error, or `None` when it was up.
async fn poll_with(port: u16, ca: &str, server_name: Option<&str>) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca).unwrap();
    let name = server_name.map_or(String::new(), |n| format!(", server_name: {n}"));
    let yaml = format!(
        "poll_interval: 2s\nwindow: 1m\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: 'https://127.0.0.1:{port}', timeout: 2s, tls: {{ca_file: '{}'{name}}}}}\n",
        ca_file.display()
    );
    let mut poller = Poller::new(&yaml);
    let s = poller.poll().await;
    let t = &s.pipelines[0].targets[0];
    if t.up {
        None
    } else {
        Some(t.last_error.clone().unwrap_or_default())
    }
}

#[tokio::test]
async fn the_self_signed_one_liner_given_as_ca_file_is_trusted_as_pinned() {
    let cert = one_liner(None);
    let (port, _server) = https_server(&cert).await;
    assert_eq!(poll_with(port, &cert.cert, Some("tempo")).await, None);
    // Still checked for the name: the URL's 127.0.0.1 is not "tempo".
    let error = poll_with(port, &cert.cert, None).await.expect("refused");
    assert!(
        error.contains(
            "set tls.server_name to one of the names the certificate is valid for: tempo"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_pinned_certificate_past_its_validity_is_refused() {
    let cert = one_liner(Some((2001, 1, 1)));
    let (port, _server) = https_server(&cert).await;
    let error = poll_with(port, &cert.cert, Some("tempo"))
        .await
        .expect("refused");
    assert!(error.contains("has expired: renew it"), "{error}");
}

#[tokio::test]
async fn a_ca_certificate_served_as_its_own_and_not_in_ca_file_says_so() {
    let cert = one_liner(None);
    let (other_ca, _) = ca_and_leaf("another CA", &["tempo"]);
    let (port, _server) = https_server(&cert).await;
    let error = poll_with(port, &other_ca.cert, Some("tempo"))
        .await
        .expect("refused");
    assert!(
        error.contains("the server presents a CA certificate as its own: put that very certificate in tls.ca_file"),
        "{error}"
    );
}

#[tokio::test]
async fn a_leaf_from_an_unknown_ca_says_to_set_ca_file_to_its_ca() {
    let (_, leaf) = ca_and_leaf("tempo test CA", &["127.0.0.1"]);
    let hint = "set tls.ca_file to the CA that signed it";
    // Another CA of another name (UnknownIssuer), and of the same name (BadSignature).
    for other in ["another CA", "tempo test CA"] {
        let (other_ca, _) = ca_and_leaf(other, &["x"]);
        let (port, _server) = https_server(&leaf).await;
        let error = poll_with(port, &other_ca.cert, None)
            .await
            .expect("refused");
        assert!(
            error.contains("signed by a CA spanflow does not trust") && error.contains(hint),
            "{other}: {error}"
        );
    }
}

#[tokio::test]
async fn a_leaf_for_another_name_lists_the_names_to_use_as_server_name() {
    let (ca, leaf) = ca_and_leaf("tempo test CA", &["tempo.example", "tempo-distributor"]);
    let (port, _server) = https_server(&leaf).await;
    // Verified as usual through its CA.
    assert_eq!(poll_with(port, &ca.cert, Some("tempo.example")).await, None);
    let error = poll_with(port, &ca.cert, None).await.expect("refused");
    assert!(
        error.contains("set tls.server_name to one of the names the certificate is valid for: tempo.example, tempo-distributor"),
        "{error}"
    );
}

#[tokio::test]
async fn the_probe_trusts_the_one_liner_given_as_its_ca_file() {
    use spanflow::demo::grpc::serve_health;
    use spanflow::source::probe::{Answer, ProbeSettings, probe};
    let cert = one_liner(None);
    let ingester = serve_health(Some((cert.cert.clone(), cert.key.clone())))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("tempo.crt");
    std::fs::write(&ca_file, &cert.cert).unwrap();
    let address = ingester.addr.to_string();
    let timeout = std::time::Duration::from_secs(2);
    let pinned = ProbeSettings::new(timeout, Some(&ca_file), Some("tempo"), false).unwrap();
    let result = probe(&address, &address, &pinned).await;
    assert_eq!(result.tls, Answer::Serving, "{result:?}");
    // Another name: refused, and the words say what to set.
    let wrong = ProbeSettings::new(timeout, Some(&ca_file), Some("other"), false).unwrap();
    let result = probe(&address, &address, &wrong).await;
    let text = result.tls.describe();
    assert!(
        text.contains("set probes.grpc_tls.server_name to one of the names the certificate is valid for: tempo"),
        "{text}"
    );
}
