//! Secrets never leave spanflow: passwords, bearer tokens, credentials in target URLs,
//! header values, the web config's users and hashes, and the keys and passwords in Tempo's
//! own `/status/config` appear in no log line (at debug level), no endpoint (`/metrics`,
//! `/api/v1/status`, the status page), no `spanflow diagnose` report and no error — while
//! the targets really were sent them. And no endpoint makes spanflow fetch a URL a caller
//! names: targets come from the configuration only.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use common::{FixtureServer, Spanflow};

const BASIC_PASSWORD: &str = "basic-pw-7f3a91";
const FILE_PASSWORD: &str = "file-pw-2b8c44";
const BEARER_TOKEN: &str = "bearer-tok-9c1e07";
const URL_PASSWORD: &str = "url-pw-4d2b66";
const HEADER_SECRET: &str = "hdr-key-5e8f13";
const WEB_PASSWORD: &str = "web-pw-6a7b29";
const TEMPO_S3_KEY: &str = "s3-secret-key-1a2b3c";
const TEMPO_PASSWORD: &str = "tempo-pw-3c4d5e";

/// A server that records every request's headers and answers 401.
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(format!("{headers:?}"));
            (axum::http::StatusCode::UNAUTHORIZED, "who are you\n")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

#[tokio::test]
async fn secrets_appear_in_no_log_endpoint_report_or_error() {
    // Tempo, whose /status/config carries storage keys and a password.
    let dir = "fixtures/tempo-2.7.2/healthy";
    let tempo = FixtureServer::start(dir).await;
    let config = common::read_testdata(&format!("{dir}/status_config.yaml"));
    tempo.set_body(
        "/status/config",
        false,
        format!(
            "{config}\nstorage_secrets:\n  s3:\n    secret_key: {TEMPO_S3_KEY}\n    access_key: AKIA{TEMPO_S3_KEY}\n  basic_auth:\n    password: {TEMPO_PASSWORD}\n"
        ),
    );
    let (recording, seen) = recording_server().await;
    let closed = common::free_port();

    let files = tempfile::tempdir().unwrap();
    let token_file = files.path().join("token");
    std::fs::write(&token_file, format!("{BEARER_TOKEN}\n")).unwrap();
    let password_file = files.path().join("password");
    std::fs::write(&password_file, FILE_PASSWORD).unwrap();
    let web_config = files.path().join("web.yml");
    std::fs::write(
        &web_config,
        format!(
            "basic_auth_users:\n  prometheus: '{}'\n",
            bcrypt::hash(WEB_PASSWORD, 4).unwrap()
        ),
    )
    .unwrap();
    let hash_marker = std::fs::read_to_string(&web_config).unwrap()[40..70].to_owned();

    let yaml = format!(
        "poll_interval: 500ms\nwindow: 5s\nprobes: {{grpc_health: false}}\ntargets:
  - name: tempo
    role: tempo
    url: '{tempo}'
    timeout: 400ms
    basic_auth: {{username: tempo, password: {BASIC_PASSWORD}}}
  - name: otelcol
    role: collector
    url: '{recording}/metrics'
    timeout: 400ms
    bearer_token_file: '{token}'
    headers: {{X-Api-Key: {HEADER_SECRET}}}
  - name: otelcol-b
    role: collector
    url: '{recording}/b/metrics'
    timeout: 400ms
    basic_auth: {{username: b, password_file: '{password}'}}
  - name: backend
    role: app
    url: 'http://svc:{URL_PASSWORD}@127.0.0.1:{closed}/metrics'
    timeout: 400ms
    success: 'spans_total{{ok=\"1\"}}'
    failure: 'spans_total{{ok=\"0\"}}'
",
        tempo = tempo.base,
        token = token_file.display(),
        password = password_file.display(),
    );
    let mut headers = reqwest::header::HeaderMap::new();
    use base64::Engine as _;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{WEB_PASSWORD}"));
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {credentials}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let log_file = files.path().join("spanflow.log");
    let web_flag = web_config.display().to_string();
    let spanflow = Spanflow::start_with(
        &yaml,
        &["--log.level", "debug", "--web.config.file", &web_flag],
        std::fs::File::create(&log_file).unwrap().into(),
        http,
        "http",
    )
    .await;

    // Wait for a few polls of every target: tempo up, the others failing each their way.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = spanflow.status().await;
        let targets = status["pipelines"][0]["targets"].as_array().unwrap();
        let by = |name: &str| targets.iter().find(|t| t["name"] == name).unwrap().clone();
        if by("tempo")["up"] == true
            && by("otelcol")["scrape_errors_total"]["http_status"].as_u64() >= Some(2)
            && by("otelcol-b")["scrape_errors_total"]["http_status"].as_u64() >= Some(2)
            && by("backend")["scrape_errors_total"]["connect"].as_u64() >= Some(2)
        {
            break;
        }
        assert!(Instant::now() < deadline, "targets not polled: {status:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The secrets were really used: the targets received them.
    let received = seen.lock().unwrap().join("\n");
    assert!(
        received.contains(&format!("Bearer {BEARER_TOKEN}")),
        "{received}"
    );
    assert!(received.contains(HEADER_SECRET), "{received}");
    let file_basic = base64::engine::general_purpose::STANDARD.encode(format!("b:{FILE_PASSWORD}"));
    assert!(received.contains(&file_basic), "{received}");

    let mut exposed = vec![
        ("/metrics", spanflow.metrics().await),
        (
            "/api/v1/status",
            spanflow.get("/api/v1/status").await.unwrap(),
        ),
        ("/", spanflow.get("/").await.unwrap()),
    ];
    // The failing targets' errors are in the status; check they are there to be checked.
    assert!(exposed[1].1.contains("HTTP status 401"), "{}", exposed[1].1);
    assert!(
        exposed[1].1.contains("connection failed"),
        "{}",
        exposed[1].1
    );
    assert!(
        exposed[1].1.contains("http://127.0.0.1:"),
        "backend URL shown without credentials"
    );

    // spanflow diagnose and check-config on the same file.
    for args in [
        vec!["diagnose", "--wait", "2s", "--output", "json"],
        vec!["diagnose", "--wait", "2s", "--output", "text"],
        vec!["check-config"],
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
            .args(&args)
            .args(["--config.file", &spanflow.config.display().to_string()])
            .args(["--log.level", "debug"])
            .output()
            .await
            .unwrap();
        exposed.push((
            "a command",
            format!(
                "{args:?}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    // An invalid file whose bad field sits next to a password.
    let bad = files.path().join("bad.yml");
    std::fs::write(
        &bad,
        format!(
            "targets:\n  - {{name: a, role: tempo, url: 'http://x', basic_auth: {{username: u, password: {BASIC_PASSWORD}, pasword: {BASIC_PASSWORD}}}}}\n"
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args(["check-config", "--config.file", &bad.display().to_string()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    exposed.push((
        "an invalid config's error",
        String::from_utf8_lossy(&out.stderr).into(),
    ));

    spanflow.signal("-TERM");
    let mut child = spanflow.child;
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("spanflow stops")
        .unwrap();
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        log.contains("poll failed"),
        "the log has the failures: {log}"
    );
    exposed.push(("the log", log));

    let secrets = [
        BASIC_PASSWORD,
        FILE_PASSWORD,
        BEARER_TOKEN,
        URL_PASSWORD,
        HEADER_SECRET,
        WEB_PASSWORD,
        TEMPO_S3_KEY,
        TEMPO_PASSWORD,
        &hash_marker,
        &file_basic,
    ];
    for (where_, text) in &exposed {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{secret:?} leaked in {where_}:\n{text}"
            );
        }
    }
}

/// Nothing a caller sends — query parameters, paths, a reload body — makes spanflow fetch a
/// URL: a canary server named in every request receives nothing.
#[tokio::test]
async fn no_request_makes_spanflow_fetch_a_url_it_was_not_configured_with() {
    let (canary, canary_seen) = recording_server().await;
    let target = common::PageServer::start().await;
    target.set("otelcol_receiver_accepted_spans 1\n", "text/plain");
    let yaml = format!(
        "poll_interval: 500ms\nwindow: 5s\ntargets:\n  - {{name: otelcol, role: collector, url: '{}/metrics', timeout: 400ms}}\n",
        target.base
    );
    let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
    let encoded = canary.replace(':', "%3A").replace('/', "%2F");
    let http = reqwest::Client::new();
    for path in [
        format!("/metrics?target={canary}/metrics"),
        format!("/metrics?url={encoded}"),
        format!("/api/v1/status?target={canary}"),
        format!("/?url={canary}"),
        format!("/probe?target={canary}&module=tempo"),
        format!("/scrape?url={canary}"),
        format!("/-/ready?target={canary}"),
        format!("/{encoded}"),
    ] {
        let answer = http
            .get(format!("{}{path}", spanflow.base))
            .send()
            .await
            .unwrap();
        // Answered from what spanflow holds (the page, 404, or 503 before the first poll).
        assert!(
            [200, 404, 503].contains(&answer.status().as_u16()),
            "{path}: {}",
            answer.status()
        );
    }
    let reload = http
        .post(format!("{}/-/reload?url={canary}", spanflow.base))
        .body(format!(
            "targets:\n  - {{name: evil, role: collector, url: '{canary}/metrics'}}\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200, "reload reads the file, not the body");
    // Several polls later, the canary has still seen nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(canary_seen.lock().unwrap().is_empty());
    let status = spanflow.status().await;
    assert_eq!(
        status["pipelines"][0]["targets"].as_array().unwrap().len(),
        1
    );
}
