//! Derives stage health from polled counters.
//!
//! Input: one [`PollOutcome`] per target per poll (or a store's increases), and a pipeline's
//! canary outcomes ([`canary`]). Output: a [`Derived`] — per stage the
//! success/failure counts over the short and the long window, the status, the success
//! ratio and rates, the blocked stage and the verdict, Tempo's discards and per-target
//! health — and the counter [`Totals`] diagnosis reads. It never names a cause: that is
//! `diagnose`, which runs after it (`snapshot::make`).
//!
//! Each target keeps the raw values of its last good poll and a fixed-size ring of per-poll
//! increases (one entry per poll, `window / poll_interval + 2` entries), so memory does not
//! grow with time. An increase is computed per series: a value that went down (a restarted
//! Tempo, or a changed `process_start_time_seconds`) counts as a new start from zero, never
//! as a negative increase; a series that was absent counts from zero (Tempo creates a
//! labelled series only at its first event). A failed poll adds nothing: the next good poll's
//! increase spans the gap, and windows prorate entries that straddle their start.
//!
//! Status uses the short window — the last poll, or the last two when the last saw nothing
//! — so total refusal shows within two polls and so does recovery; ratios and rates use the
//! long `window`. Time comes from tokio's clock so tests can pause it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::time::Instant;

pub mod canary;
mod components;
mod history;
mod judge;
mod tenants;

pub use components::ComponentReport;
use history::target_report;
pub use history::{PollError, PollOutcome, StoreRecord, TargetState, unix};
use judge::judge_stage;
pub use tenants::TenantReport;

use crate::config::Config;
use crate::model::counter::Increases;
use crate::model::software::Generation;
use crate::model::stage;
use crate::model::stage::{Role, Stage, StageStatus};
use crate::source::page::RingGauge;
use crate::source::tempo::TempoEvidence;

/// What the targets' histories say, computed at once from every target's state: stages,
/// verdict, targets. `diagnose` reads it; `snapshot::Snapshot` is it plus the causes.
#[derive(Debug, Clone, Serialize)]
pub struct Derived {
    /// Unix time of the derive.
    pub generated_unix: f64,
    #[serde(skip)]
    pub generated_at: Instant,
    pub window_seconds: f64,
    /// The verdict in one word (see [`Verdict`]).
    pub verdict: Verdict,
    /// No stage is failing, degraded or unknown (idle counts as healthy).
    pub healthy: bool,
    /// Every stage is idle: nothing in the window shows that the pipeline works.
    pub idle: bool,
    pub blocked_stage: Option<Stage>,
    pub stages: Vec<StageReport>,
    /// Tempo's discards per reason over the window, in spans per second.
    pub discarded_per_second: BTreeMap<String, f64>,
    pub targets: Vec<Arc<TargetReport>>,
    /// The Tempo architecture the stage list was chosen for.
    pub tempo_generation: Generation,
    /// The canary's outcomes, latencies and errors (a pipeline with a `canary:` block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<canary::CanaryReport>,
    /// Spans accepted by a hop over spans the hop before sent, over the window.
    pub hop_balance: Vec<HopBalance>,
    /// Each tenant of Tempo's distributor (at most `max_tenants`, the rest as `other`).
    pub tenants: Vec<TenantReport>,
    /// Each receiver and exporter of the Collector stages that have several, over the window.
    pub components: Vec<ComponentReport>,
}

/// What one hop sent against what the next accepted, over the window.
#[derive(Debug, Clone, Serialize)]
pub struct HopBalance {
    /// The sending stage (`app`, `collector_exporter`).
    pub from: Stage,
    /// The receiving stage (`collector_receiver`, `tempo_distributor`).
    pub to: Stage,
    /// Spans per second the sender sent, over the window.
    pub sent: f64,
    /// Spans per second the receiver accepted, over the window.
    pub accepted: f64,
    /// `accepted / sent`.
    pub ratio: f64,
    /// Below this, spans are lost between the hops; above `2 - below`, counted twice.
    pub below: f64,
}

/// The pipeline's verdict, from its stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every stage ok or idle, and at least one ok: spans pass.
    Healthy,
    /// Every stage idle: no traffic in the window, so nothing shows the pipeline works.
    Idle,
    /// A stage is failing: spans stop at the blocked stage.
    Blocked,
    /// A stage is degraded or unknown.
    NotHealthy,
}

impl Verdict {
    /// Worst first: blocked, not healthy, idle, healthy.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Blocked => 0,
            Verdict::NotHealthy => 1,
            Verdict::Idle => 2,
            Verdict::Healthy => 3,
        }
    }

    /// The verdict as a sentence, for the status page and `spanflow diagnose`.
    pub fn headline(self, blocked: Option<Stage>) -> String {
        match (self, blocked) {
            (Verdict::Healthy, _) => "Pipeline healthy".to_owned(),
            (Verdict::Idle, _) => {
                "No traffic in the window — nothing shows the pipeline works".to_owned()
            }
            (Verdict::Blocked, Some(stage)) => format!("Spans stop at {}", stage.as_str()),
            (Verdict::Blocked | Verdict::NotHealthy, _) => "Pipeline not healthy".to_owned(),
        }
    }
}

impl Derived {
    /// Sets the blocked stage, `healthy`, `idle` and the verdict from the stages' statuses.
    /// The blocked stage is where spans stop: the last of the first run of failing stages.
    /// A refusal travels upstream, so the deepest failing stage of the run is the cause.
    pub fn judge_pipeline(&mut self) {
        self.blocked_stage = self
            .stages
            .iter()
            .skip_while(|s| s.status != StageStatus::Failing)
            .take_while(|s| s.status == StageStatus::Failing)
            .last()
            .map(|s| s.stage);
        self.healthy = self
            .stages
            .iter()
            .all(|s| matches!(s.status, StageStatus::Ok | StageStatus::Idle));
        self.idle =
            !self.stages.is_empty() && self.stages.iter().all(|s| s.status == StageStatus::Idle);
        self.verdict = if self.blocked_stage.is_some() {
            Verdict::Blocked
        } else if self.idle {
            Verdict::Idle
        } else if self.healthy {
            Verdict::Healthy
        } else {
            Verdict::NotHealthy
        };
    }
}

/// Counter increases summed over every target: over the last one or two polls (what is
/// happening now, as stage status uses) and over the window (the numbers shown).
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub recent: Increases,
    pub window: Increases,
    pub window_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: Stage,
    pub status: StageStatus,
    /// Why the status is what it is, in words.
    pub reason: String,
    /// What the counts count (spans, push requests, block flushes…).
    pub unit: &'static str,
    /// Absent, like the rates, while the stage is `unknown` because a member target is
    /// down, unrecognised or not polled twice: the window's last good values are history,
    /// not the present, and are not shown as if they were.
    pub success_ratio: Option<f64>,
    pub success_per_second: Option<f64>,
    pub failure_per_second: Option<f64>,
    /// The counts the status was judged on.
    pub judged: Judged,
    /// Unix time the stage took its status (set by the snapshot's timeline).
    pub since_unix: Option<f64>,
    /// The status has held since spanflow first saw the stage: `since_unix` is when
    /// spanflow began watching, and the status may be older.
    pub since_first_seen: bool,
}

impl StageReport {
    /// A stage with this status and nothing counted, for tests of what reads statuses.
    #[cfg(test)]
    pub(crate) fn bare(stage: Stage, status: StageStatus) -> StageReport {
        StageReport {
            stage,
            status,
            reason: String::new(),
            unit: stage.unit(),
            success_ratio: None,
            success_per_second: Some(0.0),
            failure_per_second: Some(0.0),
            judged: Judged {
                success: 0.0,
                failure: 0.0,
                seconds: 0.0,
            },
            since_unix: None,
            since_first_seen: false,
        }
    }

    /// The rates in words, for the status page and `spanflow diagnose`.
    pub fn rates_text(&self) -> String {
        match (self.success_per_second, self.failure_per_second) {
            (Some(ok), Some(bad)) => format!("{ok:>8.2} ok/s {bad:>8.2} failed/s  {}", self.unit),
            _ => "no current rate".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Judged {
    pub success: f64,
    pub failure: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    /// `host:port`: with the name, what tells one instance of a target from another.
    pub address: String,
    /// Found by the target's `discovery`, not written in the configuration.
    pub discovered: bool,
    pub role: Role,
    pub url: String,
    pub up: bool,
    pub version: Option<String>,
    pub mode: Option<&'static str>,
    pub last_scrape_duration_seconds: Option<f64>,
    pub last_success_unix: Option<f64>,
    pub last_error: Option<String>,
    pub scrape_errors_total: BTreeMap<&'static str, u64>,
    /// The reason of the last poll's error (`timeout`, `connect`, …), and its HTTP status.
    pub error_reason: Option<&'static str>,
    pub http_status: Option<u16>,
    pub queue_fill_ratio: Option<f64>,
    /// The Collector's export requests in flight (v0.152+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight_requests: Option<f64>,
    /// Tempo 3.x: the most a Kafka consumer group lags, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_lag_seconds: Option<f64>,
    pub ring_gauges: Vec<RingGauge>,
    /// Tempo's status endpoints and probes (Tempo targets, after a good poll).
    pub tempo: Option<Arc<TempoEvidence>>,
}

/// What discovery says of one discovering target, as snapshots show it.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryReport {
    /// Index into the configuration's pipelines.
    #[serde(skip)]
    pub pipeline: usize,
    pub pipeline_name: String,
    pub target: String,
    pub role: Role,
    /// `dns` or `file`.
    pub mechanism: &'static str,
    /// Instances polled now.
    pub instances: usize,
    /// Unix time of the last refresh that answered (none before the first).
    pub last_refresh_unix: Option<f64>,
    /// The last refresh's error: with instances kept from before when the refresh failed,
    /// with none when the name does not exist.
    pub last_error: Option<String>,
    /// Failed or partial refreshes by reason, every reason present from the start.
    pub errors_total: BTreeMap<&'static str, u64>,
}

/// What one store-sourced pipeline's query API said at its last poll, as snapshots show it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// Index into the configuration's pipelines.
    #[serde(skip)]
    pub pipeline: usize,
    /// The configured pipeline's name (its split pipelines are `<name>/<value>`).
    pub pipeline_name: String,
    /// The kind of source: `prometheus` (any Prometheus-compatible query API).
    pub source: &'static str,
    /// The API's URL without credentials.
    pub url: String,
    /// The last poll's queries all answered (none before the first poll).
    pub up: Option<bool>,
    /// The last poll's answers carried warnings: the reading was used, but may be partial.
    pub partial: bool,
    pub warnings: Vec<String>,
    pub last_error: Option<String>,
    /// Failed polls by reason, every reason present from the start.
    pub errors_total: BTreeMap<&'static str, u64>,
    pub last_query_seconds: Option<f64>,
    pub last_success_unix: Option<f64>,
    pub queries_per_poll: usize,
    /// Samples in the last poll's answers.
    pub samples: usize,
    /// Split values the last poll named (before the cap).
    pub split_values: usize,
}

impl SourceReport {
    pub fn new(pipeline: usize, name: &str, url: &str, queries_per_poll: usize) -> SourceReport {
        SourceReport {
            pipeline,
            pipeline_name: name.to_owned(),
            source: "prometheus",
            url: url.to_owned(),
            up: None,
            partial: false,
            warnings: Vec::new(),
            last_error: None,
            errors_total: crate::source::prometheus::QueryError::REASONS
                .iter()
                .map(|r| (*r, 0))
                .collect(),
            last_query_seconds: None,
            last_success_unix: None,
            queries_per_poll,
            samples: 0,
            split_values: 0,
        }
    }

    /// A poll failed: every stage of the pipeline is unknown until one answers.
    pub fn failed(&mut self, e: &crate::source::prometheus::QueryError) {
        self.up = Some(false);
        *self.errors_total.entry(e.reason()).or_default() += 1;
        self.last_error = Some(e.to_string());
        self.partial = false;
        self.warnings.clear();
    }

    /// A poll answered; more split values than `cap` are not followed, and the report says so.
    pub fn answered(
        &mut self,
        reading: &crate::source::store::StoreReading,
        wall: SystemTime,
        cap: usize,
    ) {
        self.up = Some(true);
        self.last_error = None;
        self.last_success_unix = Some(unix(wall));
        self.samples = reading.samples;
        self.split_values = reading.splits.len();
        self.partial = !reading.warnings.is_empty();
        self.warnings = reading.warnings.clone();
        if reading.splits.len() > cap {
            self.last_error = Some(format!(
                "{} split values; only the first {cap} are followed",
                reading.splits.len()
            ));
        }
    }

    /// Tempo's API for one split value could not be read (its URL or client).
    pub fn note_tempo_api_error(&mut self, key: &[String], error: &str) {
        let text = format!("tempo_api for {}: {error}", key.join("/"));
        match &mut self.last_error {
            Some(e) if !e.contains(&text) => {
                e.push_str("; ");
                e.push_str(&text);
            }
            Some(_) => {}
            None => self.last_error = Some(text),
        }
    }
}

/// Computes one pipeline's state from its instances' states, and the counter totals
/// diagnosis reads. `targets` are the pipeline's instances; `discovery` may hold every
/// pipeline's discovering targets (the pipeline's own are picked out).
pub fn derive(
    config: &Config,
    pipeline: usize,
    targets: &[TargetState],
    discovery: &[DiscoveryReport],
    canary: Option<&canary::CanaryState>,
    now: Instant,
    wall: SystemTime,
) -> (Derived, Totals) {
    let discovering: Vec<&DiscoveryReport> = discovery
        .iter()
        .filter(|d| d.pipeline == pipeline)
        .collect();
    // A discovering target that found no instance still has its stage, shown unknown.
    let mut roles: Vec<Role> = targets
        .iter()
        .map(|t| t.role)
        .chain(discovering.iter().map(|d| d.role))
        .collect();
    roles.sort();
    roles.dedup();
    let generation = pipeline_generation(targets);

    let mut stages = Vec::new();
    let mut tenants = Vec::new();
    let mut components = Vec::new();
    for stage in stage::stages_for(&roles, generation) {
        let members: Vec<&TargetState> =
            targets.iter().filter(|t| t.role == stage.role()).collect();
        let discovering: Vec<&DiscoveryReport> = discovering
            .iter()
            .copied()
            .filter(|d| d.role == stage.role())
            .collect();
        let thresholds = config.pipelines[pipeline].thresholds(stage);
        let mut report = judge_stage(thresholds, stage, &members, &discovering, generation);
        let judged = tenants::judge_tenants(&report, &members, thresholds, config.max_tenants);
        tenants::degrade_for_tenants(&mut report, &judged);
        tenants.extend(judged);
        components.extend(components::judge_components(&report, &members, thresholds));
        stages.push(report);
    }

    let canary = canary.map(|c| c.report(now));
    if let Some(report) = &canary {
        let thresholds = config.pipelines[pipeline].thresholds(Stage::Canary);
        stages.push(report.stage(thresholds, config.window.as_secs_f64()));
    }
    let (totals, discarded_per_second) = totals(targets);
    let hop_balance = hop_balance(&stages, config.window.as_secs_f64(), config.balance_below);

    let mut derived = Derived {
        generated_unix: unix(wall),
        generated_at: now,
        window_seconds: config.window.as_secs_f64(),
        verdict: Verdict::NotHealthy,
        healthy: false,
        idle: false,
        blocked_stage: None,
        stages,
        discarded_per_second,
        targets: targets
            .iter()
            .map(|t| {
                t.report
                    .clone()
                    .unwrap_or_else(|| Arc::new(target_report(t)))
            })
            .collect(),
        tempo_generation: generation,
        canary,
        hop_balance,
        tenants,
        components,
    };
    derived.judge_pipeline();
    (derived, totals)
}

/// The Tempo architecture of a pipeline from its Tempo targets' pages. In 3.x microservices
/// only a distributor's page shows the Kafka producer; a live-store's or block-builder's
/// alone reads as monolithic — so one target showing microservices decides.
fn pipeline_generation(targets: &[TargetState]) -> Generation {
    let mut known = targets
        .iter()
        .filter(|t| t.role == Role::Tempo)
        .map(|t| t.software.generation)
        .filter(|g| *g != Generation::Unknown);
    let first = known.next().unwrap_or_default();
    if first == Generation::TempoV3Monolithic
        && known.any(|g| g == Generation::TempoV3Microservices)
    {
        return Generation::TempoV3Microservices;
    }
    first
}

/// Fewer spans than this sent over the window are too few to weigh one hop against the next
/// (polls of the two sides land at different moments).
const MIN_SPANS_FOR_BALANCE: f64 = 100.0;

/// The hops whose both sides can be judged, each with the rate the sender sent and the
/// receiver accepted over the window: app exporter → Collector receiver, Collector exporter
/// → Tempo's distributor. Rates, not counts: each side's targets are polled at their own
/// moments, and a rate is its own window's. Never inside the Collector, where samplers drop
/// on purpose; never when a side is unknown (a member down or not yet judged: its counts are
/// not the whole hop) or sent too little to weigh.
fn hop_balance(stages: &[StageReport], window_seconds: f64, below: f64) -> Vec<HopBalance> {
    let rate = |stage: Stage| {
        stages
            .iter()
            .find(|s| s.stage == stage && s.status != stage::StageStatus::Unknown)
            .and_then(|s| s.success_per_second)
    };
    [
        (Stage::App, Stage::CollectorReceiver),
        (Stage::CollectorExporter, Stage::TempoDistributor),
    ]
    .into_iter()
    .filter_map(|(from, to)| {
        let (sent, accepted) = (rate(from)?, rate(to)?);
        (sent * window_seconds >= MIN_SPANS_FOR_BALANCE).then(|| HopBalance {
            from,
            to,
            sent,
            accepted,
            ratio: accepted / sent,
            below,
        })
    })
    .collect()
}

/// The counter totals of every instance, and Tempo's discards per reason per second.
fn totals(targets: &[TargetState]) -> (Totals, BTreeMap<String, f64>) {
    let mut discarded_per_second = BTreeMap::new();
    let mut totals = Totals::default();
    for t in targets {
        let (inc, seconds) = t.window_sum();
        let seconds = *seconds;
        totals.window.add_totals(inc);
        totals.window_seconds = totals.window_seconds.max(seconds);
        if let Some(recent) = t.last_polls(2).or_else(|| t.last_polls(1)) {
            totals.recent.add_totals(recent);
        }
        if t.role != Role::Tempo || seconds <= 0.0 {
            continue;
        }
        for (reason, v) in &inc.discarded {
            *discarded_per_second.entry(reason.clone()).or_insert(0.0) += v / seconds;
        }
    }
    (totals, discarded_per_second)
}

#[cfg(test)]
mod tests;
