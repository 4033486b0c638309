//! Judges one stage: its status from the last poll (or two), its ratio and rates over the
//! window.
//!
//! Input: the stage, its member instances' histories, its discovering targets, the
//! thresholds and Tempo's generation. Output: a [`StageReport`]. A stage is `unknown` while
//! a written member is down, unrecognised or polled only once, or while no instance of a
//! discovering target can be judged — and then shows no ratio and no rate, never the last
//! good ones. A discovered instance that is new (judged from its second poll) or down is
//! left out while others of its target can be judged, and the reason says so: a rollout
//! replaces instances all the time.

use super::history::TargetState;
use super::{DiscoveryReport, Judged, StageReport};
use crate::config::Thresholds;
use crate::model::counter::{self, StageCounts};
use crate::model::software::Generation;
use crate::model::stage::{self, Stage, StageStatus};

pub(super) fn judge_stage(
    thresholds: Thresholds,
    stage: Stage,
    members: &[&TargetState],
    discovering: &[&DiscoveryReport],
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
        since_unix: None,
        since_first_seen: false,
    };
    if let Some(reason) = unknown_because(members, discovering) {
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
    } else if members.iter().any(|t| t.from_store) {
        // A store's status window is one increase, already over several scrapes.
        (recent(stage, members, generation, 1), "the status window")
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
    let ratio = judged.success / events;
    let status = thresholds.status_of(ratio);
    let mut summary = format!(
        "{} of {} {unit} succeeded in {over}",
        round(judged.success),
        round(events)
    );
    summary.push_str(&left_out(members));
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

/// Why nothing can be judged: a written member is down, serves something else, or has not
/// been polled twice; or no instance of a discovering target can be judged.
fn unknown_because(members: &[&TargetState], discovering: &[&DiscoveryReport]) -> Option<String> {
    if let Some(why) = members
        .iter()
        .filter(|t| !t.discovered)
        .find_map(|t| not_judged(t))
    {
        return Some(why);
    }
    for d in discovering {
        let mut first_why = None;
        let mut judged = false;
        for t in members
            .iter()
            .filter(|t| t.discovered && t.name == d.target)
        {
            match not_judged(t) {
                None => {
                    judged = true;
                    break;
                }
                Some(why) => {
                    first_why.get_or_insert(why);
                }
            }
        }
        if judged {
            continue;
        }
        return Some(match (first_why, &d.last_error) {
            (Some(why), _) => format!("no instance of target {} can be judged: {why}", d.target),
            (None, Some(e)) => format!("target {}: no instances discovered: {e}", d.target),
            (None, None) => format!("target {}: no instances discovered yet", d.target),
        });
    }
    None
}

/// Why one instance cannot be judged now, if it cannot (in words only then: it is asked of
/// every instance at every derive).
fn not_judged(t: &TargetState) -> Option<String> {
    if t.up == Some(true) && t.recognised && !t.history.is_empty() {
        return None;
    }
    if t.from_store {
        let role = t.role.as_str();
        return Some(match (&t.up, &t.last_error) {
            (Some(false), Some(e)) => {
                format!("the {role} series could not be read from {}: {e}", t.url)
            }
            (Some(true), _) => {
                format!("no {role} series in the store match the pipeline's roles.{role} selector")
            }
            _ => format!("the store at {} not queried yet", t.url),
        });
    }
    let who = if t.discovered {
        format!("target {} at {}", t.name, t.address)
    } else {
        format!("target {}", t.name)
    };
    match t.up {
        None => Some(format!("{who} not polled yet")),
        Some(false) => {
            let why = t
                .last_error
                .as_ref()
                .map_or_else(String::new, |e| format!(": {e}"));
            Some(format!("{who} is down{why}"))
        }
        Some(true) if !t.recognised => Some(format!(
            "{who} does not look like a {} (none of its families)",
            t.role.as_str()
        )),
        Some(true) if t.history.is_empty() => {
            Some(format!("{who} polled once; a rate needs two polls"))
        }
        Some(true) => None,
    }
}

/// `; 2 of 50 instances left out (…)` when discovered instances could not be judged, so
/// the status says what it was judged on; empty otherwise.
fn left_out(members: &[&TargetState]) -> String {
    let discovered = members.iter().filter(|t| t.discovered).count();
    let mut out: Vec<String> = members
        .iter()
        .filter(|t| t.discovered)
        .filter_map(|t| not_judged(t))
        .collect();
    if out.is_empty() {
        return String::new();
    }
    let first = out.swap_remove(0);
    format!(
        "; {} of {discovered} instances left out ({first}{})",
        out.len() + 1,
        if out.is_empty() { "" } else { ", …" }
    )
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
