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
use crate::derive::{self, Derived, DiscoveryReport, TargetState};
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
    /// The last stage status changes of every pipeline, oldest first
    /// ([`timeline::MAX_EVENTS`] at most).
    pub events: Arc<[Event]>,
}

/// One pipeline as derived, and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineSnapshot {
    pub name: String,
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
        };
        derived.judge_pipeline();
        PipelineSnapshot {
            name: name.to_owned(),
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
    let mut pipelines = Vec::with_capacity(config.pipelines.len());
    for (index, pipeline) in config.pipelines.iter().enumerate() {
        let start = states.partition_point(|s| s.pipeline < index);
        let end = states.partition_point(|s| s.pipeline <= index);
        let (mut derived, totals) =
            derive::derive(config, index, &states[start..end], discovery, now, wall);
        let causes = diagnose::diagnose(&derived, &totals);
        diagnose::mark_latent_stages(&mut derived, &causes);
        pipelines.push(PipelineSnapshot {
            name: pipeline.name.clone(),
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
