//! Reads a fetched metrics page into a [`Reading`]: per counter series the raw value, the
//! software version and mode, whether the page looks like its role's software, and the
//! evidence gauges (ring states, Collector queues).
//!
//! Input: a [`Page`] and its target's role (and, for an app, the configured selectors).
//! Output: a [`Reading`], or a [`ParseError`] naming the line. Which families are read and
//! what each feeds comes from the catalogue (`model::catalogue`); every other family is
//! skipped after its name. A counter spanflow cannot count on — NaN, ±Inf, negative, or a
//! series the page repeats — makes the whole page unusable rather than silently partial.
//! Pure: the history and the windows live in `derive`.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use serde::Serialize;

use crate::config::AppSelectors;
use crate::model::catalogue::{self, Feeds};
use crate::model::counter::{Counter, MAX_TENANTS_KEPT, OTHER_TENANT};
use crate::model::software::{Families, Software};
use crate::model::stage::Role;
use crate::source::expfmt::{self, Format, ParseError};
use crate::source::scrape::Page;
use crate::source::tempo::TempoEvidence;

/// At most this many distinct `reason` values are kept per page, the rest summed as
/// [`OTHER_REASON`]; a hostile or broken page cannot grow spanflow's memory through them.
/// Tempo 2.x/3.x define eight discard reasons and six Kafka produce-failure reasons.
const MAX_DISCARD_REASONS: usize = 32;

/// The reason the reasons past [`MAX_DISCARD_REASONS`] are summed under.
const OTHER_REASON: &str = "other";

/// At most this many ring gauges are kept per page.
const MAX_RING_GAUGES: usize = 64;

/// Which counter series a value belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKey {
    Counter(Counter, u64),
    /// A counter series that is also one tenant's spans received.
    TenantReceived(Counter, String, u64),
    /// A counter series kept per one label's value too (a reason, a Collector component).
    CounterByLabel(Counter, String, u64),
    /// Tempo's discards of one reason (and tenant, when the series names one).
    Discarded {
        reason: String,
        tenant: Option<String>,
        id: u64,
    },
}

/// What one poll of one target read.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Raw counter values per series. A series absent from the page is absent here.
    pub series: Vec<(SeriesKey, f64)>,
    /// Fullest Collector exporter queue, size / capacity.
    pub queue_fill_ratio: Option<f64>,
    /// The Collector's export requests in flight, summed over its exporters (v0.152+).
    pub in_flight_requests: Option<f64>,
    /// Tempo 3.x: the most any Kafka consumer group lags, in seconds.
    pub partition_lag_seconds: Option<f64>,
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
    pub(crate) families: Families,
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
                SeriesKey::Counter(c, _)
                | SeriesKey::TenantReceived(c, ..)
                | SeriesKey::CounterByLabel(c, ..) => c.is_failure(),
                SeriesKey::Discarded { .. } => true,
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Sets the version read from elsewhere (Tempo's `/api/status/buildinfo`) when the page
    /// had no `tempo_build_info`, and re-derives the generation and mode from it.
    pub fn set_build_version(&mut self, role: Role, version: String) {
        self.software = Software::detect(
            role,
            Some(version),
            &self.families,
            self.has_receiver_counters,
        );
    }
}

/// Reads the counters a role needs from a page; the rest of the page is skipped unread.
pub fn read_page(
    role: Role,
    page: &Page,
    app: Option<&AppSelectors>,
) -> Result<Reading, ParseError> {
    let body = expfmt::body_as_str(&page.body)?;
    let format = Format::from_content_type(&page.content_type);
    match read_body(role, body, format, app) {
        // A server may send Prometheus 3's quoted UTF-8 names though asked for underscores:
        // the classic scanner refuses them, and the page is read again as its underscore
        // form. Only a refused page pays for looking (a page is 40–90 KB).
        Err(e) => match expfmt::escape_quoted_names(body) {
            std::borrow::Cow::Owned(escaped) => read_body(role, &escaped, format, app),
            std::borrow::Cow::Borrowed(_) => Err(e),
        },
        read => read,
    }
}

/// Reads a body in a known format; see [`read_page`].
fn read_body(
    role: Role,
    body: &str,
    format: Format,
    app: Option<&AppSelectors>,
) -> Result<Reading, ParseError> {
    let mut reader = PageReader {
        role,
        app,
        reading: Reading::default(),
        queue: BTreeMap::new(),
        version: None,
        reasons: HashSet::new(),
        tenants: HashSet::new(),
        unusable: None,
        counted: HashSet::new(),
    };
    let mut families = Families::default();
    let mut sdk_families = false;
    // Asked once per sample line; a family's lines come together, so the answer for the
    // previous line's name is kept (a Tempo page has ~1,000 lines of ~250 names).
    let mut last_name = String::with_capacity(64);
    let mut last_answer = false;
    let wanted = |name: &str| -> bool {
        if !last_name.is_empty() && last_name == name {
            return last_answer;
        }
        families.note(role, name);
        let answer = match (role, app) {
            (Role::App, Some(a)) => name == a.success.metric || name == a.failure.metric,
            // Without selectors, an app is read by its SDK's own self-metrics.
            _ => catalogue::lookup(role, name).is_some(),
        };
        if answer && role == Role::App && app.is_none() {
            sdk_families = true;
        }
        last_name.clear();
        last_name.push_str(name);
        last_answer = answer;
        answer
    };
    let summary = expfmt::scan(body, format, wanted, |s| reader.sample(s))?;
    if let Some(e) = reader.unusable {
        return Err(e);
    }
    let mut reading = reader.reading;
    reading.queue_fill_ratio = fullest_queue(&reader.queue);
    reading.recognised = match role {
        Role::Tempo => families.tempo,
        Role::Collector => families.collector,
        // An app creates its export counter at the first export; any valid page will do.
        Role::App if app.is_some() => summary.sample_lines > 0 || body.trim().is_empty(),
        // Without selectors, the page must carry an SDK's self-metrics.
        Role::App => sdk_families,
    };
    reading.software = Software::detect(
        role,
        reader.version,
        &families,
        reading.has_receiver_counters,
    );
    reading.families = families;
    Ok(reading)
}

/// The state of reading one page: what it read so far.
struct PageReader<'a> {
    role: Role,
    app: Option<&'a AppSelectors>,
    reading: Reading,
    /// Per exporter (hashed name): queue size and capacity.
    queue: BTreeMap<u64, (Option<f64>, Option<f64>)>,
    version: Option<String>,
    /// `reason` values named so far (discards, Kafka failures, live-store drops).
    reasons: HashSet<String>,
    /// Tenants named so far: past [`MAX_TENANTS_KEPT`], a series counts for [`OTHER_TENANT`].
    tenants: HashSet<String>,
    /// The first counter that makes the page unusable.
    unusable: Option<ParseError>,
    counted: HashSet<u64>,
}

impl PageReader<'_> {
    /// One sample of a wanted family.
    fn sample(&mut self, s: expfmt::Sample<'_>) {
        if self.unusable.is_some() {
            return;
        }
        let series_id = series_hash(s.name, s.labels.raw());
        let (key, feeds) = match (self.role, self.app) {
            (Role::App, Some(_)) => (self.app_counter(&s, series_id), None),
            (role, _) => match catalogue::lookup(role, s.name) {
                Some(feeds) => (self.feed(feeds, &s, series_id), Some(feeds)),
                None => (None, None),
            },
        };
        if let Some(key) = key {
            self.count(key, &s, series_id);
        }
        // A share of the counter, told apart by a label, is a series of its own counter.
        if let Some(Feeds::CounterWithPart {
            label,
            prefix,
            part,
            ..
        }) = feeds
            && self.unusable.is_none()
            && s.labels.get(label).is_some_and(|v| v.starts_with(prefix))
        {
            self.reading
                .series
                .push((SeriesKey::Counter(part, series_id), s.value));
        }
    }

    /// What a catalogued family's sample feeds; a counter series to count, or nothing
    /// more (evidence is kept here).
    fn feed(&mut self, feeds: Feeds, s: &expfmt::Sample<'_>, series_id: u64) -> Option<SeriesKey> {
        match feeds {
            Feeds::Counter(c) => {
                if matches!(c, Counter::TempoAccepted | Counter::TempoRefused) {
                    self.reading.has_receiver_counters = true;
                }
                Some(self.per_component(c, s, series_id))
            }
            Feeds::CounterWhere {
                counter,
                label,
                prefix,
            } => s
                .labels
                .get(label)
                .is_some_and(|v| v.starts_with(prefix))
                .then_some(SeriesKey::Counter(counter, series_id)),
            Feeds::CounterWithPart { counter, .. } => {
                Some(self.per_component(counter, s, series_id))
            }
            Feeds::ByValue {
                label,
                cases,
                spans_only,
            } => {
                if spans_only && !catalogue::counts_spans(|name| s.labels.get(name)) {
                    return None;
                }
                let value = s.labels.get(label).unwrap_or_default();
                cases
                    .iter()
                    .find(|(v, _)| *v == value)
                    .map(|(_, counter)| SeriesKey::Counter(*counter, series_id))
            }
            Feeds::CounterByReason(c) => {
                let reason = s.labels.get("reason").unwrap_or_default();
                Some(SeriesKey::CounterByLabel(
                    c,
                    self.bounded_label_value(&reason),
                    series_id,
                ))
            }
            Feeds::Outcome {
                label,
                success_when,
                success,
                failure,
            } => {
                let value = s.labels.get(label).unwrap_or_default();
                let counter = if value == success_when {
                    success
                } else {
                    failure
                };
                Some(SeriesKey::Counter(counter, series_id))
            }
            Feeds::ByTenant(c) => Some(match self.tenant_of(s) {
                Some(tenant) => SeriesKey::TenantReceived(c, tenant, series_id),
                None => SeriesKey::Counter(c, series_id),
            }),
            Feeds::DiscardedByReason => self.discarded(s, series_id),
            // The gauges and labels: evidence, never a counter series.
            _ => {
                self.evidence(feeds, s);
                None
            }
        }
    }

    /// A gauge's or label's sample: ring states, version, restarts, queues, in-flight
    /// requests, consumer lag.
    fn evidence(&mut self, feeds: Feeds, s: &expfmt::Sample<'_>) {
        match feeds {
            // A gauge that is not a number tells nothing.
            Feeds::PartitionLag if s.value.is_finite() => {
                let most = self.reading.partition_lag_seconds.unwrap_or(f64::MIN);
                self.reading.partition_lag_seconds = Some(most.max(s.value));
            }
            Feeds::InFlight if s.value.is_finite() => {
                *self.reading.in_flight_requests.get_or_insert(0.0) += s.value;
            }
            Feeds::RingGauge if self.reading.ring_gauges.len() < MAX_RING_GAUGES => {
                if let Some(entry) = catalogue::CATALOGUE.iter().find(|e| e.family == s.name) {
                    self.reading.ring_gauges.push(RingGauge {
                        metric: entry.family,
                        ring: s.labels.get("name").unwrap_or_default().into_owned(),
                        state: s.labels.get("state").unwrap_or_default().into_owned(),
                        value: s.value,
                    });
                }
            }
            // The first series that has the label tells the version.
            Feeds::Version { label } if self.version.is_none() => {
                // Alloy carries the Collector's components: its version says it is Alloy.
                let product = s.name.strip_suffix("_build_info").filter(|p| *p == "alloy");
                self.version = s.labels.get(label).map(|v| match product {
                    Some(p) => format!("{p} {v}"),
                    None => v.into_owned(),
                });
            }
            Feeds::ProcessStart => {
                self.reading.process_start = Some(s.value);
            }
            Feeds::QueueSize | Feeds::QueueCapacity => {
                let exporter = series_hash("", &s.labels.get("exporter").unwrap_or_default());
                let slot = self.queue.entry(exporter).or_default();
                if feeds == Feeds::QueueSize {
                    slot.0 = Some(s.value);
                } else {
                    slot.1 = Some(s.value);
                }
            }
            _ => {}
        }
    }

    /// Tempo's discards per reason (and tenant).
    fn discarded(&mut self, s: &expfmt::Sample<'_>, series_id: u64) -> Option<SeriesKey> {
        let reason = s.labels.get("reason").unwrap_or_default();
        Some(SeriesKey::Discarded {
            reason: self.bounded_label_value(&reason),
            tenant: self.tenant_of(s),
            id: series_id,
        })
    }

    /// A counter series, kept per its Collector component too when it names one.
    fn per_component(&mut self, c: Counter, s: &expfmt::Sample<'_>, series_id: u64) -> SeriesKey {
        match catalogue::component_of(c, |name| s.labels.get(name)) {
            Some(component) => {
                SeriesKey::CounterByLabel(c, self.bounded_label_value(&component), series_id)
            }
            None => SeriesKey::Counter(c, series_id),
        }
    }

    /// A `reason` (or component) label's value; past [`MAX_DISCARD_REASONS`] distinct values
    /// on a page, `other`: a reason spanflow does not know is reported, and a hostile page
    /// cannot grow the map.
    fn bounded_label_value(&mut self, reason: &str) -> String {
        if self.reasons.contains(reason) {
            return reason.to_owned();
        }
        if self.reasons.len() >= MAX_DISCARD_REASONS {
            return OTHER_REASON.to_owned();
        }
        self.reasons.insert(reason.to_owned());
        reason.to_owned()
    }

    /// The series' `tenant` label, or [`OTHER_TENANT`] once [`MAX_TENANTS_KEPT`] tenants
    /// were named; `None` when the series has none.
    fn tenant_of(&mut self, s: &expfmt::Sample<'_>) -> Option<String> {
        let tenant = s.labels.get("tenant")?;
        if self.tenants.contains(tenant.as_ref()) {
            return Some(tenant.into_owned());
        }
        if self.tenants.len() >= MAX_TENANTS_KEPT {
            return Some(OTHER_TENANT.to_owned());
        }
        self.tenants.insert(tenant.clone().into_owned());
        Some(tenant.into_owned())
    }

    /// The app's export counters, by the configured selectors.
    fn app_counter(&self, s: &expfmt::Sample<'_>, series_id: u64) -> Option<SeriesKey> {
        let app = self.app?;
        if s.name == app.success.metric && app.success.matches_labels(|name| s.labels.get(name)) {
            Some(SeriesKey::Counter(Counter::AppSuccess, series_id))
        } else if s.name == app.failure.metric
            && app.failure.matches_labels(|name| s.labels.get(name))
        {
            Some(SeriesKey::Counter(Counter::AppFailure, series_id))
        } else {
            None
        }
    }

    /// Keeps a counter series, or marks the page unusable: a counter is a finite number of
    /// at least 0, and a page that repeats a series leaves unknowable which value is true.
    fn count(&mut self, key: SeriesKey, s: &expfmt::Sample<'_>, series_id: u64) {
        let problem = if !s.value.is_finite() || s.value < 0.0 {
            format!(
                "counter {} has the value {}; a counter is a finite number of at least 0",
                s.name, s.value
            )
        } else if !self.counted.insert(series_id) {
            format!("series {}{{{}}} appears twice", s.name, s.labels.raw())
        } else {
            self.reading.series.push((key, s.value));
            return;
        };
        self.unusable = Some(ParseError {
            line: s.line,
            kind: expfmt::ErrorKind::Semantic(problem),
        });
    }
}

/// The fullest exporter queue, size / capacity.
fn fullest_queue(queue: &BTreeMap<u64, (Option<f64>, Option<f64>)>) -> Option<f64> {
    queue
        .values()
        .filter_map(|(size, cap)| match (size, cap) {
            (Some(size), Some(cap)) if *cap > 0.0 => Some(size / cap),
            _ => None,
        })
        .fold(None, |max: Option<f64>, r| {
            Some(max.map_or(r, |m| m.max(r)))
        })
}

/// A stable identity for a series within a page: its name and its label set as written.
fn series_hash(name: &str, labels: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    labels.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::software::Generation;

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
                SeriesKey::Counter(c, _)
                | SeriesKey::TenantReceived(c, ..)
                | SeriesKey::CounterByLabel(c, ..) => format!("{c:?}"),
                SeriesKey::Discarded { reason, .. } => format!("discarded:{reason}"),
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
    fn reasons_past_the_cap_are_summed_as_other_never_dropped() {
        let mut body = String::new();
        for i in 0..40 {
            body.push_str(&format!(
                "tempo_discarded_spans_total{{reason=\"r{i:02}\",tenant=\"t\"}} 1\n"
            ));
        }
        let r = read_page(Role::Tempo, &page(&body), None).unwrap();
        let sums = sums(&r);
        let reasons: f64 = sums
            .iter()
            .filter(|(k, _)| k.starts_with("discarded:"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(reasons, 40.0, "every discard is kept");
        assert_eq!(sums["discarded:other"], 8.0);
        assert_eq!(sums["discarded:r31"], 1.0);
        assert!(!sums.contains_key("discarded:r32"));
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
}
