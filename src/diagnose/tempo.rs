//! Tempo's causes: the write path between distributor and ingesters (TLS, transport, the
//! ring), Kafka and partitions on 3.x, limit drops, storage flushes, and the read path
//! (`/ready` of the query-frontend). The TLS evidence — `/status/config` and the gRPC probe
//! — decides a mismatch's direction and certainty ([`tls_verdict`]).

use super::{
    Cause, Certainty, Diagnosis, Facts, GRPC_TLS_MISMATCH_FIX_SERVER_TLS, Severity, Site, count,
    diagnosis,
};
use crate::model::counter::Counter;
use crate::model::software::Generation;
use crate::model::stage::{Role, Stage, StageStatus};
use crate::source::page;
use crate::source::probe::Speaks;
use crate::source::tempo::Read;

/// The fix of the reverse mismatch: the clients dial TLS, the server is plaintext.
const GRPC_TLS_MISMATCH_FIX_CLIENT_TLS: &str = "either set tls_enabled: false on Tempo's gRPC clients — ingester_client.grpc_client_config (and metrics_generator_client, querier.frontend_worker) — or give server.grpc_tls_config a certificate (cert_file and key_file) so the server speaks TLS; the distributor log says 'first record does not look like a TLS handshake'";

/// The fix when the direction is not known.
const GRPC_TLS_MISMATCH_FIX_EITHER: &str = "make Tempo's gRPC server and its clients agree: with a certificate in server.grpc_tls_config, set tls_enabled: true (with tls_ca_path or tls_insecure_skip_verify) in ingester_client.grpc_client_config, metrics_generator_client and querier.frontend_worker; without one, set tls_enabled: false there";

/// The fix when both sides use TLS and pushes still fail: certificate trust comes first.
const INGESTER_PUSH_FIX_BOTH_TLS: &str = "first make the distributor trust the ingesters' certificate: set ingester_client.grpc_client_config.tls_ca_path to the CA that signed it (and tls_server_name to a name in it), or tls_insecure_skip_verify: true; if the distributor log shows no certificate error, check the network between distributor and ingesters ('connection refused', 'i/o timeout')";

const TRUST_TELL_APART: &str = "alternatives, most likely first: certificate trust (the distributor log says 'x509: certificate signed by unknown authority' — spanflow's probe accepts any certificate, so it cannot see this), the server name ('x509: certificate is valid for …, not …': set tls_server_name), then the network ('connection refused', 'i/o timeout')";

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
pub(super) fn tempo_write_path(f: &Facts, found: &mut Vec<Diagnosis>) {
    receiver_metrics_missing(f, found);
    ingester_transport(f, found);
    refused_by_the_ring(f, found);
    kafka_and_partitions(f, found);
}

/// Tempo 2.4–2.5 has no receiver counters: said once, as information.
fn receiver_metrics_missing(f: &Facts, found: &mut Vec<Diagnosis>) {
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
}

/// 2.x: refused with no append attempted → the ring (empty, not ACTIVE, below quorum).
fn refused_by_the_ring(f: &Facts, found: &mut Vec<Diagnosis>) {
    use StageStatus::{Degraded, Failing};
    let refused_recent = f.refused(false);
    let numbers = || f.distributor_numbers();
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
}

/// 3.x microservices: Kafka produce failures, no Active partition.
fn kafka_and_partitions(f: &Facts, found: &mut Vec<Diagnosis>) {
    use StageStatus::{Degraded, Failing};
    let numbers = || f.distributor_numbers();
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
            d.evidence.extend(produce_failure_reasons(f));
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

/// What each Kafka produce-failure reason of Tempo's writer means (grafana/tempo
/// pkg/ingest/writer_client.go, `produceErrReason`).
const PRODUCE_FAILURE_REASONS: [(&str, &str); 5] = [
    (
        "buffer-full",
        "the distributor's produce buffer is full (ingest_storage.kafka.producer_max_buffered_bytes): Kafka takes records slower than they come",
    ),
    (
        "record-too-large",
        "Kafka refuses records over its max.message.bytes: raise the topic's limit or lower ingest_storage.kafka.producer_max_record_size_bytes",
    ),
    (
        "timeout",
        "records not acknowledged within ingest_storage.kafka.write_timeout: Kafka is slow or unreachable",
    ),
    (
        "cancelled-before-producing",
        "the push was cancelled before its records were buffered (the sender gave up)",
    ),
    ("other", "see the distributor's log for the Kafka error"),
];

/// The Kafka produce failures per reason over the window, each with what it means.
fn produce_failure_reasons(f: &Facts) -> Vec<String> {
    f.totals
        .window
        .by_label_of(Counter::KafkaProduceFailures)
        .into_iter()
        .map(|(reason, n)| {
            let meaning = PRODUCE_FAILURE_REASONS
                .iter()
                .find(|(r, _)| *r == reason)
                .map_or("", |(_, m)| m);
            format!("{} failed with reason=\"{reason}\": {meaning}", count(n))
        })
        .collect()
}

/// 3.x: the live-store drops Kafka records it consumed — spans Tempo accepted, then lost.
pub(super) fn live_store_drops(f: &Facts, found: &mut Vec<Diagnosis>) {
    if f.recent(Counter::LiveStoreRecordsDropped) <= 0.0 {
        return;
    }
    let mut d = diagnosis(
        Cause::LiveStoreDroppingRecords,
        Stage::TempoLiveStore,
        Severity::Warning,
        Certainty::Confirmed,
    );
    d.evidence.push(format!(
        "{} of {} Kafka records dropped by the live-store {}",
        count(f.window(Counter::LiveStoreRecordsDropped)),
        count(
            f.window(Counter::LiveStoreRecordsProcessed)
                + f.window(Counter::LiveStoreRecordsDropped)
        ),
        f.over()
    ));
    for (reason, n) in f
        .totals
        .window
        .by_label_of(Counter::LiveStoreRecordsDropped)
    {
        d.evidence
            .push(format!("{} dropped with reason=\"{reason}\"", count(n)));
    }
    let lag = f
        .targets(Role::Tempo)
        .filter_map(|t| t.partition_lag_seconds)
        .fold(None, |most: Option<f64>, l| {
            Some(most.map_or(l, |m| m.max(l)))
        });
    if let Some(lag) = lag {
        d.evidence.push(format!(
            "the most a Kafka consumer group lags now: {lag:.0} s (tempo_ingest_group_partition_lag_seconds)"
        ));
    }
    found.push(d);
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
        latent_tls_mismatch(f, view, verdict, found);
    } else {
        pushes_failing(f, view, verdict, found);
    }
}

/// No push yet, and the evidence shows a mismatch: latent.
fn latent_tls_mismatch(f: &Facts, view: TlsView, verdict: TlsVerdict, found: &mut Vec<Diagnosis>) {
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
}

/// Every append failing: the TLS verdict says which transport cause, how certain.
fn pushes_failing(f: &Facts, view: TlsView, verdict: TlsVerdict, found: &mut Vec<Diagnosis>) {
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
pub(super) fn latent_ring(f: &Facts, found: &mut Vec<Diagnosis>) {
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
pub(super) fn read_path(f: &Facts, found: &mut Vec<Diagnosis>) {
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

/// Tempo's limit drops, from its discard counter; a tenant failing while others pass is
/// named (and then the whole-Tempo `rate_limited` is not said: it would blame every tenant).
pub(super) fn tempo_limits(f: &Facts, found: &mut Vec<Diagnosis>) {
    let tenant_limited = tenant_failures(f, found);
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
        if f.recent_discarded(reason) <= 0.0 || (cause == Cause::RateLimited && tenant_limited) {
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
    unknown_discard_reasons(f, found);
    // Tempo 3.x discards spans with invalid IDs (tempodb's discard reasons, 3.0).
    let invalid = ["invalid_trace_id", "invalid_span_id"];
    if invalid.iter().map(|r| f.recent_discarded(r)).sum::<f64>() > 0.0 {
        let mut d = diagnosis(
            Cause::InvalidTraceOrSpanIds,
            Stage::TempoDistributor,
            Severity::Warning,
            Certainty::Confirmed,
        );
        for reason in invalid {
            let n = f.window_discarded(reason);
            if n > 0.0 {
                d.evidence.push(format!(
                    "{} spans discarded with reason=\"{reason}\" {}",
                    count(n),
                    f.over()
                ));
            }
        }
        found.push(d);
    }
}

/// The discard reasons a rule of spanflow explains (Tempo's reasons up to
/// `trace_too_large_to_compact`); any other is still reported.
const EXPLAINED_DISCARD_REASONS: &[&str] =
    crate::model::counter::TENANT_DISCARD_REASONS.split_at(7).0;

/// Discards with a reason no rule explains (a newer Tempo's, or `other` past the cap).
fn unknown_discard_reasons(f: &Facts, found: &mut Vec<Diagnosis>) {
    let unknown: Vec<(&String, &f64)> = f
        .totals
        .recent
        .discarded
        .iter()
        .filter(|(r, v)| **v > 0.0 && !EXPLAINED_DISCARD_REASONS.contains(&r.as_str()))
        .collect();
    if unknown.is_empty() {
        return;
    }
    let mut d = diagnosis(
        Cause::TempoDiscardingOtherReason,
        Stage::TempoDistributor,
        Severity::Warning,
        Certainty::Confirmed,
    );
    for (reason, _) in unknown {
        d.evidence.push(format!(
            "{} spans discarded with reason=\"{reason}\" {}",
            count(f.window_discarded(reason)),
            f.over()
        ));
    }
    found.push(d);
}

/// Tenants of the distributor that fail while another passes: rate limited, or refused for
/// another reason (named). Returns whether a tenant was found rate limited.
fn tenant_failures(f: &Facts, found: &mut Vec<Diagnosis>) -> bool {
    use StageStatus::{Degraded, Failing, Ok};
    let tenants = &f.snapshot.tenants;
    let passing = tenants.iter().filter(|t| t.status == Ok).count();
    if passing == 0 {
        return false;
    }
    let mut limited = false;
    for (cause, rate_limited) in [
        (Cause::TenantRateLimited, true),
        (Cause::TenantRefused, false),
    ] {
        let named: Vec<&crate::derive::TenantReport> = tenants
            .iter()
            .filter(|t| matches!(t.status, Failing | Degraded))
            .filter(|t| (t.top_reason == Some("rate_limited")) == rate_limited)
            .collect();
        if named.is_empty() {
            continue;
        }
        limited |= rate_limited;
        let severity = if named.iter().any(|t| t.status == Failing) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut d = diagnosis(
            cause,
            Stage::TempoDistributor,
            severity,
            Certainty::Confirmed,
        );
        for t in &named {
            let reasons: Vec<String> = t
                .discarded
                .iter()
                .filter(|(_, v)| **v > 0.0)
                .map(|(r, v)| format!("{} {r}", count(*v)))
                .collect();
            d.evidence.push(format!(
                "tenant {} {}: {:.2} ok/s, {:.2} failed/s {} (discarded: {}); now: {}",
                t.tenant,
                t.status.as_str(),
                t.success_per_second,
                t.failure_per_second,
                f.over(),
                reasons.join(", "),
                t.reason
            ));
        }
        d.evidence.push(format!(
            "{passing} other tenant(s) pass: the limit or fault is the tenant's, not Tempo's"
        ));
        found.push(d);
    }
    limited
}

pub(super) fn storage(f: &Facts, found: &mut Vec<Diagnosis>) {
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
