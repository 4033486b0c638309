//! Graceful shutdown: SIGTERM while a poll is in flight lets the poll finish (bounded by the
//! target's timeout), closes the listener and exits 0.

mod common;

use std::time::{Duration, Instant};

#[tokio::test]
async fn sigterm_during_a_slow_poll_stops_cleanly_within_the_timeout() {
    // A target that answers 1.5 s after each request, and says when it got one and when it
    // answered.
    let (received_tx, mut received) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let answered_log = answered.clone();
    let app = axum::Router::new().fallback(move || {
        let received_tx = received_tx.clone();
        let answered_log = answered_log.clone();
        async move {
            let _ = received_tx.send(Instant::now());
            tokio::time::sleep(Duration::from_millis(1500)).await;
            answered_log.lock().unwrap().push(Instant::now());
            "otelcol_receiver_accepted_spans 1\n"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let spanflow = common::Spanflow::start(
        &format!("poll_interval: 3s\ntargets:\n  - {{name: otelcol, role: collector, url: '{target}', timeout: 2s}}\n"),
        &[],
        std::process::Stdio::piped(),
    )
    .await;
    // Signal while the first poll is in flight: the target has its request and not answered.
    tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the first poll reached the target within 10 s");
    let sent = Instant::now();
    spanflow.signal("-TERM");
    let base = spanflow.base.clone();
    let out = tokio::time::timeout(Duration::from_secs(10), spanflow.child.wait_with_output())
        .await
        .expect("spanflow exits after SIGTERM")
        .unwrap();
    let exited = Instant::now();
    let took = exited - sent;
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("spanflow stopped"), "{log}");
    assert!(!log.contains("abandoned"), "{log}");
    // It waited for the poll in flight — it exited after the target answered — but not
    // beyond the target's 2 s timeout (4 s leaves room for a loaded machine).
    let answers = answered.lock().unwrap().clone();
    assert!(
        answers.first().is_some_and(|a| *a <= exited),
        "spanflow exited before the poll in flight was answered"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(
        reqwest::get(format!("{base}/-/healthy")).await.is_err(),
        "listener closed"
    );
}

/// Reload on SIGHUP and POST /-/reload: a valid new file takes effect (a new target appears,
/// the unchanged one keeps its history); an invalid one is refused with the error, the metric
/// turns 0 and the previous configuration keeps running; GET is not allowed.
#[tokio::test]
async fn reload_applies_a_valid_file_and_refuses_an_invalid_one() {
    let page =
        "# TYPE otelcol_receiver_accepted_spans counter\notelcol_receiver_accepted_spans 5\n";
    let app = axum::Router::new().fallback(move || async move { page });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let one = format!(
        "poll_interval: 200ms\nwindow: 2s\ntargets:\n  - {{name: a, role: collector, url: '{target}', timeout: 150ms}}\n"
    );
    let spanflow = common::Spanflow::start(&one, &[], std::process::Stdio::null()).await;
    let (base, http, config) = (&spanflow.base, &spanflow.http, &spanflow.config);
    let metrics = || async { spanflow.get("/metrics").await };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if metrics().await.is_some_and(|m| {
            common::sample(&m, "spanflow_target_up{target=\"a\",role=\"collector\"}") == Some(1.0)
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "spanflow did not poll a");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = spanflow.status().await;
    let a_success_before = status["pipelines"][0]["targets"][0]["last_success_unix"]
        .as_f64()
        .unwrap();

    // GET is refused; an invalid file is refused and the old configuration keeps running.
    assert_eq!(
        http.get(format!("{base}/-/reload"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    std::fs::write(config, "targets:\n  - {name: a, role: nope, url: 'x'}\n").unwrap();
    let refused = http.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(refused.status(), 500);
    let text = refused.text().await.unwrap();
    assert!(text.contains("role"), "{text}");
    let m = metrics().await.unwrap();
    assert!(
        m.contains("spanflow_config_last_reload_successful 0"),
        "{m}"
    );
    assert!(
        common::sample(&m, "spanflow_target_up{target=\"a\",role=\"collector\"}") == Some(1.0),
        "still polling a"
    );

    // A valid file with a second target, by SIGHUP.
    std::fs::write(
        config,
        format!("{one}  - {{name: b, role: collector, url: '{target}', timeout: 150ms}}\n"),
    )
    .unwrap();
    spanflow.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = metrics().await.unwrap_or_default();
        if m.contains("spanflow_config_last_reload_successful 1")
            && common::sample(&m, "spanflow_target_up{target=\"b\",role=\"collector\"}")
                == Some(1.0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP reload not applied:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Target a kept its history across the reload: its stage was judged right away.
    let status = spanflow.status().await;
    let a = status["pipelines"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "a")
        .unwrap();
    assert!(a["last_success_unix"].as_f64().unwrap() >= a_success_before);
    assert_eq!(a["scrape_errors_total"]["connect"], 0);

    // And by POST.
    assert_eq!(
        http.post(format!("{base}/-/reload"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
