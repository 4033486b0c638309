//! The snapshot spanflow serves: per pipeline, what [`derive`](mod@derive) computed from its
//! targets' states and the causes [`diagnose`] named from it; the discovery of every
//! discovering target; and the [`timeline`] of stage status changes — made at once and
//! never changed afterwards.
//!
//! Input: the configuration, every instance's state (pipeline by pipeline), what discovery
//! said, and the timeline kept between snapshots. Output: a [`Snapshot`], which the engine
//! swaps in for every reader ([`SharedSnapshot`]). This is the one place where derive and
//! diagnose meet: derive knows no causes, and diagnose only reads what derive made —
//! except that a latent cause shows its stage as failing ([`diagnose::mark_latent_stages`]).

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::time::Instant;

pub mod timeline;

pub use timeline::{Event, Timeline};

use crate::config::Config;
use crate::derive::{self, Derived, DiscoveryReport, SourceReport, TargetState};
use crate::diagnose::{self, Diagnosis};

/// Every pipeline as derived and diagnosed, with discovery and the status timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Unix time of the derive.
    pub generated_unix: f64,
    #[serde(skip)]
    pub generated_at: Instant,
    pub window_seconds: f64,
    /// Every pipeline is healthy (see [`Derived::healthy`]).
    pub healthy: bool,
    /// In the order the configuration lists them.
    pub pipelines: Vec<PipelineSnapshot>,
    /// One entry per discovering target.
    pub discovery: Vec<DiscoveryReport>,
    /// One entry per store-sourced pipeline: its query API at the last poll.
    pub sources: Vec<SourceReport>,
    /// The last stage status changes of every pipeline, oldest first
    /// ([`timeline::MAX_EVENTS`] at most).
    pub events: Arc<[Event]>,
}

/// One pipeline as derived, and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineSnapshot {
    pub name: String,
    /// For a store-sourced pipeline, the configured pipeline it is (a split value) of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Read from a store whose last answers carried warnings (a Thanos partial response):
    /// the numbers were used, but may miss some series.
    pub partial: bool,
    #[serde(flatten)]
    pub derived: Derived,
    /// What is wrong and why, most severe first (see the `diagnose` module).
    pub causes: Vec<Diagnosis>,
}

/// A pipeline's snapshot reads as what was derived — `pipeline.stages`,
/// `pipeline.verdict` — the causes beside it: every reader of the served state reads both,
/// and the JSON document has them side by side.
impl Deref for PipelineSnapshot {
    type Target = Derived;

    fn deref(&self) -> &Derived {
        &self.derived
    }
}

#[cfg(test)]
impl PipelineSnapshot {
    /// A pipeline whose stages have these statuses, judged, with no target and no cause:
    /// for tests of what reads statuses.
    pub(crate) fn of_statuses(
        name: &str,
        stages: &[(crate::model::stage::Stage, crate::model::stage::StageStatus)],
    ) -> PipelineSnapshot {
        let mut derived = Derived {
            generated_unix: 0.0,
            generated_at: Instant::now(),
            window_seconds: 60.0,
            verdict: crate::derive::Verdict::NotHealthy,
            healthy: false,
            idle: false,
            blocked_stage: None,
            stages: stages
                .iter()
                .map(|(stage, status)| crate::derive::StageReport::bare(*stage, *status))
                .collect(),
            discarded_per_second: Default::default(),
            targets: Vec::new(),
            tempo_generation: crate::model::software::Generation::Unknown,
            canary: None,
            hop_balance: Vec::new(),
            tenants: Vec::new(),
            components: Vec::new(),
        };
        derived.judge_pipeline();
        PipelineSnapshot {
            name: name.to_owned(),
            source: None,
            partial: false,
            derived,
            causes: Vec::new(),
        }
    }
}

impl Snapshot {
    /// The pipeline called `name`.
    pub fn pipeline(&self, name: &str) -> Option<&PipelineSnapshot> {
        self.pipelines.iter().find(|p| p.name == name)
    }

    /// The pipelines worst first (blocked, not healthy, idle, healthy), in configuration
    /// order within each: what the status page and `spanflow diagnose` show first.
    pub fn worst_first(&self) -> Vec<&PipelineSnapshot> {
        let mut sorted: Vec<&PipelineSnapshot> = self.pipelines.iter().collect();
        sorted.sort_by_key(|p| p.verdict.rank());
        sorted
    }
}

/// The latest snapshot, shared with every reader.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// One pipeline as a snapshot shows it: a configured pipeline of targets, or one split
/// value of a store-sourced pipeline (`fleet/eu-1`).
pub struct Shown<'a> {
    /// Index into the configuration's pipelines (thresholds, discovery).
    pub index: usize,
    pub name: String,
    pub states: &'a [TargetState],
    /// The store the states were read from, for a store-sourced pipeline.
    pub source: Option<&'a SourceReport>,
    /// The pipeline's canary, when it has one.
    pub canary: Option<&'a crate::derive::canary::CanaryState>,
}

/// The configuration's pipelines with their instances: `states` holds each pipeline's
/// instances together, in pipeline order (as the engine keeps them). A store-sourced
/// pipeline shows with no instance.
pub fn written<'a>(config: &Config, states: &'a [TargetState]) -> Vec<Shown<'a>> {
    config
        .pipelines
        .iter()
        .enumerate()
        .map(|(index, pipeline)| {
            let start = states.partition_point(|s| s.pipeline < index);
            let end = states.partition_point(|s| s.pipeline <= index);
            Shown {
                index,
                name: pipeline.name.clone(),
                states: &states[start..end],
                source: None,
                canary: None,
            }
        })
        .collect()
}

/// Derives every pipeline's state from its instances' states, diagnoses it and records its
/// status changes in `timeline`. `states` holds each pipeline's instances together, in
/// pipeline order (as the engine keeps them).
pub fn make(
    config: &Config,
    states: &[TargetState],
    discovery: &[DiscoveryReport],
    timeline: &mut Timeline,
    now: Instant,
    wall: std::time::SystemTime,
) -> Snapshot {
    let shown = written(config, states);
    make_shown(config, &shown, discovery, &[], timeline, now, wall)
}

/// As [`make`], for pipelines as shown (written ones and store-sourced split values), with
/// the stores' reports.
pub fn make_shown(
    config: &Config,
    shown: &[Shown<'_>],
    discovery: &[DiscoveryReport],
    sources: &[SourceReport],
    timeline: &mut Timeline,
    now: Instant,
    wall: std::time::SystemTime,
) -> Snapshot {
    let mut pipelines = Vec::with_capacity(shown.len());
    for p in shown {
        let (mut derived, totals) =
            derive::derive(config, p.index, p.states, discovery, p.canary, now, wall);
        let mut causes = diagnose::diagnose(&derived, &totals);
        if p.source.is_some() {
            diagnose::note_store_evidence(&mut causes, &derived);
        }
        diagnose::mark_latent_stages(&mut derived, &causes);
        pipelines.push(PipelineSnapshot {
            name: p.name.clone(),
            source: p.source.map(|s| s.pipeline_name.clone()),
            partial: p.source.is_some_and(|s| s.partial),
            derived,
            causes,
        });
    }
    let generated_unix = derive::unix(wall);
    timeline.observe(&mut pipelines, generated_unix);
    Snapshot {
        generated_unix,
        generated_at: now,
        window_seconds: config.window.as_secs_f64(),
        healthy: pipelines.iter().all(|p| p.healthy),
        pipelines,
        discovery: discovery.to_vec(),
        sources: sources.to_vec(),
        events: timeline.events(),
    }
}

/// A snapshot from before the first poll: every configured stage unknown.
pub fn initial(config: &Config, states: &[TargetState]) -> Snapshot {
    make(
        config,
        states,
        &[],
        &mut Timeline::default(),
        Instant::now(),
        std::time::SystemTime::now(),
    )
}
