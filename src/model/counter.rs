//! The counters spanflow reads, their increases over a window, and how a stage's successes
//! and failures follow from them.
//!
//! Input: [`Increases`] (summed by `derive` over series, polls and targets) and the Tempo
//! [`Generation`]. Output: [`StageCounts`] per stage. Which family on a page feeds which
//! [`Counter`] is the catalogue's business (`model::catalogue`); this module never sees a
//! page, a target or a clock.

use std::collections::BTreeMap;

use crate::model::software::Generation;
use crate::model::stage::Stage;

/// Declares [`Counter`] and its [`Counter::ALL`] from one list, so the two never drift.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// A counter spanflow reads. Discards by reason are kept apart (their reasons are
        /// open-ended).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Counter {
            $($(#[$doc])* $name,)*
        }

        impl Counter {
            /// Every counter, in declaration order (index = `as usize`).
            pub const ALL: &'static [Counter] = &[$(Counter::$name,)*];
        }
    };
}

counters! {
    AppSuccess,
    AppFailure,
    CollectorAccepted,
    CollectorRefused,
    CollectorFailed,
    CollectorSent,
    CollectorSendFailed,
    CollectorEnqueueFailed,
    TempoAccepted,
    TempoRefused,
    TempoSpansReceived,
    TempoAppends,
    TempoAppendFailures,
    TempoBlocksFlushed,
    TempoFailedFlushes,
    LiveStoreTracesCreated,
    LiveStoreBlocksCompleted,
    LiveStoreFailedCompletions,
    LiveStoreBlocksFlushed,
    LiveStoreFailedFlushes,
    KafkaProduced,
    KafkaProduceFailures,
    /// Spans the Collector's memory_limiter processor refused (evidence, not a stage count).
    CollectorMemoryLimited,
    /// Spans an SDK's span processor dropped before export, its queue full (evidence).
    AppQueueDropped,
    /// Of the exporter's send failures, those marked `error_permanent="true"` (Collector
    /// v0.146+ at the detailed level): dropped for good, never retried (evidence).
    CollectorSendFailedPermanent,
    /// The receiver's `produced_items` of spans by outcome (Collector pipeline telemetry,
    /// v0.123+): read for the receiver stage when the classic span counters are absent.
    CollectorItemsAccepted,
    CollectorItemsRefused,
    CollectorItemsFailed,
    /// The exporter's `consumed_items` of spans by outcome, as above for the exporter stage.
    CollectorItemsSent,
    CollectorItemsSendFailed,
    /// The receiver's requests by outcome (`otelcol_receiver_requests`, v0.133+; evidence).
    CollectorRequestsOk,
    CollectorRequestsRefused,
    CollectorRequestsFailed,
    /// Spans into and out of the Collector's processors (`incoming_items`/`outgoing_items`,
    /// v0.110+; `consumed_items`/`produced_items` of the pipeline telemetry): evidence of
    /// spans a processor drops, on purpose or not.
    CollectorProcessorIncoming,
    CollectorProcessorOutgoing,
    CollectorProcessorConsumed,
    CollectorProcessorProduced,
    /// Kafka records the 3.x live-store consumed, and dropped (by reason: `too_old`, a
    /// decoding failure): spans lost after Tempo accepted them (evidence).
    LiveStoreRecordsProcessed,
    LiveStoreRecordsDropped,
    /// Blocks the 3.x block-builder wrote to object storage, and its Kafka fetch errors.
    BlockBuilderFlushedBlocks,
    BlockBuilderFetchErrors,
}

impl Counter {
    pub const COUNT: usize = Counter::ALL.len();

    /// Whether the counter counts failures (refusals, failed sends, appends or flushes).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Counter::AppFailure
                | Counter::CollectorRefused
                | Counter::CollectorFailed
                | Counter::CollectorSendFailed
                | Counter::CollectorEnqueueFailed
                | Counter::TempoRefused
                | Counter::TempoAppendFailures
                | Counter::TempoFailedFlushes
                | Counter::LiveStoreFailedCompletions
                | Counter::LiveStoreFailedFlushes
                | Counter::KafkaProduceFailures
                | Counter::CollectorMemoryLimited
                | Counter::AppQueueDropped
                | Counter::CollectorSendFailedPermanent
                | Counter::CollectorItemsRefused
                | Counter::CollectorItemsFailed
                | Counter::CollectorItemsSendFailed
                | Counter::CollectorRequestsRefused
                | Counter::CollectorRequestsFailed
                | Counter::LiveStoreRecordsDropped
                | Counter::BlockBuilderFetchErrors
        )
    }
}

/// Increases of every counter over some window, summed over series and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Increases {
    pub counters: [f64; Counter::COUNT],
    pub discarded: BTreeMap<String, f64>,
    /// Tempo's distributor per tenant (its `tenant` label), at most [`MAX_TENANTS_KEPT`]
    /// tenants and the rest under [`OTHER_TENANT`].
    pub tenants: BTreeMap<String, TenantIncreases>,
    /// Counters kept per one label's value too: the `reason` of Tempo's Kafka produce
    /// failures and live-store drops, the component (`component_id`, `receiver`,
    /// `exporter`) of the Collector's span counters.
    /// Nested so that adding one sum to another looks keys up by `&str`, never allocating.
    pub by_label: BTreeMap<Counter, BTreeMap<String, f64>>,
}

/// At most this many tenants are kept per target and per sum; the rest are summed under
/// [`OTHER_TENANT`], so a Tempo with thousands of tenants cannot grow spanflow's memory.
/// `max_tenants` (what is shown) is at most this.
pub const MAX_TENANTS_KEPT: usize = 1000;

/// At most this many label values (reasons, components) are kept per counter.
pub const MAX_LABEL_VALUES: usize = 32;

/// The tenant the tenants past a bound are summed under.
pub const OTHER_TENANT: &str = "other";

/// One tenant's spans at Tempo's distributor.
///
/// Tempo's distributor counts a push in `tempo_distributor_spans_received_total{tenant}` only
/// once it passed the rate limiter; a rate-limited push is counted only as a discard
/// (`tempo_discarded_spans_total{reason="rate_limited",tenant}`), every other discard reason
/// is counted after the push was received (grafana/tempo modules/distributor/distributor.go,
/// `PushTraces`: `checkForRateLimits` returns before `metricSpansIngested`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantIncreases {
    /// Spans received past the rate limiter.
    pub received: f64,
    /// Spans discarded, per reason of [`TENANT_DISCARD_REASONS`] (index for index): a
    /// fixed array, as a tenant's sums are added for every instance on every derive.
    pub discarded: [f64; TENANT_DISCARD_REASONS.len()],
}

/// The discard reasons kept per tenant: Tempo 2.x/3.x's (grafana/tempo
/// `modules/distributor/distributor.go`, `modules/overrides`), and `other` for any else.
pub const TENANT_DISCARD_REASONS: [&str; 9] = [
    "rate_limited",
    "live_traces_exceeded",
    "trace_too_large",
    "internal_error",
    "unknown_error",
    "invalid_trace_id",
    "invalid_span_id",
    "trace_too_large_to_compact",
    "other",
];

impl TenantIncreases {
    /// Adds `v` spans discarded with `reason` (`other` when it is not one of
    /// [`TENANT_DISCARD_REASONS`]).
    pub fn add_discarded(&mut self, reason: &str, v: f64) {
        let last = TENANT_DISCARD_REASONS.len() - 1;
        let i = TENANT_DISCARD_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(last);
        self.discarded[i] += v;
    }

    /// The reasons that discarded anything, with how many.
    pub fn discards(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        TENANT_DISCARD_REASONS
            .iter()
            .zip(self.discarded.iter())
            .filter(|(_, v)| **v > 0.0)
            .map(|(r, v)| (*r, *v))
    }

    /// The tenant's successes (received and not discarded later) and failures (every discard).
    pub fn counts(&self) -> StageCounts {
        let failure: f64 = self.discarded.iter().sum();
        // Index 0 is rate_limited: refused before the push was counted as received.
        let later: f64 = self.discarded[1..].iter().sum();
        StageCounts {
            success: (self.received - later).max(0.0),
            failure,
        }
    }

    /// The reason most of the tenant's discards give, if any.
    pub fn top_reason(&self) -> Option<&'static str> {
        self.discards()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(r, _)| r)
    }

    pub fn add(&mut self, other: &TenantIncreases, factor: f64) {
        self.received += other.received * factor;
        for (mine, theirs) in self.discarded.iter_mut().zip(other.discarded.iter()) {
            *mine += theirs * factor;
        }
    }
}

/// Adds `v` under `key`, cloning the key only the first time it is seen: summing a window
/// adds the same few keys over and over.
fn add_keyed(map: &mut BTreeMap<String, f64>, key: &str, v: f64) {
    match map.get_mut(key) {
        Some(sum) => *sum += v,
        None => {
            map.insert(key.to_owned(), v);
        }
    }
}

impl Default for Increases {
    // By hand: `Default` is derived for arrays of at most 32 elements.
    fn default() -> Increases {
        Increases {
            counters: [0.0; Counter::COUNT],
            discarded: BTreeMap::new(),
            tenants: BTreeMap::new(),
            by_label: BTreeMap::new(),
        }
    }
}

impl Increases {
    pub fn get(&self, c: Counter) -> f64 {
        self.counters[c as usize]
    }

    pub fn add(&mut self, other: &Increases, factor: f64) {
        for (mine, theirs) in self.counters.iter_mut().zip(other.counters.iter()) {
            *mine += theirs * factor;
        }
        for (reason, v) in &other.discarded {
            add_keyed(&mut self.discarded, reason, v * factor);
        }
        for (tenant, theirs) in &other.tenants {
            self.tenant_mut(tenant).add(theirs, factor);
        }
        for (counter, values) in &other.by_label {
            let mine = self.by_label.entry(*counter).or_default();
            for (value, v) in values {
                add_keyed(mine, value, v * factor);
            }
        }
    }

    /// Adds `v` to a counter's `value` (reason or component); past [`MAX_LABEL_VALUES`]
    /// values of one counter, to `other`, so answers naming thousands cannot grow the map.
    pub fn add_by_label(&mut self, counter: Counter, value: &str, v: f64) {
        let values = self.by_label.entry(counter).or_default();
        let value = if values.contains_key(value) || values.len() < MAX_LABEL_VALUES {
            value
        } else {
            "other"
        };
        add_keyed(values, value, v);
    }

    /// A counter's increases per label value (reason or component), largest first (values
    /// with none left out).
    pub fn by_label_of(&self, counter: Counter) -> Vec<(&str, f64)> {
        let mut out: Vec<(&str, f64)> = self
            .by_label
            .get(&counter)
            .into_iter()
            .flatten()
            .filter(|(_, v)| **v > 0.0)
            .map(|(r, v)| (r.as_str(), *v))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        out
    }

    /// Adds what a pipeline's totals keep: every counter, the discards, and the counters kept
    /// per reason — not the per-tenant and per-component breakdowns, which are judged from
    /// each instance's own sums (`derive::tenants`, `derive::components`). Summing those for
    /// a thousand instances on every derive cost more than the rest of the derive.
    pub fn add_totals(&mut self, other: &Increases) {
        for (mine, theirs) in self.counters.iter_mut().zip(other.counters.iter()) {
            *mine += theirs;
        }
        for (reason, v) in &other.discarded {
            add_keyed(&mut self.discarded, reason, *v);
        }
        for (counter, values) in other.by_label.iter() {
            if crate::model::catalogue::PER_COMPONENT.contains(counter) {
                continue;
            }
            let mine = self.by_label.entry(*counter).or_default();
            for (value, v) in values {
                add_keyed(mine, value, *v);
            }
        }
    }

    /// A tenant's increases, created on first use; past [`MAX_TENANTS_KEPT`] tenants, the
    /// [`OTHER_TENANT`] entry's.
    pub fn tenant_mut(&mut self, tenant: &str) -> &mut TenantIncreases {
        let key = if self.tenants.contains_key(tenant) || self.tenants.len() < MAX_TENANTS_KEPT {
            tenant
        } else {
            OTHER_TENANT
        };
        if !self.tenants.contains_key(key) {
            self.tenants
                .insert(key.to_owned(), TenantIncreases::default());
        }
        self.tenants.get_mut(key).expect("inserted above")
    }

    pub fn discarded(&self, reasons: &[&str]) -> f64 {
        reasons
            .iter()
            .map(|r| self.discarded.get(*r).copied().unwrap_or(0.0))
            .sum()
    }
}

/// Successes and failures of one stage over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageCounts {
    pub success: f64,
    pub failure: f64,
}

impl StageCounts {
    pub fn events(&self) -> f64 {
        self.success + self.failure
    }
    pub fn ratio(&self) -> Option<f64> {
        (self.events() > 0.0).then(|| self.success / self.events())
    }
}

/// Tempo 2.4–2.5 fallback: without receiver counters, failures are the discards that refuse
/// a push (`internal_error`, `unknown_error`, `rate_limited`).
const REFUSING_DISCARDS: [&str; 3] = ["internal_error", "unknown_error", "rate_limited"];

/// The classic counters' (success, failure) when they counted anything, else the items'.
fn prefer_classic(classic: (f64, f64), items: (f64, f64)) -> (f64, f64) {
    if classic.0 + classic.1 > 0.0 {
        classic
    } else {
        items
    }
}

/// How one stage did, from the counter increases of its targets.
pub fn stage_counts(stage: Stage, inc: &Increases, tempo: Generation) -> StageCounts {
    use Counter::*;
    let (success, failure) = match stage {
        Stage::App => (inc.get(AppSuccess), inc.get(AppFailure)),
        // The classic span counters when they saw anything, else the pipeline item counters
        // (a Collector with only the new telemetry on); never both, which count the same spans.
        Stage::CollectorReceiver => prefer_classic(
            (
                inc.get(CollectorAccepted),
                inc.get(CollectorRefused) + inc.get(CollectorFailed),
            ),
            (
                inc.get(CollectorItemsAccepted),
                inc.get(CollectorItemsRefused) + inc.get(CollectorItemsFailed),
            ),
        ),
        Stage::CollectorExporter => prefer_classic(
            (
                inc.get(CollectorSent),
                inc.get(CollectorSendFailed) + inc.get(CollectorEnqueueFailed),
            ),
            (
                inc.get(CollectorItemsSent),
                inc.get(CollectorItemsSendFailed),
            ),
        ),
        Stage::TempoDistributor => match tempo {
            Generation::TempoV2 {
                receiver_counters: false,
            } => {
                let refused = inc.discarded(&REFUSING_DISCARDS);
                let passed = inc.get(TempoSpansReceived)
                    - inc.discarded(&["internal_error", "unknown_error"]);
                (passed.max(0.0), refused)
            }
            _ => (inc.get(TempoAccepted), inc.get(TempoRefused)),
        },
        Stage::TempoIngester => {
            let appends = inc.get(TempoAppends);
            let failures = inc.get(TempoAppendFailures).min(appends);
            // With replication factor 3 the distributor cancels the third write once two
            // succeed, so ~1/3 append failures with nothing refused is normal (seen on a
            // real 3-ingester Tempo 2.7.2: 12 appends, 2–4 failures per step, 0 refused;
            // grafana/tempo#5342). Failures count only in a window where the distributor
            // also refused spans.
            let refused =
                inc.get(TempoRefused) + inc.discarded(&["internal_error", "unknown_error"]);
            let counted = if refused > 0.0 { failures } else { 0.0 };
            ((appends - failures).max(0.0), counted)
        }
        Stage::TempoStorage => match tempo {
            // The block-builder writes the blocks object storage keeps (3.x); the live-store
            // flushes its own local blocks.
            Generation::TempoV3Monolithic | Generation::TempoV3Microservices => (
                inc.get(LiveStoreBlocksFlushed) + inc.get(BlockBuilderFlushedBlocks),
                inc.get(LiveStoreFailedFlushes),
            ),
            _ => (inc.get(TempoBlocksFlushed), inc.get(TempoFailedFlushes)),
        },
        Stage::TempoLiveStore => (
            inc.get(LiveStoreTracesCreated) + inc.get(LiveStoreBlocksCompleted),
            inc.get(LiveStoreFailedCompletions),
        ),
        Stage::TempoKafka => {
            let failures = inc.get(KafkaProduceFailures);
            ((inc.get(KafkaProduced) - failures).max(0.0), failures)
        }
        // Counted from canary traces, not from counters (`derive::canary`).
        Stage::Canary => (0.0, 0.0),
    };
    StageCounts { success, failure }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_counter_at_its_index() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn replication_factor_3_cancellations_are_not_failures() {
        let mut inc = Increases::default();
        inc.counters[Counter::TempoAppends as usize] = 12.0;
        inc.counters[Counter::TempoAppendFailures as usize] = 4.0;
        let v2 = Generation::TempoV2 {
            receiver_counters: true,
        };
        assert_eq!(
            stage_counts(Stage::TempoIngester, &inc, v2),
            StageCounts {
                success: 8.0,
                failure: 0.0
            }
        );
        inc.counters[Counter::TempoRefused as usize] = 40.0;
        assert_eq!(
            stage_counts(Stage::TempoIngester, &inc, v2),
            StageCounts {
                success: 8.0,
                failure: 4.0
            }
        );
    }
}
