//! The status changes worth a log line: a stage turning failing or degraded or recovering,
//! a pipeline becoming blocked or no longer blocked — each once, with its pipeline.
//!
//! Input: the snapshot before and the one after. Output: [`Transition`]s and their log
//! lines. It never changes a snapshot.

use crate::model::stage::{Stage, StageStatus};
use crate::snapshot::{PipelineSnapshot, Snapshot};

/// A change worth one log line: a stage turning failing or degraded, or recovering; the
/// pipeline becoming blocked, or no longer blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    StageTurned {
        stage: Stage,
        status: StageStatus,
        cause: Option<&'static str>,
    },
    StageRecovered {
        stage: Stage,
        status: StageStatus,
    },
    Blocked {
        stage: Stage,
        cause: Option<&'static str>,
    },
    Unblocked {
        was: Stage,
    },
}

/// What changed between two snapshots of one pipeline, each change once. Turning `unknown`
/// is left to the poll-failure log lines, which say why.
pub fn transitions(before: &PipelineSnapshot, after: &PipelineSnapshot) -> Vec<Transition> {
    use StageStatus::{Degraded, Failing, Idle, Ok};
    let cause_at = |stage: Stage| {
        after
            .causes
            .iter()
            .find(|d| d.stage == stage)
            .map(|d| d.cause.as_str())
    };
    let mut found = Vec::new();
    for now in &after.stages {
        let was = before
            .stages
            .iter()
            .find(|s| s.stage == now.stage)
            .map(|s| s.status);
        match (was, now.status) {
            (Some(was), status @ (Failing | Degraded)) if was != status => {
                found.push(Transition::StageTurned {
                    stage: now.stage,
                    status,
                    cause: cause_at(now.stage),
                })
            }
            (Some(Failing | Degraded), status @ (Ok | Idle)) => {
                found.push(Transition::StageRecovered {
                    stage: now.stage,
                    status,
                })
            }
            _ => {}
        }
    }
    match (before.blocked_stage, after.blocked_stage) {
        (was, Some(stage)) if was != Some(stage) => found.push(Transition::Blocked {
            stage,
            cause: cause_at(stage),
        }),
        (Some(was), None) => found.push(Transition::Unblocked { was }),
        _ => {}
    }
    found
}

/// One log line per change of every pipeline, with the pipeline's name.
pub(super) fn log_transitions(before: &Snapshot, after: &Snapshot) {
    for now in &after.pipelines {
        if let Some(was) = before.pipeline(&now.name) {
            log_pipeline(&now.name, transitions(was, now));
        }
    }
}

fn log_pipeline(pipeline: &str, changes: Vec<Transition>) {
    for t in changes {
        match t {
            Transition::StageTurned {
                stage,
                status,
                cause,
            } => tracing::warn!(
                pipeline,
                stage = stage.as_str(),
                status = status.as_str(),
                cause = cause.unwrap_or("none named"),
                "stage turned {}",
                status.as_str()
            ),
            Transition::StageRecovered { stage, status } => tracing::info!(
                pipeline,
                stage = stage.as_str(),
                status = status.as_str(),
                "stage recovered"
            ),
            Transition::Blocked { stage, cause } => tracing::warn!(
                pipeline,
                stage = stage.as_str(),
                status = "failing",
                cause = cause.unwrap_or("none named"),
                "pipeline blocked: spans stop here"
            ),
            Transition::Unblocked { was } => {
                tracing::info!(pipeline, stage = was.as_str(), "pipeline no longer blocked")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(stages: &[(Stage, StageStatus)]) -> PipelineSnapshot {
        PipelineSnapshot::of_statuses("default", stages)
    }

    #[test]
    fn each_change_is_reported_once() {
        use StageStatus::{Failing, Ok, Unknown};
        let d = Stage::TempoDistributor;
        let i = Stage::TempoIngester;
        let start = snapshot(&[(d, Unknown), (i, Unknown)]);
        let fine = snapshot(&[(d, Ok), (i, Ok)]);
        let broken = snapshot(&[(d, Failing), (i, Failing)]);
        assert_eq!(transitions(&start, &fine), []);
        assert_eq!(
            transitions(&fine, &broken),
            [
                Transition::StageTurned {
                    stage: d,
                    status: Failing,
                    cause: None
                },
                Transition::StageTurned {
                    stage: i,
                    status: Failing,
                    cause: None
                },
                Transition::Blocked {
                    stage: i,
                    cause: None
                },
            ]
        );
        // Nothing new while it stays broken.
        assert_eq!(transitions(&broken, &broken), []);
        assert_eq!(
            transitions(&broken, &fine),
            [
                Transition::StageRecovered {
                    stage: d,
                    status: Ok
                },
                Transition::StageRecovered {
                    stage: i,
                    status: Ok
                },
                Transition::Unblocked { was: i },
            ]
        );
    }
}
