//! The canary's causes — loss nobody counts — and the hop balance's.
//!
//! - `silent_loss`: every counter stage ok (or idle), canary traces missing or incomplete.
//! - `canary_write_rejected`: the entry refused the canary's write.
//! - `query_path_failing`: Tempo's query API errored while no counter stage fails.
//! - `canary_slow`: traces are found, but the p90 latency is above `slow_after`.
//! - `spans_lost_between_hops` / `hop_double_counted`: the next hop accepted fewer (more)
//!   spans than the hop before sent, while both report success.

use super::{Cause, Certainty, Diagnosis, Facts, Severity, diagnosis};
use crate::model::stage::{Stage, StageStatus};

pub(super) fn canary(f: &Facts, found: &mut Vec<Diagnosis>) {
    let Some(report) = &f.snapshot.canary else {
        return;
    };
    // Stages counted from counters: is anything there failing or unknown?
    let counters_fine = f
        .snapshot
        .stages
        .iter()
        .filter(|s| s.stage != Stage::Canary)
        .all(|s| matches!(s.status, StageStatus::Ok | StageStatus::Idle));
    let lost = report.missing + report.incomplete;
    if report.write_failed > 0 {
        let mut d = diagnosis(
            Cause::CanaryWriteRejected,
            Stage::Canary,
            Severity::Critical,
            Certainty::Confirmed,
        );
        d.evidence.push(format!(
            "{} canary writes refused in the window, {} accepted and followed",
            report.write_failed,
            report.found + lost
        ));
        if let Some(e) = &report.last_write_error {
            d.evidence.push(format!("the last refusal: {e}"));
        }
        found.push(d);
    }
    if report.query_errors > 0 && counters_fine {
        let mut d = diagnosis(
            Cause::QueryPathFailing,
            Stage::Canary,
            if report.found == 0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            Certainty::Likely,
        );
        d.evidence.push(format!(
            "{} reads of Tempo's query API failed in the window while every counter stage is ok",
            report.query_errors
        ));
        if let Some(e) = &report.last_query_error {
            d.evidence.push(format!("the last: {e}"));
        }
        found.push(d);
    } else if lost > 0 && counters_fine {
        let mut d = diagnosis(
            Cause::SilentLoss,
            Stage::Canary,
            Severity::Critical,
            Certainty::Likely,
        );
        d.evidence.push(format!(
            "{lost} canary traces written and accepted by the entry were not queryable in Tempo within {:.0} s ({} missing, {} incomplete); {} found",
            report.timeout_seconds, report.missing, report.incomplete, report.found
        ));
        d.evidence.push(
            "every stage counted from the hops' own counters is ok: the loss is where nobody counts it"
                .to_owned(),
        );
        found.push(d);
    }
    slow(report, found);
}

/// `canary_slow`: the p90 from write to found above `slow_after`.
fn slow(report: &crate::derive::canary::CanaryReport, found: &mut Vec<Diagnosis>) {
    if let Some(p90) = report.p90_seconds
        && p90 > report.slow_after_seconds
    {
        let mut d = diagnosis(
            Cause::CanarySlow,
            Stage::Canary,
            Severity::Warning,
            Certainty::Confirmed,
        );
        d.evidence.push(format!(
            "p90 {p90:.1} s (p50 {:.1} s) from the accepted write to queryable over {} traces found, above canary.slow_after ({:.0} s)",
            report.p50_seconds.unwrap_or(p90),
            report.found,
            report.slow_after_seconds
        ));
        found.push(d);
    }
}

pub(super) fn hops(f: &Facts, found: &mut Vec<Diagnosis>) {
    let ok = |stage: Stage| f.stage(stage).is_some_and(|s| s.status == StageStatus::Ok);
    for hop in &f.snapshot.hop_balance {
        if !(ok(hop.from) && ok(hop.to)) {
            continue;
        }
        let cause = if hop.ratio < hop.below {
            Cause::SpansLostBetweenHops
        } else if hop.ratio > 2.0 - hop.below {
            Cause::HopDoubleCounted
        } else {
            continue;
        };
        let mut d = diagnosis(cause, hop.to, Severity::Warning, Certainty::Likely);
        d.evidence.push(format!(
            "{} sent {:.1} spans/s, {} accepted {:.1} spans/s ({:.1} %) {}",
            hop.from.as_str(),
            hop.sent,
            hop.to.as_str(),
            hop.accepted,
            hop.ratio * 100.0,
            f.over()
        ));
        d.evidence.push(
            "both sides report success; the ratio assumes spanflow watches every instance of both"
                .to_owned(),
        );
        found.push(d);
    }
}
