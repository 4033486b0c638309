//! Derives stage health from polled counters.
//!
//! Input: one [`PollOutcome`] per target per poll. Output: a [`Derived`] — per stage the
//! success/failure counts over the short and the long window, the status, the success
//! ratio and rates, the blocked stage and the verdict, Tempo's discards and per-target
//! health — and the counter [`Totals`] diagnosis reads. It never names a cause: that is
//! `diagnose`, which runs after it (`snapshot::make`).
//!
//! Each target keeps the raw values of its last good poll and a fixed-size ring of per-poll
//! increases (one entry per poll, `window / poll_interval + 2` entries), so memory does not
//! grow with time. An increase is computed per series: a value that went down (a restarted
//! Tempo, or a changed `process_start_time_seconds`) counts as a new start from zero, never
//! as a negative increase; a series that was absent counts from zero (Tempo creates a
//! labelled series only at its first event). A failed poll adds nothing: the next good poll's
//! increase spans the gap, and windows prorate entries that straddle their start.
//!
//! Status uses the short window — the last poll, or the last two when the last saw nothing
//! — so total refusal shows within two polls and so does recovery; ratios and rates use the
//! long `window`. Time comes from tokio's clock so tests can pause it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crate::config::Config;
use crate::model::counter::{self, Increases, StageCounts};
use crate::model::software::{Generation, Software};
use crate::model::stage;
use crate::model::stage::{Role, Stage, StageStatus};
use crate::source::page::{Reading, RingGauge, SeriesKey};
use crate::source::scrape::ScrapeError;
use crate::source::tempo::TempoEvidence;

/// The result of polling one target once.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    pub target: usize,
    pub at: Instant,
    pub wall: SystemTime,
    pub duration: Duration,
    pub result: Result<Reading, ScrapeError>,
}

/// At most this many series per target are remembered between polls; the rest of a page
/// (a misconfigured app selector matching thousands of series) is not tracked.
const MAX_SERIES_PER_TARGET: usize = 10_000;

/// Everything spanflow knows about one target.
#[derive(Debug)]
pub struct TargetState {
    pub name: String,
    pub role: Role,
    pub url: String,
    previous: Option<PreviousPoll>,
    history: VecDeque<PollIncrease>,
    capacity: usize,
    window: Duration,
    /// `over_window(window)` as of the latest poll: it changes only when a poll lands, so
    /// it is summed once then rather than on every derive for every stage.
    window_sum: (Increases, f64),
    /// The last two polls' increases summed, kept for the same reason (judging a stage on
    /// its recent polls, and the diagnosis's totals, read it for every target per derive).
    last_two_sum: Option<Increases>,
    pub up: Option<bool>,
    pub last_duration: Option<Duration>,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<ScrapeError>,
    pub errors_total: BTreeMap<&'static str, u64>,
    pub software: Software,
    pub recognised: bool,
    pub queue_fill_ratio: Option<f64>,
    /// From the last good poll only: stale evidence is dropped, never shown as fresh.
    pub ring_gauges: Vec<RingGauge>,
    pub tempo: Option<Arc<TempoEvidence>>,
    /// The target as snapshots show it, built when a poll lands (none before the first):
    /// every derive shares it rather than cloning each target's names, errors and ring
    /// gauges again.
    report: Option<Arc<TargetReport>>,
}

#[derive(Debug)]
struct PreviousPoll {
    at: Instant,
    values: HashMap<SeriesKey, f64>,
    process_start: Option<f64>,
}

#[derive(Debug, Clone)]
struct PollIncrease {
    start: Instant,
    end: Instant,
    increases: Increases,
}

impl TargetState {
    fn capacity_for(poll_interval: Duration, window: Duration) -> usize {
        (window.as_secs_f64() / poll_interval.as_secs_f64()).ceil() as usize + 2
    }

    /// Whether this state can carry on for a target of a new configuration: same name,
    /// role and URL, the same window and the same history size (poll interval).
    pub fn continues(
        &self,
        name: &str,
        role: Role,
        url: &str,
        poll_interval: Duration,
        window: Duration,
    ) -> bool {
        self.name == name
            && self.role == role
            && self.url == url
            && self.window == window
            && self.capacity == TargetState::capacity_for(poll_interval, window)
    }

    pub fn new(
        name: String,
        role: Role,
        url: String,
        poll_interval: Duration,
        window: Duration,
    ) -> TargetState {
        let capacity = TargetState::capacity_for(poll_interval, window);
        let mut errors_total = BTreeMap::new();
        for reason in ScrapeError::REASONS {
            errors_total.insert(reason, 0);
        }
        TargetState {
            name,
            role,
            url,
            previous: None,
            history: VecDeque::with_capacity(capacity),
            capacity,
            window,
            window_sum: (Increases::default(), 0.0),
            last_two_sum: None,
            up: None,
            last_duration: None,
            last_success: None,
            last_error: None,
            errors_total,
            software: Software::default(),
            recognised: false,
            queue_fill_ratio: None,
            ring_gauges: Vec::new(),
            tempo: None,
            report: None,
        }
    }

    /// Takes in one poll.
    pub fn record(&mut self, outcome: PollOutcome) {
        self.last_duration = Some(outcome.duration);
        match outcome.result {
            Err(e) => {
                self.up = Some(false);
                *self.errors_total.entry(e.reason()).or_default() += 1;
                self.last_error = Some(e);
                // Values read before the failure are not fresh any more.
                self.queue_fill_ratio = None;
                self.ring_gauges.clear();
                self.tempo = None;
            }
            Ok(mut reading) => {
                self.up = Some(true);
                self.last_error = None;
                self.last_success = Some(outcome.wall);
                self.recognised = reading.recognised;
                self.queue_fill_ratio = reading.queue_fill_ratio;
                self.ring_gauges = std::mem::take(&mut reading.ring_gauges);
                self.tempo = reading.tempo.take().map(Arc::new);
                if reading.software.version.is_some()
                    || self.software.generation == Generation::Unknown
                {
                    self.software = reading.software.clone();
                }
                self.add_increase(outcome.at, reading);
            }
        }
        self.report = Some(Arc::new(target_report(self)));
    }

    fn add_increase(&mut self, at: Instant, reading: Reading) {
        let mut values: HashMap<SeriesKey, f64> =
            HashMap::with_capacity(reading.series.len().min(MAX_SERIES_PER_TARGET));
        for (key, value) in reading.series {
            if values.len() >= MAX_SERIES_PER_TARGET && !values.contains_key(&key) {
                continue;
            }
            // The page reader refuses repeated series and counters that are not finite
            // counts; the clamp keeps the rates non-negative whatever a reading holds. A
            // hash collision between two series keeps the last value.
            values.insert(key, value.max(0.0));
        }
        if let Some(previous) = &self.previous {
            let restarted = matches!((previous.process_start, reading.process_start), (Some(a), Some(b)) if a != b);
            let mut increases = Increases::default();
            for (key, &now) in &values {
                let increase = match previous.values.get(key) {
                    Some(&before) if now >= before && !restarted => now - before,
                    // A counter that went down, a restart, or a new series: events since zero.
                    _ => now,
                };
                if !increase.is_finite() {
                    continue;
                }
                match key {
                    SeriesKey::Counter(c, _) => increases.counters[*c as usize] += increase,
                    SeriesKey::Discarded(reason, _) => {
                        *increases.discarded.entry(reason.clone()).or_default() += increase
                    }
                }
            }
            if self.history.len() == self.capacity {
                self.history.pop_front();
            }
            self.history.push_back(PollIncrease {
                start: previous.at,
                end: at,
                increases,
            });
        }
        self.previous = Some(PreviousPoll {
            at,
            values,
            process_start: reading.process_start,
        });
        self.window_sum = self.over_window(self.window);
        self.last_two_sum = self.sum_of_last(2);
    }

    /// The sum of the last `polls` increases, or `None` when fewer exist.
    fn sum_of_last(&self, polls: usize) -> Option<Increases> {
        if self.history.len() < polls {
            return None;
        }
        let mut sum = Increases::default();
        for entry in self.history.iter().rev().take(polls) {
            sum.add(&entry.increases, 1.0);
        }
        Some(sum)
    }

    /// The increases of the last poll (`polls` = 1) or the last two summed (`polls` = 2),
    /// or `None` when fewer exist. Stages are judged on no more recent polls than two.
    fn last_polls(&self, polls: usize) -> Option<&Increases> {
        match polls {
            1 => self.history.back().map(|e| &e.increases),
            2 => self.last_two_sum.as_ref(),
            _ => None,
        }
    }

    /// Increases over the configured window that ends at the latest poll, and the seconds
    /// it covers (less than the window while history is still short).
    pub(crate) fn window_sum(&self) -> &(Increases, f64) {
        &self.window_sum
    }

    /// Increases over the `window` that ends at the latest poll, and the seconds it covers
    /// (less than `window` while history is still short).
    fn over_window(&self, window: Duration) -> (Increases, f64) {
        let mut sum = Increases::default();
        let Some(last) = self.history.back() else {
            return (sum, 0.0);
        };
        let oldest = self.history.front().map_or(last.start, |e| e.start);
        let from = last.end.checked_sub(window).unwrap_or(oldest).max(oldest);
        let mut covered_from = last.end;
        for entry in self.history.iter().rev() {
            if entry.end <= from {
                break;
            }
            let span = entry.end.duration_since(entry.start).as_secs_f64();
            let start = entry.start.max(from);
            let inside = entry.end.duration_since(start).as_secs_f64();
            let factor = if span > 0.0 { inside / span } else { 1.0 };
            sum.add(&entry.increases, factor);
            covered_from = start;
        }
        (sum, last.end.duration_since(covered_from).as_secs_f64())
    }
}

/// What the targets' histories say, computed at once from every target's state: stages,
/// verdict, targets. `diagnose` reads it; `snapshot::Snapshot` is it plus the causes.
#[derive(Debug, Clone, Serialize)]
pub struct Derived {
    /// Unix time of the derive.
    pub generated_unix: f64,
    #[serde(skip)]
    pub generated_at: Instant,
    pub window_seconds: f64,
    /// The verdict in one word (see [`Verdict`]).
    pub verdict: Verdict,
    /// No stage is failing, degraded or unknown (idle counts as healthy).
    pub healthy: bool,
    /// Every stage is idle: nothing in the window shows that the pipeline works.
    pub idle: bool,
    pub blocked_stage: Option<Stage>,
    pub stages: Vec<StageReport>,
    /// Tempo's discards per reason over the window, in spans per second.
    pub discarded_per_second: BTreeMap<String, f64>,
    pub targets: Vec<Arc<TargetReport>>,
    /// The Tempo architecture the stage list was chosen for.
    pub tempo_generation: Generation,
}

/// The pipeline's verdict, from its stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every stage ok or idle, and at least one ok: spans pass.
    Healthy,
    /// Every stage idle: no traffic in the window, so nothing shows the pipeline works.
    Idle,
    /// A stage is failing: spans stop at the blocked stage.
    Blocked,
    /// A stage is degraded or unknown.
    NotHealthy,
}

impl Verdict {
    /// The verdict as a sentence, for the status page and `spanflow diagnose`.
    pub fn headline(self, blocked: Option<Stage>) -> String {
        match (self, blocked) {
            (Verdict::Healthy, _) => "Pipeline healthy".to_owned(),
            (Verdict::Idle, _) => {
                "No traffic in the window — nothing shows the pipeline works".to_owned()
            }
            (Verdict::Blocked, Some(stage)) => format!("Spans stop at {}", stage.as_str()),
            (Verdict::Blocked | Verdict::NotHealthy, _) => "Pipeline not healthy".to_owned(),
        }
    }
}

impl Derived {
    /// Sets the blocked stage, `healthy`, `idle` and the verdict from the stages' statuses.
    /// The blocked stage is where spans stop: the last of the first run of failing stages.
    /// A refusal travels upstream, so the deepest failing stage of the run is the cause.
    pub fn judge_pipeline(&mut self) {
        self.blocked_stage = self
            .stages
            .iter()
            .skip_while(|s| s.status != StageStatus::Failing)
            .take_while(|s| s.status == StageStatus::Failing)
            .last()
            .map(|s| s.stage);
        self.healthy = self
            .stages
            .iter()
            .all(|s| matches!(s.status, StageStatus::Ok | StageStatus::Idle));
        self.idle =
            !self.stages.is_empty() && self.stages.iter().all(|s| s.status == StageStatus::Idle);
        self.verdict = if self.blocked_stage.is_some() {
            Verdict::Blocked
        } else if self.idle {
            Verdict::Idle
        } else if self.healthy {
            Verdict::Healthy
        } else {
            Verdict::NotHealthy
        };
    }
}

/// Counter increases summed over every target: over the last one or two polls (what is
/// happening now, as stage status uses) and over the window (the numbers shown).
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub recent: Increases,
    pub window: Increases,
    pub window_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: Stage,
    pub status: StageStatus,
    /// Why the status is what it is, in words.
    pub reason: String,
    /// What the counts count (spans, push requests, block flushes…).
    pub unit: &'static str,
    /// Absent, like the rates, while the stage is `unknown` because a member target is
    /// down, unrecognised or not polled twice: the window's last good values are history,
    /// not the present, and are not shown as if they were.
    pub success_ratio: Option<f64>,
    pub success_per_second: Option<f64>,
    pub failure_per_second: Option<f64>,
    /// The counts the status was judged on.
    pub judged: Judged,
}

impl StageReport {
    /// The rates in words, for the status page and `spanflow diagnose`.
    pub fn rates_text(&self) -> String {
        match (self.success_per_second, self.failure_per_second) {
            (Some(ok), Some(bad)) => format!("{ok:>8.2} ok/s {bad:>8.2} failed/s  {}", self.unit),
            _ => "no current rate".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Judged {
    pub success: f64,
    pub failure: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub role: Role,
    pub url: String,
    pub up: bool,
    pub version: Option<String>,
    pub mode: Option<&'static str>,
    pub last_scrape_duration_seconds: Option<f64>,
    pub last_success_unix: Option<f64>,
    pub last_error: Option<String>,
    pub scrape_errors_total: BTreeMap<&'static str, u64>,
    /// The reason of the last poll's error (`timeout`, `connect`, …), and its HTTP status.
    pub error_reason: Option<&'static str>,
    pub http_status: Option<u16>,
    pub queue_fill_ratio: Option<f64>,
    pub ring_gauges: Vec<RingGauge>,
    /// Tempo's status endpoints and probes (Tempo targets, after a good poll).
    pub tempo: Option<Arc<TempoEvidence>>,
}

/// Computes the pipeline's state from every target's state, and the counter totals
/// diagnosis reads.
pub fn derive(
    config: &Config,
    targets: &[TargetState],
    now: Instant,
    wall: SystemTime,
) -> (Derived, Totals) {
    let mut roles: Vec<Role> = targets.iter().map(|t| t.role).collect();
    roles.sort();
    roles.dedup();
    let generation = targets
        .iter()
        .filter(|t| t.role == Role::Tempo)
        .map(|t| t.software.generation)
        .find(|g| *g != Generation::Unknown)
        .unwrap_or_default();

    let mut stages = Vec::new();
    for stage in stage::stages_for(&roles, generation) {
        let members: Vec<&TargetState> =
            targets.iter().filter(|t| t.role == stage.role()).collect();
        stages.push(judge_stage(config, stage, &members, generation));
    }

    let mut discarded_per_second = BTreeMap::new();
    let mut totals = Totals::default();
    for t in targets {
        let (inc, seconds) = t.window_sum();
        let seconds = *seconds;
        totals.window.add(inc, 1.0);
        totals.window_seconds = totals.window_seconds.max(seconds);
        if let Some(recent) = t.last_polls(2).or_else(|| t.last_polls(1)) {
            totals.recent.add(recent, 1.0);
        }
        if t.role != Role::Tempo || seconds <= 0.0 {
            continue;
        }
        for (reason, v) in &inc.discarded {
            *discarded_per_second.entry(reason.clone()).or_insert(0.0) += v / seconds;
        }
    }

    let mut derived = Derived {
        generated_unix: unix(wall),
        generated_at: now,
        window_seconds: config.window.as_secs_f64(),
        verdict: Verdict::NotHealthy,
        healthy: false,
        idle: false,
        blocked_stage: None,
        stages,
        discarded_per_second,
        targets: targets
            .iter()
            .map(|t| {
                t.report
                    .clone()
                    .unwrap_or_else(|| Arc::new(target_report(t)))
            })
            .collect(),
        tempo_generation: generation,
    };
    derived.judge_pipeline();
    (derived, totals)
}

fn judge_stage(
    config: &Config,
    stage: Stage,
    members: &[&TargetState],
    generation: Generation,
) -> StageReport {
    let thresholds = config.thresholds(stage);
    let mut long = StageCounts::default();
    let mut long_seconds = 0.0f64;
    let mut success_rate = 0.0;
    let mut failure_rate = 0.0;
    for t in members {
        let (inc, seconds) = t.window_sum();
        let seconds = *seconds;
        let counts = counter::stage_counts(stage, inc, generation);
        long.success += counts.success;
        long.failure += counts.failure;
        if seconds > 0.0 {
            success_rate += counts.success / seconds;
            failure_rate += counts.failure / seconds;
            long_seconds = long_seconds.max(seconds);
        }
    }

    let nothing = Judged {
        success: 0.0,
        failure: 0.0,
        seconds: 0.0,
    };
    let report = |status: StageStatus, reason: String, judged: Judged| StageReport {
        stage,
        status,
        reason,
        unit: stage.unit(),
        success_ratio: long.ratio(),
        success_per_second: Some(success_rate),
        failure_per_second: Some(failure_rate),
        judged,
    };
    let unmeasured = |reason: String| StageReport {
        success_ratio: None,
        success_per_second: None,
        failure_per_second: None,
        ..report(StageStatus::Unknown, reason, nothing)
    };

    // Unknown: a member is down, serves something else, or has not been polled twice.
    for t in members {
        match t.up {
            None => {
                return unmeasured(format!("target {} not polled yet", t.name));
            }
            Some(false) => {
                let why = t
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |e| format!(": {e}"));
                return unmeasured(format!("target {} is down{why}", t.name));
            }
            Some(true) if !t.recognised => {
                return unmeasured(format!(
                    "target {} does not look like a {} (none of its families)",
                    t.name,
                    t.role.as_str()
                ));
            }
            Some(true) if t.history.is_empty() => {
                return unmeasured(format!(
                    "target {} polled once; a rate needs two polls",
                    t.name
                ));
            }
            Some(true) => {}
        }
    }

    let (judged, over) = if stage::judged_over_long_window(stage) {
        (
            Judged {
                success: long.success,
                failure: long.failure,
                seconds: long_seconds,
            },
            "the window",
        )
    } else {
        let short = |polls: usize| {
            let mut counts = StageCounts::default();
            let mut seconds = 0.0f64;
            for t in members {
                if let Some(inc) = t.last_polls(polls) {
                    let c = counter::stage_counts(stage, inc, generation);
                    counts.success += c.success;
                    counts.failure += c.failure;
                    let span = t.history.iter().rev().take(polls);
                    seconds = seconds.max(
                        span.map(|e| e.end.duration_since(e.start).as_secs_f64())
                            .sum(),
                    );
                }
            }
            Judged {
                success: counts.success,
                failure: counts.failure,
                seconds,
            }
        };
        let last = short(1);
        if last.success + last.failure > 0.0 {
            (last, "the last poll")
        } else {
            (short(2), "the last two polls")
        }
    };

    let events = judged.success + judged.failure;
    let unit = stage.unit();
    if events <= 0.0 {
        return report(StageStatus::Idle, format!("no {unit} in {over}"), judged);
    }
    let ratio = judged.success / events;
    let summary = format!(
        "{} of {} {unit} succeeded in {over}",
        round(judged.success),
        round(events)
    );
    let status = if ratio <= thresholds.failing_below {
        StageStatus::Failing
    } else if ratio < thresholds.degraded_below {
        StageStatus::Degraded
    } else {
        StageStatus::Ok
    };
    report(status, summary, judged)
}

fn round(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn target_report(t: &TargetState) -> TargetReport {
    TargetReport {
        name: t.name.clone(),
        role: t.role,
        url: t.url.clone(),
        up: t.up == Some(true),
        version: t.software.version.clone(),
        mode: t.software.mode,
        last_scrape_duration_seconds: t.last_duration.map(|d| d.as_secs_f64()),
        last_success_unix: t.last_success.map(unix),
        last_error: t.last_error.as_ref().map(|e| e.to_string()),
        scrape_errors_total: t.errors_total.clone(),
        error_reason: t.last_error.as_ref().map(ScrapeError::reason),
        http_status: match t.last_error {
            Some(ScrapeError::HttpStatus { status, .. }) => Some(status),
            _ => None,
        },
        queue_fill_ratio: t.queue_fill_ratio,
        ring_gauges: t.ring_gauges.clone(),
        tempo: t.tempo.clone(),
    }
}

#[cfg(test)]
mod tests;
