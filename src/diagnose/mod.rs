//! Names the cause behind what the stages show: which cause, the stage it blames, the
//! evidence (numbers), and the fix.
//!
//! Input: the [`Derived`] pipeline (stage statuses, per-target health, Tempo's status
//! endpoints and gRPC probes) and the counter [`Totals`]. Output: a list of [`Diagnosis`],
//! most severe first. Rules follow the failure table of docs/diagnosis.md; the ones that
//! look alike are told apart by the evidence that separates them:
//!
//! - 100 % refused with every ingester append failing is a transport failure between the
//!   distributor and the ingesters. `/status/config` (gRPC server TLS on, ingester client TLS
//!   off) or the probe (plaintext gets no answer, TLS answers) proves a TLS mismatch;
//!   without either, both a TLS mismatch and another transport failure are reported as
//!   `possible`, with what would separate them.
//! - 100 % refused with **no** append attempted is the ring: empty, members not `ACTIVE`, or
//!   fewer `ACTIVE` than a write quorum of the replication factor.
//! - Limit drops (`rate_limited`, `live_traces_exceeded`, `trace_too_large`) come from
//!   Tempo's discard counter; the last two are silent (the sender sees success).
//!
//! Whether something is happening uses the same short window as stage status, so a cause
//! clears when its stage recovers; the numbers quoted are over the long window. A rule
//! never blames a stage the snapshot does not have.

mod app;
mod canary;
mod collector;
mod targets;
mod tempo;

pub use collector::QUEUE_NEARLY_FULL;

use serde::Serialize;

use crate::derive::{Derived, StageReport, TargetReport, Totals};
use crate::model::counter::{self, Counter};
use crate::model::software::Generation;
use crate::model::stage::{Role, Stage, StageStatus};
use crate::source::tempo::TempoEvidence;

/// A known cause. `as_str` is the `cause` label of `spanflow_diagnosis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    TargetUnreachable,
    TargetAuthFailed,
    TargetPageUnreadable,
    GrpcTlsMismatch,
    IngesterPushFailing,
    IngesterRingEmpty,
    IngestersNotActive,
    IngestersBelowReplicationFactor,
    KafkaProduceFailing,
    NoActivePartitions,
    RateLimited,
    LiveTracesExceeded,
    TraceTooLarge,
    StorageFlushFailing,
    CollectorExporterFailing,
    CollectorQueueFull,
    CollectorMemoryLimited,
    AppNotExporting,
    TempoReceiverMetricsMissing,
    QueryFrontendNoQueriers,
    SilentLoss,
    CanaryWriteRejected,
    QueryPathFailing,
    CanarySlow,
    SpansLostBetweenHops,
    HopDoubleCounted,
    AppExportFailing,
    AppQueueFull,
    InvalidTraceOrSpanIds,
    TenantRateLimited,
    TenantRefused,
    CollectorExporterDropping,
    LiveStoreDroppingRecords,
    TempoDiscardingOtherReason,
}

impl Cause {
    pub const ALL: [Cause; 34] = [
        Cause::TargetUnreachable,
        Cause::TargetAuthFailed,
        Cause::TargetPageUnreadable,
        Cause::GrpcTlsMismatch,
        Cause::IngesterPushFailing,
        Cause::IngesterRingEmpty,
        Cause::IngestersNotActive,
        Cause::IngestersBelowReplicationFactor,
        Cause::KafkaProduceFailing,
        Cause::NoActivePartitions,
        Cause::RateLimited,
        Cause::LiveTracesExceeded,
        Cause::TraceTooLarge,
        Cause::StorageFlushFailing,
        Cause::CollectorExporterFailing,
        Cause::CollectorQueueFull,
        Cause::CollectorMemoryLimited,
        Cause::AppNotExporting,
        Cause::TempoReceiverMetricsMissing,
        Cause::QueryFrontendNoQueriers,
        Cause::SilentLoss,
        Cause::CanaryWriteRejected,
        Cause::QueryPathFailing,
        Cause::CanarySlow,
        Cause::SpansLostBetweenHops,
        Cause::HopDoubleCounted,
        Cause::AppExportFailing,
        Cause::AppQueueFull,
        Cause::InvalidTraceOrSpanIds,
        Cause::TenantRateLimited,
        Cause::TenantRefused,
        Cause::CollectorExporterDropping,
        Cause::LiveStoreDroppingRecords,
        Cause::TempoDiscardingOtherReason,
    ];

    fn text(self) -> &'static CauseText {
        let text = &CAUSE_TEXTS[self as usize];
        debug_assert_eq!(text.cause, self, "CAUSE_TEXTS out of the enum's order");
        text
    }

    /// The `cause` label of `spanflow_diagnosis`.
    pub fn as_str(self) -> &'static str {
        self.text().id
    }

    /// One line: what is going on.
    pub fn summary(self) -> &'static str {
        self.text().summary
    }

    /// What to do about it (a rule may give a fix that fits the evidence better).
    pub fn fix(self) -> &'static str {
        self.text().fix
    }
}

/// What spanflow says of a cause.
struct CauseText {
    cause: Cause,
    id: &'static str,
    summary: &'static str,
    fix: &'static str,
}

/// Every cause's id, summary and default fix, in the order of [`Cause`] (a test checks).
const CAUSE_TEXTS: [CauseText; 34] = [
    CauseText {
        cause: Cause::TargetUnreachable,
        id: "target_unreachable",
        summary: "spanflow cannot reach this target, so its stages cannot be judged",
        fix: "check the target's url, that the port is reachable from spanflow, and its TLS settings (ca_file, server_name)",
    },
    CauseText {
        cause: Cause::TargetAuthFailed,
        id: "target_auth_failed",
        summary: "the target refuses spanflow's credentials (HTTP 401/403)",
        fix: "set the target's basic_auth or bearer_token_file to credentials the endpoint accepts",
    },
    CauseText {
        cause: Cause::TargetPageUnreadable,
        id: "target_page_unreadable",
        summary: "the target answers, but not with a metrics page spanflow can read",
        fix: "point the url at the metrics endpoint (for tempo: the API base, e.g. http://tempo:3200), or raise body_size_limit if the page is larger",
    },
    CauseText {
        cause: Cause::GrpcTlsMismatch,
        id: "grpc_tls_mismatch",
        summary: "Tempo's internal gRPC server and the distributor's ingester client disagree on TLS, so every push to the ingesters fails and every span is refused",
        fix: GRPC_TLS_MISMATCH_FIX_SERVER_TLS,
    },
    CauseText {
        cause: Cause::IngesterPushFailing,
        id: "ingester_push_failing",
        summary: "the distributor's pushes to the ingesters fail at the transport (network, DNS, timeouts, certificates)",
        fix: "check the distributor log for the push error: 'connection refused' or 'i/o timeout' means network or DNS between distributor and ingesters; 'certificate' errors mean tls_ca_path/tls_server_name; 'error reading server preface' means a TLS mismatch",
    },
    CauseText {
        cause: Cause::IngesterRingEmpty,
        id: "ingester_ring_empty",
        summary: "the ingester ring has no members, so the distributor has nowhere to write",
        fix: "make the ingesters join the ring: check memberlist.join_members and that every component uses the same kvstore; wait for ingesters to become ACTIVE",
    },
    CauseText {
        cause: Cause::IngestersNotActive,
        id: "ingesters_not_active",
        summary: "ingesters in the ring are not ACTIVE (joining, leaving or unhealthy), so writes cannot reach enough of them",
        fix: "stabilise the ingesters (OOM kills, rollouts); remove dead members with POST /ingester/ring forget=<id>",
    },
    CauseText {
        cause: Cause::IngestersBelowReplicationFactor,
        id: "ingesters_below_replication_factor",
        summary: "fewer ACTIVE ingesters than a write quorum of the replication factor, so every write is refused",
        fix: "run at least replication_factor ingesters (a write needs a quorum of replication_factor/2+1 ACTIVE), or lower ingester.lifecycler.ring.replication_factor",
    },
    CauseText {
        cause: Cause::KafkaProduceFailing,
        id: "kafka_produce_failing",
        summary: "the distributor cannot write to Kafka",
        fix: "check Kafka reachability, SASL/TLS, topic partition count and producer_max_buffered_bytes; the failure reason label says which",
    },
    CauseText {
        cause: Cause::NoActivePartitions,
        id: "no_active_partitions",
        summary: "no live-store partition is Active, so the distributor cannot place writes",
        fix: "start the live-stores and make sure their partitions turn Active (/partition-ring)",
    },
    CauseText {
        cause: Cause::RateLimited,
        id: "rate_limited",
        summary: "Tempo refuses spans over the tenant's ingestion rate limit",
        fix: "raise the tenant's ingestion limits — overrides.defaults.ingestion.rate_limit_bytes and burst_size_bytes (per tenant in the runtime overrides file under ingestion:; legacy flat overrides: ingestion_rate_limit_bytes / ingestion_burst_size_bytes) — or reduce the volume (sampling)",
    },
    CauseText {
        cause: Cause::LiveTracesExceeded,
        id: "live_traces_exceeded",
        summary: "Tempo drops spans of tenants over their live-traces limit; senders see success (silent loss)",
        fix: "raise max_traces_per_user (3.x: max_live_traces_bytes), scale ingesters/live-stores, or fix instrumentation that opens too many traces",
    },
    CauseText {
        cause: Cause::TraceTooLarge,
        id: "trace_too_large",
        summary: "Tempo drops spans of traces over the maximum trace size; senders see success (silent loss)",
        fix: "raise max_bytes_per_trace, or fix instrumentation that makes huge traces (loops, unbounded spans)",
    },
    CauseText {
        cause: Cause::StorageFlushFailing,
        id: "storage_flush_failing",
        summary: "blocks fail to flush to object storage: ingest looks healthy, but nothing reaches long-term storage",
        fix: "check the backend credentials, bucket permissions, quota and network; watch the WAL disk meanwhile",
    },
    CauseText {
        cause: Cause::CollectorExporterFailing,
        id: "collector_exporter_failing",
        summary: "the Collector's exporter cannot deliver spans to the next hop",
        fix: "check the exporter's endpoint and TLS against the receiver: 'error reading server preface: http2: frame too large' means a plaintext exporter to a TLS receiver, 'first record does not look like a TLS handshake' the reverse (set tls.insecure or ca_file); 'connection refused' means nothing listens (Tempo ≥ 2.7 binds OTLP to localhost by default)",
    },
    CauseText {
        cause: Cause::CollectorQueueFull,
        id: "collector_queue_full",
        summary: "the Collector's sending queue is (nearly) full; once full, new spans are dropped",
        fix: "fix the slow or failing backend first; meanwhile raise sending_queue.queue_size or use a persistent queue",
    },
    CauseText {
        cause: Cause::CollectorMemoryLimited,
        id: "collector_memory_limited",
        summary: "the Collector's memory_limiter refuses spans",
        fix: "raise the memory_limiter limits or scale the Collector out",
    },
    CauseText {
        cause: Cause::AppNotExporting,
        id: "app_not_exporting",
        summary: "the app's exporter delivers no spans",
        fix: "check the app's OTLP endpoint, port and protocol, and that it receives traffic; check its sampler",
    },
    CauseText {
        cause: Cause::TempoReceiverMetricsMissing,
        id: "tempo_receiver_metrics_missing",
        summary: "this Tempo (2.4–2.5) lacks tempo_receiver_* metrics; spanflow falls back to spans received minus discards, and refusals before the distributor are invisible",
        fix: "upgrade Tempo to 2.6 or later, where the receiver metrics are back",
    },
    CauseText {
        cause: Cause::QueryFrontendNoQueriers,
        id: "query_frontend_no_queriers",
        summary: "no querier is connected to Tempo's query-frontend: traces may be stored, but nothing can search or fetch them (the read path)",
        fix: "make the queriers reach the query-frontend: querier.frontend_worker.frontend_address must point at it, and querier.frontend_worker.grpc_client_config must agree with server.grpc_tls_config (with a certificate on the gRPC server: tls_enabled: true with tls_ca_path or tls_insecure_skip_verify; without one: tls_enabled: false)",
    },
    CauseText {
        cause: Cause::SilentLoss,
        id: "silent_loss",
        summary: "spans are accepted everywhere and never become queryable: every counter stage is ok, yet canary traces are missing",
        fix: "follow a canary trace: check the Collector's tail_sampling and filter processors (exempt spanflow.canary=true or service.name=spanflow-canary), an exporter pointed at another Tempo or tenant, and Tempo's ingester/live-store and block flushes (tempo_ingester_blocks_flushed_total, compactor retention)",
    },
    CauseText {
        cause: Cause::CanaryWriteRejected,
        id: "canary_write_rejected",
        summary: "the pipeline's entry refuses the canary's OTLP write",
        fix: "check canary.write (endpoint, protocol, headers such as X-Scope-OrgID, TLS) against the receiver the apps use; the status and message say why it refused",
    },
    CauseText {
        cause: Cause::QueryPathFailing,
        id: "query_path_failing",
        summary: "Tempo's query API fails while ingest looks fine: traces may be stored, but cannot be read",
        fix: "check Tempo's query-frontend and queriers (tempo_query_frontend_queue_length, querier logs), the read target's URL and credentials, and that /api/traces/<id> answers for a known trace",
    },
    CauseText {
        cause: Cause::CanarySlow,
        id: "canary_slow",
        summary: "canary traces become queryable, but later than canary.slow_after",
        fix: "look for the delay: the Collector's batch timeout and queue (otelcol_exporter_queue_size), Tempo's ingester flush (max_block_duration) or the live-store's lag, and the query-frontend's search of recent data",
    },
    CauseText {
        cause: Cause::SpansLostBetweenHops,
        id: "spans_lost_between_hops",
        summary: "the next hop accepts fewer spans than the hop before says it sent, while both report success",
        fix: "find where the rest go: a second, unwatched Collector or Tempo the senders also export to, a load balancer dropping connections, or instances of either side spanflow does not poll",
    },
    CauseText {
        cause: Cause::HopDoubleCounted,
        id: "hop_double_counted",
        summary: "the next hop accepts more spans than the hop before says it sent: retries counted twice, or senders spanflow does not watch",
        fix: "check retry settings on the sending side (retry_on_failure, the SDK's retries) and whether other senders export to the same receiver",
    },
    CauseText {
        cause: Cause::AppExportFailing,
        id: "app_export_failing",
        summary: "the app's SDK reports its span exports failing",
        fix: "check the SDK's exporter endpoint (OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT), protocol (grpc vs http/protobuf and their ports 4317/4318), TLS and headers against the Collector's receiver; the SDK's error_type says how it fails",
    },
    CauseText {
        cause: Cause::AppQueueFull,
        id: "app_queue_full",
        summary: "the app's SDK drops spans before export: its span processor's queue is full",
        fix: "raise the batch span processor's queue (OTEL_BSP_MAX_QUEUE_SIZE) or its export rate (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY), or sample less; a slow or failing exporter fills the queue too",
    },
    CauseText {
        cause: Cause::InvalidTraceOrSpanIds,
        id: "invalid_trace_or_span_ids",
        summary: "Tempo discards spans whose trace or span ID is invalid (all zero, or not 16 / 8 bytes): a sender writes bad IDs",
        fix: "find the sender (the discards carry the tenant; Tempo's log names the trace): a custom ID generator or propagator, a proxy or converter that rewrites IDs, a hand-made OTLP payload; Tempo 3.x discards such spans (reason invalid_trace_id / invalid_span_id)",
    },
    CauseText {
        cause: Cause::TenantRateLimited,
        id: "tenant_rate_limited",
        summary: "Tempo refuses one tenant's spans over its ingestion rate limit while other tenants pass",
        fix: "raise that tenant's limits in the runtime overrides file (overrides: {<tenant>: {ingestion: {rate_limit_bytes, burst_size_bytes}}}; legacy flat overrides: ingestion_rate_limit_bytes / ingestion_burst_size_bytes), or have the tenant send less (sampling); the evidence names the tenant",
    },
    CauseText {
        cause: Cause::TenantRefused,
        id: "tenant_refused",
        summary: "Tempo discards one tenant's spans while other tenants pass",
        fix: "the discard reason in the evidence says which per-tenant limit or fault: live_traces_exceeded → that tenant's max_traces_per_user (3.x: max_live_traces_bytes), trace_too_large → its max_bytes_per_trace, invalid_trace_id / invalid_span_id → its senders' IDs; set per-tenant limits in the runtime overrides file",
    },
    CauseText {
        cause: Cause::CollectorExporterDropping,
        id: "collector_exporter_dropping",
        summary: "the Collector's exporter drops spans for good: the backend answers with a permanent error, which is never retried",
        fix: "read the exporter's error in the Collector's log (error_type names it): a 400/InvalidArgument is a payload Tempo will never take (too large a batch — lower send_batch_max_size; bad IDs), 401/403/Unauthenticated credentials or the tenant header (X-Scope-OrgID), 404/Unimplemented a wrong endpoint path; fix that — retry settings do not help",
    },
    CauseText {
        cause: Cause::LiveStoreDroppingRecords,
        id: "live_store_dropping_records",
        summary: "Tempo's live-store drops Kafka records it consumed: spans accepted, then lost from recent search (silent loss)",
        fix: "reason too_old: the live-store lags behind Kafka by more than complete_block_timeout — scale live-stores, give them more CPU, or find why they fell behind (restarts, back pressure); a decoding failure: a distributor and live-store of different versions, or a corrupt record — align versions",
    },
    CauseText {
        cause: Cause::TempoDiscardingOtherReason,
        id: "tempo_discarding_other_reason",
        summary: "Tempo discards spans for a reason spanflow has no rule for (a newer Tempo's reason, or reasons past the 32 kept)",
        fix: "look the reason up in Tempo's docs and its distributor/live-store log; the evidence names it and counts the spans",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Spans are being lost now at this stage.
    Critical,
    /// Some spans are lost, or spanflow cannot see a stage.
    Warning,
    /// Worth knowing; nothing lost because of it.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The evidence proves it.
    Confirmed,
    /// The evidence points to it; nothing known contradicts it.
    Likely,
    /// One of several causes the evidence cannot separate (see `alternatives`).
    Possible,
}

impl Certainty {
    pub fn as_str(self) -> &'static str {
        match self {
            Certainty::Confirmed => "confirmed",
            Certainty::Likely => "likely",
            Certainty::Possible => "possible",
        }
    }
}

/// Where a cause is: a stage of the write path, or Tempo's read path, which has no stage
/// (spans are stored but cannot be searched or fetched). `as_str` is the `stage` label of
/// `spanflow_diagnosis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    Stage(Stage),
    /// Tempo's query-frontend and queriers: `tempo_query`.
    TempoQuery,
}

impl Site {
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Stage(stage) => stage.as_str(),
            Site::TempoQuery => "tempo_query",
        }
    }

    /// The write-path stage, if the site is one.
    pub fn stage(self) -> Option<Stage> {
        match self {
            Site::Stage(stage) => Some(stage),
            Site::TempoQuery => None,
        }
    }
}

impl From<Stage> for Site {
    fn from(stage: Stage) -> Site {
        Site::Stage(stage)
    }
}

impl PartialEq<Stage> for Site {
    fn eq(&self, other: &Stage) -> bool {
        *self == Site::Stage(*other)
    }
}

impl Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One detected cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub cause: Cause,
    pub stage: Site,
    /// The evidence shows the cause before any span met it: with no traffic, the
    /// configuration or the probe already shows that the write path cannot work. The
    /// stage it blames is shown as `failing` (see [`mark_latent_stages`]).
    pub latent: bool,
    pub severity: Severity,
    pub certainty: Certainty,
    pub summary: &'static str,
    /// What was seen, with numbers.
    pub evidence: Vec<String>,
    pub fix: &'static str,
    /// Causes the evidence cannot tell apart from this one.
    pub alternatives: Vec<Cause>,
    /// What would tell them apart.
    pub tell_apart: Option<&'static str>,
}

/// The fix of a TLS mismatch whose gRPC server has a certificate while the clients dial
/// plaintext (the incident).
const GRPC_TLS_MISMATCH_FIX_SERVER_TLS: &str = "either enable TLS on Tempo's gRPC clients — ingester_client.grpc_client_config (and metrics_generator_client, querier.frontend_worker): {tls_enabled: true, tls_ca_path, tls_server_name or tls_insecure_skip_verify} — or remove server.grpc_tls_config; the OTLP receivers have their own TLS, which is why senders still connect";

/// Every rule, over one snapshot.
pub fn diagnose(snapshot: &Derived, totals: &Totals) -> Vec<Diagnosis> {
    let facts = Facts { snapshot, totals };
    let mut found = Vec::new();
    targets::targets(&facts, &mut found);
    tempo::tempo_write_path(&facts, &mut found);
    tempo::latent_ring(&facts, &mut found);
    tempo::tempo_limits(&facts, &mut found);
    tempo::live_store_drops(&facts, &mut found);
    tempo::storage(&facts, &mut found);
    collector::collector(&facts, &mut found);
    app::app(&facts, &mut found);
    tempo::read_path(&facts, &mut found);
    canary::canary(&facts, &mut found);
    canary::hops(&facts, &mut found);
    found.retain(|d| {
        d.stage
            .stage()
            .is_none_or(|stage| snapshot.stages.iter().any(|s| s.stage == stage))
    });
    // The blocked stage's causes first: that is where to act.
    found.sort_by_key(|d| {
        (
            snapshot.blocked_stage.map(Site::Stage) != Some(d.stage),
            d.severity,
            d.stage,
            d.certainty,
            d.cause,
        )
    });
    found.dedup_by_key(|d| (d.cause, d.stage));
    found
}

/// What a store-sourced pipeline without Tempo's HTTP API cannot know, said in the evidence
/// of every cause it blames on Tempo.
pub const STORE_WITHOUT_TEMPO_API: &str = "not read: Tempo's /status/config, its rings and the gRPC probe — this pipeline reads a metrics store and has no tempo_api (set source.prometheus.tempo_api to read them); the cause rests on counters and ring gauges only";

/// For a store-sourced pipeline: when no Tempo status evidence was read, every cause
/// blamed on Tempo says which evidence is missing, so a `possible` cause is not taken for
/// more than it is.
pub fn note_store_evidence(causes: &mut [Diagnosis], derived: &Derived) {
    let read = derived
        .targets
        .iter()
        .any(|t| t.role == Role::Tempo && t.tempo.is_some());
    if read {
        return;
    }
    for d in causes.iter_mut() {
        let tempo = match d.stage {
            Site::Stage(stage) => stage.role() == Role::Tempo,
            Site::TempoQuery => true,
        };
        if tempo {
            d.evidence.push(STORE_WITHOUT_TEMPO_API.to_owned());
        }
    }
}

/// Shows a stage that a latent cause blames as `failing` while it is idle — no traffic,
/// but the evidence shows the first span will not pass — and judges the pipeline again, so
/// the blocked stage, `spanflow_pipeline_healthy` and the verdict say so before traffic
/// does.
pub fn mark_latent_stages(snapshot: &mut Derived, causes: &[Diagnosis]) {
    let mut marked = false;
    for d in causes.iter().filter(|d| d.latent) {
        let Some(stage) = d.stage.stage() else {
            continue;
        };
        if let Some(report) = snapshot
            .stages
            .iter_mut()
            .find(|s| s.stage == stage && s.status == StageStatus::Idle)
        {
            report.status = StageStatus::Failing;
            report.reason = format!(
                "{}, and the evidence shows none can succeed: {} (latent)",
                report.reason,
                d.cause.as_str()
            );
            marked = true;
        }
    }
    if marked {
        snapshot.judge_pipeline();
    }
}

struct Facts<'a> {
    snapshot: &'a Derived,
    totals: &'a Totals,
}

impl Facts<'_> {
    fn stage(&self, stage: Stage) -> Option<&StageReport> {
        self.snapshot.stages.iter().find(|s| s.stage == stage)
    }

    fn status(&self, stage: Stage) -> Option<StageStatus> {
        self.stage(stage).map(|s| s.status)
    }

    fn is(&self, stage: Stage, statuses: &[StageStatus]) -> bool {
        self.status(stage).is_some_and(|s| statuses.contains(&s))
    }

    fn recent(&self, c: Counter) -> f64 {
        self.totals.recent.get(c)
    }

    fn window(&self, c: Counter) -> f64 {
        self.totals.window.get(c)
    }

    fn recent_discarded(&self, reason: &str) -> f64 {
        self.totals.recent.discarded(&[reason])
    }

    fn window_discarded(&self, reason: &str) -> f64 {
        self.totals.window.discarded(&[reason])
    }

    /// "over the last 60 s", for evidence lines.
    fn over(&self) -> String {
        format!("over the last {:.0} s", self.totals.window_seconds)
    }

    fn targets(&self, role: Role) -> impl Iterator<Item = &TargetReport> {
        self.snapshot
            .targets
            .iter()
            .map(|t| &**t)
            .filter(move |t| t.role == role)
    }

    fn tempo_evidence(&self) -> impl Iterator<Item = (&TargetReport, &TempoEvidence)> {
        self.targets(Role::Tempo)
            .filter_map(|t| t.tempo.as_deref().map(|e| (t, e)))
    }

    /// The first stage of a role in this pipeline.
    fn first_stage(&self, role: Role) -> Option<Stage> {
        self.snapshot
            .stages
            .iter()
            .map(|s| s.stage)
            .find(|s| s.role() == role)
    }

    /// The distributor's refused spans, whichever counter this Tempo has.
    fn refused(&self, window: bool) -> f64 {
        let inc = if window {
            &self.totals.window
        } else {
            &self.totals.recent
        };
        match self.snapshot.tempo_generation {
            Generation::TempoV2 {
                receiver_counters: false,
            } => {
                counter::stage_counts(Stage::TempoDistributor, inc, self.snapshot.tempo_generation)
                    .failure
            }
            _ => inc.get(Counter::TempoRefused),
        }
    }

    /// The distributor's refusals and acceptances over the window, for evidence. Tempo
    /// counts a span again each time its sender retries the push (20 spans/s sent showed as
    /// 57 refused/s on Tempo 2.10.8 with the Python SDK's retries), so these are counts, not
    /// distinct spans.
    fn distributor_numbers(&self) -> String {
        format!(
            "{} spans refused, {} accepted by the distributor {} (counts include the sender's retries: a span pushed again is counted again)",
            count(self.refused(true)),
            count(self.accepted(true)),
            self.over()
        )
    }

    fn accepted(&self, window: bool) -> f64 {
        let inc = if window {
            &self.totals.window
        } else {
            &self.totals.recent
        };
        counter::stage_counts(Stage::TempoDistributor, inc, self.snapshot.tempo_generation).success
    }
}

fn diagnosis(
    cause: Cause,
    stage: impl Into<Site>,
    severity: Severity,
    certainty: Certainty,
) -> Diagnosis {
    Diagnosis {
        cause,
        stage: stage.into(),
        latent: false,
        severity,
        certainty,
        summary: cause.summary(),
        evidence: Vec::new(),
        fix: cause.fix(),
        alternatives: Vec::new(),
        tell_apart: None,
    }
}

/// A count for evidence lines: whole numbers as such; window sums prorate polls that
/// straddle the window's start, so large ones are rounded and small ones keep a decimal.
fn count(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 || v >= 10.0 {
        format!("{:.0}", v)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn cause_texts_are_in_the_order_of_the_enum() {
        for (i, cause) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(cause as usize, i);
            assert_eq!(CAUSE_TEXTS[i].cause, cause);
        }
    }
}
