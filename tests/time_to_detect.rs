//! Time to detect, end to end: the real binary polls a real Tempo 2.7.2 capture every
//! second; the target switches from a healthy series to the TLS-mismatch incident (every
//! span refused). `spanflow_stage_status{status="failing"}` must show on `/metrics` before
//! the third poll of the refusing series was answered — within two polls, counted, not
//! timed, so that a loaded machine cannot fail it — and the same back on recovery. The
//! wall-clock time from the first refusing poll is printed
//! (`cargo test --test time_to_detect -- --nocapture`) and quoted in docs/benchmarks.md;
//! the test bounds it only generously (five intervals).

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

/// Reads `/metrics` every 20 ms until `done` holds (at most 20 s); returns when the read
/// that showed it was asked for.
async fn until(spanflow: &Spanflow, what: &str, done: impl Fn(&str) -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let asked = Instant::now();
        let page = spanflow.metrics().await;
        if done(&page) {
            return asked;
        }
        assert!(Instant::now() < deadline, "no {what} after 20 s:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a switch showed: the polls answered with the new state (refusing or healthy pages)
/// before `/metrics` showed it, and the time from the first of them. A series' page 0 is
/// its capture from before any span (`metrics_before_spans.txt`): it says nothing yet, so
/// the new state starts with page 1, the second poll after the switch.
struct Shown {
    polls: usize,
    after: Duration,
}

/// Switches the target to `fixture`'s series, and returns how it showed on `/metrics`.
async fn time_until_shown(
    spanflow: &Spanflow,
    server: &FixtureServer,
    fixture: &str,
    what: &str,
    shown: impl Fn(&str) -> bool,
) -> Shown {
    server.switch_to(fixture);
    server.play_metrics(extrapolated_series(fixture, 200));
    let switched = Instant::now();
    let seen = until(spanflow, what, shown).await;
    let answered: Vec<Instant> = server
        .metrics_times()
        .into_iter()
        .filter(|t| *t >= switched)
        .skip(1)
        .collect();
    let first = *answered.first().expect("a poll of the new state");
    Shown {
        polls: answered.iter().filter(|t| **t <= seen).count(),
        after: seen.saturating_duration_since(first),
    }
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

    // The incident: every span refused from the next poll on; then healthy pages again.
    let failing = |p: &str| status_is(p, "tempo_distributor", "failing");
    let ok_again =
        |p: &str| status_is(p, "tempo_distributor", "ok") && !p.contains("status=\"failing\"} 1");
    type Check<'a> = &'a dyn Fn(&str) -> bool;
    let steps: [(&str, &str, Check); 2] = [
        (broken, "time to detect", &failing),
        (healthy, "time to recover", &ok_again),
    ];
    for (fixture, what, shown) in steps {
        let seen = time_until_shown(&spanflow, &server, fixture, what, shown).await;
        println!(
            "{what}: {:?} after the first poll of the new state, {} poll(s) (interval {INTERVAL:?})",
            seen.after, seen.polls
        );
        assert!(
            (1..=2).contains(&seen.polls),
            "{what}: shown after {} polls of the new state",
            seen.polls
        );
        assert!(seen.after <= INTERVAL * 5, "{what}: {:?}", seen.after);
    }
}
