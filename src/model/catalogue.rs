//! The counter catalogue: which metric family, written by which software (role) in which
//! versions, feeds which [`Counter`] or piece of evidence — one row per family spelling.
//!
//! Input: a role and a family name as a page writes it. Output: what the family [`Feeds`],
//! or nothing (the page reader then skips the family unread). The table is data: a new
//! family, a new spelling (`_total` or not, a unit suffix) or a new software version is one
//! row in [`CATALOGUE`], with where it was seen. Names are matched exactly; extra labels
//! (`service_*`, `otel_scope_*`, `receiver`, `transport`, `tenant`) never matter — every
//! series of a counter is summed. The app role's rows are the SDKs' own self-metrics, read
//! when an app target has no `success`/`failure` selectors.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use crate::model::counter::Counter;
use crate::model::stage::Role;

/// What a family on a page feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feeds {
    /// Every series of the family is a series of this counter.
    Counter(Counter),
    /// Only the series whose label `label` starts with `prefix` are.
    CounterWhere {
        counter: Counter,
        label: &'static str,
        prefix: &'static str,
    },
    /// Every series is a success or a failure by one label's value: `success` when the
    /// label reads `success_when` (a missing label reads as ""), `failure` otherwise.
    Outcome {
        label: &'static str,
        success_when: &'static str,
        success: Counter,
        failure: Counter,
    },
    /// Every series is a series of this counter and, by its `tenant` label, of that
    /// tenant's spans received (Tempo's distributor).
    ByTenant(Counter),
    /// Every series is a series of `counter`; those whose `label` starts with `prefix` are
    /// also series of `part` (a share of the counter told apart by a label).
    CounterWithPart {
        counter: Counter,
        label: &'static str,
        prefix: &'static str,
        part: Counter,
    },
    /// Series split by one label's value: `cases` say which value feeds which counter (a
    /// missing label, or `label: ""`, reads as ""), other values are not read. With `spans_only`, only the
    /// series a signal label ([`SIGNAL_LABELS`]) says are `traces` are read: the Collector's
    /// item counters count metrics and logs too.
    ByValue {
        label: &'static str,
        cases: &'static [(&'static str, Counter)],
        spans_only: bool,
    },
    /// Every series is a series of this counter, and is kept per its `reason` label too.
    CounterByReason(Counter),
    /// Tempo's discards, kept per `reason` label (and per `tenant`, when the series has one).
    DiscardedByReason,
    /// A ring-state gauge, kept per `name` (the ring) and `state` label.
    RingGauge,
    /// The software's version, from this label (the first series that has it).
    Version { label: &'static str },
    /// `process_start_time_seconds`: a change means a restart.
    ProcessStart,
    /// An exporter's queue size, per `exporter` label.
    QueueSize,
    /// An exporter's queue capacity, per `exporter` label.
    QueueCapacity,
    /// An exporter's requests in flight (a gauge, summed over exporters).
    InFlight,
    /// How far a Kafka consumer lags, in seconds (a gauge; the most of any series).
    PartitionLag,
}

/// The labels that say which signal a Collector component's series counts (`otel.signal` on
/// processor series since v0.110; `otelcol.signal`, a scope attribute of the pipeline
/// telemetry, as a label or — scope kept — as `otel_scope_otelcol_signal`).
pub const SIGNAL_LABELS: [&str; 3] = ["otel_signal", "otelcol_signal", "otel_scope_otelcol_signal"];

/// Whether a series counts spans, by its signal labels (one must read `traces`).
pub fn counts_spans<'a>(mut label: impl FnMut(&str) -> Option<std::borrow::Cow<'a, str>>) -> bool {
    SIGNAL_LABELS
        .iter()
        .any(|name| label(name).is_some_and(|v| v == "traces"))
}

/// The labels naming the Collector component a span counter's series belongs to, the first
/// a series has: Alloy's `component_id` (`otelcol.exporter.otlp.tempo`), the Collector's
/// `receiver` or `exporter` (`otlp`, `otlp/tempo`).
pub const COMPONENT_LABELS: [&str; 3] = ["component_id", "receiver", "exporter"];

/// The Collector counters kept per component too, so a stage that sums several receivers or
/// exporters can say which one fails.
pub const PER_COMPONENT: [Counter; 6] = [
    Counter::CollectorAccepted,
    Counter::CollectorRefused,
    Counter::CollectorFailed,
    Counter::CollectorSent,
    Counter::CollectorSendFailed,
    Counter::CollectorEnqueueFailed,
];

/// The component a series of `counter` belongs to, if it is kept per component and the
/// series names one.
pub fn component_of<'a>(
    counter: Counter,
    mut label: impl FnMut(&str) -> Option<std::borrow::Cow<'a, str>>,
) -> Option<std::borrow::Cow<'a, str>> {
    if !PER_COMPONENT.contains(&counter) {
        return None;
    }
    COMPONENT_LABELS
        .iter()
        .find_map(|name| label(name).filter(|v| !v.is_empty()))
}

/// One row: a family as a role's software writes it, what it feeds, and where it is seen.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub role: Role,
    pub family: &'static str,
    pub feeds: Feeds,
    pub seen: &'static str,
}

const fn row(role: Role, family: &'static str, feeds: Feeds, seen: &'static str) -> Entry {
    Entry {
        role,
        family,
        feeds,
        seen,
    }
}

use Counter as C;
use Feeds::{
    Counter as Count, CounterWhere, DiscardedByReason, InFlight, ProcessStart, QueueCapacity,
    QueueSize, RingGauge, Version,
};
use Role::{App, Collector, Tempo};

/// An SDK's export counter: failed when `error_type` is set (semantic conventions).
const SDK_EXPORTED: Feeds = Feeds::Outcome {
    label: "error_type",
    success_when: "",
    success: C::AppSuccess,
    failure: C::AppFailure,
};

/// An SDK's span processor: a span dropped because its queue was full.
const SDK_QUEUE_FULL: Feeds = Feeds::CounterWhere {
    counter: C::AppQueueDropped,
    label: "error_type",
    prefix: "queue_full",
};

/// An exporter's send failures; `error_permanent="true"` ones (v0.146+, detailed level) are
/// dropped for good rather than retried.
const SEND_FAILED: Feeds = Feeds::CounterWithPart {
    counter: C::CollectorSendFailed,
    label: "error_permanent",
    prefix: "true",
    part: C::CollectorSendFailedPermanent,
};

/// The pipeline telemetry's `otelcol.component.outcome` (v0.123+, gate
/// `telemetry.newPipelineTelemetry`; since v0.131 `failure` is the component's own error,
/// `refused` a downstream one).
const OUTCOME: &str = "otelcol_component_outcome";

const RECEIVER_ITEMS: Feeds = Feeds::ByValue {
    label: OUTCOME,
    cases: &[
        ("success", C::CollectorItemsAccepted),
        ("refused", C::CollectorItemsRefused),
        ("failure", C::CollectorItemsFailed),
    ],
    spans_only: true,
};

const EXPORTER_ITEMS: Feeds = Feeds::ByValue {
    label: OUTCOME,
    cases: &[
        ("success", C::CollectorItemsSent),
        ("refused", C::CollectorItemsSendFailed),
        ("failure", C::CollectorItemsSendFailed),
    ],
    spans_only: true,
};

/// `otelcol_receiver_requests{outcome}` (v0.133+, gate `receiverhelper.newReceiverMetrics`):
/// requests of every signal, as evidence only.
const RECEIVER_REQUESTS: Feeds = Feeds::ByValue {
    label: "outcome",
    cases: &[
        ("success", C::CollectorRequestsOk),
        ("refused", C::CollectorRequestsRefused),
        ("failure", C::CollectorRequestsFailed),
    ],
    spans_only: false,
};

/// Every series of a processor item family that counts spans (`label: ""` reads every
/// series as the value "").
macro_rules! processor_spans {
    ($counter:expr) => {
        Feeds::ByValue {
            label: "",
            cases: &[("", $counter)],
            spans_only: true,
        }
    };
}

/// Every family spanflow reads. Tempo writes its receiver counters without `_total`
/// (Tempo 2.6–2.10, 3.0; absent in 2.4–2.5, grafana/tempo#3758); the Collector writes its
/// counters without `_total` before v0.119 and after v0.151, with it in between.
pub const CATALOGUE: &[Entry] = &[
    row(
        Tempo,
        "tempo_receiver_accepted_spans",
        Count(C::TempoAccepted),
        "Tempo 2.0–2.3, 2.6–2.10, 3.0",
    ),
    row(
        Tempo,
        "tempo_receiver_accepted_spans_total",
        Count(C::TempoAccepted),
        "read too in case a Tempo build writes _total",
    ),
    row(
        Tempo,
        "tempo_receiver_refused_spans",
        Count(C::TempoRefused),
        "Tempo 2.0–2.3, 2.6–2.10, 3.0",
    ),
    row(
        Tempo,
        "tempo_receiver_refused_spans_total",
        Count(C::TempoRefused),
        "read too in case a Tempo build writes _total",
    ),
    row(
        Tempo,
        "tempo_distributor_spans_received_total",
        Feeds::ByTenant(C::TempoSpansReceived),
        "Tempo 2.x, 3.0",
    ),
    row(
        Tempo,
        "tempo_distributor_ingester_appends_total",
        Count(C::TempoAppends),
        "Tempo 2.x",
    ),
    row(
        Tempo,
        "tempo_distributor_ingester_append_failures_total",
        Count(C::TempoAppendFailures),
        "Tempo 2.x",
    ),
    row(
        Tempo,
        "tempo_ingester_blocks_flushed_total",
        Count(C::TempoBlocksFlushed),
        "Tempo 2.x",
    ),
    row(
        Tempo,
        "tempo_ingester_failed_flushes_total",
        Count(C::TempoFailedFlushes),
        "Tempo 2.x",
    ),
    row(
        Tempo,
        "tempo_live_store_traces_created_total",
        Count(C::LiveStoreTracesCreated),
        "Tempo 3.0 (and 2.10 monolithic, unused there)",
    ),
    row(
        Tempo,
        "tempo_live_store_blocks_completed_total",
        Count(C::LiveStoreBlocksCompleted),
        "Tempo 3.0",
    ),
    row(
        Tempo,
        "tempo_live_store_failed_completions_total",
        Count(C::LiveStoreFailedCompletions),
        "Tempo 3.0",
    ),
    row(
        Tempo,
        "tempo_live_store_local_blocks_flushed_total",
        Count(C::LiveStoreBlocksFlushed),
        "Tempo 3.0",
    ),
    row(
        Tempo,
        "tempo_live_store_local_failed_flushes_total",
        Count(C::LiveStoreFailedFlushes),
        "Tempo 3.0",
    ),
    row(
        Tempo,
        "tempo_distributor_produce_records_total",
        Count(C::KafkaProduced),
        "Tempo 3.0 microservices",
    ),
    row(
        Tempo,
        "tempo_distributor_produce_failures_total",
        Feeds::CounterByReason(C::KafkaProduceFailures),
        "Tempo 3.0 microservices; reason timeout, buffer-full, record-too-large, canceled, cancelled-before-producing, other (grafana/tempo pkg/ingest/writer_client.go, produceErrReason)",
    ),
    row(
        Tempo,
        "tempo_live_store_kafka_records_processed_total",
        Count(C::LiveStoreRecordsProcessed),
        "Tempo 3.x live-store (grafana/tempo modules/livestore/metrics.go)",
    ),
    row(
        Tempo,
        "tempo_live_store_kafka_records_dropped_total",
        Feeds::CounterByReason(C::LiveStoreRecordsDropped),
        "Tempo 3.x live-store, per tenant and reason (too_old, a decoding failure); created at the first drop",
    ),
    row(
        Tempo,
        "tempo_live_store_records_processed_total",
        Count(C::LiveStoreRecordsProcessed),
        "Tempo 2.9–3.0 live-store, the name before kafka_ was added to it",
    ),
    row(
        Tempo,
        "tempo_live_store_records_dropped_total",
        Feeds::CounterByReason(C::LiveStoreRecordsDropped),
        "Tempo 2.9–3.0 live-store, per tenant and reason (too_old, decoding_failed, instance_not_found)",
    ),
    row(
        Tempo,
        "tempo_block_builder_flushed_blocks",
        Count(C::BlockBuilderFlushedBlocks),
        "Tempo 3.x block-builder, without _total (modules/blockbuilder/tenant_store.go); created at the first flush",
    ),
    row(
        Tempo,
        "tempo_block_builder_flushed_blocks_total",
        Count(C::BlockBuilderFlushedBlocks),
        "read too in case a Tempo build writes _total",
    ),
    row(
        Tempo,
        "tempo_block_builder_fetch_errors_total",
        Count(C::BlockBuilderFetchErrors),
        "Tempo 3.x block-builder, per partition",
    ),
    row(
        Tempo,
        "tempo_ingest_group_partition_lag_seconds",
        Feeds::PartitionLag,
        "Tempo 3.x Kafka consumers (live-store, block-builder), per group and partition (pkg/ingest)",
    ),
    row(
        Tempo,
        "tempo_discarded_spans_total",
        DiscardedByReason,
        "Tempo 2.x, 3.0",
    ),
    row(
        Tempo,
        "tempo_ring_members",
        RingGauge,
        "Tempo 2.x, 3.0 (dskit)",
    ),
    row(
        Tempo,
        "tempo_partition_ring_partitions",
        RingGauge,
        "Tempo 3.0",
    ),
    row(
        Tempo,
        "tempo_build_info",
        Version { label: "version" },
        "Tempo 2.x, 3.0 (absent from some builds: /api/status/buildinfo then)",
    ),
    row(
        Tempo,
        "process_start_time_seconds",
        ProcessStart,
        "every Go process",
    ),
    row(
        Collector,
        "otelcol_receiver_accepted_spans",
        Count(C::CollectorAccepted),
        "Collector without _total (≤ 0.118, ≥ 0.152)",
    ),
    row(
        Collector,
        "otelcol_receiver_accepted_spans_total",
        Count(C::CollectorAccepted),
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_receiver_refused_spans",
        Count(C::CollectorRefused),
        "Collector without _total (≤ 0.118, ≥ 0.152)",
    ),
    row(
        Collector,
        "otelcol_receiver_refused_spans_total",
        Count(C::CollectorRefused),
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_receiver_failed_spans",
        Count(C::CollectorFailed),
        "Collector receivers that count failures apart from refusals, without _total",
    ),
    row(
        Collector,
        "otelcol_receiver_failed_spans_total",
        Count(C::CollectorFailed),
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_exporter_sent_spans",
        Count(C::CollectorSent),
        "Collector without _total (≤ 0.118, ≥ 0.152)",
    ),
    row(
        Collector,
        "otelcol_exporter_sent_spans_total",
        Count(C::CollectorSent),
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_exporter_send_failed_spans",
        SEND_FAILED,
        "Collector without _total (≤ 0.118, ≥ 0.152)",
    ),
    row(
        Collector,
        "otelcol_exporter_send_failed_spans_total",
        SEND_FAILED,
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_exporter_enqueue_failed_spans",
        Count(C::CollectorEnqueueFailed),
        "Collector without _total (≤ 0.118, ≥ 0.152)",
    ),
    row(
        Collector,
        "otelcol_exporter_enqueue_failed_spans_total",
        Count(C::CollectorEnqueueFailed),
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_processor_memory_limiter_refused_spans",
        Count(C::CollectorMemoryLimited),
        "Collector ≥ 0.155",
    ),
    row(
        Collector,
        "otelcol_processor_memory_limiter_refused_spans_total",
        Count(C::CollectorMemoryLimited),
        "Collector with _total naming, if any writes it",
    ),
    row(
        Collector,
        "otelcol_processor_refused_spans",
        CounterWhere {
            counter: C::CollectorMemoryLimited,
            label: "processor",
            prefix: "memory_limiter",
        },
        "Collector < 0.155",
    ),
    row(
        Collector,
        "otelcol_processor_refused_spans_total",
        CounterWhere {
            counter: C::CollectorMemoryLimited,
            label: "processor",
            prefix: "memory_limiter",
        },
        "Collector with _total (0.119–0.151)",
    ),
    row(
        Collector,
        "otelcol_exporter_queue_size",
        QueueSize,
        "every Collector with a sending queue",
    ),
    row(
        Collector,
        "otelcol_exporter_queue_capacity",
        QueueCapacity,
        "every Collector with a sending queue",
    ),
    row(
        Collector,
        "otelcol_process_uptime",
        Version {
            label: "service_version",
        },
        "Collector ≤ 0.118 (service_* labels on every series)",
    ),
    row(
        Collector,
        "otelcol_process_uptime_seconds_total",
        Version {
            label: "service_version",
        },
        "Collector ≥ 0.119",
    ),
    row(
        Collector,
        "target_info",
        Version {
            label: "service_version",
        },
        "Collector ≥ 0.92 with the OTel SDK's Prometheus exporter",
    ),
    row(
        Collector,
        "process_start_time_seconds",
        ProcessStart,
        "Collectors that expose it",
    ),
    row(
        App,
        "otel_sdk_exporter_span_exported_total",
        SDK_EXPORTED,
        "OpenTelemetry semantic conventions (otel.sdk.exporter.span.exported, Development); Python SDK 1.45.2 with OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED (captured)",
    ),
    row(
        App,
        "otel_sdk_exporter_span_exported",
        SDK_EXPORTED,
        "the same without _total, as a reader that adds no suffix writes it",
    ),
    row(
        App,
        "otel_sdk_processor_span_processed_total",
        SDK_QUEUE_FULL,
        "semantic conventions: error_type=\"queue_full\" counts spans dropped before export; Python SDK 1.45.2 (captured)",
    ),
    row(
        App,
        "otel_sdk_processor_span_processed",
        SDK_QUEUE_FULL,
        "the same without _total",
    ),
    row(
        App,
        "otel_sdk_processor_span_queue_size",
        QueueSize,
        "semantic conventions: spans waiting in the batch span processor's queue (a gauge)",
    ),
    row(
        App,
        "otel_sdk_processor_span_queue_capacity",
        QueueCapacity,
        "semantic conventions: the batch span processor's queue capacity (a gauge)",
    ),
    row(
        App,
        "otlp_exporter_exported",
        Feeds::Outcome {
            label: "success",
            success_when: "true",
            success: C::AppSuccess,
            failure: C::AppFailure,
        },
        "Java SDK legacy self-metrics (before the semantic conventions)",
    ),
    row(
        App,
        "processedSpans",
        Feeds::CounterWhere {
            counter: C::AppQueueDropped,
            label: "dropped",
            prefix: "true",
        },
        "Java SDK/agent legacy BatchSpanProcessor counter (opentelemetry-java-instrumentation#1880, 2020)",
    ),
    row(
        Collector,
        "otelcol_receiver_accepted_spans__spans__total",
        Count(C::CollectorAccepted),
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "otelcol_receiver_refused_spans__spans__total",
        Count(C::CollectorRefused),
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "otelcol_receiver_failed_spans__spans__total",
        Count(C::CollectorFailed),
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "otelcol_exporter_sent_spans__spans__total",
        Count(C::CollectorSent),
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "otelcol_exporter_send_failed_spans__spans__total",
        SEND_FAILED,
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "otelcol_exporter_enqueue_failed_spans__spans__total",
        Count(C::CollectorEnqueueFailed),
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "otelcol_processor_memory_limiter_refused_spans__spans__total",
        Count(C::CollectorMemoryLimited),
        "Collector v0.130.0 only: the unit doubled into the name (fixed in v0.130.1)",
    ),
    row(
        Collector,
        "alloy_build_info",
        Version { label: "version" },
        "Grafana Alloy (the collector role pointed at Alloy's /metrics, default :12345); shown as alloy <version>",
    ),
    row(
        Collector,
        "otelcol_receiver_produced_items",
        RECEIVER_ITEMS,
        "Collector v0.123+ with telemetry.newPipelineTelemetry, default reader (no suffix); spans only (otelcol_signal=\"traces\")",
    ),
    row(
        Collector,
        "otelcol_exporter_consumed_items",
        EXPORTER_ITEMS,
        "Collector v0.123+ with telemetry.newPipelineTelemetry, default reader (no suffix); spans only",
    ),
    row(
        Collector,
        "otelcol_processor_consumed_items",
        processor_spans!(C::CollectorProcessorConsumed),
        "Collector v0.123+ with telemetry.newPipelineTelemetry, default reader (no suffix); spans only",
    ),
    row(
        Collector,
        "otelcol_processor_produced_items",
        processor_spans!(C::CollectorProcessorProduced),
        "Collector v0.123+ with telemetry.newPipelineTelemetry, default reader (no suffix); spans only",
    ),
    row(
        Collector,
        "otelcol_receiver_produced_items_total",
        RECEIVER_ITEMS,
        "the same with a reader that adds _total; spans only (otelcol_signal=\"traces\")",
    ),
    row(
        Collector,
        "otelcol_exporter_consumed_items_total",
        EXPORTER_ITEMS,
        "the same with a reader that adds _total; spans only",
    ),
    row(
        Collector,
        "otelcol_processor_consumed_items_total",
        processor_spans!(C::CollectorProcessorConsumed),
        "the same with a reader that adds _total; spans only",
    ),
    row(
        Collector,
        "otelcol_processor_produced_items_total",
        processor_spans!(C::CollectorProcessorProduced),
        "the same with a reader that adds _total; spans only",
    ),
    row(
        Collector,
        "otelcol_receiver_requests",
        RECEIVER_REQUESTS,
        "Collector v0.133+ with receiverhelper.newReceiverMetrics (no suffix)",
    ),
    row(
        Collector,
        "otelcol_receiver_requests_total",
        RECEIVER_REQUESTS,
        "the same with a reader that adds _total",
    ),
    row(
        Collector,
        "otelcol_processor_incoming_items",
        processor_spans!(C::CollectorProcessorIncoming),
        "Collector v0.110+ (otel_signal label), no suffix",
    ),
    row(
        Collector,
        "otelcol_processor_outgoing_items",
        processor_spans!(C::CollectorProcessorOutgoing),
        "Collector v0.110+ (otel_signal label), no suffix",
    ),
    row(
        Collector,
        "otelcol_processor_incoming_items_total",
        processor_spans!(C::CollectorProcessorIncoming),
        "Collector v0.119–v0.151 with explicit readers",
    ),
    row(
        Collector,
        "otelcol_processor_outgoing_items_total",
        processor_spans!(C::CollectorProcessorOutgoing),
        "Collector v0.119–v0.151 with explicit readers",
    ),
    row(
        Collector,
        "otelcol_exporter_in_flight_requests",
        InFlight,
        "Collector v0.152+ exporterhelper (a gauge per exporter)",
    ),
];

/// The catalogue by (role, family). Looked up once per run of a family's lines on every
/// page polled, so keyed with a fast non-cryptographic hash: the keys are the catalogue's
/// own names, and a page's names can only miss, never grow or skew the map.
type ByName = HashMap<(Role, &'static str), Feeds, BuildHasherDefault<FxHasher>>;

static BY_NAME: LazyLock<ByName> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|e| ((e.role, e.family), e.feeds))
        .collect()
});

/// rustc's Fx hash: a rotate, xor and multiply per eight bytes.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What `family` feeds for a `role` target, if spanflow reads it.
pub fn lookup(role: Role, family: &str) -> Option<Feeds> {
    BY_NAME.get(&(role, family)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_one_row() {
        let mut seen = std::collections::HashSet::new();
        for e in CATALOGUE {
            assert!(seen.insert((e.role, e.family)), "{} twice", e.family);
            assert!(!e.seen.is_empty(), "{}: where is it seen?", e.family);
        }
    }

    #[test]
    fn both_spellings_feed_the_same_counter() {
        let counters = CATALOGUE.iter().filter(|e| {
            e.role == Collector && matches!(e.feeds, Feeds::Counter(_) | Feeds::CounterWhere { .. })
        });
        for e in counters {
            let base = e
                .family
                .strip_suffix("__spans__total")
                .or_else(|| e.family.strip_suffix("_total"));
            if let Some(base) = base {
                assert_eq!(lookup(Collector, base), Some(e.feeds), "{}", e.family);
            }
        }
    }
}
