//! Judges one stage: its status from the last poll (or two), its ratio and rates over the
//! window.
//!
//! Input: the stage, its member targets' histories, the thresholds and Tempo's generation.
//! Output: a [`StageReport`]. A stage is `unknown` while a member is down, unrecognised or
//! polled only once — and then shows no ratio and no rate, never the last good ones.

use super::history::TargetState;
use super::{Judged, StageReport};
use crate::config::Config;
use crate::model::counter::{self, StageCounts};
use crate::model::software::Generation;
use crate::model::stage::{self, Stage, StageStatus};

pub(super) fn judge_stage(
    config: &Config,
    stage: Stage,
    members: &[&TargetState],
    generation: Generation,
) -> StageReport {
    let window = WindowCounts::of(stage, members, generation);
    let report = |status: StageStatus, reason: String, judged: Judged| StageReport {
        stage,
        status,
        reason,
        unit: stage.unit(),
        success_ratio: window.counts.ratio(),
        success_per_second: Some(window.success_rate),
        failure_per_second: Some(window.failure_rate),
        judged,
    };
    if let Some(reason) = unknown_because(members) {
        return StageReport {
            success_ratio: None,
            success_per_second: None,
            failure_per_second: None,
            ..report(
                StageStatus::Unknown,
                reason,
                Judged {
                    success: 0.0,
                    failure: 0.0,
                    seconds: 0.0,
                },
            )
        };
    }
    let (judged, over) = if stage::judged_over_long_window(stage) {
        (
            Judged {
                success: window.counts.success,
                failure: window.counts.failure,
                seconds: window.seconds,
            },
            "the window",
        )
    } else {
        let last = recent(stage, members, generation, 1);
        if last.success + last.failure > 0.0 {
            (last, "the last poll")
        } else {
            (recent(stage, members, generation, 2), "the last two polls")
        }
    };
    let events = judged.success + judged.failure;
    let unit = stage.unit();
    if events <= 0.0 {
        return report(StageStatus::Idle, format!("no {unit} in {over}"), judged);
    }
    let thresholds = config.thresholds(stage);
    let ratio = judged.success / events;
    let status = if ratio <= thresholds.failing_below {
        StageStatus::Failing
    } else if ratio < thresholds.degraded_below {
        StageStatus::Degraded
    } else {
        StageStatus::Ok
    };
    let summary = format!(
        "{} of {} {unit} succeeded in {over}",
        round(judged.success),
        round(events)
    );
    report(status, summary, judged)
}

/// A stage's counts and rates over the window, summed over its targets.
struct WindowCounts {
    counts: StageCounts,
    seconds: f64,
    success_rate: f64,
    failure_rate: f64,
}

impl WindowCounts {
    fn of(stage: Stage, members: &[&TargetState], generation: Generation) -> WindowCounts {
        let mut w = WindowCounts {
            counts: StageCounts::default(),
            seconds: 0.0,
            success_rate: 0.0,
            failure_rate: 0.0,
        };
        for t in members {
            let (inc, seconds) = t.window_sum();
            let seconds = *seconds;
            let counts = counter::stage_counts(stage, inc, generation);
            w.counts.success += counts.success;
            w.counts.failure += counts.failure;
            if seconds > 0.0 {
                w.success_rate += counts.success / seconds;
                w.failure_rate += counts.failure / seconds;
                w.seconds = w.seconds.max(seconds);
            }
        }
        w
    }
}

/// Why nothing can be judged: a member is down, serves something else, or has not been
/// polled twice.
fn unknown_because(members: &[&TargetState]) -> Option<String> {
    members.iter().find_map(|t| match t.up {
        None => Some(format!("target {} not polled yet", t.name)),
        Some(false) => {
            let why = t
                .last_error
                .as_ref()
                .map_or_else(String::new, |e| format!(": {e}"));
            Some(format!("target {} is down{why}", t.name))
        }
        Some(true) if !t.recognised => Some(format!(
            "target {} does not look like a {} (none of its families)",
            t.name,
            t.role.as_str()
        )),
        Some(true) if t.history.is_empty() => Some(format!(
            "target {} polled once; a rate needs two polls",
            t.name
        )),
        Some(true) => None,
    })
}

/// A stage's counts over each member's last `polls` polls.
fn recent(stage: Stage, members: &[&TargetState], generation: Generation, polls: usize) -> Judged {
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
}

fn round(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}
