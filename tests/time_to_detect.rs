//! Time to detect, end to end: the real binary polls a real Tempo 2.7.2 capture every
//! second; the target switches from a healthy series to the TLS-mismatch incident (every
//! span refused). From the first poll that was answered with a refusing page to
//! `spanflow_stage_status{status="failing"}` on `/metrics` must take at most two poll
//! intervals (DESIGN §2), and the same back on recovery. The measured times are printed
//! (`cargo test --test time_to_detect -- --nocapture`) and quoted in docs/benchmarks.md.

mod common;

use std::time::{Duration, Instant};

use common::{FixtureServer, Spanflow, extrapolated_series, sample};

const INTERVAL: Duration = Duration::from_secs(1);

fn status_is(page: &str, stage: &str, status: &str) -> bool {
    sample(
        page,
        &format!("spanflow_stage_status{{stage=\"{stage}\",status=\"{status}\"}}"),
    ) == Some(1.0)
}

/// Reads `/metrics` every 20 ms until `done` holds (at most 20 s); returns when it did.
async fn until(spanflow: &Spanflow, what: &str, done: impl Fn(&str) -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = spanflow.metrics().await;
        if done(&page) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "no {what} after 20 s:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first `/metrics` request answered at or after `since`.
fn first_poll_after(server: &FixtureServer, since: Instant) -> Instant {
    server
        .metrics_times()
        .into_iter()
        .find(|t| *t >= since)
        .expect("a poll after the switch")
}

/// Switches the target to `fixture`'s series, and returns how long after the first poll
/// answered from it `/metrics` showed what `shown` looks for.
async fn time_until_shown(
    spanflow: &Spanflow,
    server: &FixtureServer,
    fixture: &str,
    what: &str,
    shown: impl Fn(&str) -> bool,
) -> Duration {
    let switched = Instant::now();
    server.switch_to(fixture);
    server.play_metrics(extrapolated_series(fixture, 200));
    let seen = until(spanflow, what, shown).await;
    seen.duration_since(first_poll_after(server, switched))
}

#[tokio::test]
async fn total_refusal_shows_as_failing_within_two_polls_and_recovery_too() {
    let healthy = "fixtures/tempo-2.7.2/healthy";
    let broken = "fixtures/tempo-2.7.2/tls-mismatch";
    let server = FixtureServer::start(healthy).await;
    server.play_metrics(extrapolated_series(healthy, 200));
    let yaml = format!(
        "poll_interval: 1s\nwindow: 10s\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{}', timeout: 800ms}}\n",
        server.base
    );
    let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
    until(&spanflow, "ok", |p| status_is(p, "tempo_distributor", "ok")).await;

    // The incident: every span refused from the next poll on.
    let detect = time_until_shown(&spanflow, &server, broken, "failing", |p| {
        status_is(p, "tempo_distributor", "failing")
    })
    .await;
    println!("time to detect: {detect:?} (poll interval {INTERVAL:?})");
    assert!(
        detect <= INTERVAL * 2,
        "failing {detect:?} after the first refusing poll"
    );

    // Recovery: healthy pages again.
    let recover = time_until_shown(&spanflow, &server, healthy, "ok again", |p| {
        status_is(p, "tempo_distributor", "ok") && !p.contains("status=\"failing\"} 1")
    })
    .await;
    println!("time to recover: {recover:?} (poll interval {INTERVAL:?})");
    assert!(
        recover <= INTERVAL * 2,
        "ok {recover:?} after the first healthy poll"
    );
}
