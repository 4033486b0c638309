use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A directory holding a self-signed certificate and key, and `web.yml` with `yaml`.
fn setup(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::demo::grpc::self_signed().unwrap();
    write(dir.path(), "tls.crt", &cert);
    write(dir.path(), "tls.key", &key);
    let path = write(dir.path(), "web.yml", yaml);
    (dir, path)
}

fn error_of(yaml: &str) -> String {
    let (_dir, path) = setup(yaml);
    load(&path).unwrap_err().to_string()
}

const TLS: &str = "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n";

#[test]
fn an_empty_file_turns_nothing_on() {
    let (_dir, path) = setup("");
    let c = load(&path).unwrap();
    assert!(c.tls.is_none() && c.basic_auth.is_none());
}

#[test]
fn tls_with_relative_paths_loads() {
    let (_dir, path) = setup(TLS);
    let c = load(&path).unwrap();
    let tls = c.tls.unwrap();
    assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
}

#[test]
fn every_wrong_field_is_named() {
    let cases = [
        (
            "tls_server_config:\n  cert_file: tls.crt\n",
            "tls_server_config.key_file: needed",
        ),
        (
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: tls.key\n",
            "tls_server_config.cert_file:",
        ),
        (
            "tls_server_config:\n  cert_file: tls.key\n  key_file: tls.key\n",
            "tls_server_config.cert_file:",
        ),
        (
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.crt\n",
            "tls_server_config.key_file:",
        ),
        (
            &format!("{TLS}  min_version: TLS10\n"),
            "tls_server_config.min_version: TLS10 is not supported",
        ),
        (
            &format!("{TLS}  max_version: SSL3\n"),
            "tls_server_config.max_version: \"SSL3\": expected TLS12 or TLS13",
        ),
        (
            &format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            "tls_server_config.min_version: is above max_version",
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            "tls_server_config.client_ca_file: needed with client_auth_type RequireAndVerifyClientCert",
        ),
        (
            &format!("{TLS}  client_ca_file: tls.crt\n"),
            "tls_server_config.client_ca_file: set without a client_auth_type",
        ),
        (
            &format!("{TLS}  client_auth_type: RequireAnyClientCert\n"),
            "tls_server_config.client_auth_type: RequireAnyClientCert (a client certificate nobody verifies) is not supported",
        ),
        (
            &format!("{TLS}  client_auth_type: Maybe\n"),
            "tls_server_config.client_auth_type: \"Maybe\": expected",
        ),
        (
            &format!("{TLS}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
            "tls_server_config.cipher_suites: not supported",
        ),
        (
            "http_server_config:\n  headers: {X-Frame-Options: deny}\n",
            "http_server_config.headers: not supported",
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            "basic_auth_users: user \"alice\": not a bcrypt hash",
        ),
        ("tls_config: {}\n", "unknown field"),
    ];
    for (yaml, expected) in cases {
        let e = error_of(yaml);
        assert!(e.contains(expected), "{yaml}\n→ {e}");
        assert!(
            e.starts_with(&std::env::temp_dir().display().to_string()),
            "{e}"
        );
    }
}

#[test]
fn errors_never_quote_a_password_or_a_key() {
    let e = error_of("basic_auth_users:\n  alice: hunter2\n");
    assert!(!e.contains("hunter2"), "{e}");
    let (dir, _) = setup("");
    let key = std::fs::read_to_string(dir.path().join("tls.key")).unwrap();
    let broken: String = key.lines().take(3).collect::<Vec<_>>().join("\n");
    write(dir.path(), "broken.key", &broken);
    let path = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: broken.key\n",
    );
    let e = load(&path).unwrap_err().to_string();
    let secret_line = broken.lines().nth(1).unwrap();
    assert!(!e.contains(secret_line), "{e}");
    assert!(e.contains("tls_server_config.key_file"), "{e}");
}

#[test]
fn the_dummy_hash_is_a_bcrypt_hash_nobody_matches() {
    assert!(dummy_hash().parse::<bcrypt::HashParts>().is_ok());
    assert!(!bcrypt::verify("", dummy_hash()).unwrap());
}

#[tokio::test]
async fn basic_auth_checks_users_and_remembers_only_good_pairs() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let (_dir, path) = setup(&format!("basic_auth_users:\n  prometheus: '{hash}'\n"));
    let auth = load(&path).unwrap().basic_auth.unwrap();
    let header = |user: &str, password: &str| {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    };
    assert!(auth.allows(Some(&header("prometheus", "s3cret"))).await);
    assert!(auth.allows(Some(&header("prometheus", "s3cret"))).await);
    assert_eq!(auth.remembered().len(), 1);
    assert!(!auth.allows(Some(&header("prometheus", "wrong"))).await);
    assert!(!auth.allows(Some(&header("nobody", "s3cret"))).await);
    assert!(!auth.allows(None).await);
    assert!(
        !auth
            .allows(Some(&HeaderValue::from_static("Bearer abc")))
            .await
    );
    assert!(
        !auth
            .allows(Some(&HeaderValue::from_static("Basic !!!")))
            .await
    );
    assert_eq!(auth.remembered().len(), 1);
    assert!(!format!("{:?}", load(&path).unwrap()).contains(&hash));
}
