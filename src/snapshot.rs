//! The snapshot spanflow serves: what [`derive`](mod@derive) computed from every target's state, and
//! the causes [`diagnose`] named from it, made at once and never changed afterwards.
//!
//! Input: the configuration and every target's state. Output: a [`Snapshot`], which the
//! engine swaps in for every reader ([`SharedSnapshot`]). This is the one place where
//! derive and diagnose meet: derive knows no causes, and diagnose only reads what derive
//! made — except that a latent cause shows its stage as failing
//! ([`diagnose::mark_latent_stages`]).

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::time::Instant;

use crate::config::Config;
use crate::derive::{self, Derived, TargetState};
use crate::diagnose::{self, Diagnosis};

/// The pipeline as derived, and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub derived: Derived,
    /// What is wrong and why, most severe first (see the `diagnose` module).
    pub causes: Vec<Diagnosis>,
}

/// A snapshot reads as what was derived — `snapshot.stages`, `snapshot.verdict` — the
/// causes beside it: every reader of the served state reads both, and the JSON document
/// has them side by side.
impl Deref for Snapshot {
    type Target = Derived;

    fn deref(&self) -> &Derived {
        &self.derived
    }
}

/// The latest snapshot, shared with every reader.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// Derives the pipeline's state from every target's state, then diagnoses it.
pub fn make(
    config: &Config,
    targets: &[TargetState],
    now: Instant,
    wall: std::time::SystemTime,
) -> Snapshot {
    let (mut derived, totals) = derive::derive(config, targets, now, wall);
    let causes = diagnose::diagnose(&derived, &totals);
    diagnose::mark_latent_stages(&mut derived, &causes);
    Snapshot { derived, causes }
}

/// A snapshot from before the first poll: every configured stage unknown.
pub fn initial(config: &Config, targets: &[TargetState]) -> Snapshot {
    make(
        config,
        targets,
        Instant::now(),
        std::time::SystemTime::now(),
    )
}
