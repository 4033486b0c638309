//! `--web.config.file` with real TLS clients: HTTPS with the configured certificate, mutual
//! TLS that admits only clients whose certificate the configured CA signed, TLS version
//! limits, and basic authentication (bcrypt) in front of every endpoint, `/-/reload`
//! included. Every web configuration used here is also accepted by `promtool check
//! web-config`, so the files are the exporter-toolkit format, not a look-alike.

mod common;

use std::path::{Path, PathBuf};

use common::{Spanflow, run_tool};

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate from the
/// same CA, and a client certificate from another CA.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = authority("spanflow test CA");
        let rogue = authority("someone else's CA");
        let leaf = |issuer: &(rcgen::CertificateParams, rcgen::KeyPair), client: bool| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params =
                rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                    .unwrap();
            if client {
                params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            }
            let issuer = rcgen::Issuer::from_params(&issuer.0, &issuer.1);
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let ca_pem = ca.0.self_signed(&ca.1).unwrap().pem();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.crt", &ca_pem);
        let (cert, key) = leaf(&ca, false);
        write("server.crt", &cert);
        write("server.key", &key);
        let (cert, key) = leaf(&ca, true);
        write("client.pem", &format!("{cert}{key}"));
        let (cert, key) = leaf(&rogue, true);
        write("rogue.pem", &format!("{cert}{key}"));
        Pki { dir, ca_pem }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A web configuration file beside the certificates.
    fn web_config(&self, yaml: &str) -> PathBuf {
        let path = self.path("web.yml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// A client that trusts the CA, optionally presenting `identity` (a file of this PKI).
    fn client(&self, identity: Option<&str>) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap()]);
        if let Some(name) = identity {
            let pem = std::fs::read(self.path(name)).unwrap();
            builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        builder
    }
}

fn authority(name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    (params, key)
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
const MTLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";

/// A collector target that answers, so spanflow has something to poll.
async fn target_yaml() -> (common::PageServer, String) {
    let server = common::PageServer::start().await;
    server.set(
        "# TYPE otelcol_receiver_accepted_spans counter\notelcol_receiver_accepted_spans 5\n",
        "text/plain",
    );
    let yaml = format!(
        "poll_interval: 1s\nwindow: 10s\ntargets:\n  - {{name: otelcol, role: collector, url: '{}/metrics', timeout: 500ms}}\n",
        server.base
    );
    (server, yaml)
}

async fn start(web_config: &Path, http: reqwest::Client) -> (common::PageServer, Spanflow) {
    let (server, yaml) = target_yaml().await;
    let spanflow = Spanflow::start_with(
        &yaml,
        &["--web.config.file", &web_config.display().to_string()],
        std::process::Stdio::null(),
        http,
        "https",
    )
    .await;
    (server, spanflow)
}

fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

#[test]
fn promtool_and_spanflow_accept_the_same_web_configs() {
    let pki = Pki::new();
    let users = format!("basic_auth_users:\n  prometheus: '{}'\n", hash("s3cret"));
    let configs = [
        TLS.to_owned(),
        MTLS.to_owned(),
        format!(
            "{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  min_version: TLS13\n"
        ),
        format!("{TLS}{users}"),
        users.clone(),
    ];
    let config = pki.path("spanflow.yml");
    std::fs::write(
        &config,
        "targets:\n  - {name: a, role: collector, url: 'http://127.0.0.1:1/metrics'}\n",
    )
    .unwrap();
    for yaml in configs {
        let file = pki.web_config(&yaml);
        let file = file.display().to_string();
        run_tool("promtool", &["check", "web-config", &file]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
            .args([
                "check-config",
                "--config.file",
                &config.display().to_string(),
            ])
            .args(["--web.config.file", &file])
            .output()
            .unwrap();
        assert!(out.status.success(), "{yaml}\n{out:?}");
    }
    // A setting spanflow cannot honour is refused by name, with exit 2.
    let file = pki.web_config(&format!("{TLS}  client_auth_type: RequireAnyClientCert\n"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args([
            "check-config",
            "--config.file",
            &config.display().to_string(),
        ])
        .args(["--web.config.file", &file.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--web.config.file") && err.contains("tls_server_config.client_auth_type"),
        "{err}"
    );
}

#[tokio::test]
async fn https_serves_with_the_configured_certificate_and_nothing_else() {
    let pki = Pki::new();
    let (_server, spanflow) = start(&pki.web_config(TLS), pki.client(None).build().unwrap()).await;
    let metrics = spanflow.metrics().await;
    assert!(metrics.contains("spanflow_target_up"), "{metrics}");
    let port = spanflow.base.rsplit(':').next().unwrap();
    // Plain HTTP gets no answer.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .is_err()
    );
    // A client that does not trust the CA refuses the handshake.
    let untrusting = reqwest::Client::new();
    let e = untrusting
        .get(format!("{}/metrics", spanflow.base))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{e:?}").to_lowercase().contains("certificate"),
        "{e:?}"
    );
}

#[tokio::test]
async fn tls_versions_below_min_version_are_refused() {
    let pki = Pki::new();
    let web = pki.web_config(&format!("{TLS}  min_version: TLS13\n"));
    let (_server, spanflow) = start(&web, pki.client(None).build().unwrap()).await;
    let tls12 = pki
        .client(None)
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(
        tls12
            .get(format!("{}/metrics", spanflow.base))
            .send()
            .await
            .is_err()
    );
    let tls13 = pki
        .client(None)
        .tls_version_min(reqwest::tls::Version::TLS_1_3)
        .build()
        .unwrap();
    let answer = tls13
        .get(format!("{}/metrics", spanflow.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_the_ca_signed() {
    let pki = Pki::new();
    let (_server, spanflow) = start(
        &pki.web_config(MTLS),
        pki.client(Some("client.pem")).build().unwrap(),
    )
    .await;
    assert!(spanflow.metrics().await.contains("spanflow_target_up"));
    let url = format!("{}/metrics", spanflow.base);
    for (who, client) in [
        ("no certificate", pki.client(None).build().unwrap()),
        (
            "another CA's certificate",
            pki.client(Some("rogue.pem")).build().unwrap(),
        ),
    ] {
        let refused = client.get(&url).send().await;
        assert!(refused.is_err(), "{who}: {refused:?}");
    }
}

#[tokio::test]
async fn client_certificates_if_given_must_still_verify() {
    let pki = Pki::new();
    let web = pki.web_config(&format!(
        "{TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
    ));
    let (_server, spanflow) = start(&web, pki.client(None).build().unwrap()).await;
    let url = format!("{}/metrics", spanflow.base);
    let with_good = pki.client(Some("client.pem")).build().unwrap();
    assert_eq!(with_good.get(&url).send().await.unwrap().status(), 200);
    let with_rogue = pki.client(Some("rogue.pem")).build().unwrap();
    assert!(with_rogue.get(&url).send().await.is_err());
}

#[tokio::test]
async fn basic_auth_guards_every_endpoint_and_reload() {
    let pki = Pki::new();
    let web = pki.web_config(&format!(
        "{TLS}basic_auth_users:\n  prometheus: '{}'\n",
        hash("s3cret")
    ));
    let mut headers = reqwest::header::HeaderMap::new();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("prometheus:s3cret");
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {token}").parse().unwrap(),
    );
    let authed = pki.client(None).default_headers(headers).build().unwrap();
    let (_server, spanflow) = start(&web, authed.clone()).await;
    let anonymous = pki.client(None).build().unwrap();
    let endpoints = ["/metrics", "/", "/api/v1/status", "/-/healthy", "/-/ready"];
    for path in endpoints {
        let url = format!("{}{path}", spanflow.base);
        let denied = anonymous.get(&url).send().await.unwrap();
        assert_eq!(denied.status(), 401, "{path}");
        assert_eq!(
            denied.headers()["www-authenticate"],
            "Basic realm=\"spanflow\"",
            "{path}"
        );
        let wrong = anonymous
            .get(&url)
            .basic_auth("prometheus", Some("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let nobody = anonymous
            .get(&url)
            .basic_auth("root", Some("s3cret"))
            .send()
            .await
            .unwrap();
        assert_eq!(nobody.status(), 401, "{path}");
    }
    // The right credentials open every endpoint (ready once the target was polled).
    for path in ["/metrics", "/", "/api/v1/status", "/-/healthy"] {
        let url = format!("{}{path}", spanflow.base);
        assert_eq!(
            authed.get(&url).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let reload = format!("{}/-/reload", spanflow.base);
    assert_eq!(anonymous.post(&reload).send().await.unwrap().status(), 401);
    assert_eq!(authed.get(&reload).send().await.unwrap().status(), 405);
    assert_eq!(authed.post(&reload).send().await.unwrap().status(), 200);
}
