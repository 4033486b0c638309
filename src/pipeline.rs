//! The stage model of DESIGN §2: which counters each role exposes, how to read them from a
//! page, which stages a detected Tempo version has, and how a stage's success and failure
//! counts follow from counter increases.
//!
//! Input: a fetched page and its target's role. Output: a [`Reading`] — per counter series
//! the raw value, the detected software version and mode, and whether the page looks like
//! the software its role says. Everything here is a pure function of its arguments; the
//! history and the windows live in `derive`.
//!
//! Names are matched as the software writes them across versions: the Collector's with and
//! without `_total` (v0.119–v0.151 add it, earlier and later releases do not), Tempo's
//! receiver counters without `_total`. Extra labels (`service_*`, `otel_scope_*`,
//! `receiver`, `transport`, `tenant`) are ignored: every series of a counter is summed.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use serde::Serialize;

use crate::config::AppSelectors;
use crate::expfmt::{self, Format, ParseError};
use crate::scrape::Page;
use crate::stage::{Role, Stage};
use crate::tempo::TempoEvidence;

/// A counter spanflow reads. Discards by reason are kept apart (their reasons are open-ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
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
}

impl Counter {
    pub const COUNT: usize = Counter::CollectorMemoryLimited as usize + 1;

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
        )
    }
}

/// Tempo's discard counter, kept per `reason` label.
const TEMPO_DISCARDED: &str = "tempo_discarded_spans_total";

/// At most this many distinct discard reasons are kept per page; a hostile or broken page
/// cannot grow spanflow's memory through them. Tempo 2.x/3.x define eight.
const MAX_DISCARD_REASONS: usize = 32;

fn tempo_counter(name: &str) -> Option<Counter> {
    Some(match name {
        "tempo_receiver_accepted_spans" | "tempo_receiver_accepted_spans_total" => {
            Counter::TempoAccepted
        }
        "tempo_receiver_refused_spans" | "tempo_receiver_refused_spans_total" => {
            Counter::TempoRefused
        }
        "tempo_distributor_spans_received_total" => Counter::TempoSpansReceived,
        "tempo_distributor_ingester_appends_total" => Counter::TempoAppends,
        "tempo_distributor_ingester_append_failures_total" => Counter::TempoAppendFailures,
        "tempo_ingester_blocks_flushed_total" => Counter::TempoBlocksFlushed,
        "tempo_ingester_failed_flushes_total" => Counter::TempoFailedFlushes,
        "tempo_live_store_traces_created_total" => Counter::LiveStoreTracesCreated,
        "tempo_live_store_blocks_completed_total" => Counter::LiveStoreBlocksCompleted,
        "tempo_live_store_failed_completions_total" => Counter::LiveStoreFailedCompletions,
        "tempo_live_store_local_blocks_flushed_total" => Counter::LiveStoreBlocksFlushed,
        "tempo_live_store_local_failed_flushes_total" => Counter::LiveStoreFailedFlushes,
        "tempo_distributor_produce_records_total" => Counter::KafkaProduced,
        "tempo_distributor_produce_failures_total" => Counter::KafkaProduceFailures,
        _ => return None,
    })
}

fn collector_counter(name: &str) -> Option<Counter> {
    let base = name.strip_suffix("_total").unwrap_or(name);
    Some(match base {
        "otelcol_receiver_accepted_spans" => Counter::CollectorAccepted,
        "otelcol_receiver_refused_spans" => Counter::CollectorRefused,
        "otelcol_receiver_failed_spans" => Counter::CollectorFailed,
        "otelcol_exporter_sent_spans" => Counter::CollectorSent,
        "otelcol_exporter_send_failed_spans" => Counter::CollectorSendFailed,
        "otelcol_exporter_enqueue_failed_spans" => Counter::CollectorEnqueueFailed,
        // Named so since v0.155; before, `otelcol_processor_refused_spans{processor=…}`.
        "otelcol_processor_memory_limiter_refused_spans" => Counter::CollectorMemoryLimited,
        _ => return None,
    })
}

/// Which counter series a value belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKey {
    Counter(Counter, u64),
    Discarded(String, u64),
}

/// What one poll of one target read.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Raw counter values per series. A series absent from the page is absent here.
    pub series: Vec<(SeriesKey, f64)>,
    /// Fullest Collector exporter queue, size / capacity.
    pub queue_fill_ratio: Option<f64>,
    pub software: Software,
    /// Tempo's or the Collector's `process_start_time_seconds`: a change means a restart.
    pub process_start: Option<f64>,
    /// The page looks like the software its role says (some `tempo_*` / `otelcol_*` family).
    pub recognised: bool,
    /// Tempo's receiver families are on the page (missing in Tempo 2.4–2.5).
    pub has_receiver_counters: bool,
    /// Tempo's `tempo_ring_members{name,state}` and
    /// `tempo_partition_ring_partitions{name,state}` gauges.
    pub ring_gauges: Vec<RingGauge>,
    /// Tempo's status endpoints and probes, read beside the page.
    pub tempo: Option<TempoEvidence>,
    pub(crate) families: FamiliesSeen,
}

/// One ring-state gauge from Tempo's page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RingGauge {
    /// `tempo_ring_members` or `tempo_partition_ring_partitions`.
    pub metric: &'static str,
    /// The ring (`ingester`, `live-store`, `livestore-partitions`, …).
    pub ring: String,
    pub state: String,
    pub value: f64,
}

/// At most this many ring gauges are kept per page.
const MAX_RING_GAUGES: usize = 64;

/// Sums a ring gauge over every series of one ring and state; `None` when the page had none
/// for that ring.
pub fn ring_gauge(gauges: &[RingGauge], metric: &str, ring: &str, state: &str) -> Option<f64> {
    let mut seen = false;
    let mut sum = 0.0;
    for g in gauges
        .iter()
        .filter(|g| g.metric == metric && g.ring == ring)
    {
        seen = true;
        if g.state.eq_ignore_ascii_case(state) {
            sum += g.value;
        }
    }
    seen.then_some(sum)
}

impl Reading {
    /// The sum of every failure counter and discard the page has: when it moves between
    /// two polls, something failed in between.
    pub fn trouble_total(&self) -> f64 {
        self.series
            .iter()
            .filter(|(key, _)| match key {
                SeriesKey::Counter(c, _) => c.is_failure(),
                SeriesKey::Discarded(..) => true,
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Sets the version read from elsewhere (Tempo's `/api/status/buildinfo`) when the page
    /// had no `tempo_build_info`, and re-derives the generation and mode from it.
    pub fn set_build_version(&mut self, role: Role, version: String) {
        self.software = software(
            role,
            Some(version),
            &self.families,
            self.has_receiver_counters,
        );
    }
}

/// The software behind a target, as far as its pages tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Software {
    pub version: Option<String>,
    pub mode: Option<&'static str>,
    #[serde(skip)]
    pub generation: Generation,
}

/// The Tempo architecture a target runs; it decides the stage list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Generation {
    /// Not known yet (no page read, or a page without version or telling families).
    #[default]
    Unknown,
    /// Tempo 2.x: distributor → ingesters → storage.
    TempoV2 { receiver_counters: bool },
    /// Tempo 3.x monolithic: distributor → live-store (in process) → storage.
    TempoV3Monolithic,
    /// Tempo 3.x microservices: distributor → Kafka → live-store/block-builder.
    TempoV3Microservices,
}

/// Reads the counters a role needs from a page; the rest of the page is skipped unread.
pub fn read_page(
    role: Role,
    page: &Page,
    app: Option<&AppSelectors>,
) -> Result<Reading, ParseError> {
    let body = expfmt::body_as_str(&page.body)?;
    let format = Format::from_content_type(&page.content_type);
    let mut reading = Reading::default();
    let mut families = FamiliesSeen::default();
    let mut queue: BTreeMap<u64, (Option<f64>, Option<f64>)> = BTreeMap::new();
    let mut build_version: Option<String> = None;
    let mut discard_reasons = 0usize;

    let wanted = |name: &str| -> bool {
        families.note(role, name);
        match role {
            Role::Tempo => {
                tempo_counter(name).is_some()
                    || name == TEMPO_DISCARDED
                    || name == "tempo_ring_members"
                    || name == "tempo_partition_ring_partitions"
                    || name == "tempo_build_info"
                    || name == "process_start_time_seconds"
            }
            Role::Collector => {
                collector_counter(name).is_some()
                    || name == "otelcol_processor_refused_spans"
                    || name == "otelcol_processor_refused_spans_total"
                    || name == "otelcol_exporter_queue_size"
                    || name == "otelcol_exporter_queue_capacity"
                    || name == "otelcol_process_uptime"
                    || name == "otelcol_process_uptime_seconds_total"
                    || name == "target_info"
                    || name == "process_start_time_seconds"
            }
            Role::App => app.is_some_and(|a| name == a.success.metric || name == a.failure.metric),
        }
    };
    // The first counter spanflow cannot count on: NaN, ±Inf or negative, or a series the
    // page repeats (two values for one series: which is true is unknowable). One such
    // counter makes the whole page unusable rather than silently partial.
    let mut unusable: Option<ParseError> = None;
    let mut counted: HashSet<u64> = HashSet::new();
    let mut on_sample = |s: expfmt::Sample<'_>| {
        if unusable.is_some() {
            return;
        }
        let series_id = series_hash(s.name, s.labels.raw());
        let counter = match role {
            Role::Tempo => {
                if let Some(c) = tempo_counter(s.name) {
                    if matches!(c, Counter::TempoAccepted | Counter::TempoRefused) {
                        reading.has_receiver_counters = true;
                    }
                    Some(SeriesKey::Counter(c, series_id))
                } else if s.name == TEMPO_DISCARDED {
                    let reason = s.labels.get("reason").unwrap_or_default().into_owned();
                    let known = reading
                        .series
                        .iter()
                        .any(|(k, _)| matches!(k, SeriesKey::Discarded(r, _) if *r == reason));
                    if !known {
                        if discard_reasons >= MAX_DISCARD_REASONS {
                            return;
                        }
                        discard_reasons += 1;
                    }
                    Some(SeriesKey::Discarded(reason, series_id))
                } else if s.name == "tempo_ring_members"
                    || s.name == "tempo_partition_ring_partitions"
                {
                    if reading.ring_gauges.len() < MAX_RING_GAUGES {
                        reading.ring_gauges.push(RingGauge {
                            metric: if s.name == "tempo_ring_members" {
                                "tempo_ring_members"
                            } else {
                                "tempo_partition_ring_partitions"
                            },
                            ring: s.labels.get("name").unwrap_or_default().into_owned(),
                            state: s.labels.get("state").unwrap_or_default().into_owned(),
                            value: s.value,
                        });
                    }
                    None
                } else {
                    if s.name == "tempo_build_info" {
                        build_version = s.labels.get("version").map(|v| v.into_owned());
                    } else if s.name == "process_start_time_seconds" {
                        reading.process_start = Some(s.value);
                    }
                    None
                }
            }
            Role::Collector => {
                if let Some(c) = collector_counter(s.name) {
                    Some(SeriesKey::Counter(c, series_id))
                } else if s.name.starts_with("otelcol_processor_refused_spans") {
                    s.labels
                        .get("processor")
                        .is_some_and(|p| p.starts_with("memory_limiter"))
                        .then_some(SeriesKey::Counter(
                            Counter::CollectorMemoryLimited,
                            series_id,
                        ))
                } else {
                    if s.name == "otelcol_exporter_queue_size"
                        || s.name == "otelcol_exporter_queue_capacity"
                    {
                        let exporter =
                            series_hash("", &s.labels.get("exporter").unwrap_or_default());
                        let slot = queue.entry(exporter).or_default();
                        if s.name.ends_with("size") {
                            slot.0 = Some(s.value);
                        } else {
                            slot.1 = Some(s.value);
                        }
                    } else if s.name == "process_start_time_seconds" {
                        reading.process_start = Some(s.value);
                    } else if let Some(v) = s.labels.get("service_version") {
                        build_version.get_or_insert_with(|| v.into_owned());
                    }
                    None
                }
            }
            Role::App => {
                let Some(app) = app else { return };
                if s.name == app.success.metric && app.success.matches_labels(&s.labels) {
                    Some(SeriesKey::Counter(Counter::AppSuccess, series_id))
                } else if s.name == app.failure.metric && app.failure.matches_labels(&s.labels) {
                    Some(SeriesKey::Counter(Counter::AppFailure, series_id))
                } else {
                    None
                }
            }
        };
        let Some(key) = counter else { return };
        let problem = if !s.value.is_finite() || s.value < 0.0 {
            format!(
                "counter {} has the value {}; a counter is a finite number of at least 0",
                s.name, s.value
            )
        } else if !counted.insert(series_id) {
            format!("series {}{{{}}} appears twice", s.name, s.labels.raw())
        } else {
            reading.series.push((key, s.value));
            return;
        };
        unusable = Some(ParseError {
            line: s.line,
            kind: expfmt::ErrorKind::Semantic(problem),
        });
    };
    let summary = expfmt::scan(body, format, wanted, &mut on_sample)?;
    if let Some(e) = unusable {
        return Err(e);
    }

    reading.queue_fill_ratio = queue
        .values()
        .filter_map(|(size, cap)| match (size, cap) {
            (Some(size), Some(cap)) if *cap > 0.0 => Some(size / cap),
            _ => None,
        })
        .fold(None, |max: Option<f64>, r| {
            Some(max.map_or(r, |m| m.max(r)))
        });
    reading.recognised = match role {
        Role::Tempo => families.tempo,
        Role::Collector => families.otelcol,
        // An app creates its export counter at the first export; any valid page will do.
        Role::App => summary.sample_lines > 0 || body.trim().is_empty(),
    };
    reading.software = software(
        role,
        build_version,
        &families,
        reading.has_receiver_counters,
    );
    Ok(reading)
}

/// Which telling families a page has, noted while scanning names.
#[derive(Debug, Clone, Default)]
pub(crate) struct FamiliesSeen {
    tempo: bool,
    otelcol: bool,
    tempo_ingester: bool,
    tempo_distributor: bool,
    live_store: bool,
    kafka_produce: bool,
}

impl FamiliesSeen {
    fn note(&mut self, role: Role, name: &str) {
        match role {
            Role::Tempo if name.starts_with("tempo") => {
                self.tempo = true;
                if name.starts_with("tempo_ingester_")
                    || name.starts_with("tempo_distributor_ingester_")
                {
                    self.tempo_ingester = true;
                }
                if name.starts_with("tempo_distributor_") || name.starts_with("tempo_receiver_") {
                    self.tempo_distributor = true;
                }
                if name.starts_with("tempo_live_store_") {
                    self.live_store = true;
                }
                if name == "tempo_distributor_produce_records_total" {
                    self.kafka_produce = true;
                }
            }
            Role::Collector if name.starts_with("otelcol_") => self.otelcol = true,
            _ => {}
        }
    }
}

fn software(
    role: Role,
    version: Option<String>,
    families: &FamiliesSeen,
    receiver_counters: bool,
) -> Software {
    if role != Role::Tempo {
        return Software {
            version,
            mode: None,
            generation: Generation::Unknown,
        };
    }
    let major = version.as_deref().and_then(|v| {
        v.trim_start_matches('v')
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    let minor = version.as_deref().and_then(|v| {
        v.trim_start_matches('v')
            .split('.')
            .nth(1)?
            .parse::<u32>()
            .ok()
    });
    let v3 = match major {
        Some(m) => m >= 3,
        None => families.live_store && !families.tempo_ingester,
    };
    let generation = if v3 {
        if families.kafka_produce {
            Generation::TempoV3Microservices
        } else {
            Generation::TempoV3Monolithic
        }
    } else if major == Some(2) || families.tempo_ingester {
        // Tempo 2.4–2.5 lost the receiver counters (grafana/tempo#3758, back in 2.6).
        let lost = major == Some(2) && matches!(minor, Some(4 | 5));
        Generation::TempoV2 {
            receiver_counters: receiver_counters || !lost,
        }
    } else {
        Generation::Unknown
    };
    let mode = match generation {
        Generation::TempoV3Microservices => Some("microservices"),
        Generation::TempoV3Monolithic => Some("monolithic"),
        Generation::TempoV2 { .. } if families.tempo_ingester && families.tempo_distributor => {
            Some("monolithic")
        }
        Generation::TempoV2 { .. } => Some("microservices"),
        Generation::Unknown => None,
    };
    Software {
        version,
        mode,
        generation,
    }
}

/// A stable identity for a series within a page: its name and its label set as written.
fn series_hash(name: &str, labels: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    labels.hash(&mut h);
    h.finish()
}

/// Increases of every counter over some window, summed over series and targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Increases {
    pub counters: [f64; Counter::COUNT],
    pub discarded: BTreeMap<String, f64>,
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
            // Summing a window adds the same few reasons over and over: clone a key only
            // the first time it is seen.
            match self.discarded.get_mut(reason) {
                Some(sum) => *sum += v * factor,
                None => {
                    self.discarded.insert(reason.clone(), v * factor);
                }
            }
        }
    }

    pub fn discarded(&self, reasons: &[&str]) -> f64 {
        reasons
            .iter()
            .map(|r| self.discarded.get(*r).copied().unwrap_or(0.0))
            .sum()
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

/// How one stage did, from the counter increases of its targets.
pub fn stage_counts(stage: Stage, inc: &Increases, tempo: Generation) -> StageCounts {
    use Counter::*;
    let (success, failure) = match stage {
        Stage::App => (inc.get(AppSuccess), inc.get(AppFailure)),
        Stage::CollectorReceiver => (
            inc.get(CollectorAccepted),
            inc.get(CollectorRefused) + inc.get(CollectorFailed),
        ),
        Stage::CollectorExporter => (
            inc.get(CollectorSent),
            inc.get(CollectorSendFailed) + inc.get(CollectorEnqueueFailed),
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
            // real 3-ingester Tempo: 12 appends, 2–4 failures per step, 0 refused; see
            // ../shared/research/tempo-and-collector.md §1.2, grafana/tempo#5342). Failures
            // count only in a window where the distributor also refused spans.
            let refused =
                inc.get(TempoRefused) + inc.discarded(&["internal_error", "unknown_error"]);
            let counted = if refused > 0.0 { failures } else { 0.0 };
            ((appends - failures).max(0.0), counted)
        }
        Stage::TempoStorage => match tempo {
            Generation::TempoV3Monolithic | Generation::TempoV3Microservices => (
                inc.get(LiveStoreBlocksFlushed),
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
    };
    StageCounts { success, failure }
}

/// Stages whose counters move once per block (every 30 s or more) are judged over the long
/// window; judging them over the last poll would flap between ok and idle.
pub fn judged_over_long_window(stage: Stage) -> bool {
    matches!(stage, Stage::TempoStorage | Stage::TempoLiveStore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> Page {
        Page {
            status: 200,
            body: body.as_bytes().to_vec(),
            content_type: "text/plain; version=0.0.4".into(),
        }
    }

    fn sums(r: &Reading) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (k, v) in &r.series {
            let name = match k {
                SeriesKey::Counter(c, _) => format!("{c:?}"),
                SeriesKey::Discarded(r, _) => format!("discarded:{r}"),
            };
            *out.entry(name).or_default() += v;
        }
        out
    }

    #[test]
    fn a_counter_that_is_not_a_finite_count_makes_the_page_unusable() {
        for value in ["NaN", "+Inf", "-Inf", "-3"] {
            let body = format!(
                "otelcol_receiver_accepted_spans{{receiver=\"otlp\"}} 5\notelcol_exporter_sent_spans{{exporter=\"otlp\"}} {value}\n"
            );
            let e = read_page(Role::Collector, &page(&body), None).unwrap_err();
            assert_eq!(e.line, 2, "{value}");
            assert!(
                e.to_string().contains(&format!(
                    "counter otelcol_exporter_sent_spans has the value {}",
                    value.parse::<f64>().unwrap()
                )),
                "{e}"
            );
        }
        // Gauges and families spanflow does not count may say NaN.
        let ok =
            "otelcol_receiver_accepted_spans 5\notelcol_exporter_queue_size NaN\nother_total NaN\n";
        assert!(read_page(Role::Collector, &page(ok), None).is_ok());
    }

    #[test]
    fn a_repeated_series_makes_the_page_unusable() {
        let body = "tempo_receiver_accepted_spans{receiver=\"otlp/grpc\"} 5\ntempo_receiver_refused_spans{receiver=\"otlp/grpc\"} 0\ntempo_receiver_accepted_spans{receiver=\"otlp/grpc\"} 9\n";
        let e = read_page(Role::Tempo, &page(body), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: series tempo_receiver_accepted_spans{receiver=\"otlp/grpc\"} appears twice"
        );
        // The same name with other labels is another series.
        let two = "tempo_receiver_accepted_spans{receiver=\"otlp/grpc\"} 5\ntempo_receiver_accepted_spans{receiver=\"otlp/http\"} 9\n";
        assert_eq!(
            sums(&read_page(Role::Tempo, &page(two), None).unwrap())["TempoAccepted"],
            14.0
        );
    }

    #[test]
    fn collector_counters_read_under_both_spellings() {
        let old = read_page(
            Role::Collector,
            &page("otelcol_receiver_accepted_spans{receiver=\"otlp\",service_name=\"c\"} 5\n"),
            None,
        )
        .unwrap();
        let new = read_page(
            Role::Collector,
            &page("otelcol_receiver_accepted_spans_total{otel_scope_name=\"x\",receiver=\"otlp\"} 5\n"),
            None,
        )
        .unwrap();
        assert_eq!(sums(&old), sums(&new));
        assert!(old.recognised && new.recognised);
    }

    #[test]
    fn queue_fill_is_the_fullest_exporter() {
        let r = read_page(
            Role::Collector,
            &page("otelcol_exporter_queue_size{exporter=\"a\"} 10\notelcol_exporter_queue_capacity{exporter=\"a\"} 1000\notelcol_exporter_queue_size{exporter=\"b\"} 900\notelcol_exporter_queue_capacity{exporter=\"b\"} 1000\n"),
            None,
        )
        .unwrap();
        assert_eq!(r.queue_fill_ratio, Some(0.9));
    }

    #[test]
    fn a_page_of_another_software_is_not_recognised() {
        let r = read_page(
            Role::Tempo,
            &page("node_cpu_seconds_total{cpu=\"0\"} 1\n"),
            None,
        )
        .unwrap();
        assert!(!r.recognised);
    }

    #[test]
    fn tempo_generation_follows_build_info_then_families() {
        let v2 = read_page(Role::Tempo, &page("tempo_build_info{version=\"v2.7.2\"} 1\ntempo_distributor_spans_received_total 1\ntempo_ingester_live_traces 0\n"), None).unwrap();
        assert_eq!(
            v2.software.generation,
            Generation::TempoV2 {
                receiver_counters: true
            }
        );
        assert_eq!(v2.software.mode, Some("monolithic"));
        let v25 = read_page(
            Role::Tempo,
            &page("tempo_build_info{version=\"v2.5.0\"} 1\n"),
            None,
        )
        .unwrap();
        assert_eq!(
            v25.software.generation,
            Generation::TempoV2 {
                receiver_counters: false
            }
        );
        let v3 = read_page(
            Role::Tempo,
            &page("tempo_live_store_traces_created_total 1\n"),
            None,
        )
        .unwrap();
        assert_eq!(v3.software.generation, Generation::TempoV3Monolithic);
        let v3ms = read_page(Role::Tempo, &page("tempo_build_info{version=\"v3.0.3\"} 1\ntempo_distributor_produce_records_total{topic=\"t\"} 4\n"), None).unwrap();
        assert_eq!(v3ms.software.generation, Generation::TempoV3Microservices);
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
