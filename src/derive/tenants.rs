//! Each tenant of Tempo's distributor on its own: one tenant rate limited or refused while
//! the others pass must not read as "97 % ok".
//!
//! Input: the `tempo_distributor` stage's member instances (their per-tenant increases, from
//! `tempo_distributor_spans_received_total{tenant}` and `tempo_discarded_spans_total{reason,
//! tenant}`), the stage's thresholds and `max_tenants`. Output: one [`TenantReport`] per
//! tenant — judged as a stage is, on the last poll (or two) for status and the window for
//! ratio and rates — at most `max_tenants` of them, the rest summed as `other`; and the stage
//! made `degraded` when a tenant fails while another passes. Only the distributor's counters
//! carry the tenant: the later stages (ingester, live-store, storage) are judged as a whole.

use std::collections::BTreeMap;

use serde::Serialize;

use super::StageReport;
use super::history::TargetState;
use crate::config::Thresholds;
use crate::model::counter::{OTHER_TENANT, StageCounts, TenantIncreases};
use crate::model::stage::{Stage, StageStatus};

/// One tenant of one stage, judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantReport {
    pub stage: Stage,
    pub tenant: String,
    pub status: StageStatus,
    /// Why the status is what it is, in words.
    pub reason: String,
    /// Over the window; absent when the tenant saw nothing in it.
    pub success_ratio: Option<f64>,
    pub success_per_second: f64,
    pub failure_per_second: f64,
    /// The discard reason most of the tenant's failures give, over the window.
    pub top_reason: Option<&'static str>,
    /// Spans discarded per reason over the window (the evidence a cause quotes); reasons
    /// Tempo does not define are summed as `other`.
    pub discarded: BTreeMap<&'static str, f64>,
}

/// What the members hold for one tenant: over the window, the last poll, the last two.
#[derive(Default)]
struct TenantSums {
    window: TenantIncreases,
    seconds: f64,
    last: TenantIncreases,
    last_two: TenantIncreases,
}

/// Judges every tenant of the `tempo_distributor` stage (none when the stage is unknown or
/// its Tempo names no tenant).
pub(super) fn judge_tenants(
    stage: &StageReport,
    members: &[&TargetState],
    thresholds: Thresholds,
    max_tenants: usize,
) -> Vec<TenantReport> {
    if stage.stage != Stage::TempoDistributor || stage.status == StageStatus::Unknown {
        return Vec::new();
    }
    let mut sums: BTreeMap<&str, TenantSums> = BTreeMap::new();
    for t in members {
        let (window, seconds) = t.window_sum();
        for (tenant, inc) in &window.tenants {
            let s = sums.entry(tenant).or_default();
            s.window.add(inc, 1.0);
            s.seconds = s.seconds.max(*seconds);
        }
        for (polls, pick) in [(1, true), (2, false)] {
            let Some(recent) = t.last_polls(polls) else {
                continue;
            };
            for (tenant, inc) in &recent.tenants {
                let s = sums.entry(tenant).or_default();
                let into = if pick { &mut s.last } else { &mut s.last_two };
                into.add(inc, 1.0);
            }
        }
    }
    let sums = keep_at_most(sums, max_tenants);
    sums.into_iter()
        .map(|(tenant, s)| judge_tenant(stage.stage, tenant.to_owned(), &s, thresholds))
        .collect()
}

/// At most `max` tenants: those failing now first, then the busiest over the window; the
/// rest summed as [`OTHER_TENANT`].
fn keep_at_most(sums: BTreeMap<&str, TenantSums>, max: usize) -> BTreeMap<&str, TenantSums> {
    if sums.len() <= max {
        return sums;
    }
    let mut ranked: Vec<(&str, TenantSums)> = sums.into_iter().collect();
    ranked.sort_by(|(a_name, a), (b_name, b)| {
        let failing = |s: &TenantSums| s.last_two.counts().failure > 0.0;
        failing(b)
            .cmp(&failing(a))
            .then(
                b.window
                    .counts()
                    .events()
                    .total_cmp(&a.window.counts().events()),
            )
            .then(a_name.cmp(b_name))
    });
    let rest = ranked.split_off(max.saturating_sub(1));
    let mut kept: BTreeMap<&str, TenantSums> = ranked.into_iter().collect();
    let other = kept.entry(OTHER_TENANT).or_default();
    for (_, s) in rest {
        other.window.add(&s.window, 1.0);
        other.last.add(&s.last, 1.0);
        other.last_two.add(&s.last_two, 1.0);
        other.seconds = other.seconds.max(s.seconds);
    }
    kept
}

fn judge_tenant(
    stage: Stage,
    tenant: String,
    s: &TenantSums,
    thresholds: Thresholds,
) -> TenantReport {
    let window = s.window.counts();
    let per_second = |v: f64| if s.seconds > 0.0 { v / s.seconds } else { 0.0 };
    let (increases, over) = if s.last.counts().events() > 0.0 {
        (&s.last, "the last poll")
    } else {
        (&s.last_two, "the last two polls")
    };
    let judged = increases.counts();
    let (status, reason) = match judged.ratio() {
        None => (StageStatus::Idle, format!("no spans in {over}")),
        Some(ratio) => (
            thresholds.status_of(ratio),
            judged_text(&judged, over, increases),
        ),
    };
    TenantReport {
        stage,
        tenant,
        status,
        reason,
        success_ratio: window.ratio(),
        success_per_second: per_second(window.success),
        failure_per_second: per_second(window.failure),
        top_reason: s.window.top_reason(),
        discarded: s.window.discards().collect(),
    }
}

/// `40 of 300 spans succeeded in the last poll (260 rate_limited)`.
fn judged_text(judged: &StageCounts, over: &str, judged_on: &TenantIncreases) -> String {
    let mut text = format!(
        "{} of {} spans succeeded in {over}",
        judged.success.round(),
        judged.events().round()
    );
    let reasons: Vec<String> = judged_on
        .discards()
        .map(|(r, v)| format!("{} {r}", v.round()))
        .collect();
    if !reasons.is_empty() {
        text.push_str(&format!(" ({})", reasons.join(", ")));
    }
    text
}

/// A stage that passes as a whole while a tenant fails is `degraded`, and says which tenant.
pub(super) fn degrade_for_tenants(stage: &mut StageReport, tenants: &[TenantReport]) {
    if tenants.len() < 2 || !matches!(stage.status, StageStatus::Ok | StageStatus::Idle) {
        return;
    }
    let passing = tenants.iter().any(|t| t.status == StageStatus::Ok);
    let failing: Vec<&TenantReport> = tenants
        .iter()
        .filter(|t| matches!(t.status, StageStatus::Failing | StageStatus::Degraded))
        .collect();
    if !passing || failing.is_empty() {
        return;
    }
    stage.status = StageStatus::Degraded;
    let named: Vec<String> = failing
        .iter()
        .map(|t| format!("tenant {} {}: {}", t.tenant, t.status.as_str(), t.reason))
        .collect();
    stage.reason = format!("{}; {}", stage.reason, named.join("; "));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(received: f64, discards: &[(&str, f64)]) -> TenantIncreases {
        let mut t = TenantIncreases {
            received,
            ..TenantIncreases::default()
        };
        for (r, v) in discards {
            t.add_discarded(r, *v);
        }
        t
    }

    #[test]
    fn rate_limited_spans_were_never_received_other_discards_were() {
        // 100 received past the limiter, 300 refused by it, 20 of the received dropped later.
        let t = tenant(
            100.0,
            &[("rate_limited", 300.0), ("live_traces_exceeded", 20.0)],
        );
        assert_eq!(
            t.counts(),
            StageCounts {
                success: 80.0,
                failure: 320.0
            }
        );
        assert_eq!(t.top_reason(), Some("rate_limited"));
    }

    fn sums(last: TenantIncreases) -> TenantSums {
        TenantSums {
            window: last.clone(),
            seconds: 60.0,
            last_two: last.clone(),
            last,
        }
    }

    #[test]
    fn the_busiest_and_the_failing_tenants_are_kept_the_rest_is_other() {
        let mut all = BTreeMap::new();
        for (name, received) in [("a", 10.0), ("b", 500.0), ("c", 20.0), ("d", 300.0)] {
            all.insert(name, sums(tenant(received, &[])));
        }
        all.insert(
            "quiet-but-failing",
            sums(tenant(0.0, &[("rate_limited", 1.0)])),
        );
        let kept = keep_at_most(all, 3);
        let names: Vec<&str> = kept.keys().copied().collect();
        assert_eq!(names, ["b", "other", "quiet-but-failing"]);
        assert_eq!(kept["other"].window.received, 330.0);
    }

    #[test]
    fn one_failing_tenant_degrades_a_passing_stage_and_is_named() {
        let thresholds = Thresholds::default();
        let report = |name: &str, t: TenantIncreases| {
            judge_tenant(
                Stage::TempoDistributor,
                name.to_owned(),
                &sums(t),
                thresholds,
            )
        };
        let tenants = vec![
            report("team-a", tenant(0.0, &[("rate_limited", 300.0)])),
            report("team-b", tenant(9700.0, &[])),
        ];
        assert_eq!(tenants[0].status, StageStatus::Failing);
        assert_eq!(
            tenants[0].reason,
            "0 of 300 spans succeeded in the last poll (300 rate_limited)"
        );
        assert_eq!(tenants[1].status, StageStatus::Ok);
        let mut stage = super::super::StageReport::bare(Stage::TempoDistributor, StageStatus::Ok);
        stage.reason = "9700 of 10000 spans succeeded in the last poll".to_owned();
        degrade_for_tenants(&mut stage, &tenants);
        assert_eq!(stage.status, StageStatus::Degraded);
        assert_eq!(
            stage.reason,
            "9700 of 10000 spans succeeded in the last poll; tenant team-a failing: 0 of 300 spans succeeded in the last poll (300 rate_limited)"
        );
        // Every tenant failing is the stage's own status to tell, not a tenant's.
        let mut failing = super::super::StageReport::bare(Stage::TempoDistributor, StageStatus::Ok);
        degrade_for_tenants(&mut failing, &tenants[..1]);
        assert_eq!(failing.status, StageStatus::Ok);
    }
}
