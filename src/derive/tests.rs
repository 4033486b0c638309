use super::*;
use crate::config::Config;
use crate::model::counter::Counter;
use crate::model::software::Software;
use crate::snapshot::{self, PipelineSnapshot as Snapshot};
use crate::source::page::{Reading, SeriesKey};
use crate::source::scrape::ScrapeError;
use std::time::Duration;

const CONFIG: &str = "poll_interval: 15s\nwindow: 1m\ntargets:\n  - {name: tempo, role: tempo, url: 'http://127.0.0.1:3200'}\n";

fn config() -> Config {
    Config::from_yaml(CONFIG, "test").unwrap()
}

fn tempo_reading(accepted: f64, refused: f64) -> Reading {
    Reading {
        series: vec![
            (SeriesKey::Counter(Counter::TempoAccepted, 1), accepted),
            (SeriesKey::Counter(Counter::TempoRefused, 2), refused),
        ],
        recognised: true,
        software: Software {
            version: Some("v2.7.2".into()),
            mode: Some("monolithic"),
            generation: Generation::TempoV2 {
                receiver_counters: true,
            },
        },
        ..Reading::default()
    }
}

struct Harness {
    config: Config,
    targets: Vec<TargetState>,
}

impl Harness {
    fn new() -> Harness {
        let config = config();
        let t = &config.targets[0];
        let state = TargetState::new(
            t.name.clone(),
            t.role,
            t.url.to_string(),
            config.poll_interval,
            config.window,
        );
        Harness {
            targets: vec![state],
            config,
        }
    }

    /// Advances the paused clock by one poll interval and records `result`.
    async fn poll(&mut self, result: Result<Reading, ScrapeError>) -> Snapshot {
        tokio::time::advance(self.config.poll_interval).await;
        self.targets[0].record(PollOutcome {
            instance: 0,
            at: Instant::now(),
            wall: SystemTime::now(),
            duration: Duration::from_millis(3),
            result,
        });
        let mut made = snapshot::make(
            &self.config,
            &self.targets,
            &[],
            &mut snapshot::Timeline::default(),
            Instant::now(),
            SystemTime::now(),
        );
        made.pipelines.remove(0)
    }
}

fn distributor(s: &Snapshot) -> &StageReport {
    s.stages
        .iter()
        .find(|r| r.stage == Stage::TempoDistributor)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn first_poll_is_a_baseline_and_the_second_gives_a_rate() {
    let mut h = Harness::new();
    let s = h.poll(Ok(tempo_reading(1000.0, 0.0))).await;
    assert_eq!(distributor(&s).status, StageStatus::Unknown);
    let s = h.poll(Ok(tempo_reading(1300.0, 0.0))).await;
    let d = distributor(&s);
    assert_eq!(d.status, StageStatus::Ok);
    assert_eq!(d.success_per_second, Some(20.0));
    assert_eq!(d.success_ratio, Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn a_counter_reset_counts_from_zero_and_never_goes_negative() {
    let mut h = Harness::new();
    h.poll(Ok(tempo_reading(5000.0, 0.0))).await;
    h.poll(Ok(tempo_reading(5300.0, 0.0))).await;
    // Tempo restarted: the counter is back near zero.
    let s = h.poll(Ok(tempo_reading(150.0, 0.0))).await;
    let d = distributor(&s);
    assert_eq!(d.status, StageStatus::Ok, "{}", d.reason);
    assert_eq!(d.judged.success, 150.0);
    assert!(d.success_per_second.unwrap() >= 0.0);
    assert_eq!(d.success_per_second, Some(450.0 / 30.0));
}

#[tokio::test(start_paused = true)]
async fn a_changed_process_start_time_is_a_restart_even_when_values_grew() {
    let mut h = Harness::new();
    let mut r = tempo_reading(100.0, 0.0);
    r.process_start = Some(1.0);
    h.poll(Ok(r)).await;
    let mut r = tempo_reading(400.0, 0.0);
    r.process_start = Some(2.0);
    let s = h.poll(Ok(r)).await;
    assert_eq!(distributor(&s).judged.success, 400.0);
}

#[tokio::test(start_paused = true)]
async fn an_absent_series_reads_as_zero_and_its_appearance_counts_whole() {
    let mut h = Harness::new();
    let mut r = tempo_reading(0.0, 0.0);
    r.series.truncate(1); // no refused series yet: Tempo creates it at the first refusal
    h.poll(Ok(r)).await;
    let s = h.poll(Ok(tempo_reading(0.0, 40.0))).await;
    let d = distributor(&s);
    assert_eq!((d.judged.success, d.judged.failure), (0.0, 40.0));
    assert_eq!(d.status, StageStatus::Failing);
    assert_eq!(s.blocked_stage, Some(Stage::TempoDistributor));
}

#[tokio::test(start_paused = true)]
async fn total_refusal_shows_within_two_polls_and_recovery_too() {
    let mut h = Harness::new();
    h.poll(Ok(tempo_reading(0.0, 0.0))).await;
    h.poll(Ok(tempo_reading(300.0, 0.0))).await;
    // Refusal starts halfway through the next interval: 150 accepted, 150 refused.
    let s = h.poll(Ok(tempo_reading(450.0, 150.0))).await;
    assert_eq!(distributor(&s).status, StageStatus::Degraded);
    let s = h.poll(Ok(tempo_reading(450.0, 450.0))).await;
    assert_eq!(distributor(&s).status, StageStatus::Failing);
    assert!(!s.healthy);
    // Recovery halfway through an interval, then fully.
    let s = h.poll(Ok(tempo_reading(600.0, 600.0))).await;
    assert_eq!(distributor(&s).status, StageStatus::Degraded);
    let s = h.poll(Ok(tempo_reading(900.0, 600.0))).await;
    assert_eq!(distributor(&s).status, StageStatus::Ok);
    // The long window still remembers the refusal in its ratio.
    let ratio = distributor(&s).success_ratio.unwrap();
    assert!(ratio < 0.99 && ratio > 0.3, "{ratio}");
}

#[tokio::test(start_paused = true)]
async fn a_missed_poll_is_spanned_by_the_next_good_one() {
    let mut h = Harness::new();
    h.poll(Ok(tempo_reading(0.0, 0.0))).await;
    h.poll(Ok(tempo_reading(300.0, 0.0))).await;
    let s = h
        .poll(Err(ScrapeError::Timeout(Duration::from_secs(10))))
        .await;
    assert_eq!(distributor(&s).status, StageStatus::Unknown);
    assert!(
        distributor(&s)
            .reason
            .contains("target tempo is down: timed out after 10s")
    );
    assert_eq!(s.targets[0].scrape_errors_total["timeout"], 1);
    assert!(!s.targets[0].up);
    let s = h.poll(Ok(tempo_reading(900.0, 0.0))).await;
    let d = distributor(&s);
    assert_eq!(d.status, StageStatus::Ok);
    // 600 spans over the 30 s gap: still 20 spans/s, not 40.
    assert_eq!(d.judged.success, 600.0);
    assert_eq!(d.success_per_second, Some(20.0));
}

#[tokio::test(start_paused = true)]
async fn a_target_that_disappears_turns_its_stages_unknown_and_the_window_forgets() {
    let mut h = Harness::new();
    h.poll(Ok(tempo_reading(0.0, 0.0))).await;
    h.poll(Ok(tempo_reading(300.0, 0.0))).await;
    for _ in 0..10 {
        let s = h
            .poll(Err(ScrapeError::Connect("connection refused".into())))
            .await;
        assert_eq!(distributor(&s).status, StageStatus::Unknown);
        assert!(!s.healthy);
        assert_eq!(s.blocked_stage, None);
    }
    assert_eq!(h.targets[0].errors_total["connect"], 10);
    // Memory stays fixed however long it is gone.
    assert!(h.targets[0].history.len() <= h.targets[0].capacity);
}

#[tokio::test(start_paused = true)]
async fn history_is_fixed_size_and_the_window_slides() {
    let mut h = Harness::new();
    let mut accepted = 0.0;
    for _ in 0..50 {
        accepted += 300.0;
        h.poll(Ok(tempo_reading(accepted, 0.0))).await;
    }
    assert_eq!(h.targets[0].history.len(), h.targets[0].capacity);
    assert_eq!(h.targets[0].capacity, 6); // 1m / 15s + 2
    // Now refuse everything for one window: the long ratio reaches 0.
    let mut refused = 0.0;
    let mut s = None;
    for _ in 0..4 {
        refused += 300.0;
        s = Some(h.poll(Ok(tempo_reading(accepted, refused))).await);
    }
    assert_eq!(distributor(s.as_ref().unwrap()).success_ratio, Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn nan_and_negative_values_never_make_negative_rates() {
    let mut h = Harness::new();
    h.poll(Ok(tempo_reading(100.0, 0.0))).await;
    let s = h.poll(Ok(tempo_reading(-5.0, f64::INFINITY))).await;
    let d = distributor(&s);
    assert!(d.success_per_second.unwrap() >= 0.0 && d.failure_per_second.unwrap() >= 0.0);
    assert!(d.failure_per_second.unwrap().is_finite());
}

// ---- Window maths, by property --------------------------------------------------------

mod window_properties {
    use super::*;
    use proptest::prelude::*;

    /// What one poll brings: a counter value (any f64 a reading might hold, resets and
    /// nonsense included), a failed poll, or a restart (a new process start time).
    #[derive(Debug, Clone)]
    enum Step {
        Value(f64),
        Failed,
        Restart(f64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0.0f64..1e9).prop_map(Step::Value),
            1 => prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                -1e9f64..0.0,
            ]
            .prop_map(Step::Value),
            1 => Just(Step::Failed),
            1 => (0.0f64..1e6).prop_map(Step::Restart),
        ]
    }

    fn state(interval: Duration, window: Duration) -> TargetState {
        TargetState::new(
            "t".into(),
            crate::model::stage::Role::Tempo,
            "http://x".into(),
            interval,
            window,
        )
    }

    fn outcome(at: Instant, result: Result<Reading, ScrapeError>) -> PollOutcome {
        PollOutcome {
            instance: 0,
            at,
            wall: SystemTime::now(),
            duration: Duration::from_millis(1),
            result,
        }
    }

    fn reading(value: f64, process_start: f64) -> Reading {
        Reading {
            process_start: Some(process_start),
            ..tempo_reading(value, 0.0)
        }
    }

    fn all_counts(inc: &Increases) -> impl Iterator<Item = f64> + '_ {
        inc.counters
            .iter()
            .copied()
            .chain(inc.discarded.values().copied())
    }

    proptest! {
        /// Whatever the readings and however irregular the (monotone) poll times: every
        /// increase is finite and never negative, the window never claims more seconds
        /// than it holds or than have passed, and the history stays within its capacity.
        #[test]
        fn increases_are_never_negative_and_windows_never_overreach(
            steps in proptest::collection::vec((1u64..40_000, step()), 1..80),
            window_s in 2u64..600,
        ) {
            let interval = Duration::from_secs(1);
            let window = Duration::from_secs(window_s);
            let mut t = state(interval, window);
            let t0 = Instant::now();
            let mut at = t0;
            let mut process_start = 1.0;
            let mut first_ok: Option<Instant> = None;
            for (gap_ms, step) in steps {
                at += Duration::from_millis(gap_ms);
                let result = match step {
                    Step::Failed => Err(ScrapeError::Timeout(interval)),
                    Step::Value(v) => Ok(reading(v, process_start)),
                    Step::Restart(v) => {
                        process_start += 1.0;
                        Ok(reading(v, process_start))
                    }
                };
                if result.is_ok() {
                    first_ok.get_or_insert(at);
                }
                t.record(outcome(at, result));
                prop_assert!(t.history.len() <= t.capacity);
                let (inc, seconds) = t.over_window(window);
                // The sum kept for derives is the same, computed once per poll.
                prop_assert_eq!(t.window_sum().1.to_bits(), seconds.to_bits());
                prop_assert!(
                    t.window_sum().0.counters.iter().zip(inc.counters.iter())
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                );
                for v in all_counts(&inc) {
                    prop_assert!(v.is_finite() && v >= 0.0, "window increase {v}");
                }
                prop_assert!(seconds >= 0.0);
                prop_assert!(seconds <= window.as_secs_f64() + 1e-9, "{seconds} s > window");
                if let Some(first) = first_ok {
                    prop_assert!(seconds <= at.duration_since(first).as_secs_f64() + 1e-9);
                }
                // So is the sum of the last two polls.
                let kept = t.last_polls(2).map(|i| i.counters.map(f64::to_bits));
                let fresh = t.sum_of_last(2).map(|i| i.counters.map(f64::to_bits));
                prop_assert_eq!(kept, fresh);
                for polls in 1..=2 {
                    if let Some(inc) = t.last_polls(polls) {
                        for v in all_counts(inc) {
                            prop_assert!(v.is_finite() && v >= 0.0, "last {polls} polls: {v}");
                        }
                    }
                }
            }
        }

        /// A counter that only grows, polled on time: the window's increase is exactly the
        /// growth over the polls it covers.
        #[test]
        fn a_growing_counter_polled_on_time_sums_exactly(
            increments in proptest::collection::vec(0u32..1_000_000, 2..40),
        ) {
            let interval = Duration::from_secs(15);
            let window = Duration::from_secs(60);
            let mut t = state(interval, window);
            let t0 = Instant::now();
            let mut values = vec![0.0f64];
            for i in increments {
                values.push(values.last().unwrap() + f64::from(i));
            }
            for (n, v) in values.iter().enumerate() {
                t.record(outcome(t0 + interval * n as u32, Ok(reading(*v, 1.0))));
            }
            let (inc, seconds) = t.over_window(window);
            let last = values.len() - 1;
            let covered = last.min(4); // 60 s of 15 s polls
            prop_assert_eq!(seconds, 15.0 * covered as f64);
            prop_assert_eq!(
                inc.get(Counter::TempoAccepted),
                values[last] - values[last - covered]
            );
        }

        /// A reset (the counter went down, or the process restarted) counts the new value
        /// as the increase since zero: never the negative difference, never zero.
        #[test]
        fn a_reset_counts_from_zero(
            before in 1.0f64..1e9,
            fraction in 0.0f64..1.0,
            restart in any::<bool>(),
        ) {
            let after = if restart { before * (1.0 + fraction) } else { before * fraction };
            let mut t = state(Duration::from_secs(15), Duration::from_secs(60));
            let t0 = Instant::now();
            t.record(outcome(t0, Ok(reading(before, 1.0))));
            let start = if restart { 2.0 } else { 1.0 };
            t.record(outcome(t0 + Duration::from_secs(15), Ok(reading(after, start))));
            let inc = t.last_polls(1).unwrap();
            prop_assert_eq!(inc.get(Counter::TempoAccepted), after);
        }
    }
}
