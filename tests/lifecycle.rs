//! Graceful shutdown: SIGTERM while a poll is in flight lets the poll finish (bounded by the
//! target's timeout), closes the listener and exits 0.

use std::time::{Duration, Instant};

#[tokio::test]
async fn sigterm_during_a_slow_poll_stops_cleanly_within_the_timeout() {
    // A target that answers after 1.5 s.
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "otelcol_receiver_accepted_spans 1\n"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spanflow.yml");
    std::fs::write(
        &config,
        format!("poll_interval: 3s\ntargets:\n  - {{name: otelcol, role: collector, url: '{target}', timeout: 2s}}\n"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args([
            "--config.file",
            &config.display().to_string(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "spanflow did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first poll starts within a tenth of the interval and is now waiting on the target.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().unwrap().to_string();
    let sent = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("spanflow exits after SIGTERM")
        .unwrap();
    let took = sent.elapsed();
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("spanflow stopped"), "{log}");
    assert!(!log.contains("abandoned"), "{log}");
    // It waited for the poll in flight (~1 s left) but not beyond the target's timeout.
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_err(),
        "listener closed"
    );
}
