use super::*;
use crate::config::Config;
use crate::pipeline::Counter;

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
            target: 0,
            at: Instant::now(),
            wall: SystemTime::now(),
            duration: Duration::from_millis(3),
            result,
        });
        derive_snapshot(
            &self.config,
            &self.targets,
            Instant::now(),
            SystemTime::now(),
        )
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
