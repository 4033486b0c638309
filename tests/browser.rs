//! The status page in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver (Debian's `chromium` and `chromium-driver`, installed by scripts/test.sh),
//! loads the page of a `spanflow demo` running the TLS-mismatch scenario, and the test
//! checks that the blocked stage and the cause are visible. It takes a screenshot; with
//! `UPDATE_SCREENSHOT=1` it is written to `docs/status-page.png` for the docs.
//!
//! Everything runs on 127.0.0.1, every wait is bounded, and both processes are killed when
//! the test ends (kill_on_drop).

mod common;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Polls `check` every 200 ms for at most `limit`.
async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

struct WebDriver {
    http: reqwest::Client,
    session: String,
}

impl WebDriver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/{path}", self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            response["value"].get("error").is_none(),
            "WebDriver {path}: {response}"
        );
        response["value"].clone()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// The element's rendered text, after checking the browser displays it.
    async fn visible_text(&self, css: &str) -> String {
        let id = self.element(css).await;
        let displayed = self
            .call(
                reqwest::Method::GET,
                &format!("element/{id}/displayed"),
                None,
            )
            .await;
        assert_eq!(displayed, json!(true), "{css} is not displayed");
        self.call(reqwest::Method::GET, &format!("element/{id}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn status_page_shows_the_blocked_stage_and_the_cause_in_chromium() {
    for tool in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)"
        );
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // spanflow's demo, in the incident.
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _spanflow = tokio::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args([
            "demo",
            "--scenario",
            "tls-mismatch",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--log.level",
            "warn",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(
        Duration::from_secs(30),
        "the demo to diagnose grpc_tls_mismatch",
        || {
            let http = http.clone();
            let url = format!("{base}/api/v1/status");
            async move {
                let Ok(response) = http.get(url).send().await else {
                    return false;
                };
                let Ok(status) = response.json::<Value>().await else {
                    return false;
                };
                status["pipelines"][0]["causes"]
                    .as_array()
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c["cause"] == "grpc_tls_mismatch" && c["certainty"] == "confirmed"
                        })
                    })
            }
        },
    )
    .await;

    // chromedriver and a headless Chromium session.
    let driver_port = common::free_port();
    let driver = format!("http://127.0.0.1:{driver_port}");
    let _chromedriver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={driver_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "chromedriver", || {
        let http = http.clone();
        let url = format!("{driver}/status");
        async move { http.get(url).send().await.is_ok() }
    })
    .await;
    let profile = tempfile::tempdir().unwrap();
    let created: Value = http
        .post(format!("{driver}/session"))
        .json(&json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1400,1200",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_id = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
        .to_owned();
    let wd = WebDriver {
        http: http.clone(),
        session: format!("{driver}/session/{session_id}"),
    };

    wd.call(
        reqwest::Method::POST,
        "url",
        Some(json!({"url": format!("{base}/")})),
    )
    .await;
    let verdict = wd.visible_text("#verdict").await;
    assert_eq!(verdict, "Spans stop at tempo_ingester");
    let blocked = wd
        .visible_text("[id=\"default/stage-tempo_ingester\"].blocked")
        .await;
    assert!(
        blocked.contains("BLOCKED") && blocked.contains("FAILING"),
        "{blocked}"
    );
    // Since when, in words, and the last hour as a strip drawn by the browser (inline SVG).
    assert!(
        blocked.contains("failing for at least ")
            && blocked.contains("since spanflow first saw it at "),
        "{blocked}"
    );
    let strip = wd
        .element("[id=\"default/stage-tempo_ingester\"] svg.strip")
        .await;
    let drawn = wd
        .call(reqwest::Method::GET, &format!("element/{strip}/rect"), None)
        .await;
    assert_eq!(
        (drawn["width"].as_f64(), drawn["height"].as_f64()),
        (Some(240.0), Some(12.0)),
        "{drawn}"
    );
    let distributor = wd
        .visible_text("[id=\"default/stage-tempo_distributor\"]")
        .await;
    assert!(distributor.contains("FAILING"), "{distributor}");
    let cause = wd
        .visible_text("[id=\"default/cause-grpc_tls_mismatch\"]")
        .await;
    for needle in [
        "critical",
        "grpc_tls_mismatch at tempo_ingester",
        "confirmed by the evidence",
        "TLS SERVING",
        "Fix:",
        "tls_enabled: true",
    ] {
        assert!(
            cause.contains(needle),
            "missing {needle:?} in the cause:\n{cause}"
        );
    }
    // Colour carries the status too: the blocked stage is painted red.
    let id = wd.element("[id=\"default/stage-tempo_ingester\"]").await;
    let background = wd
        .call(
            reqwest::Method::GET,
            &format!("element/{id}/css/background-color"),
            None,
        )
        .await;
    assert_eq!(background, json!("rgba(198, 40, 40, 1)"));

    let shot = wd.call(reqwest::Method::GET, "screenshot", None).await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&target, &png).unwrap();
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png");
        std::fs::write(docs, &png).unwrap();
    }
    let _ = http.delete(&wd.session).send().await;
}
