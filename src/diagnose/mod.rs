//! Names the cause behind what the stages show: which cause, the stage it blames, the
//! evidence (numbers), and the fix.
//!
//! Input: the [`Derived`] pipeline (stage statuses, per-target health, Tempo's status
//! endpoints and gRPC probes) and the counter [`Totals`]. Output: a list of [`Diagnosis`],
//! most severe first. Rules follow the failure table of
//! `../shared/research/tempo-and-collector.md` §5; the ones that look alike are told apart by
//! the evidence that separates them:
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

use serde::Serialize;

use crate::derive::{Derived, StageReport, TargetReport, Totals};
use crate::model::counter::{self, Counter};
use crate::model::software::Generation;
use crate::model::stage::{Role, Stage, StageStatus};
use crate::source::page;
use crate::source::probe::Speaks;
use crate::source::tempo::{Read, TempoEvidence};

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
}

impl Cause {
    pub const ALL: [Cause; 20] = [
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
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::TargetUnreachable => "target_unreachable",
            Cause::TargetAuthFailed => "target_auth_failed",
            Cause::TargetPageUnreadable => "target_page_unreadable",
            Cause::GrpcTlsMismatch => "grpc_tls_mismatch",
            Cause::IngesterPushFailing => "ingester_push_failing",
            Cause::IngesterRingEmpty => "ingester_ring_empty",
            Cause::IngestersNotActive => "ingesters_not_active",
            Cause::IngestersBelowReplicationFactor => "ingesters_below_replication_factor",
            Cause::KafkaProduceFailing => "kafka_produce_failing",
            Cause::NoActivePartitions => "no_active_partitions",
            Cause::RateLimited => "rate_limited",
            Cause::LiveTracesExceeded => "live_traces_exceeded",
            Cause::TraceTooLarge => "trace_too_large",
            Cause::StorageFlushFailing => "storage_flush_failing",
            Cause::CollectorExporterFailing => "collector_exporter_failing",
            Cause::CollectorQueueFull => "collector_queue_full",
            Cause::CollectorMemoryLimited => "collector_memory_limited",
            Cause::AppNotExporting => "app_not_exporting",
            Cause::TempoReceiverMetricsMissing => "tempo_receiver_metrics_missing",
            Cause::QueryFrontendNoQueriers => "query_frontend_no_queriers",
        }
    }

    /// One line: what is going on.
    pub fn summary(self) -> &'static str {
        match self {
            Cause::TargetUnreachable => {
                "spanflow cannot reach this target, so its stages cannot be judged"
            }
            Cause::TargetAuthFailed => "the target refuses spanflow's credentials (HTTP 401/403)",
            Cause::TargetPageUnreadable => {
                "the target answers, but not with a metrics page spanflow can read"
            }
            Cause::GrpcTlsMismatch => {
                "Tempo's internal gRPC server and the distributor's ingester client disagree on TLS, so every push to the ingesters fails and every span is refused"
            }
            Cause::IngesterPushFailing => {
                "the distributor's pushes to the ingesters fail at the transport (network, DNS, timeouts, certificates)"
            }
            Cause::IngesterRingEmpty => {
                "the ingester ring has no members, so the distributor has nowhere to write"
            }
            Cause::IngestersNotActive => {
                "ingesters in the ring are not ACTIVE (joining, leaving or unhealthy), so writes cannot reach enough of them"
            }
            Cause::IngestersBelowReplicationFactor => {
                "fewer ACTIVE ingesters than a write quorum of the replication factor, so every write is refused"
            }
            Cause::KafkaProduceFailing => "the distributor cannot write to Kafka",
            Cause::NoActivePartitions => {
                "no live-store partition is Active, so the distributor cannot place writes"
            }
            Cause::RateLimited => "Tempo refuses spans over the tenant's ingestion rate limit",
            Cause::LiveTracesExceeded => {
                "Tempo drops spans of tenants over their live-traces limit; senders see success (silent loss)"
            }
            Cause::TraceTooLarge => {
                "Tempo drops spans of traces over the maximum trace size; senders see success (silent loss)"
            }
            Cause::StorageFlushFailing => {
                "blocks fail to flush to object storage: ingest looks healthy, but nothing reaches long-term storage"
            }
            Cause::CollectorExporterFailing => {
                "the Collector's exporter cannot deliver spans to the next hop"
            }
            Cause::CollectorQueueFull => {
                "the Collector's sending queue is (nearly) full; once full, new spans are dropped"
            }
            Cause::CollectorMemoryLimited => "the Collector's memory_limiter refuses spans",
            Cause::AppNotExporting => "the app's exporter delivers no spans",
            Cause::TempoReceiverMetricsMissing => {
                "this Tempo (2.4–2.5) lacks tempo_receiver_* metrics; spanflow falls back to spans received minus discards, and refusals before the distributor are invisible"
            }
            Cause::QueryFrontendNoQueriers => {
                "no querier is connected to Tempo's query-frontend: traces may be stored, but nothing can search or fetch them (the read path)"
            }
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Cause::TargetUnreachable => {
                "check the target's url, that the port is reachable from spanflow, and its TLS settings (ca_file, server_name)"
            }
            Cause::TargetAuthFailed => {
                "set the target's basic_auth or bearer_token_file to credentials the endpoint accepts"
            }
            Cause::TargetPageUnreadable => {
                "point the url at the metrics endpoint (for tempo: the API base, e.g. http://tempo:3200), or raise body_size_limit if the page is larger"
            }
            Cause::GrpcTlsMismatch => GRPC_TLS_MISMATCH_FIX_SERVER_TLS,
            Cause::IngesterPushFailing => {
                "check the distributor log for the push error: 'connection refused' or 'i/o timeout' means network or DNS between distributor and ingesters; 'certificate' errors mean tls_ca_path/tls_server_name; 'error reading server preface' means a TLS mismatch"
            }
            Cause::IngesterRingEmpty => {
                "make the ingesters join the ring: check memberlist.join_members and that every component uses the same kvstore; wait for ingesters to become ACTIVE"
            }
            Cause::IngestersNotActive => {
                "stabilise the ingesters (OOM kills, rollouts); remove dead members with POST /ingester/ring forget=<id>"
            }
            Cause::IngestersBelowReplicationFactor => {
                "run at least replication_factor ingesters (a write needs a quorum of replication_factor/2+1 ACTIVE), or lower ingester.lifecycler.ring.replication_factor"
            }
            Cause::KafkaProduceFailing => {
                "check Kafka reachability, SASL/TLS, topic partition count and producer_max_buffered_bytes; the failure reason label says which"
            }
            Cause::NoActivePartitions => {
                "start the live-stores and make sure their partitions turn Active (/partition-ring)"
            }
            Cause::RateLimited => {
                "raise the tenant's ingestion limits — overrides.defaults.ingestion.rate_limit_bytes and burst_size_bytes (per tenant in the runtime overrides file under ingestion:; legacy flat overrides: ingestion_rate_limit_bytes / ingestion_burst_size_bytes) — or reduce the volume (sampling)"
            }
            Cause::LiveTracesExceeded => {
                "raise max_traces_per_user (3.x: max_live_traces_bytes), scale ingesters/live-stores, or fix instrumentation that opens too many traces"
            }
            Cause::TraceTooLarge => {
                "raise max_bytes_per_trace, or fix instrumentation that makes huge traces (loops, unbounded spans)"
            }
            Cause::StorageFlushFailing => {
                "check the backend credentials, bucket permissions, quota and network; watch the WAL disk meanwhile"
            }
            Cause::CollectorExporterFailing => {
                "check the exporter's endpoint and TLS against the receiver: 'error reading server preface: http2: frame too large' means a plaintext exporter to a TLS receiver, 'first record does not look like a TLS handshake' the reverse (set tls.insecure or ca_file); 'connection refused' means nothing listens (Tempo ≥ 2.7 binds OTLP to localhost by default)"
            }
            Cause::CollectorQueueFull => {
                "fix the slow or failing backend first; meanwhile raise sending_queue.queue_size or use a persistent queue"
            }
            Cause::CollectorMemoryLimited => {
                "raise the memory_limiter limits or scale the Collector out"
            }
            Cause::AppNotExporting => {
                "check the app's OTLP endpoint, port and protocol, and that it receives traffic; check its sampler"
            }
            Cause::TempoReceiverMetricsMissing => {
                "upgrade Tempo to 2.6 or later, where the receiver metrics are back"
            }
            Cause::QueryFrontendNoQueriers => {
                "make the queriers reach the query-frontend: querier.frontend_worker.frontend_address must point at it, and querier.frontend_worker.grpc_client_config must agree with server.grpc_tls_config (with a certificate on the gRPC server: tls_enabled: true with tls_ca_path or tls_insecure_skip_verify; without one: tls_enabled: false)"
            }
        }
    }
}

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

/// The fix of a TLS mismatch whose gRPC server has a certificate while the clients dial
/// plaintext (the incident).
const GRPC_TLS_MISMATCH_FIX_SERVER_TLS: &str = "either enable TLS on Tempo's gRPC clients — ingester_client.grpc_client_config (and metrics_generator_client, querier.frontend_worker): {tls_enabled: true, tls_ca_path, tls_server_name or tls_insecure_skip_verify} — or remove server.grpc_tls_config; the OTLP receivers have their own TLS, which is why senders still connect";

/// The fix of the reverse mismatch: the clients dial TLS, the server is plaintext.
const GRPC_TLS_MISMATCH_FIX_CLIENT_TLS: &str = "either set tls_enabled: false on Tempo's gRPC clients — ingester_client.grpc_client_config (and metrics_generator_client, querier.frontend_worker) — or give server.grpc_tls_config a certificate (cert_file and key_file) so the server speaks TLS; the distributor log says 'first record does not look like a TLS handshake'";

/// The fix when the direction is not known.
const GRPC_TLS_MISMATCH_FIX_EITHER: &str = "make Tempo's gRPC server and its clients agree: with a certificate in server.grpc_tls_config, set tls_enabled: true (with tls_ca_path or tls_insecure_skip_verify) in ingester_client.grpc_client_config, metrics_generator_client and querier.frontend_worker; without one, set tls_enabled: false there";

/// The fix when both sides use TLS and pushes still fail: certificate trust comes first.
const INGESTER_PUSH_FIX_BOTH_TLS: &str = "first make the distributor trust the ingesters' certificate: set ingester_client.grpc_client_config.tls_ca_path to the CA that signed it (and tls_server_name to a name in it), or tls_insecure_skip_verify: true; if the distributor log shows no certificate error, check the network between distributor and ingesters ('connection refused', 'i/o timeout')";

const TRUST_TELL_APART: &str = "alternatives, most likely first: certificate trust (the distributor log says 'x509: certificate signed by unknown authority' — spanflow's probe accepts any certificate, so it cannot see this), the server name ('x509: certificate is valid for …, not …': set tls_server_name), then the network ('connection refused', 'i/o timeout')";

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

/// Every rule, over one snapshot.
pub fn diagnose(snapshot: &Derived, totals: &Totals) -> Vec<Diagnosis> {
    let facts = Facts { snapshot, totals };
    let mut found = Vec::new();
    targets(&facts, &mut found);
    tempo_write_path(&facts, &mut found);
    latent_ring(&facts, &mut found);
    tempo_limits(&facts, &mut found);
    storage(&facts, &mut found);
    collector(&facts, &mut found);
    app(&facts, &mut found);
    read_path(&facts, &mut found);
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

/// Targets spanflow cannot read.
fn targets(f: &Facts, found: &mut Vec<Diagnosis>) {
    for t in &f.snapshot.targets {
        let Some(reason) = t.error_reason else {
            continue;
        };
        let Some(stage) = f.first_stage(t.role) else {
            continue;
        };
        let cause = match (reason, t.http_status) {
            ("http_status", Some(401 | 403)) => Cause::TargetAuthFailed,
            ("parse" | "too_large", _) => Cause::TargetPageUnreadable,
            _ => Cause::TargetUnreachable,
        };
        let mut d = diagnosis(cause, stage, Severity::Warning, Certainty::Confirmed);
        d.evidence.push(format!(
            "{} target {} ({}): {}",
            t.role.as_str(),
            t.name,
            t.url,
            t.last_error.as_deref().unwrap_or(reason)
        ));
        let errors: u64 = t.scrape_errors_total.values().sum();
        d.evidence
            .push(format!("{errors} failed polls since spanflow started"));
        found.push(d);
    }
}

/// What the evidence says about TLS between the distributor and the ingesters.
#[derive(Debug, Default)]
struct TlsView {
    /// The gRPC server needs TLS (probe: only TLS answers; or config: a server certificate).
    server_tls_only: Option<bool>,
    /// The distributor's ingester client uses TLS (config).
    client_tls: Option<bool>,
    /// The client has a `tls_ca_path` or skips verification (config): it can trust a
    /// private CA.
    client_trusts_private_ca: Option<bool>,
    evidence: Vec<String>,
}

/// Which way a TLS mismatch between Tempo's gRPC server and its clients goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MismatchDirection {
    /// The server has a certificate; the clients dial plaintext (the incident).
    ServerTls,
    /// The clients dial TLS; the server is plaintext.
    ClientTls,
}

impl MismatchDirection {
    fn fix(self) -> &'static str {
        match self {
            MismatchDirection::ServerTls => GRPC_TLS_MISMATCH_FIX_SERVER_TLS,
            MismatchDirection::ClientTls => GRPC_TLS_MISMATCH_FIX_CLIENT_TLS,
        }
    }
}

/// What the TLS evidence says about the distributor → ingester hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsVerdict {
    Mismatch(MismatchDirection, Certainty),
    /// Both sides use TLS: they agree on TLS, but whether the client trusts the server's
    /// certificate is not something spanflow's probe (which accepts any) can see.
    BothTls,
    /// Both sides plaintext: not a TLS problem.
    BothPlaintext,
    /// The server speaks plaintext; whether the clients use TLS is not known.
    ServerPlaintextClientUnknown,
    /// Nothing known about the server.
    Unknown,
}

/// The verdict from what the server needs and what the client does.
fn tls_verdict(server_tls_only: Option<bool>, client_tls: Option<bool>) -> TlsVerdict {
    use MismatchDirection::{ClientTls, ServerTls};
    match (server_tls_only, client_tls) {
        (Some(true), Some(false)) => TlsVerdict::Mismatch(ServerTls, Certainty::Confirmed),
        // Tempo's clients dial plaintext unless told otherwise.
        (Some(true), None) => TlsVerdict::Mismatch(ServerTls, Certainty::Likely),
        (Some(false), Some(true)) => TlsVerdict::Mismatch(ClientTls, Certainty::Confirmed),
        (Some(true), Some(true)) => TlsVerdict::BothTls,
        (Some(false), Some(false)) => TlsVerdict::BothPlaintext,
        (Some(false), None) => TlsVerdict::ServerPlaintextClientUnknown,
        (None, _) => TlsVerdict::Unknown,
    }
}

fn tls_view(f: &Facts) -> TlsView {
    let mut view = TlsView::default();
    for (t, e) in f.tempo_evidence() {
        match &e.status.config {
            Read::Ok(config) => {
                view.server_tls_only.get_or_insert(config.grpc_server_tls);
                if let Some(client) = config.ingester_client_tls {
                    view.client_tls = Some(client);
                }
                view.client_trusts_private_ca =
                    Some(config.ingester_client_tls_ca || config.ingester_client_skip_verify);
                view.evidence.push(format!(
                    "{}: /status/config: server.grpc_tls_config {} certificate; ingester_client.grpc_client_config.tls_enabled is {}",
                    t.name,
                    if config.grpc_server_tls { "has a" } else { "has no" },
                    config
                        .ingester_client_tls
                        .map_or("not set".to_owned(), |v| v.to_string()),
                ));
            }
            Read::Unavailable(why) => view
                .evidence
                .push(format!("{}: /status/config unavailable ({why})", t.name)),
        }
        if !e.probes_enabled {
            view.evidence.push(format!(
                "{}: gRPC probe off (probes.grpc_health: false)",
                t.name
            ));
        }
        for p in &e.probes {
            view.evidence.push(format!(
                "{}: gRPC health probe of {}: plaintext {}; TLS {}",
                t.name,
                p.address,
                p.plaintext.describe(),
                p.tls.describe()
            ));
            // The probe is the stronger evidence: it is what the server does, not what a
            // file says.
            match p.speaks() {
                Speaks::TlsOnly => view.server_tls_only = Some(true),
                Speaks::PlaintextOnly | Speaks::Both => view.server_tls_only = Some(false),
                Speaks::Unreachable => {}
            }
        }
    }
    view
}

const TLS_TELL_APART: &str = "a TLS mismatch shows as 'error reading server preface: EOF' or 'connection reset by peer' in the distributor log, and as 'plaintext fails, TLS answers' from spanflow's gRPC probe (probes.grpc_health); 'connection refused' or 'i/o timeout' mean the network; /status/config shows server.grpc_tls_config and ingester_client.grpc_client_config.tls_enabled side by side";

const RING_TELL_APART: &str = "Tempo's /ingester/ring (JSON) lists the members and their states, and /status/config gives ingester.lifecycler.ring.replication_factor: no members means an empty ring, members not ACTIVE mean unhealthy ingesters, fewer ACTIVE than replication_factor/2+1 means too few for the quorum";

/// Tempo's write path: distributor → ingesters (2.x), Kafka and partitions (3.x).
fn tempo_write_path(f: &Facts, found: &mut Vec<Diagnosis>) {
    use StageStatus::{Degraded, Failing};
    let refused_recent = f.refused(false);
    let numbers = || f.distributor_numbers();

    if let Generation::TempoV2 {
        receiver_counters: false,
    } = f.snapshot.tempo_generation
    {
        let mut d = diagnosis(
            Cause::TempoReceiverMetricsMissing,
            Stage::TempoDistributor,
            Severity::Info,
            Certainty::Confirmed,
        );
        let versions: Vec<String> = f
            .targets(Role::Tempo)
            .filter_map(|t| t.version.clone())
            .collect();
        d.evidence.push(format!(
            "Tempo {} has no tempo_receiver_accepted_spans/refused_spans",
            versions.join(", ")
        ));
        found.push(d);
    }

    ingester_transport(f, found);

    // 2.x: refused with no append attempted → the ring.
    let v2 = matches!(
        f.snapshot.tempo_generation,
        Generation::TempoV2 { .. } | Generation::Unknown
    );
    let rate_limited = f.recent_discarded("rate_limited");
    if v2
        && f.is(Stage::TempoDistributor, &[Failing, Degraded])
        && refused_recent > 0.0
        && f.recent(Counter::TempoAppends) == 0.0
        && rate_limited < refused_recent / 2.0
    {
        let ring = ring_view(f);
        let mut evidence = vec![
            numbers(),
            format!("no ingester append attempted {}", f.over()),
        ];
        evidence.extend(ring.evidence.iter().cloned());
        let severity = if f.is(Stage::TempoDistributor, &[Failing]) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let push = |cause, certainty| {
            let mut d = diagnosis(cause, Stage::TempoDistributor, severity, certainty);
            d.evidence = evidence.clone();
            d
        };
        match (ring.members, ring.active) {
            (Some(0), _) => found.push(push(Cause::IngesterRingEmpty, Certainty::Confirmed)),
            (_, Some(0)) => found.push(push(Cause::IngestersNotActive, Certainty::Confirmed)),
            (_, Some(active)) => {
                let quorum = ring.replication_factor.map(|rf| rf / 2 + 1);
                if quorum.is_some_and(|q| active < q as usize) {
                    found.push(push(
                        Cause::IngestersBelowReplicationFactor,
                        Certainty::Confirmed,
                    ));
                } else if ring.not_active > 0 {
                    found.push(push(Cause::IngestersNotActive, Certainty::Likely));
                } else if quorum.is_none() {
                    // Members look fine but the replication factor is unknown.
                    let mut d = push(Cause::IngestersBelowReplicationFactor, Certainty::Possible);
                    d.tell_apart = Some(RING_TELL_APART);
                    found.push(d);
                }
            }
            (_, None) => {
                let candidates = [
                    Cause::IngesterRingEmpty,
                    Cause::IngestersNotActive,
                    Cause::IngestersBelowReplicationFactor,
                ];
                for cause in candidates {
                    let mut d = push(cause, Certainty::Possible);
                    d.alternatives = candidates.iter().copied().filter(|c| *c != cause).collect();
                    d.tell_apart = Some(RING_TELL_APART);
                    found.push(d);
                }
            }
        }
    }

    // 3.x microservices: Kafka and partitions.
    if f.snapshot.tempo_generation == Generation::TempoV3Microservices {
        if f.is(Stage::TempoKafka, &[Failing, Degraded]) {
            let mut d = diagnosis(
                Cause::KafkaProduceFailing,
                Stage::TempoKafka,
                if f.is(Stage::TempoKafka, &[Failing]) {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                Certainty::Confirmed,
            );
            d.evidence.push(format!(
                "{} of {} Kafka produce requests failed {}",
                count(f.window(Counter::KafkaProduceFailures)),
                count(f.window(Counter::KafkaProduced)),
                f.over()
            ));
            d.evidence.push(numbers());
            found.push(d);
        }
        let partitions = partition_view(f);
        if let Some(0) = partitions.active
            && f.is(Stage::TempoDistributor, &[Failing, Degraded])
        {
            let mut d = diagnosis(
                Cause::NoActivePartitions,
                Stage::TempoDistributor,
                Severity::Critical,
                Certainty::Confirmed,
            );
            d.evidence.push(numbers());
            d.evidence.extend(partitions.evidence);
            found.push(d);
        }
    }
}

/// 2.x: the distributor's pushes to the ingesters. Every append failing is a transport
/// failure, told apart by the TLS evidence. With no push yet (the stage idle), a TLS
/// mismatch the evidence shows is reported as latent: the first span will be refused.
fn ingester_transport(f: &Facts, found: &mut Vec<Diagnosis>) {
    let failing = f.is(Stage::TempoIngester, &[StageStatus::Failing]);
    let idle = f.is(Stage::TempoIngester, &[StageStatus::Idle]);
    if !failing && !idle {
        return;
    }
    let view = tls_view(f);
    let verdict = tls_verdict(view.server_tls_only, view.client_tls);
    if idle {
        if let TlsVerdict::Mismatch(direction, certainty) = verdict {
            let mut d = diagnosis(
                Cause::GrpcTlsMismatch,
                Stage::TempoIngester,
                Severity::Critical,
                certainty,
            );
            d.latent = true;
            d.fix = direction.fix();
            d.evidence.push(format!(
                "no push to the ingesters yet {}, and the evidence below shows none can succeed",
                f.over()
            ));
            d.evidence.extend(view.evidence);
            found.push(d);
        }
        return;
    }
    let appends = f.window(Counter::TempoAppends);
    let failures = f.window(Counter::TempoAppendFailures).min(appends);
    let mut evidence = vec![
        f.distributor_numbers(),
        format!(
            "{} of {} ingester appends failed {}",
            count(failures),
            count(appends),
            f.over()
        ),
    ];
    if let Some(active) = ring_view(f).active {
        evidence.push(format!(
            "{active} ACTIVE ingester(s) in the ring: the ring is fine, the pushes fail"
        ));
    }
    evidence.extend(view.evidence.iter().cloned());
    let push = |cause, certainty| {
        let mut d = diagnosis(cause, Stage::TempoIngester, Severity::Critical, certainty);
        d.evidence = evidence.clone();
        d
    };
    match verdict {
        TlsVerdict::Mismatch(direction, certainty) => {
            let mut d = push(Cause::GrpcTlsMismatch, certainty);
            d.fix = direction.fix();
            found.push(d);
        }
        TlsVerdict::BothTls => {
            let mut d = push(Cause::IngesterPushFailing, Certainty::Likely);
            d.evidence.push(
                "both sides use TLS; spanflow's probe accepts any certificate, so it cannot tell whether the distributor trusts the ingesters' certificate".into(),
            );
            if view.client_trusts_private_ca == Some(false) {
                d.evidence.push(
                    "ingester_client.grpc_client_config has no tls_ca_path and does not skip verification: the distributor trusts only the system's CAs, so a private or self-signed ingester certificate is refused".into(),
                );
            }
            d.fix = INGESTER_PUSH_FIX_BOTH_TLS;
            d.tell_apart = Some(TRUST_TELL_APART);
            found.push(d);
        }
        TlsVerdict::BothPlaintext => {
            let mut d = push(Cause::IngesterPushFailing, Certainty::Confirmed);
            d.evidence
                .push("both sides use plaintext, so it is not a TLS mismatch".into());
            found.push(d);
        }
        TlsVerdict::ServerPlaintextClientUnknown | TlsVerdict::Unknown => {
            let fix = if verdict == TlsVerdict::Unknown {
                GRPC_TLS_MISMATCH_FIX_EITHER
            } else {
                GRPC_TLS_MISMATCH_FIX_CLIENT_TLS
            };
            for (cause, other) in [
                (Cause::GrpcTlsMismatch, Cause::IngesterPushFailing),
                (Cause::IngesterPushFailing, Cause::GrpcTlsMismatch),
            ] {
                let mut d = push(cause, Certainty::Possible);
                if cause == Cause::GrpcTlsMismatch {
                    d.fix = fix;
                }
                d.alternatives = vec![other];
                d.tell_apart = Some(TLS_TELL_APART);
                found.push(d);
            }
        }
    }
}

/// 2.x with no traffic: a ring that cannot take a write — empty, or fewer ingesters than a
/// write quorum even counting those still joining — is a latent cause. Only from the ring
/// page of a Tempo that says it is ready: while Tempo starts, its ring is empty and
/// `tempo_ring_members` reads 0 for a few polls (seen in the 2.7.2 restart series), and
/// ingesters that are JOINING or PENDING become ACTIVE within seconds.
fn latent_ring(f: &Facts, found: &mut Vec<Diagnosis>) {
    let v2 = matches!(f.snapshot.tempo_generation, Generation::TempoV2 { .. });
    if !v2 || !f.is(Stage::TempoDistributor, &[StageStatus::Idle]) {
        return;
    }
    let settled = f.tempo_evidence().all(|(_, e)| {
        e.ready.ok().is_some_and(|r| r.ready) && e.status.ingester_ring.ok().is_some()
    });
    if !settled || f.tempo_evidence().next().is_none() {
        return;
    }
    let ring = ring_view(f);
    let quorum = ring.replication_factor.map(|rf| rf / 2 + 1);
    let cause = match (ring.members, ring.active) {
        (Some(0), _) => Cause::IngesterRingEmpty,
        (_, Some(active)) if quorum.is_some_and(|q| active + ring.starting < q as usize) => {
            Cause::IngestersBelowReplicationFactor
        }
        _ => return,
    };
    let mut d = diagnosis(
        cause,
        Stage::TempoDistributor,
        Severity::Critical,
        Certainty::Confirmed,
    );
    d.latent = true;
    d.evidence.push(format!(
        "no span reached the distributor yet {}, and the ring below cannot take a write",
        f.over()
    ));
    d.evidence.extend(ring.evidence);
    found.push(d);
}

/// What Tempo's `/ready` says that is a cause rather than start-up: the words Tempo
/// writes, and the cause. (`grafana/tempo` modules/frontend: "number of queriers connected
/// to query-frontend is 0"; seen on 2.10.8 when the querier's worker dialled a TLS-only gRPC
/// server in plaintext.) Start-up reasons ("waiting for 15s after being ready") are not here.
const READY_CAUSES: [(&str, Cause); 1] = [(
    "number of queriers connected to query-frontend is 0",
    Cause::QueryFrontendNoQueriers,
)];

/// Tempo's read path, from `/ready`: reported at `tempo_query`, never at a write stage.
fn read_path(f: &Facts, found: &mut Vec<Diagnosis>) {
    for (t, e) in f.tempo_evidence() {
        let Some(ready) = e.ready.ok().filter(|r| !r.ready) else {
            continue;
        };
        for (words, cause) in READY_CAUSES {
            if !ready.message.contains(words) {
                continue;
            }
            let mut d = diagnosis(
                cause,
                Site::TempoQuery,
                Severity::Warning,
                Certainty::Confirmed,
            );
            d.evidence
                .push(format!("{}: /ready 503: {}", t.name, ready.message));
            if let Some(config) = e.status.config.ok()
                && let Some(worker_tls) = config.frontend_worker_tls
                && worker_tls != config.grpc_server_tls
            {
                d.evidence.push(format!(
                    "{}: /status/config: querier.frontend_worker.grpc_client_config.tls_enabled is {worker_tls} while server.grpc_tls_config has {} certificate: the querier cannot reach the query-frontend — the same TLS mismatch as on the write path",
                    t.name,
                    if config.grpc_server_tls { "a" } else { "no" }
                ));
            }
            found.push(d);
        }
    }
}

#[derive(Debug, Default)]
struct RingView {
    members: Option<usize>,
    active: Option<usize>,
    not_active: usize,
    /// JOINING or PENDING: on their way to ACTIVE.
    starting: usize,
    replication_factor: Option<u32>,
    evidence: Vec<String>,
}

/// The ingester ring, from `/ingester/ring` when readable, else from `tempo_ring_members`.
fn ring_view(f: &Facts) -> RingView {
    let mut view = RingView::default();
    for t in f.targets(Role::Tempo) {
        if let Some(rf) = t
            .tempo
            .as_ref()
            .and_then(|e| e.status.config.ok())
            .and_then(|c| c.replication_factor)
        {
            view.replication_factor = Some(rf);
            view.evidence.push(format!(
                "{}: replication_factor {rf} (/status/config)",
                t.name
            ));
        }
        let ring = t.tempo.as_ref().and_then(|e| e.status.ingester_ring.ok());
        if let Some(ring) = ring {
            let active = ring.count("ACTIVE");
            view.members = Some(view.members.unwrap_or(0) + ring.members.len());
            view.active = Some(view.active.unwrap_or(0) + active);
            view.not_active += ring.members.len() - active;
            view.starting += ring.count("JOINING") + ring.count("PENDING");
            let states: Vec<String> = ring
                .members
                .iter()
                .take(8)
                .map(|m| format!("{} {} at {}", m.id, m.state, m.address))
                .collect();
            view.evidence.push(format!(
                "{}: /ingester/ring has {} member(s), {active} ACTIVE{}",
                t.name,
                ring.members.len(),
                if states.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", states.join(", "))
                }
            ));
            continue;
        }
        let gauge =
            |state| page::ring_gauge(&t.ring_gauges, "tempo_ring_members", "ingester", state);
        if let Some(active) = gauge("ACTIVE") {
            let others: f64 = ["JOINING", "PENDING", "LEAVING", "Unhealthy"]
                .iter()
                .filter_map(|s| gauge(s))
                .sum();
            let starting: f64 = ["JOINING", "PENDING"].iter().filter_map(|s| gauge(s)).sum();
            view.starting += starting as usize;
            let members = (active + others) as usize;
            view.members = Some(view.members.unwrap_or(0) + members);
            view.active = Some(view.active.unwrap_or(0) + active as usize);
            view.not_active += others as usize;
            view.evidence.push(format!(
                "{}: tempo_ring_members{{name=\"ingester\"}}: {} ACTIVE, {} in other states",
                t.name,
                count(active),
                count(others)
            ));
        }
    }
    view
}

#[derive(Debug, Default)]
struct PartitionView {
    active: Option<usize>,
    evidence: Vec<String>,
}

fn partition_view(f: &Facts) -> PartitionView {
    let mut view = PartitionView::default();
    for t in f.targets(Role::Tempo) {
        if let Some(ring) = t.tempo.as_ref().and_then(|e| e.status.partition_ring.ok()) {
            view.active = Some(view.active.unwrap_or(0) + ring.active());
            view.evidence.push(format!(
                "{}: /partition-ring has {} partition(s), {} Active",
                t.name,
                ring.partitions.len(),
                ring.active()
            ));
        } else if let Some(active) = page::ring_gauge(
            &t.ring_gauges,
            "tempo_partition_ring_partitions",
            "livestore-partitions",
            "Active",
        ) {
            view.active = Some(view.active.unwrap_or(0) + active as usize);
            view.evidence.push(format!(
                "{}: tempo_partition_ring_partitions{{state=\"Active\"}} = {}",
                t.name,
                count(active)
            ));
        }
    }
    view
}

/// Tempo's limit drops, from its discard counter.
fn tempo_limits(f: &Facts, found: &mut Vec<Diagnosis>) {
    let limits_stage = match f.snapshot.tempo_generation {
        Generation::TempoV3Monolithic | Generation::TempoV3Microservices => Stage::TempoLiveStore,
        _ => Stage::TempoIngester,
    };
    let limits_stage = if f.stage(limits_stage).is_some() {
        limits_stage
    } else {
        Stage::TempoDistributor
    };
    for (cause, reason, stage) in [
        (Cause::RateLimited, "rate_limited", Stage::TempoDistributor),
        (
            Cause::LiveTracesExceeded,
            "live_traces_exceeded",
            limits_stage,
        ),
        (Cause::TraceTooLarge, "trace_too_large", limits_stage),
    ] {
        if f.recent_discarded(reason) <= 0.0 {
            continue;
        }
        let severity = if cause == Cause::RateLimited
            && f.is(Stage::TempoDistributor, &[StageStatus::Failing])
        {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut d = diagnosis(cause, stage, severity, Certainty::Confirmed);
        d.evidence.push(format!(
            "{} spans discarded with reason=\"{reason}\" {} ({:.2}/s)",
            count(f.window_discarded(reason)),
            f.over(),
            f.window_discarded(reason) / f.totals.window_seconds.max(1.0)
        ));
        d.evidence.push(f.distributor_numbers());
        found.push(d);
    }
}

fn storage(f: &Facts, found: &mut Vec<Diagnosis>) {
    use StageStatus::{Degraded, Failing};
    if !f.is(Stage::TempoStorage, &[Failing, Degraded]) {
        return;
    }
    let (flushed, failed) = match f.snapshot.tempo_generation {
        Generation::TempoV3Monolithic | Generation::TempoV3Microservices => (
            f.window(Counter::LiveStoreBlocksFlushed),
            f.window(Counter::LiveStoreFailedFlushes),
        ),
        _ => (
            f.window(Counter::TempoBlocksFlushed),
            f.window(Counter::TempoFailedFlushes),
        ),
    };
    let severity = if f.is(Stage::TempoStorage, &[Failing]) {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut d = diagnosis(
        Cause::StorageFlushFailing,
        Stage::TempoStorage,
        severity,
        Certainty::Confirmed,
    );
    d.evidence.push(format!(
        "{} block flushes failed, {} succeeded {}",
        count(failed),
        count(flushed),
        f.over()
    ));
    if f.accepted(true) > 0.0 {
        d.evidence.push(format!(
            "ingest looks healthy: {} spans accepted {}",
            count(f.accepted(true)),
            f.over()
        ));
    }
    found.push(d);
}

fn collector(f: &Facts, found: &mut Vec<Diagnosis>) {
    use StageStatus::{Degraded, Failing};
    if f.is(Stage::CollectorExporter, &[Failing, Degraded]) {
        let failing = f.is(Stage::CollectorExporter, &[Failing]);
        let mut d = diagnosis(
            Cause::CollectorExporterFailing,
            Stage::CollectorExporter,
            if failing {
                Severity::Critical
            } else {
                Severity::Warning
            },
            Certainty::Likely,
        );
        let failed =
            f.window(Counter::CollectorSendFailed) + f.window(Counter::CollectorEnqueueFailed);
        d.evidence.push(format!(
            "{} spans sent, {} failed to send or enqueue {}",
            count(f.window(Counter::CollectorSent)),
            count(failed),
            f.over()
        ));
        let tempo_up = f.targets(Role::Tempo).any(|t| t.up);
        let tempo_saw = f.refused(false) + f.accepted(false);
        if tempo_up && tempo_saw == 0.0 {
            d.evidence.push(
                "Tempo received nothing at all: the connection fails before gRPC (TLS/plaintext mismatch, wrong endpoint, or Tempo's OTLP receiver not listening on that address)"
                    .into(),
            );
            d.tell_apart = Some(
                "the Collector's log names it: 'http2: frame too large' or 'error reading server preface' is a plaintext exporter talking to a TLS receiver, 'first record does not look like a TLS handshake' a TLS exporter talking to a plaintext one, 'connection refused' nothing listening",
            );
        } else if tempo_up && f.refused(false) > 0.0 {
            // A symptom: the spans are lost because Tempo refuses them.
            d.severity = Severity::Warning;
            d.evidence.push(format!(
                "Tempo refuses spans ({} refused {}): the exporter fails because of Tempo — see Tempo's cause",
                count(f.refused(true)),
                f.over()
            ));
        } else if !tempo_up {
            d.certainty = Certainty::Possible;
            d.tell_apart = Some(
                "add the Tempo target (role: tempo) so spanflow can see whether Tempo receives and refuses, or receives nothing",
            );
        }
        found.push(d);
    }

    let fullest = f
        .targets(Role::Collector)
        .filter_map(|t| t.queue_fill_ratio.map(|r| (t, r)))
        .fold(
            None,
            |best: Option<(&TargetReport, f64)>, (t, r)| match best {
                Some((_, b)) if b >= r => best,
                _ => Some((t, r)),
            },
        );
    let enqueue_failed = f.recent(Counter::CollectorEnqueueFailed);
    if fullest.is_some_and(|(_, r)| r >= QUEUE_NEARLY_FULL) || enqueue_failed > 0.0 {
        let mut d = diagnosis(
            Cause::CollectorQueueFull,
            Stage::CollectorExporter,
            Severity::Warning,
            Certainty::Confirmed,
        );
        if let Some((t, r)) = fullest {
            d.evidence.push(format!(
                "{}: exporter queue {:.0} % full",
                t.name,
                r * 100.0
            ));
        }
        if enqueue_failed > 0.0 {
            d.severity = Severity::Critical;
            d.evidence.push(format!(
                "{} spans dropped because the queue was full {}",
                count(f.window(Counter::CollectorEnqueueFailed)),
                f.over()
            ));
        }
        found.push(d);
    }

    if f.recent(Counter::CollectorMemoryLimited) > 0.0 {
        let mut d = diagnosis(
            Cause::CollectorMemoryLimited,
            Stage::CollectorReceiver,
            Severity::Warning,
            Certainty::Confirmed,
        );
        d.evidence.push(format!(
            "{} spans refused by memory_limiter {}",
            count(f.window(Counter::CollectorMemoryLimited)),
            f.over()
        ));
        found.push(d);
    }
}

/// Above this queue fill, the queue counts as nearly full.
pub const QUEUE_NEARLY_FULL: f64 = 0.9;

fn app(f: &Facts, found: &mut Vec<Diagnosis>) {
    let Some(report) = f.stage(Stage::App) else {
        return;
    };
    let collector_receives =
        f.recent(Counter::CollectorAccepted) + f.recent(Counter::CollectorRefused);
    let collector_configured = f.targets(Role::Collector).next().is_some();
    match report.status {
        StageStatus::Idle => {
            let mut d = diagnosis(
                Cause::AppNotExporting,
                Stage::App,
                Severity::Info,
                Certainty::Possible,
            );
            d.evidence
                .push(format!("the app exported no spans {}", f.over()));
            d.tell_apart = Some(
                "an app without traffic exports nothing too: check that it is serving requests and that its sampler keeps some",
            );
            found.push(d);
        }
        StageStatus::Failing if !collector_configured || collector_receives == 0.0 => {
            let mut d = diagnosis(
                Cause::AppNotExporting,
                Stage::App,
                Severity::Critical,
                Certainty::Likely,
            );
            d.evidence.push(format!(
                "every export failed: {} exported, {} failed {}",
                count(f.window(Counter::AppSuccess)),
                count(f.window(Counter::AppFailure)),
                f.over()
            ));
            if collector_configured {
                d.evidence
                    .push("the Collector's receiver got nothing: the app does not reach it".into());
            }
            found.push(d);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
