//! The vocabulary of a tracing pipeline: the roles a polled target plays, the stages that
//! can lose spans, which stages a pipeline has, and the status a stage is in
//! (docs/architecture.md). Pure definitions, shared by every module from `config` down.

use serde::{Deserialize, Serialize};

use crate::model::software::Generation;

/// What a polled target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An instrumented application exporting spans; its counters are named in the config.
    App,
    /// An OpenTelemetry Collector's internal metrics page.
    Collector,
    /// Grafana Tempo's HTTP API base (`/metrics`, `/ready`, `/api/status/buildinfo` beneath).
    Tempo,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Collector => "collector",
            Role::Tempo => "tempo",
        }
    }
}

/// One hop that can lose spans, in pipeline order (the order of this enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    App,
    CollectorReceiver,
    CollectorExporter,
    TempoDistributor,
    /// Tempo 3.x microservices: the distributor produces to Kafka.
    TempoKafka,
    /// Tempo 2.x: the distributor's gRPC push to the ingesters.
    TempoIngester,
    /// Tempo 3.x: the live-store that replaced the ingester.
    TempoLiveStore,
    TempoStorage,
    /// A canary trace written at the entry and read back from Tempo's query API.
    Canary,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::App,
        Stage::CollectorReceiver,
        Stage::CollectorExporter,
        Stage::TempoDistributor,
        Stage::TempoKafka,
        Stage::TempoIngester,
        Stage::TempoLiveStore,
        Stage::TempoStorage,
        Stage::Canary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::App => "app",
            Stage::CollectorReceiver => "collector_receiver",
            Stage::CollectorExporter => "collector_exporter",
            Stage::TempoDistributor => "tempo_distributor",
            Stage::TempoKafka => "tempo_kafka",
            Stage::TempoIngester => "tempo_ingester",
            Stage::TempoLiveStore => "tempo_live_store",
            Stage::TempoStorage => "tempo_storage",
            Stage::Canary => "canary",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The role whose targets feed this stage.
    /// The role whose targets count the stage; the canary is read back from Tempo.
    pub fn role(self) -> Role {
        match self {
            Stage::App => Role::App,
            Stage::CollectorReceiver | Stage::CollectorExporter => Role::Collector,
            _ => Role::Tempo,
        }
    }

    /// What the stage's success and failure counters count (for HELP texts and the UI).
    pub fn unit(self) -> &'static str {
        match self {
            Stage::TempoIngester => "push requests",
            Stage::TempoKafka => "records",
            Stage::TempoLiveStore => "traces and blocks",
            Stage::TempoStorage => "block flushes",
            Stage::Canary => "canary traces",
            _ => "spans",
        }
    }
}

/// The status of a stage (docs/architecture.md, "Stages and status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Events, and the success ratio at or above `degraded_below`.
    Ok,
    /// No events in the window.
    Idle,
    /// Success ratio below `degraded_below`.
    Degraded,
    /// Success ratio at or below `failing_below`: spans stop here.
    Failing,
    /// A target of the stage is down or does not look like its role: nothing can be judged.
    Unknown,
}

impl StageStatus {
    pub const ALL: [StageStatus; 5] = [
        StageStatus::Ok,
        StageStatus::Idle,
        StageStatus::Degraded,
        StageStatus::Failing,
        StageStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Ok => "ok",
            StageStatus::Idle => "idle",
            StageStatus::Degraded => "degraded",
            StageStatus::Failing => "failing",
            StageStatus::Unknown => "unknown",
        }
    }
}

/// The stages a pipeline has, in order, given the configured roles and Tempo's generation.
pub fn stages_for(roles: &[Role], tempo: Generation) -> Vec<Stage> {
    let mut stages = Vec::new();
    if roles.contains(&Role::App) {
        stages.push(Stage::App);
    }
    if roles.contains(&Role::Collector) {
        stages.extend([Stage::CollectorReceiver, Stage::CollectorExporter]);
    }
    if roles.contains(&Role::Tempo) {
        stages.push(Stage::TempoDistributor);
        match tempo {
            Generation::TempoV2 { .. } => stages.push(Stage::TempoIngester),
            Generation::TempoV3Monolithic => stages.push(Stage::TempoLiveStore),
            Generation::TempoV3Microservices => {
                stages.extend([Stage::TempoKafka, Stage::TempoLiveStore])
            }
            // Until the version is known only the stages every version has are shown: a
            // 3.x Tempo must never show a false "ingester down".
            Generation::Unknown => {}
        }
        stages.push(Stage::TempoStorage);
    }
    stages
}

/// Stages whose counters move once per block (every 30 s or more) are judged over the long
/// window; judging them over the last poll would flap between ok and idle.
pub fn judged_over_long_window(stage: Stage) -> bool {
    matches!(
        stage,
        Stage::TempoStorage | Stage::TempoLiveStore | Stage::Canary
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_3_never_gets_an_ingester_stage() {
        let all = [Role::App, Role::Collector, Role::Tempo];
        assert!(!stages_for(&all, Generation::TempoV3Monolithic).contains(&Stage::TempoIngester));
        assert_eq!(
            stages_for(&[Role::Tempo], Generation::TempoV3Microservices),
            [
                Stage::TempoDistributor,
                Stage::TempoKafka,
                Stage::TempoLiveStore,
                Stage::TempoStorage
            ]
        );
        assert_eq!(
            stages_for(&[Role::Tempo], Generation::Unknown),
            [Stage::TempoDistributor, Stage::TempoStorage]
        );
    }
}
