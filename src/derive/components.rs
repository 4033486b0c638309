//! Which Collector component of several fails: the receiver and exporter stages sum every
//! receiver and exporter (every `otelcol.receiver.*` / `otelcol.exporter.*` component of an
//! Alloy), and this breaks them down.
//!
//! Input: a Collector stage's member instances (their counters per component, from the
//! `component_id`, `receiver` or `exporter` label). Output: one [`ComponentReport`] per
//! component, judged over the window with the stage's thresholds — only when the stage has
//! two components or more (one component is the stage itself). It never changes the stage.

use std::collections::BTreeMap;

use serde::Serialize;

use super::StageReport;
use super::history::TargetState;
use crate::config::Thresholds;
use crate::model::counter::{self, Counter, Increases};
use crate::model::software::Generation;
use crate::model::stage::{Stage, StageStatus};

/// One component of a Collector stage over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentReport {
    pub stage: Stage,
    /// `otelcol.exporter.otlp.tempo` (Alloy), `otlp/tempo` (a Collector).
    pub component: String,
    /// Judged over the window; `idle` with nothing counted.
    pub status: StageStatus,
    pub success_ratio: Option<f64>,
    pub success: f64,
    pub failure: f64,
}

/// The counters that make each Collector stage, per component.
const STAGE_COUNTERS: [(Stage, [Counter; 3]); 2] = [
    (
        Stage::CollectorReceiver,
        [
            Counter::CollectorAccepted,
            Counter::CollectorRefused,
            Counter::CollectorFailed,
        ],
    ),
    (
        Stage::CollectorExporter,
        [
            Counter::CollectorSent,
            Counter::CollectorSendFailed,
            Counter::CollectorEnqueueFailed,
        ],
    ),
];

/// The components of `stage` over the window, when it has two or more.
pub(super) fn judge_components(
    stage: &StageReport,
    members: &[&TargetState],
    thresholds: Thresholds,
) -> Vec<ComponentReport> {
    let Some((_, own)) = STAGE_COUNTERS.iter().find(|(s, _)| *s == stage.stage) else {
        return Vec::new();
    };
    if stage.status == StageStatus::Unknown {
        return Vec::new();
    }
    // Most Collectors have one receiver and one exporter: look for a second name before
    // building anything.
    let mut names: Vec<&str> = Vec::new();
    for t in members {
        for (_, values) in t
            .window_sum()
            .0
            .by_label
            .iter()
            .filter(|(c, _)| own.contains(c))
        {
            for component in values.keys() {
                if !names.contains(&component.as_str()) {
                    names.push(component);
                }
            }
        }
        if names.len() > 1 {
            break;
        }
    }
    if names.len() < 2 {
        return Vec::new();
    }
    // Each component's counters as an `Increases` of its own, so the stage's own rule
    // (`counter::stage_counts`) counts it; a component with a series at zero is idle.
    let mut by_component: BTreeMap<&str, Increases> = BTreeMap::new();
    for t in members {
        for (c, values) in &t.window_sum().0.by_label {
            if !own.contains(c) {
                continue;
            }
            for (component, v) in values {
                by_component.entry(component).or_default().counters[*c as usize] += v;
            }
        }
    }
    if by_component.len() < 2 {
        return Vec::new();
    }
    by_component
        .into_iter()
        .map(|(component, inc)| {
            let counts = counter::stage_counts(stage.stage, &inc, Generation::Unknown);
            ComponentReport {
                stage: stage.stage,
                component: component.to_owned(),
                status: counts
                    .ratio()
                    .map_or(StageStatus::Idle, |r| thresholds.status_of(r)),
                success_ratio: counts.ratio(),
                success: counts.success,
                failure: counts.failure,
            }
        })
        .collect()
}
