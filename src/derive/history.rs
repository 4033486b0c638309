//! Each target's history: the raw values of its last good poll and a fixed-size ring of
//! per-poll counter increases, from which windows are summed.
//!
//! Input: one [`PollOutcome`] per poll of the target. Output: increases over the last one or
//! two polls and over the window, and the target as snapshots show it ([`TargetReport`]).
//! A value that went down (a restarted Tempo, or a changed `process_start_time_seconds`)
//! counts as a new start from zero, never as a negative increase; a series that was absent
//! counts from zero. Memory does not grow with time. It never judges a stage.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::TargetReport;
use crate::model::counter::Increases;
use crate::model::software::{Generation, Software};
use crate::model::stage::Role;
use crate::source::page::{Reading, RingGauge, SeriesKey};
use crate::source::prometheus::QueryError;
use crate::source::scrape::ScrapeError;
use crate::source::tempo::TempoEvidence;

/// The result of polling one target once.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    /// The engine's id of the instance polled.
    pub instance: u64,
    pub at: Instant,
    pub wall: SystemTime,
    pub duration: Duration,
    pub result: Result<Reading, ScrapeError>,
}

/// Why a poll of a target (or a store's role) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    #[error("query failed: {0}")]
    Query(#[from] QueryError),
}

impl PollError {
    /// The `reason` label value.
    pub fn reason(&self) -> &'static str {
        match self {
            PollError::Scrape(e) => e.reason(),
            PollError::Query(e) => e.reason(),
        }
    }

    fn http_status(&self) -> Option<u16> {
        match self {
            PollError::Scrape(ScrapeError::HttpStatus { status, .. })
            | PollError::Query(QueryError::Fetch(ScrapeError::HttpStatus { status, .. }))
            | PollError::Query(QueryError::HttpStatus { status, .. })
            | PollError::Query(QueryError::Api { status, .. }) => Some(*status),
            _ => None,
        }
    }
}

/// One role's counters as a metrics store answered them for one poll: increases over the
/// window and over the status window, already computed by the store's query engine.
#[derive(Debug, Clone)]
pub struct StoreRecord {
    pub window: Increases,
    pub window_seconds: f64,
    pub recent: Increases,
    pub recent_seconds: f64,
    pub software: Software,
    pub recognised: bool,
    pub ring_gauges: Vec<RingGauge>,
    pub queue_fill_ratio: Option<f64>,
    pub in_flight_requests: Option<f64>,
    pub partition_lag_seconds: Option<f64>,
    pub tempo: Option<Arc<TempoEvidence>>,
}

/// At most this many series per target are remembered between polls; the rest of a page
/// (a misconfigured app selector matching thousands of series) is not tracked.
const MAX_SERIES_PER_TARGET: usize = 10_000;

/// Everything spanflow knows about one target.
#[derive(Debug)]
pub struct TargetState {
    /// Index into the configuration's pipelines.
    pub pipeline: usize,
    pub name: String,
    /// `host:port` of the instance.
    pub address: String,
    /// Found by the target's discovery: while others of the target can be judged, this
    /// one being down or new does not make its stage unknown.
    pub discovered: bool,
    /// A role of a store-sourced pipeline: its increases come from the store's query
    /// engine ([`TargetState::record_store`]), not from pages.
    pub from_store: bool,
    pub role: Role,
    pub url: String,
    previous: Option<PreviousPoll>,
    pub(super) history: VecDeque<PollIncrease>,
    pub(super) capacity: usize,
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
    pub last_error: Option<PollError>,
    pub errors_total: BTreeMap<&'static str, u64>,
    pub software: Software,
    pub recognised: bool,
    pub queue_fill_ratio: Option<f64>,
    pub in_flight_requests: Option<f64>,
    pub partition_lag_seconds: Option<f64>,
    /// From the last good poll only: stale evidence is dropped, never shown as fresh.
    pub ring_gauges: Vec<RingGauge>,
    pub tempo: Option<Arc<TempoEvidence>>,
    /// The target as snapshots show it, built when a poll lands (none before the first):
    /// every derive shares it rather than cloning each target's names, errors and ring
    /// gauges again.
    pub(super) report: Option<Arc<TargetReport>>,
}

#[derive(Debug)]
struct PreviousPoll {
    at: Instant,
    values: HashMap<SeriesKey, f64>,
    process_start: Option<f64>,
}

#[derive(Debug, Clone)]
pub(super) struct PollIncrease {
    pub(super) start: Instant,
    pub(super) end: Instant,
    increases: Increases,
}

impl TargetState {
    fn capacity_for(poll_interval: Duration, window: Duration) -> usize {
        (window.as_secs_f64() / poll_interval.as_secs_f64()).ceil() as usize + 2
    }

    /// Whether this state can carry on for an instance of a new configuration: same
    /// pipeline name, target name, role and URL, the same window and the same history
    /// size (poll interval).
    pub fn continues(
        &self,
        same_pipeline: bool,
        target: &crate::config::Target,
        url: &str,
        poll_interval: Duration,
        window: Duration,
    ) -> bool {
        same_pipeline
            && self.name == target.name
            && self.role == target.role
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
        let address = reqwest::Url::parse(&url)
            .map(|u| crate::config::address_of(&u))
            .unwrap_or_default();
        TargetState {
            pipeline: 0,
            name,
            address,
            discovered: false,
            from_store: false,
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
            in_flight_requests: None,
            partition_lag_seconds: None,
            ring_gauges: Vec::new(),
            tempo: None,
            report: None,
        }
    }

    /// A failed poll: down, counted by reason; values read before it are not fresh any more.
    fn failed(&mut self, e: PollError) {
        self.up = Some(false);
        *self.errors_total.entry(e.reason()).or_default() += 1;
        self.last_error = Some(e);
        self.queue_fill_ratio = None;
        self.in_flight_requests = None;
        self.partition_lag_seconds = None;
        self.ring_gauges.clear();
        self.tempo = None;
    }

    /// Takes in one poll.
    pub fn record(&mut self, outcome: PollOutcome) {
        self.last_duration = Some(outcome.duration);
        match outcome.result {
            Err(e) => self.failed(e.into()),
            Ok(mut reading) => {
                self.up = Some(true);
                self.last_error = None;
                self.last_success = Some(outcome.wall);
                self.recognised = reading.recognised;
                self.queue_fill_ratio = reading.queue_fill_ratio;
                self.in_flight_requests = reading.in_flight_requests;
                self.partition_lag_seconds = reading.partition_lag_seconds;
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

    /// Takes in one poll of a store: the store computed the increases (and handled counter
    /// resets), so the history holds this poll's alone — the status window as the last poll,
    /// the window as the window — and nothing is carried between polls.
    pub fn record_store(
        &mut self,
        at: Instant,
        wall: SystemTime,
        duration: Duration,
        result: Result<StoreRecord, QueryError>,
    ) {
        self.last_duration = Some(duration);
        self.history.clear();
        match result {
            Err(e) => {
                self.failed(e.into());
                self.window_sum = (Increases::default(), 0.0);
                self.last_two_sum = None;
            }
            Ok(record) => {
                self.up = Some(true);
                self.last_error = None;
                self.last_success = Some(wall);
                self.recognised = record.recognised;
                self.software = record.software;
                self.queue_fill_ratio = record.queue_fill_ratio;
                self.in_flight_requests = record.in_flight_requests;
                self.partition_lag_seconds = record.partition_lag_seconds;
                self.ring_gauges = record.ring_gauges;
                self.tempo = record.tempo;
                let start = at
                    .checked_sub(Duration::from_secs_f64(record.recent_seconds))
                    .unwrap_or(at);
                self.history.push_back(PollIncrease {
                    start,
                    end: at,
                    increases: record.recent.clone(),
                });
                self.window_sum = (record.window, record.window_seconds);
                self.last_two_sum = Some(record.recent);
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
                add_series(&mut increases, key, increase);
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
    pub(super) fn sum_of_last(&self, polls: usize) -> Option<Increases> {
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
    pub(super) fn last_polls(&self, polls: usize) -> Option<&Increases> {
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
    pub(super) fn over_window(&self, window: Duration) -> (Increases, f64) {
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

/// Adds one series' increase to the counters (and its tenant's, when it names one).
fn add_series(increases: &mut Increases, key: &SeriesKey, increase: f64) {
    match key {
        SeriesKey::Counter(c, _) => increases.counters[*c as usize] += increase,
        SeriesKey::TenantReceived(c, tenant, _) => {
            increases.counters[*c as usize] += increase;
            increases.tenant_mut(tenant).received += increase;
        }
        SeriesKey::CounterByLabel(c, reason, _) => {
            increases.counters[*c as usize] += increase;
            increases.add_by_label(*c, reason, increase);
        }
        SeriesKey::Discarded { reason, tenant, .. } => {
            *increases.discarded.entry(reason.clone()).or_default() += increase;
            if let Some(tenant) = tenant {
                increases.tenant_mut(tenant).add_discarded(reason, increase);
            }
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub(super) fn target_report(t: &TargetState) -> TargetReport {
    TargetReport {
        name: t.name.clone(),
        address: t.address.clone(),
        discovered: t.discovered,
        role: t.role,
        url: t.url.clone(),
        up: t.up == Some(true),
        version: t.software.version.clone(),
        mode: t.software.mode,
        last_scrape_duration_seconds: t.last_duration.map(|d| d.as_secs_f64()),
        last_success_unix: t.last_success.map(unix),
        last_error: t.last_error.as_ref().map(|e| e.to_string()),
        scrape_errors_total: t.errors_total.clone(),
        error_reason: t.last_error.as_ref().map(PollError::reason),
        http_status: t.last_error.as_ref().and_then(PollError::http_status),
        queue_fill_ratio: t.queue_fill_ratio,
        in_flight_requests: t.in_flight_requests,
        partition_lag_seconds: t.partition_lag_seconds,
        ring_gauges: t.ring_gauges.clone(),
        tempo: t.tempo.clone(),
    }
}
