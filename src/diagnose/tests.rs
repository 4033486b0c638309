//! One case per cause, each with the least evidence that should produce it, and the
//! look-alikes that must not.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::source::page::RingGauge;
use crate::source::probe::{Answer, FailedAt, ProbeResult};
use crate::source::tempo::{ConfigFacts, Read, Ring, RingMember, TempoEvidence, TempoStatus};

fn stage(stage: Stage, status: StageStatus) -> StageReport {
    StageReport::bare(stage, status)
}

fn target(name: &str, role: Role) -> TargetReport {
    TargetReport {
        name: name.into(),
        address: format!("{name}:1"),
        discovered: false,
        role,
        url: format!("http://{name}:1/"),
        up: true,
        version: None,
        mode: None,
        last_scrape_duration_seconds: Some(0.01),
        last_success_unix: Some(1.0),
        last_error: None,
        scrape_errors_total: BTreeMap::new(),
        error_reason: None,
        http_status: None,
        queue_fill_ratio: None,
        in_flight_requests: None,
        partition_lag_seconds: None,
        ring_gauges: Vec::new(),
        tempo: None,
    }
}

struct Case {
    stages: Vec<StageReport>,
    targets: Vec<TargetReport>,
    generation: Generation,
    totals: Totals,
    canary: Option<crate::derive::canary::CanaryReport>,
    hop_balance: Vec<crate::derive::HopBalance>,
    tenants: Vec<crate::derive::TenantReport>,
    components: Vec<crate::derive::ComponentReport>,
}

impl Case {
    fn v2(stages: &[(Stage, StageStatus)]) -> Case {
        Case {
            stages: stages.iter().map(|(s, st)| stage(*s, *st)).collect(),
            targets: vec![target("tempo", Role::Tempo)],
            generation: Generation::TempoV2 {
                receiver_counters: true,
            },
            totals: Totals {
                window_seconds: 60.0,
                ..Totals::default()
            },
            canary: None,
            hop_balance: Vec::new(),
            tenants: Vec::new(),
            components: Vec::new(),
        }
    }

    fn set(mut self, c: Counter, v: f64) -> Case {
        self.totals.recent.counters[c as usize] = v;
        self.totals.window.counters[c as usize] = v;
        self
    }

    fn by_reason(mut self, c: Counter, reason: &str, v: f64) -> Case {
        for totals in [&mut self.totals.recent, &mut self.totals.window] {
            totals.counters[c as usize] += v;
            totals.add_by_label(c, reason, v);
        }
        self
    }

    fn discard(mut self, reason: &str, v: f64) -> Case {
        self.totals.recent.discarded.insert(reason.into(), v);
        self.totals.window.discarded.insert(reason.into(), v);
        self
    }

    fn tempo_evidence(mut self, edit: impl FnOnce(&mut TempoEvidence)) -> Case {
        let evidence = self.targets[0].tempo.get_or_insert_with(Default::default);
        edit(Arc::make_mut(evidence));
        self
    }

    fn tempo_status(self, edit: impl FnOnce(&mut TempoStatus)) -> Case {
        self.tempo_evidence(|e| edit(Arc::make_mut(&mut e.status)))
    }

    fn run(self) -> Vec<Diagnosis> {
        let snapshot = Derived {
            generated_unix: 0.0,
            generated_at: tokio::time::Instant::now(),
            window_seconds: 60.0,
            verdict: crate::derive::Verdict::NotHealthy,
            healthy: false,
            idle: false,
            blocked_stage: None,
            stages: self.stages,
            discarded_per_second: BTreeMap::new(),
            targets: self.targets.into_iter().map(Arc::new).collect(),
            tempo_generation: self.generation,
            canary: self.canary,
            hop_balance: self.hop_balance,
            tenants: self.tenants,
            components: self.components,
        };
        diagnose(&snapshot, &self.totals)
    }
}

fn causes(found: &[Diagnosis]) -> Vec<(&'static str, &'static str)> {
    found
        .iter()
        .map(|d| (d.cause.as_str(), d.certainty.as_str()))
        .collect()
}

use StageStatus::{Degraded, Failing, Idle, Ok as Fine};

const V2_INCIDENT: [(Stage, StageStatus); 3] = [
    (Stage::TempoDistributor, Failing),
    (Stage::TempoIngester, Failing),
    (Stage::TempoStorage, Idle),
];

fn incident() -> Case {
    Case::v2(&V2_INCIDENT)
        .set(Counter::TempoRefused, 310.0)
        .set(Counter::TempoAppends, 13.0)
        .set(Counter::TempoAppendFailures, 13.0)
}

fn ring(members: &[(&str, &str)]) -> Ring {
    Ring {
        members: members
            .iter()
            .map(|(id, state)| RingMember {
                id: (*id).into(),
                state: (*state).into(),
                address: format!("{id}:9095"),
            })
            .collect(),
    }
}

fn config(server_tls: bool, client_tls: bool, rf: u32) -> ConfigFacts {
    ConfigFacts {
        grpc_server_tls: server_tls,
        ingester_client_tls: Some(client_tls),
        live_store_client_tls: None,
        replication_factor: Some(rf),
        ..ConfigFacts::default()
    }
}

fn probe(plaintext: Answer, tls: Answer) -> ProbeResult {
    ProbeResult {
        ring_address: "127.0.0.1:9095".into(),
        address: "127.0.0.1:9095".into(),
        plaintext,
        tls,
        age_seconds: 0.0,
    }
}

fn no_answer() -> Answer {
    Answer::Failed {
        stage: FailedAt::Protocol,
        message: "frame too large".into(),
    }
}

#[test]
fn tls_mismatch_from_config_is_confirmed() {
    let found = incident()
        .tempo_status(|s| s.config = Read::Ok(config(true, false, 1)))
        .run();
    assert_eq!(causes(&found), [("grpc_tls_mismatch", "confirmed")]);
    let d = &found[0];
    assert_eq!(d.stage, Stage::TempoIngester);
    assert_eq!(d.severity, Severity::Critical);
    assert!(
        d.evidence
            .iter()
            .any(|e| e.contains("13 of 13 ingester appends failed")),
        "{:?}",
        d.evidence
    );
    assert!(d.evidence.iter().any(|e| e.contains("310 spans refused")));
}

#[test]
fn tls_mismatch_from_the_probe_alone_is_likely() {
    let found = incident()
        .tempo_evidence(|e| {
            e.probes_enabled = true;
            e.probes = vec![probe(no_answer(), Answer::Serving)];
        })
        .run();
    assert_eq!(causes(&found), [("grpc_tls_mismatch", "likely")]);
    assert!(
        found[0].evidence.iter().any(|e| e.contains("TLS SERVING")),
        "{:?}",
        found[0].evidence
    );
}

#[test]
fn reverse_mismatch_client_tls_server_plaintext() {
    let found = incident()
        .tempo_status(|s| s.config = Read::Ok(config(false, true, 1)))
        .run();
    assert_eq!(causes(&found), [("grpc_tls_mismatch", "confirmed")]);
}

#[test]
fn failing_pushes_with_agreeing_tls_are_not_a_tls_mismatch() {
    let found = incident()
        .tempo_status(|s| s.config = Read::Ok(config(false, false, 1)))
        .tempo_evidence(|e| {
            e.probes_enabled = true;
            e.probes = vec![probe(Answer::Serving, no_answer())];
        })
        .run();
    assert_eq!(causes(&found), [("ingester_push_failing", "confirmed")]);
}

#[test]
fn without_config_or_probe_both_transport_causes_are_possible() {
    let found = incident().run();
    assert_eq!(
        causes(&found),
        [
            ("grpc_tls_mismatch", "possible"),
            ("ingester_push_failing", "possible")
        ]
    );
    assert!(
        found
            .iter()
            .all(|d| d.tell_apart.is_some() && d.alternatives.len() == 1)
    );
    // An unreachable probe address says nothing about TLS.
    let found = incident()
        .tempo_evidence(|e| {
            e.probes_enabled = true;
            e.probes = vec![probe(
                Answer::Failed {
                    stage: FailedAt::Connect,
                    message: "refused".into(),
                },
                Answer::Failed {
                    stage: FailedAt::Connect,
                    message: "refused".into(),
                },
            )];
        })
        .run();
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|d| d.certainty == Certainty::Possible));
}

fn refused_without_appends() -> Case {
    Case::v2(&[
        (Stage::TempoDistributor, Failing),
        (Stage::TempoIngester, Idle),
        (Stage::TempoStorage, Idle),
    ])
    .set(Counter::TempoRefused, 150.0)
}

#[test]
fn ring_causes_are_told_apart_by_the_ring_and_replication_factor() {
    let empty = refused_without_appends()
        .tempo_status(|s| s.ingester_ring = Read::Ok(ring(&[])))
        .run();
    assert_eq!(causes(&empty), [("ingester_ring_empty", "confirmed")]);

    let pending = refused_without_appends()
        .tempo_status(|s| s.ingester_ring = Read::Ok(ring(&[("a", "PENDING"), ("b", "UNHEALTHY")])))
        .run();
    assert_eq!(causes(&pending), [("ingesters_not_active", "confirmed")]);

    let rf3 = refused_without_appends()
        .tempo_status(|s| {
            s.ingester_ring = Read::Ok(ring(&[("vm", "ACTIVE")]));
            s.config = Read::Ok(config(false, false, 3));
        })
        .run();
    assert_eq!(
        causes(&rf3),
        [("ingesters_below_replication_factor", "confirmed")]
    );
    assert!(
        rf3[0]
            .evidence
            .iter()
            .any(|e| e.contains("replication_factor 3"))
    );

    let some_unhealthy = refused_without_appends()
        .tempo_status(|s| {
            s.ingester_ring = Read::Ok(ring(&[
                ("a", "ACTIVE"),
                ("b", "ACTIVE"),
                ("c", "UNHEALTHY"),
            ]));
            s.config = Read::Ok(config(false, false, 3));
        })
        .run();
    assert_eq!(
        causes(&some_unhealthy),
        [("ingesters_not_active", "likely")]
    );
}

#[test]
fn ring_from_metrics_when_the_ring_page_is_unavailable() {
    let mut case = refused_without_appends();
    case.targets[0].ring_gauges = ["ACTIVE", "JOINING", "LEAVING"]
        .iter()
        .map(|s| RingGauge {
            metric: "tempo_ring_members",
            ring: "ingester".into(),
            state: (*s).into(),
            value: 0.0,
        })
        .collect();
    assert_eq!(causes(&case.run()), [("ingester_ring_empty", "confirmed")]);
}

#[test]
fn no_ring_evidence_lists_every_ring_cause_as_possible() {
    let found = refused_without_appends().run();
    assert_eq!(found.len(), 3);
    assert!(
        found
            .iter()
            .all(|d| d.certainty == Certainty::Possible && d.alternatives.len() == 2)
    );
}

#[test]
fn rate_limited_refusals_are_not_blamed_on_the_ring() {
    let found = Case::v2(&[
        (Stage::TempoDistributor, Degraded),
        (Stage::TempoIngester, Fine),
        (Stage::TempoStorage, Idle),
    ])
    .set(Counter::TempoRefused, 260.0)
    .set(Counter::TempoAccepted, 61.0)
    .discard("rate_limited", 260.0)
    .run();
    assert_eq!(causes(&found), [("rate_limited", "confirmed")]);
    assert_eq!(found[0].severity, Severity::Warning);
    assert_eq!(found[0].stage, Stage::TempoDistributor);
}

#[test]
fn silent_limit_drops() {
    for (reason, cause) in [
        ("live_traces_exceeded", "live_traces_exceeded"),
        ("trace_too_large", "trace_too_large"),
    ] {
        let found = Case::v2(&[
            (Stage::TempoDistributor, Fine),
            (Stage::TempoIngester, Fine),
            (Stage::TempoStorage, Fine),
        ])
        .set(Counter::TempoAccepted, 500.0)
        .discard(reason, 40.0)
        .run();
        assert_eq!(causes(&found), [(cause, "confirmed")]);
        assert_eq!(found[0].stage, Stage::TempoIngester);
    }
}

#[test]
fn storage_flush_failing() {
    let found = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoIngester, Fine),
        (Stage::TempoStorage, Failing),
    ])
    .set(Counter::TempoAccepted, 500.0)
    .set(Counter::TempoFailedFlushes, 3.0)
    .run();
    assert_eq!(causes(&found), [("storage_flush_failing", "confirmed")]);
    assert!(found[0].evidence[0].starts_with("3 block flushes failed"));
}

#[test]
fn healthy_replication_factor_3_yields_nothing() {
    // 1/3 append failures, nothing refused: the stage is ok and no rule fires.
    let found = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoIngester, Fine),
        (Stage::TempoStorage, Fine),
    ])
    .set(Counter::TempoAccepted, 600.0)
    .set(Counter::TempoAppends, 12.0)
    .set(Counter::TempoAppendFailures, 4.0)
    .tempo_status(|s| {
        s.config = Read::Ok(config(false, false, 3));
        s.ingester_ring = Read::Ok(ring(&[("a", "ACTIVE"), ("b", "ACTIVE"), ("c", "ACTIVE")]));
    })
    .run();
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn tempo_2_4_without_receiver_metrics_is_reported() {
    let mut case = Case::v2(&[(Stage::TempoDistributor, Fine), (Stage::TempoStorage, Fine)]);
    case.generation = Generation::TempoV2 {
        receiver_counters: false,
    };
    case.targets[0].version = Some("2.4.1".into());
    let found = case.run();
    assert_eq!(
        causes(&found),
        [("tempo_receiver_metrics_missing", "confirmed")]
    );
    assert_eq!(found[0].severity, Severity::Info);
}

fn v3_micro(stages: &[(Stage, StageStatus)]) -> Case {
    let mut case = Case::v2(stages);
    case.generation = Generation::TempoV3Microservices;
    case
}

#[test]
fn kafka_and_partitions_on_3x_microservices() {
    let kafka = v3_micro(&[
        (Stage::TempoDistributor, Failing),
        (Stage::TempoKafka, Failing),
        (Stage::TempoLiveStore, Idle),
    ])
    .set(Counter::TempoRefused, 100.0)
    .set(Counter::KafkaProduced, 10.0)
    .set(Counter::KafkaProduceFailures, 10.0)
    .run();
    assert_eq!(causes(&kafka), [("kafka_produce_failing", "confirmed")]);

    let partitions = v3_micro(&[
        (Stage::TempoDistributor, Failing),
        (Stage::TempoKafka, Idle),
        (Stage::TempoLiveStore, Idle),
    ])
    .set(Counter::TempoRefused, 100.0)
    .tempo_status(|s| {
        *s = TempoStatus {
            partition_ring: Read::Ok(crate::source::tempo::PartitionRing {
                partitions: vec![crate::source::tempo::Partition {
                    id: 0,
                    state: "Pending".into(),
                }],
            }),
            ..TempoStatus::default()
        }
    })
    .run();
    assert_eq!(causes(&partitions), [("no_active_partitions", "confirmed")]);
}

#[test]
fn a_pending_partition_on_3x_monolithic_is_normal() {
    // The real 3.0.3 monolithic capture: one Pending partition, spans flowing.
    let mut case = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoLiveStore, Fine),
    ]);
    case.generation = Generation::TempoV3Monolithic;
    let found = case.set(Counter::TempoAccepted, 100.0).run();
    assert!(found.is_empty(), "{found:?}");
}

fn with_collector(stages: &[(Stage, StageStatus)]) -> Case {
    let mut case = Case::v2(stages);
    case.targets.push(target("otelcol", Role::Collector));
    case
}

#[test]
fn collector_exporter_failing_with_tempo_seeing_nothing_points_at_the_connection() {
    let found = with_collector(&[
        (Stage::CollectorReceiver, Fine),
        (Stage::CollectorExporter, Failing),
        (Stage::TempoDistributor, Idle),
        (Stage::TempoStorage, Idle),
    ])
    .set(Counter::CollectorAccepted, 100.0)
    .set(Counter::CollectorSendFailed, 100.0)
    .run();
    assert_eq!(causes(&found), [("collector_exporter_failing", "likely")]);
    assert!(
        found[0]
            .evidence
            .iter()
            .any(|e| e.contains("Tempo received nothing"))
    );
    assert!(
        found[0]
            .tell_apart
            .unwrap()
            .contains("first record does not look like a TLS handshake")
    );
}

#[test]
fn collector_queue_full_and_memory_limited() {
    let mut case = with_collector(&[
        (Stage::CollectorReceiver, Degraded),
        (Stage::CollectorExporter, Fine),
    ])
    .set(Counter::CollectorSent, 100.0)
    .set(Counter::CollectorEnqueueFailed, 5.0)
    .set(Counter::CollectorMemoryLimited, 7.0);
    case.targets[1].queue_fill_ratio = Some(1.0);
    let found = case.run();
    assert_eq!(
        causes(&found),
        [
            ("collector_queue_full", "confirmed"),
            ("collector_memory_limited", "confirmed")
        ]
    );
    assert_eq!(found[0].severity, Severity::Critical);
    assert!(found[0].evidence[0].contains("100 % full"));
}

#[test]
fn app_failing_while_the_collector_receives_nothing() {
    let mut case = with_collector(&[
        (Stage::App, Failing),
        (Stage::CollectorReceiver, Idle),
        (Stage::CollectorExporter, Idle),
    ])
    .set(Counter::AppFailure, 50.0);
    case.targets.push(target("backend", Role::App));
    assert_eq!(causes(&case.run()), [("app_not_exporting", "likely")]);
}

#[test]
fn unreachable_and_unauthorised_targets() {
    let mut case = Case::v2(&[(Stage::TempoDistributor, StageStatus::Unknown)]);
    case.targets[0].up = false;
    case.targets[0].error_reason = Some("connect");
    case.targets[0].last_error = Some("connect: connection refused".into());
    assert_eq!(causes(&case.run()), [("target_unreachable", "confirmed")]);

    let mut case = Case::v2(&[(Stage::TempoDistributor, StageStatus::Unknown)]);
    case.targets[0].up = false;
    case.targets[0].error_reason = Some("http_status");
    case.targets[0].http_status = Some(401);
    assert_eq!(causes(&case.run()), [("target_auth_failed", "confirmed")]);

    let mut case = Case::v2(&[(Stage::TempoDistributor, StageStatus::Unknown)]);
    case.targets[0].up = false;
    case.targets[0].error_reason = Some("parse");
    assert_eq!(
        causes(&case.run()),
        [("target_page_unreadable", "confirmed")]
    );
}

#[test]
fn every_cause_has_a_distinct_id_summary_and_fix() {
    let mut ids: Vec<&str> = Cause::ALL.iter().map(|c| c.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), Cause::ALL.len());
    for c in Cause::ALL {
        assert!(!c.summary().is_empty() && !c.fix().is_empty());
        // The id is what Prometheus and serde both show.
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

#[test]
fn causes_never_blame_a_stage_the_pipeline_lacks() {
    // A Tempo-only pipeline never gets a collector cause even with collector counters.
    let found = Case::v2(&[(Stage::TempoDistributor, Fine)])
        .set(Counter::CollectorMemoryLimited, 3.0)
        .run();
    assert!(found.is_empty(), "{found:?}");
}

// ---- TLS between distributor and ingesters: direction, evidence source, traffic --------

/// What the server side shows: through `/status/config`, the probe, or not at all.
#[derive(Debug, Clone, Copy)]
enum ServerSeen {
    Config,
    Probe,
}

/// One row: the server's and the client's TLS, how the server is seen, whether
/// `/status/config` is readable (it also gives the client), and the stage's status.
fn tls_case(
    server_tls: bool,
    client_tls: bool,
    seen: ServerSeen,
    config: bool,
    status: StageStatus,
) -> Vec<Diagnosis> {
    let stages = [
        (Stage::TempoDistributor, status),
        (Stage::TempoIngester, status),
        (Stage::TempoStorage, Idle),
    ];
    let mut case = Case::v2(&stages);
    if status == Failing {
        case = case
            .set(Counter::TempoRefused, 310.0)
            .set(Counter::TempoAppends, 13.0)
            .set(Counter::TempoAppendFailures, 13.0);
    }
    case.tempo_evidence(|e| {
        let status = Arc::make_mut(&mut e.status);
        if config {
            status.config = Read::Ok(self::config(server_tls, client_tls, 1));
        }
        if let ServerSeen::Probe = seen {
            e.probes_enabled = true;
            e.probes = vec![if server_tls {
                probe(no_answer(), Answer::Serving)
            } else {
                probe(Answer::Serving, no_answer())
            }];
            if config {
                // The probe is what the server does; the file agrees here.
                Arc::make_mut(&mut e.status).config =
                    Read::Ok(self::config(server_tls, client_tls, 1));
            }
        }
    })
    .run()
}

#[test]
fn tls_verdicts_follow_the_direction_the_evidence_shows() {
    use ServerSeen::{Config, Probe};
    const FORWARD_FIX: &str = "either enable TLS on Tempo's gRPC clients";
    const REVERSE_FIX: &str = "either set tls_enabled: false on Tempo's gRPC clients";
    const EITHER_FIX: &str = "make Tempo's gRPC server and its clients agree";
    // (server TLS, client TLS, server seen by, config readable) →
    // [(cause, certainty, start of the fix)] — the same with traffic failing and, latent,
    // with no traffic (where only a mismatch is reported).
    /// (cause, certainty, start of the fix)
    type Expected = &'static [(&'static str, &'static str, &'static str)];
    let rows: [(bool, bool, ServerSeen, bool, Expected); 8] = [
        (
            true,
            false,
            Config,
            true,
            &[("grpc_tls_mismatch", "confirmed", FORWARD_FIX)],
        ),
        (
            true,
            false,
            Probe,
            true,
            &[("grpc_tls_mismatch", "confirmed", FORWARD_FIX)],
        ),
        // The probe alone: Tempo's clients dial plaintext unless told otherwise.
        (
            true,
            false,
            Probe,
            false,
            &[("grpc_tls_mismatch", "likely", FORWARD_FIX)],
        ),
        (
            false,
            true,
            Config,
            true,
            &[("grpc_tls_mismatch", "confirmed", REVERSE_FIX)],
        ),
        (
            false,
            true,
            Probe,
            true,
            &[("grpc_tls_mismatch", "confirmed", REVERSE_FIX)],
        ),
        // A plaintext server, the clients unknown: either could be it, the reverse fix.
        (
            false,
            true,
            Probe,
            false,
            &[
                ("grpc_tls_mismatch", "possible", REVERSE_FIX),
                (
                    "ingester_push_failing",
                    "possible",
                    "check the distributor log",
                ),
            ],
        ),
        (
            true,
            true,
            Config,
            true,
            &[(
                "ingester_push_failing",
                "likely",
                "first make the distributor trust",
            )],
        ),
        (
            false,
            false,
            Config,
            true,
            &[(
                "ingester_push_failing",
                "confirmed",
                "check the distributor log",
            )],
        ),
    ];
    for (server, client, seen, config, want) in rows {
        let found = tls_case(server, client, seen, config, Failing);
        let got: Vec<(&str, &str, bool)> = found
            .iter()
            .map(|d| (d.cause.as_str(), d.certainty.as_str(), d.latent))
            .collect();
        let expected: Vec<(&str, &str, bool)> =
            want.iter().map(|(c, k, _)| (*c, *k, false)).collect();
        assert_eq!(
            got, expected,
            "server {server} client {client} {seen:?} config {config}"
        );
        for (d, (_, _, fix)) in found.iter().zip(want) {
            assert!(d.fix.starts_with(fix), "{:?}: {}", d.cause, d.fix);
        }

        // No traffic: only a mismatch the evidence shows is reported, as latent.
        let latent = tls_case(server, client, seen, config, Idle);
        let expected: Vec<(&str, &str, bool)> = want
            .iter()
            .filter(|(c, k, _)| *c == "grpc_tls_mismatch" && *k != "possible")
            .map(|(c, k, _)| (*c, *k, true))
            .collect();
        let got: Vec<(&str, &str, bool)> = latent
            .iter()
            .map(|d| (d.cause.as_str(), d.certainty.as_str(), d.latent))
            .collect();
        assert_eq!(
            got, expected,
            "latent: server {server} client {client} {seen:?} config {config}"
        );
        for d in &latent {
            assert_eq!(d.severity, Severity::Critical);
            assert_eq!(d.stage, Stage::TempoIngester);
        }
    }
    // Nothing known about the server: both possible, a fix for either direction, and
    // nothing latent without traffic.
    let found = incident().run();
    assert!(found[0].fix.starts_with(EITHER_FIX), "{}", found[0].fix);
    assert!(
        Case::v2(&[
            (Stage::TempoDistributor, Idle),
            (Stage::TempoIngester, Idle)
        ])
        .run()
        .is_empty()
    );
}

#[test]
fn config_evidence_reads_as_english() {
    for (server, want) in [
        (true, "server.grpc_tls_config has a certificate;"),
        (false, "server.grpc_tls_config has no certificate;"),
    ] {
        let found = tls_case(server, !server, ServerSeen::Config, true, Failing);
        let evidence = found[0].evidence.join("\n");
        assert!(evidence.contains(want), "{evidence}");
        assert!(!evidence.contains("no a "), "{evidence}");
    }
}

#[test]
fn both_sides_on_tls_with_pushes_failing_puts_certificate_trust_first() {
    let found = tls_case(true, true, ServerSeen::Probe, true, Failing);
    assert_eq!(causes(&found), [("ingester_push_failing", "likely")]);
    let d = &found[0];
    assert!(
        d.fix.contains("tls_ca_path") && d.fix.contains("tls_insecure_skip_verify"),
        "{}",
        d.fix
    );
    assert!(
        d.tell_apart
            .unwrap()
            .starts_with("alternatives, most likely first: certificate trust"),
        "{:?}",
        d.tell_apart
    );
    let evidence = d.evidence.join("\n");
    assert!(
        evidence.contains("cannot tell whether the distributor trusts"),
        "{evidence}"
    );
    assert!(evidence.contains("has no tls_ca_path"), "{evidence}");
    assert!(!evidence.contains("not a TLS mismatch"), "{evidence}");
}

#[test]
fn refusal_counts_say_they_include_retries() {
    let found = incident()
        .tempo_status(|s| s.config = Read::Ok(config(true, false, 1)))
        .run();
    let evidence = found[0].evidence.join("\n");
    assert!(
        evidence.contains("310 spans refused, 0 accepted by the distributor over the last 60 s (counts include the sender's retries"),
        "{evidence}"
    );
}

fn ready(ready: bool, message: &str) -> Read<crate::source::tempo::Readiness> {
    Read::Ok(crate::source::tempo::Readiness {
        ready,
        message: message.into(),
    })
}

#[test]
fn an_unusable_ring_with_no_traffic_is_latent_once_tempo_is_ready() {
    let quiet = [
        (Stage::TempoDistributor, Idle),
        (Stage::TempoIngester, Idle),
        (Stage::TempoStorage, Idle),
    ];
    let run = |members: &[(&str, &str)], rf: u32, is_ready: bool| {
        let found = Case::v2(&quiet)
            .tempo_evidence(|e| {
                e.ready = ready(
                    is_ready,
                    if is_ready {
                        "ready"
                    } else {
                        "Ingester not ready: waiting for 15s after being ready"
                    },
                )
            })
            .tempo_status(|s| {
                s.ingester_ring = Read::Ok(ring(members));
                s.config = Read::Ok(config(false, false, rf));
            })
            .run();
        found
            .iter()
            .map(|d| (d.cause.as_str(), d.stage.as_str(), d.latent))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(&[], 1, true),
        [("ingester_ring_empty", "tempo_distributor", true)]
    );
    assert_eq!(
        run(&[("a", "ACTIVE")], 3, true),
        [(
            "ingesters_below_replication_factor",
            "tempo_distributor",
            true
        )]
    );
    // Enough once the joining one is ACTIVE: not latent.
    assert_eq!(run(&[("a", "ACTIVE"), ("b", "JOINING")], 3, true), []);
    assert_eq!(run(&[("a", "ACTIVE")], 1, true), []);
    // A starting Tempo (/ready 503) is not judged: its ring fills within seconds.
    assert_eq!(run(&[], 1, false), []);
}

#[test]
fn queriers_not_connected_is_a_read_path_cause_at_tempo_query() {
    let message =
        "Query Frontend not ready: not ready: number of queriers connected to query-frontend is 0";
    let found = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoIngester, Fine),
    ])
    .tempo_evidence(|e| e.ready = ready(false, message))
    .tempo_status(|s| {
        let mut c = config(true, true, 1);
        c.frontend_worker_tls = Some(false);
        s.config = Read::Ok(c);
    })
    .run();
    assert_eq!(
        causes(&found),
        [("query_frontend_no_queriers", "confirmed")]
    );
    let d = &found[0];
    assert_eq!(d.stage.as_str(), "tempo_query");
    assert_eq!(d.severity, Severity::Warning);
    let evidence = d.evidence.join("\n");
    assert!(evidence.contains(message), "{evidence}");
    assert!(evidence.contains("querier.frontend_worker.grpc_client_config.tls_enabled is false while server.grpc_tls_config has a certificate"), "{evidence}");
    // A start-up 503 is not a cause.
    let found = Case::v2(&[(Stage::TempoDistributor, Fine)])
        .tempo_evidence(|e| {
            e.ready = ready(
                false,
                "Ingester not ready: waiting for 15s after being ready",
            )
        })
        .run();
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn invalid_ids_discarded_by_tempo_3_are_named() {
    let found = Case::v2(&[(Stage::TempoDistributor, StageStatus::Ok)])
        .set(Counter::TempoAccepted, 500.0)
        .discard("invalid_trace_id", 12.0)
        .discard("invalid_span_id", 3.0)
        .run();
    assert_eq!(causes(&found), [("invalid_trace_or_span_ids", "confirmed")]);
    assert_eq!(found[0].evidence.len(), 2, "{:?}", found[0].evidence);
}

fn tenant(
    name: &str,
    status: StageStatus,
    discards: &[(&str, f64)],
) -> crate::derive::TenantReport {
    let mut counted = crate::model::counter::TenantIncreases::default();
    for (r, v) in discards {
        counted.add_discarded(r, *v);
    }
    let discarded: BTreeMap<&'static str, f64> = counted.discards().collect();
    let failed: f64 = discarded.values().sum();
    crate::derive::TenantReport {
        stage: Stage::TempoDistributor,
        tenant: name.into(),
        status,
        reason: format!("0 of {failed} spans succeeded in the last poll"),
        success_ratio: Some(if failed > 0.0 { 0.0 } else { 1.0 }),
        success_per_second: if failed > 0.0 { 0.0 } else { 100.0 },
        failure_per_second: failed / 60.0,
        top_reason: counted.top_reason(),
        discarded,
    }
}

#[test]
fn one_tenant_rate_limited_while_others_pass_is_named_not_blamed_on_tempo() {
    let mut case = Case::v2(&[
        (Stage::TempoDistributor, Degraded),
        (Stage::TempoIngester, Fine),
        (Stage::TempoStorage, Idle),
    ])
    .set(Counter::TempoRefused, 300.0)
    .set(Counter::TempoAccepted, 9700.0)
    .discard("rate_limited", 300.0);
    case.tenants = vec![
        tenant("team-a", Failing, &[("rate_limited", 300.0)]),
        tenant("team-b", Fine, &[]),
        tenant("team-c", Fine, &[]),
    ];
    let found = case.run();
    assert_eq!(causes(&found), [("tenant_rate_limited", "confirmed")]);
    assert_eq!(found[0].severity, Severity::Critical);
    assert_eq!(found[0].stage, Stage::TempoDistributor);
    assert_eq!(
        found[0].evidence,
        [
            "tenant team-a failing: 0.00 ok/s, 5.00 failed/s over the last 60 s (discarded: 300 rate_limited); now: 0 of 300 spans succeeded in the last poll",
            "2 other tenant(s) pass: the limit or fault is the tenant's, not Tempo's",
        ]
    );
}

#[test]
fn one_tenant_refused_for_another_reason_is_named_beside_the_reason() {
    let mut case = Case::v2(&[
        (Stage::TempoDistributor, Degraded),
        (Stage::TempoIngester, Fine),
        (Stage::TempoStorage, Fine),
    ])
    .set(Counter::TempoAccepted, 9700.0)
    .discard("live_traces_exceeded", 40.0);
    case.tenants = vec![
        tenant("team-a", Degraded, &[("live_traces_exceeded", 40.0)]),
        tenant("team-b", Fine, &[]),
    ];
    let found = case.run();
    assert_eq!(
        causes(&found),
        [
            ("tenant_refused", "confirmed"),
            ("live_traces_exceeded", "confirmed")
        ]
    );
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(found[0].evidence[0].starts_with("tenant team-a degraded:"));
}

#[test]
fn every_tenant_limited_is_tempo_s_rate_limit_not_a_tenant_s() {
    let mut case = Case::v2(&[
        (Stage::TempoDistributor, Failing),
        (Stage::TempoIngester, Idle),
        (Stage::TempoStorage, Idle),
    ])
    .set(Counter::TempoRefused, 600.0)
    .discard("rate_limited", 600.0);
    case.tenants = vec![
        tenant("team-a", Failing, &[("rate_limited", 300.0)]),
        tenant("team-b", Failing, &[("rate_limited", 300.0)]),
    ];
    let found = case.run();
    assert_eq!(causes(&found), [("rate_limited", "confirmed")]);
}

#[test]
fn permanent_send_failures_are_collector_exporter_dropping() {
    let case = || {
        with_collector(&[
            (Stage::CollectorReceiver, Fine),
            (Stage::CollectorExporter, Failing),
            (Stage::TempoDistributor, Fine),
            (Stage::TempoStorage, Idle),
        ])
        .set(Counter::CollectorAccepted, 100.0)
        .set(Counter::TempoAccepted, 10.0)
        .set(Counter::CollectorSendFailed, 90.0)
    };
    let dropping = case()
        .set(Counter::CollectorSendFailedPermanent, 60.0)
        .run();
    assert_eq!(
        causes(&dropping),
        [("collector_exporter_dropping", "confirmed")]
    );
    assert_eq!(
        dropping[0].evidence[1],
        "60 of 90 failed spans were permanent failures (error_permanent=\"true\"): dropped at once, not retried"
    );
    // A few permanent ones among retried failures: still failing (and retried), said so.
    let retrying = case()
        .set(Counter::CollectorSendFailedPermanent, 20.0)
        .run();
    assert_eq!(
        causes(&retrying),
        [("collector_exporter_failing", "likely")]
    );
    assert!(retrying[0].evidence[1].starts_with("20 of 90 failed spans"));
    // Without the label (below the detailed level) nothing is said of it.
    let unlabelled = case().run();
    assert!(
        unlabelled[0]
            .evidence
            .iter()
            .all(|e| !e.contains("permanent")),
        "{:?}",
        unlabelled[0].evidence
    );
}

#[test]
fn kafka_produce_failures_say_their_reason() {
    let mut case = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoKafka, Degraded),
        (Stage::TempoLiveStore, Fine),
    ]);
    case.generation = Generation::TempoV3Microservices;
    let found = case
        .set(Counter::KafkaProduced, 100.0)
        .by_reason(Counter::KafkaProduceFailures, "record-too-large", 7.0)
        .run();
    assert_eq!(causes(&found), [("kafka_produce_failing", "confirmed")]);
    assert_eq!(
        found[0].evidence[..2],
        [
            "7 of 100 Kafka produce requests failed over the last 60 s",
            "7 failed with reason=\"record-too-large\": Kafka refuses records over its max.message.bytes: raise the topic's limit or lower ingest_storage.kafka.producer_max_record_size_bytes",
        ]
    );
}

#[test]
fn live_store_record_drops_are_silent_loss_with_their_reason() {
    let mut case = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoLiveStore, Fine),
    ]);
    case.generation = Generation::TempoV3Monolithic;
    let found = case
        .set(Counter::TempoAccepted, 100.0)
        .set(Counter::LiveStoreRecordsProcessed, 40.0)
        .by_reason(Counter::LiveStoreRecordsDropped, "too_old", 10.0)
        .run();
    assert_eq!(
        causes(&found),
        [("live_store_dropping_records", "confirmed")]
    );
    assert_eq!(found[0].stage, Stage::TempoLiveStore);
    assert_eq!(
        found[0].evidence,
        [
            "10 of 50 Kafka records dropped by the live-store over the last 60 s",
            "10 dropped with reason=\"too_old\"",
        ]
    );
}

#[test]
fn a_discard_reason_no_rule_knows_is_still_reported() {
    let found = Case::v2(&[
        (Stage::TempoDistributor, Fine),
        (Stage::TempoIngester, Fine),
        (Stage::TempoStorage, Fine),
    ])
    .set(Counter::TempoAccepted, 100.0)
    .discard("trace_too_large_to_compact", 4.0)
    .run();
    assert_eq!(
        causes(&found),
        [("tempo_discarding_other_reason", "confirmed")]
    );
    assert_eq!(
        found[0].evidence,
        ["4 spans discarded with reason=\"trace_too_large_to_compact\" over the last 60 s"]
    );
}
