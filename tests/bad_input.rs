//! Bad input never crashes spanflow: unreachable targets, garbage bodies, bodies over the
//! cap, error statuses, slow targets, TLS trouble and invalid configs each give a clear,
//! classified error, the stage goes `unknown`, and `/metrics` keeps answering.

mod common;

use std::time::Duration;

use common::{PageServer, Poller, TEMPO_CONTENT_TYPE, status, statuses};
use spanflow::model::stage::{Stage, StageStatus};

const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy/metrics.txt";

fn tempo_yaml(url: &str, extra: &str) -> String {
    format!(
        "poll_interval: 2s\nwindow: 1m\n{extra}targets:\n  - name: tempo\n    role: tempo\n    url: '{url}'\n    timeout: 500ms\n"
    )
}

#[tokio::test]
async fn an_unreachable_target_is_down_and_its_stages_unknown() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there
    let mut poller = Poller::new(&tempo_yaml(&format!("http://127.0.0.1:{port}"), ""));
    let s = poller.poll().await;
    assert_eq!(status(&s, Stage::TempoDistributor), StageStatus::Unknown);
    assert!(!s.pipelines[0].targets[0].up);
    assert_eq!(s.pipelines[0].targets[0].scrape_errors_total["connect"], 1);
    assert!(
        s.pipelines[0].stages[0]
            .reason
            .contains("target tempo is down: connection failed"),
        "{}",
        s.pipelines[0].stages[0].reason
    );
    assert!(!s.healthy);
}

#[tokio::test]
async fn a_garbage_body_is_a_parse_error_naming_the_line() {
    let server = PageServer::start().await;
    server.set(common::read_testdata(HEALTHY), TEMPO_CONTENT_TYPE);
    let mut poller = Poller::tempo(&server.base);
    poller.poll().await;
    server.set("<html>\n<body>502 Bad Gateway</body>\n", "text/html");
    let s = poller.poll().await;
    assert_eq!(
        status(&s, Stage::TempoDistributor),
        StageStatus::Unknown,
        "{}",
        statuses(&s)
    );
    assert_eq!(s.pipelines[0].targets[0].scrape_errors_total["parse"], 1);
    assert_eq!(
        s.pipelines[0].targets[0].last_error.as_deref(),
        Some("unparsable page: line 1: invalid metric name")
    );
    // The good values of the first poll stay in the history, and come back with the target.
    server.set(common::read_testdata(HEALTHY), TEMPO_CONTENT_TYPE);
    let s = poller.poll().await;
    assert!(s.pipelines[0].targets[0].up);
}

#[tokio::test]
async fn a_page_of_other_software_leaves_the_stage_unknown() {
    let server = PageServer::start().await;
    server.set(
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1\n",
        "text/plain",
    );
    let mut poller = Poller::tempo(&server.base);
    poller.poll().await;
    let s = poller.poll().await;
    assert_eq!(status(&s, Stage::TempoDistributor), StageStatus::Unknown);
    assert!(
        s.pipelines[0].stages[0]
            .reason
            .contains("does not look like a tempo"),
        "{}",
        s.pipelines[0].stages[0].reason
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let server = PageServer::start().await;
    server.set(common::read_testdata(HEALTHY), TEMPO_CONTENT_TYPE); // ~110 KB
    let mut poller = Poller::new(&tempo_yaml(&server.base, "body_size_limit: 64KiB\n"));
    let s = poller.poll().await;
    assert_eq!(
        s.pipelines[0].targets[0].scrape_errors_total["too_large"],
        1
    );
    assert_eq!(
        s.pipelines[0].targets[0].last_error.as_deref(),
        Some("body larger than the 65536-byte limit (body_size_limit)")
    );
}

#[tokio::test]
async fn error_statuses_are_http_status_errors_with_a_hint() {
    let server = PageServer::start().await;
    server.set("unauthorized", "text/plain");
    server.set_status(401);
    let mut poller = Poller::tempo(&server.base);
    let s = poller.poll().await;
    assert_eq!(
        s.pipelines[0].targets[0].scrape_errors_total["http_status"],
        1
    );
    assert_eq!(
        s.pipelines[0].targets[0].last_error.as_deref(),
        Some("HTTP status 401 (check basic_auth or bearer_token_file)")
    );
}

#[tokio::test]
async fn a_target_that_never_answers_times_out_within_its_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "late"
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut poller = Poller::new(&tempo_yaml(&base, ""));
    let started = std::time::Instant::now();
    let s = poller.poll().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(s.pipelines[0].targets[0].scrape_errors_total["timeout"], 1);
    assert_eq!(
        s.pipelines[0].targets[0].last_error.as_deref(),
        Some("timed out after 500ms")
    );
}

// ---- HTTPS ------------------------------------------------------------------------------

struct TlsServer {
    port: u16,
    ca_file: tempfile::NamedTempFile,
    _handle: axum_server::Handle<std::net::SocketAddr>,
}

/// A real HTTPS server on 127.0.0.1 with a self-signed certificate for `names`, serving the
/// healthy Tempo page, as the seed's Tempo served its HTTP API.
async fn tls_server(names: &[&str]) -> TlsServer {
    let cert =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert_pem = cert.cert.pem();
    let (port, handle) = common::https_server(
        &cert_pem,
        &cert.signing_key.serialize_pem(),
        common::read_testdata(HEALTHY),
    )
    .await;
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), cert_pem).unwrap();
    TlsServer {
        port,
        ca_file,
        _handle: handle,
    }
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_works_with_ca_file() {
    let server = tls_server(&["localhost", "127.0.0.1"]).await;
    let tls = format!(
        "    tls:\n      ca_file: '{}'\n",
        server.ca_file.path().display()
    );
    let yaml = tempo_yaml(&format!("https://127.0.0.1:{}", server.port), "") + &tls;
    let mut poller = Poller::new(&yaml);
    let s = poller.poll().await;
    assert!(
        s.pipelines[0].targets[0].up,
        "{:?}",
        s.pipelines[0].targets[0].last_error
    );
    assert_eq!(s.pipelines[0].targets[0].version.as_deref(), Some("v2.7.2"));
}

#[tokio::test]
async fn https_without_the_ca_is_a_tls_error() {
    let server = tls_server(&["localhost", "127.0.0.1"]).await;
    let mut poller = Poller::new(&tempo_yaml(
        &format!("https://127.0.0.1:{}", server.port),
        "",
    ));
    let s = poller.poll().await;
    assert_eq!(
        s.pipelines[0].targets[0].scrape_errors_total["tls"], 1,
        "{:?}",
        s.pipelines[0].targets[0].last_error
    );
    assert!(
        s.pipelines[0].targets[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("TLS handshake failed")
    );
}

#[tokio::test]
async fn server_name_verifies_a_certificate_issued_for_another_name() {
    let server = tls_server(&["tempo.internal"]).await;
    let ca = server.ca_file.path().display();
    let url = format!("https://127.0.0.1:{}", server.port);
    let yaml = tempo_yaml(&url, "")
        + &format!("    tls:\n      ca_file: '{ca}'\n      server_name: tempo.internal\n");
    let s = Poller::new(&yaml).poll().await;
    assert!(
        s.pipelines[0].targets[0].up,
        "{:?}",
        s.pipelines[0].targets[0].last_error
    );
    // Without server_name the certificate does not match 127.0.0.1.
    let yaml = tempo_yaml(&url, "") + &format!("    tls:\n      ca_file: '{ca}'\n");
    let s = Poller::new(&yaml).poll().await;
    assert_eq!(
        s.pipelines[0].targets[0].scrape_errors_total["tls"], 1,
        "{:?}",
        s.pipelines[0].targets[0].last_error
    );
}

#[tokio::test]
async fn headers_and_bearer_tokens_are_sent() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let page = common::read_testdata(HEALTHY);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        let page = page.clone();
        async move {
            for name in ["authorization", "x-scope-orgid"] {
                if let Some(v) = headers.get(name) {
                    record
                        .lock()
                        .unwrap()
                        .push((name.into(), v.to_str().unwrap().into()));
                }
            }
            page
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "s3cr3t\n").unwrap();
    let yaml = tempo_yaml(&base, "")
        + &format!(
            "    bearer_token_file: '{}'\n    headers:\n      X-Scope-OrgID: tenant-a\n",
            token.path().display()
        );
    let s = Poller::new(&yaml).poll().await;
    assert!(s.pipelines[0].targets[0].up);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&("authorization".into(), "Bearer s3cr3t".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("x-scope-orgid".into(), "tenant-a".into())),
        "{seen:?}"
    );
}

// ---- the binary --------------------------------------------------------------------------

fn spanflow(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn an_invalid_config_exits_2_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spanflow.yml");
    std::fs::write(&path, "targets:\n  - name: tempo\n    role: tempo\n    url: http://127.0.0.1:3200\n    timeuot: 5s\n").unwrap();
    for command in ["check-config", "serve"] {
        let out = spanflow(&[command, "--config.file", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("spanflow.yml: line 5 column 5: unknown field `timeuot`"),
            "{command}: {stderr}"
        );
    }
    std::fs::write(&path, "targets:\n  - name: t\n    role: tempo\n    url: https://x\n    tls: {ca_file: /nonexistent/ca.pem}\n").unwrap();
    let out = spanflow(&["check-config", "--config.file", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("target \"t\": tls.ca_file: /nonexistent/ca.pem"),
        "{stderr}"
    );
    let out = spanflow(&[
        "check-config",
        "--config.file",
        dir.path().join("missing.yml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing.yml: cannot read the config file")
    );
}

#[test]
fn the_example_configs_are_valid() {
    for (example, summary) in [
        ("spanflow.yml", "valid, 3 targets in 1 pipeline"),
        ("spanflow-fleet.yml", "valid, 4 targets in 2 pipelines"),
        (
            "spanflow-store.yml",
            "valid, 0 targets and 1 metrics store in 1 pipeline",
        ),
    ] {
        let path = format!("{}/examples/{example}", env!("CARGO_MANIFEST_DIR"));
        let out = spanflow(&["check-config", "--config.file", &path]);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{path}: {summary}\n")
        );
    }
}

#[test]
fn check_config_takes_the_file_as_an_argument_too_and_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.yml");
    std::fs::write(
        &path,
        "targets:\n  - {name: t, role: tempo, url: 'http://127.0.0.1:3200'}\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    for args in [
        vec!["check-config", path],
        vec!["check-config", "--config.file", path],
    ] {
        let out = spanflow(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{path}: valid, 1 target in 1 pipeline\n")
        );
    }
    let two = dir.path().join("two.yml");
    std::fs::write(
        &two,
        "pipelines:\n  - name: eu\n    targets:\n      - {name: t, role: tempo, url: 'http://127.0.0.1:3200'}\n      - {name: c, role: collector, url: 'http://127.0.0.1:8888/metrics'}\n  - name: us\n    targets:\n      - {name: t, role: tempo, url: 'http://127.0.0.1:3201'}\n",
    )
    .unwrap();
    let two = two.to_str().unwrap();
    let out = spanflow(&["check-config", two]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{two}: valid, 3 targets in 2 pipelines\n")
    );
    let other = dir.path().join("other.yml");
    let out = spanflow(&[
        "check-config",
        path,
        "--config.file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two files given"));
}

#[test]
fn a_bad_duration_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    for (yaml, want) in [
        (
            "poll_interval: fifteen\ntargets:\n  - {name: t, role: tempo, url: 'http://127.0.0.1:3200'}\n",
            "bad.yml: line 1 column 1 (poll_interval): invalid value: string \"fifteen\", expected a duration",
        ),
        (
            "targets:\n  - {name: t, role: tempo, url: 'http://127.0.0.1:3200', timeout: \"5 parsecs\"}\n",
            "(timeout): invalid value: string \"5 parsecs\", expected a duration",
        ),
    ] {
        std::fs::write(&path, yaml).unwrap();
        let out = spanflow(&["check-config", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
    }
}

#[test]
fn bad_flags_exit_2() {
    let out = spanflow(&["--web.listen-address", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--web.listen-address"));
    let out = spanflow(&["demo", "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("known: healthy, tls-mismatch"));
}
