//! A pipeline's canary: what became of the traces written at its entry, and the `canary`
//! stage judged from them.
//!
//! Input: one [`CanaryEvent`] per write that failed, per trace whose outcome became known
//! (found, incomplete, missing) and per failed read. Output: the cumulative counts and the
//! latency histogram the metrics expose, and per derive the `canary` stage — success the
//! traces found, failure the others, over the traces whose outcome became known in the
//! window — with a [`CanaryReport`] of latencies and errors for diagnosis. Memory is bounded
//! by the outcomes of one window. It never writes or reads a trace.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::{Judged, StageReport, unix};
use crate::config::Thresholds;
use crate::model::stage::{Stage, StageStatus};

/// What became of one canary trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryResult {
    Found,
    Incomplete,
    Missing,
    WriteFailed,
}

impl CanaryResult {
    pub const ALL: [CanaryResult; 4] = [
        CanaryResult::Found,
        CanaryResult::Incomplete,
        CanaryResult::Missing,
        CanaryResult::WriteFailed,
    ];

    /// The `result` label of `spanflow_canary_traces_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            CanaryResult::Found => "found",
            CanaryResult::Incomplete => "incomplete",
            CanaryResult::Missing => "missing",
            CanaryResult::WriteFailed => "write_failed",
        }
    }
}

/// What the canary task reports.
#[derive(Debug, Clone)]
pub enum CanaryEvent {
    /// A trace's outcome became known; `latency` from the accepted write to found.
    Outcome {
        result: CanaryResult,
        latency: Option<Duration>,
        /// Why it failed, for a write: the reason (`WriteError::REASONS`) and the message
        /// (status or gRPC code and what the entry said).
        error: Option<(&'static str, String)>,
    },
    /// A read of Tempo's query API failed (it is retried until the trace's timeout).
    QueryError {
        reason: &'static str,
        message: String,
    },
}

/// Upper bounds of the latency histogram: 0.25 s to 256 s, doubling.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0,
];

/// Cumulative write-accepted → found latencies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyHistogram {
    /// Per bound of [`LATENCY_BUCKETS`], the observations at or below it.
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl LatencyHistogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, n) in LATENCY_BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The canary of one pipeline, as the runner keeps it.
#[derive(Debug)]
pub struct CanaryState {
    /// Outcomes known within the last window: (when, result, latency in seconds).
    recent: VecDeque<(Instant, CanaryResult, Option<f64>)>,
    /// Failed reads within the last window, with their message.
    recent_query_errors: VecDeque<(Instant, String)>,
    window: Duration,
    pub slow_after: Duration,
    pub timeout: Duration,
    pub traces_total: BTreeMap<&'static str, u64>,
    pub query_errors_total: BTreeMap<&'static str, u64>,
    pub write_errors_total: BTreeMap<&'static str, u64>,
    pub latency: LatencyHistogram,
    pub last_found: Option<SystemTime>,
    pub last_write_error: Option<String>,
}

/// The canary as a snapshot shows it and diagnosis reads it.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    /// Outcomes known in the window, by result.
    pub found: u64,
    pub incomplete: u64,
    pub missing: u64,
    pub write_failed: u64,
    /// Failed reads of Tempo's query API in the window.
    pub query_errors: u64,
    pub last_query_error: Option<String>,
    pub last_write_error: Option<String>,
    /// Over the traces found in the window.
    pub p50_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub slow_after_seconds: f64,
    pub timeout_seconds: f64,
    pub last_found_unix: Option<f64>,
    /// Cumulative, for the metrics.
    pub traces_total: BTreeMap<&'static str, u64>,
    pub query_errors_total: BTreeMap<&'static str, u64>,
    pub write_errors_total: BTreeMap<&'static str, u64>,
    pub latency: LatencyHistogram,
}

impl CanaryState {
    pub fn new(window: Duration, slow_after: Duration, timeout: Duration) -> CanaryState {
        CanaryState {
            recent: VecDeque::new(),
            recent_query_errors: VecDeque::new(),
            window,
            slow_after,
            timeout,
            traces_total: CanaryResult::ALL.iter().map(|r| (r.as_str(), 0)).collect(),
            query_errors_total: crate::source::canary::ReadOutcome::REASONS
                .iter()
                .map(|r| (*r, 0))
                .collect(),
            write_errors_total: crate::source::canary::WriteError::REASONS
                .iter()
                .map(|r| (*r, 0))
                .collect(),
            latency: LatencyHistogram::default(),
            last_found: None,
            last_write_error: None,
        }
    }

    /// Takes in one event, known at `at`.
    pub fn record(&mut self, event: CanaryEvent, at: Instant, wall: SystemTime) {
        match event {
            CanaryEvent::Outcome {
                result,
                latency,
                error,
            } => {
                *self.traces_total.entry(result.as_str()).or_default() += 1;
                let seconds = latency.map(|l| l.as_secs_f64());
                if result == CanaryResult::Found {
                    if let Some(s) = seconds {
                        self.latency.observe(s);
                    }
                    self.last_found = Some(wall);
                }
                if let (CanaryResult::WriteFailed, Some((reason, message))) = (result, error) {
                    *self.write_errors_total.entry(reason).or_default() += 1;
                    self.last_write_error = Some(message);
                }
                self.recent.push_back((at, result, seconds));
            }
            CanaryEvent::QueryError { reason, message } => {
                *self.query_errors_total.entry(reason).or_default() += 1;
                self.recent_query_errors.push_back((at, message));
            }
        }
        self.forget_before(at);
    }

    fn forget_before(&mut self, now: Instant) {
        let Some(from) = now.checked_sub(self.window) else {
            return;
        };
        while self.recent.front().is_some_and(|(t, ..)| *t < from) {
            self.recent.pop_front();
        }
        while self
            .recent_query_errors
            .front()
            .is_some_and(|(t, _)| *t < from)
        {
            self.recent_query_errors.pop_front();
        }
    }

    /// The report over the window ending at `now`.
    pub fn report(&self, now: Instant) -> CanaryReport {
        let from = now.checked_sub(self.window);
        let inside = |t: &Instant| from.is_none_or(|f| *t >= f);
        let count = |r: CanaryResult| {
            self.recent
                .iter()
                .filter(|(t, result, _)| inside(t) && *result == r)
                .count() as u64
        };
        let mut latencies: Vec<f64> = self
            .recent
            .iter()
            .filter(|(t, r, _)| inside(t) && *r == CanaryResult::Found)
            .filter_map(|(_, _, l)| *l)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            (!latencies.is_empty()).then(|| {
                let at = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
                latencies[at - 1]
            })
        };
        let errors: Vec<&(Instant, String)> = self
            .recent_query_errors
            .iter()
            .filter(|(t, _)| inside(t))
            .collect();
        CanaryReport {
            found: count(CanaryResult::Found),
            incomplete: count(CanaryResult::Incomplete),
            missing: count(CanaryResult::Missing),
            write_failed: count(CanaryResult::WriteFailed),
            query_errors: errors.len() as u64,
            last_query_error: errors.last().map(|(_, m)| m.clone()),
            last_write_error: self.last_write_error.clone(),
            p50_seconds: quantile(0.5),
            p90_seconds: quantile(0.9),
            slow_after_seconds: self.slow_after.as_secs_f64(),
            timeout_seconds: self.timeout.as_secs_f64(),
            last_found_unix: self.last_found.map(unix),
            traces_total: self.traces_total.clone(),
            query_errors_total: self.query_errors_total.clone(),
            write_errors_total: self.write_errors_total.clone(),
            latency: self.latency.clone(),
        }
    }
}

impl CanaryReport {
    /// The `canary` stage: found over every outcome known in the window, by the usual
    /// thresholds; idle while no outcome is known.
    pub fn stage(&self, thresholds: Thresholds, window_seconds: f64) -> StageReport {
        let success = self.found as f64;
        let failure = (self.incomplete + self.missing + self.write_failed) as f64;
        let events = success + failure;
        let (status, reason) = if events <= 0.0 {
            (
                StageStatus::Idle,
                "no canary outcome known in the window yet".to_owned(),
            )
        } else {
            let ratio = success / events;
            let status = thresholds.status_of(ratio);
            let mut reason = format!(
                "{} of {} canary traces found in the window",
                self.found, events
            );
            if let Some(p90) = self.p90_seconds {
                reason.push_str(&format!(" (p90 {p90:.1} s from write to queryable)"));
            }
            for (n, what) in [
                (self.missing, "missing"),
                (self.incomplete, "incomplete"),
                (self.write_failed, "not written"),
            ] {
                if n > 0 {
                    reason.push_str(&format!("; {n} {what}"));
                }
            }
            (status, reason)
        };
        let per_second = |n: f64| (window_seconds > 0.0).then(|| n / window_seconds);
        StageReport {
            stage: Stage::Canary,
            status,
            reason,
            unit: Stage::Canary.unit(),
            success_ratio: (events > 0.0).then(|| success / events),
            success_per_second: per_second(success),
            failure_per_second: per_second(failure),
            judged: Judged {
                success,
                failure,
                seconds: window_seconds,
            },
            since_unix: None,
            since_first_seen: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(s: &mut CanaryState, at: Instant, seconds: f64) {
        s.record(
            CanaryEvent::Outcome {
                result: CanaryResult::Found,
                latency: Some(Duration::from_secs_f64(seconds)),
                error: None,
            },
            at,
            SystemTime::now(),
        );
    }

    #[test]
    fn outcomes_in_the_window_judge_the_stage_and_latencies_fill_the_histogram() {
        let t0 = Instant::now();
        let mut s = CanaryState::new(
            Duration::from_secs(60),
            Duration::from_secs(30),
            Duration::from_secs(120),
        );
        for (i, l) in [0.3, 0.6, 1.2, 3.0, 40.0].iter().enumerate() {
            found(&mut s, t0 + Duration::from_secs(i as u64), *l);
        }
        s.record(
            CanaryEvent::Outcome {
                result: CanaryResult::Missing,
                latency: None,
                error: None,
            },
            t0 + Duration::from_secs(10),
            SystemTime::now(),
        );
        let r = s.report(t0 + Duration::from_secs(10));
        assert_eq!((r.found, r.missing), (5, 1));
        assert_eq!(r.p50_seconds, Some(1.2));
        assert_eq!(r.p90_seconds, Some(40.0));
        assert_eq!(r.latency.count, 5);
        assert_eq!(r.latency.buckets[0], 0); // ≤ 0.25
        assert_eq!(r.latency.buckets[1], 1); // ≤ 0.5: 0.3
        assert_eq!(r.latency.buckets[2], 2); // ≤ 1: 0.3, 0.6 (cumulative)
        assert_eq!(r.latency.buckets[10], 5);
        let stage = r.stage(Thresholds::default(), 60.0);
        assert_eq!(stage.status, StageStatus::Degraded, "{}", stage.reason);
        // A window later, only what came since counts.
        s.record(
            CanaryEvent::QueryError {
                reason: "http_status",
                message: "HTTP status 500".into(),
            },
            t0 + Duration::from_secs(75),
            SystemTime::now(),
        );
        let r = s.report(t0 + Duration::from_secs(75));
        assert_eq!((r.found, r.missing, r.query_errors), (0, 0, 1));
        assert_eq!(
            r.stage(Thresholds::default(), 60.0).status,
            StageStatus::Idle
        );
        assert_eq!(r.traces_total["found"], 5);
        assert_eq!(r.query_errors_total["http_status"], 1);
    }
}
