//! Reads one poll of a store-sourced pipeline: every planned query at the same evaluation
//! time, so the ratios of one poll agree, sorted into split values and roles.
//!
//! Input: the pipeline's [`StoreSource`], its window, and a time. Output: a [`StoreReading`]
//! — per split value (the values of the `split_by` labels) and per role, the counters'
//! increases over the window and over the status window, the families that answered (which
//! tell the software, as a page's do), the version, the ring-state gauges and the fullest
//! queue — with the API's warnings; or the first [`QueryError`] of the poll, as a poll with
//! one failed query is not a reading. Absent series are zero, as on pages. It never judges
//! and keeps nothing between polls.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::store::StoreSource;
use crate::model::catalogue::{CATALOGUE, Feeds};
use crate::model::counter::{Counter, Increases};
use crate::model::software::{Families, Software};
use crate::model::stage::Role;
use crate::source::page::RingGauge;
use crate::source::prometheus::{QueryApi, QueryError, Sample};
use crate::source::query_plan::{self, PollQuery, Range, Reads};
use crate::source::scrape::{ClientSetupError, TargetClient};

/// At most this many queries of one poll are in flight at once: a poll's fifty-odd queries
/// finish in a few round trips without a burst a store's limits would refuse.
const QUERIES_IN_FLIGHT: usize = 8;

/// The labels' values that name a split pipeline, in `split_by` order (empty: no split).
pub type SplitKey = Vec<String>;

/// One poll's answers.
#[derive(Debug, Clone, Default)]
pub struct StoreReading {
    pub splits: BTreeMap<SplitKey, Vec<RoleReading>>,
    /// The API's warnings (a Thanos partial response, a Mimir limit), deduplicated.
    pub warnings: Vec<String>,
    pub queries: usize,
    /// Samples in every answer together: what the poll cost the store.
    pub samples: usize,
}

/// What the store holds for one role of one split value.
#[derive(Debug, Clone, Default)]
pub struct RoleReading {
    pub window: Increases,
    pub recent: Increases,
    /// Some series of the role answered: the role's software is in the store.
    pub recognised: bool,
    pub families: Families,
    pub version: Option<String>,
    pub receiver_counters: bool,
    pub ring_gauges: Vec<RingGauge>,
    pub queue_fill_ratio: Option<f64>,
    pub in_flight_requests: Option<f64>,
    pub partition_lag_seconds: Option<f64>,
}

impl RoleReading {
    /// The software these answers tell, as a page's families would.
    pub fn software(&self, role: Role) -> Software {
        Software::detect(
            role,
            self.version.clone(),
            &self.families,
            self.receiver_counters,
        )
    }
}

/// Runs one store-sourced pipeline's polls.
#[derive(Debug, Clone)]
pub struct StoreReader {
    api: QueryApi,
    source: Arc<StoreSource>,
    plan: Arc<[PollQuery]>,
}

impl StoreReader {
    pub fn new(
        source: Arc<StoreSource>,
        body_size_limit: u64,
    ) -> Result<StoreReader, ClientSetupError> {
        let client = TargetClient::new(&source.api, body_size_limit)?;
        let api = QueryApi::new(client, source.params.clone()).with_max_series(source.max_series);
        let plan = query_plan::poll_queries(&source).into();
        Ok(StoreReader { api, source, plan })
    }

    pub fn source(&self) -> &StoreSource {
        &self.source
    }

    /// The API's URL without credentials.
    pub fn shown_url(&self) -> String {
        self.api.shown_url()
    }

    /// Queries per poll: fixed by the catalogue and the roles.
    pub fn queries_per_poll(&self) -> usize {
        self.plan.len()
    }

    /// Every query at `time` (Unix seconds); the first error fails the poll.
    pub async fn read(&self, time: f64) -> Result<StoreReading, QueryError> {
        let slots = Arc::new(tokio::sync::Semaphore::new(QUERIES_IN_FLIGHT));
        let mut running = tokio::task::JoinSet::new();
        for (index, q) in self.plan.iter().enumerate() {
            let api = self.api.clone();
            let promql = q.query.promql.clone();
            let slots = Arc::clone(&slots);
            running.spawn(async move {
                let _slot = slots.acquire_owned().await;
                (index, api.instant(&promql, time).await)
            });
        }
        let mut answers = vec![None; self.plan.len()];
        while let Some(done) = running.join_next().await {
            let Ok((index, answer)) = done else { continue };
            match answer {
                Ok(vector) => answers[index] = Some(vector),
                Err(e) => {
                    running.abort_all();
                    return Err(e);
                }
            }
        }
        let mut reading = StoreReading {
            queries: self.plan.len(),
            ..StoreReading::default()
        };
        for (q, vector) in self.plan.iter().zip(answers) {
            let Some(vector) = vector else {
                return Err(QueryError::Parse(format!(
                    "no answer to {}: the query task stopped",
                    q.query.promql
                )));
            };
            reading.samples += vector.samples.len();
            for w in vector.warnings {
                if !reading.warnings.contains(&w) {
                    reading.warnings.push(w);
                }
            }
            for sample in &vector.samples {
                self.take(&mut reading, q, sample);
            }
        }
        Ok(reading)
    }

    /// Adds one sample to the reading of its split value and role.
    fn take(&self, reading: &mut StoreReading, q: &PollQuery, sample: &Sample) {
        let key: SplitKey = self
            .source
            .split_by
            .iter()
            .map(|l| sample.labels.get(l).cloned().unwrap_or_default())
            .collect();
        let roles = reading
            .splits
            .entry(key)
            .or_insert_with(|| vec![RoleReading::default(); self.source.roles.len()]);
        let role = self.source.roles[q.role].role;
        let r = &mut roles[q.role];
        if !r.take_increase(role, q, sample) {
            r.take_gauge(&q.query.reads, sample);
        }
    }
}

impl RoleReading {
    /// A counter's answer: the sample's increase into the window's or the status window's
    /// increases (and its tenant, reason or component). False for the other answers.
    fn take_increase(&mut self, role: Role, q: &PollQuery, sample: &Sample) -> bool {
        let value = sample.value.max(0.0);
        let label = |name: &str| sample.labels.get(name).map(String::as_str);
        let into = if q.range == Range::Status {
            &mut self.recent
        } else {
            &mut self.window
        };
        let counter = match &q.query.reads {
            Reads::Counter(c) | Reads::TenantCounter(c) => {
                if let Some(tenant) = tenant_of(&q.query.reads, sample) {
                    into.tenant_mut(tenant).received += value;
                }
                let component =
                    crate::model::catalogue::component_of(*c, |name| label(name).map(Into::into));
                if let Some(component) = component {
                    into.add_by_label(*c, &component, value);
                }
                *c
            }
            Reads::ByValue {
                label: by,
                cases,
                spans_only,
            } => {
                let spans = crate::model::catalogue::counts_spans(|n| label(n).map(Into::into));
                let outcome = label(by).unwrap_or("");
                match cases.iter().find(|(v, _)| *v == outcome) {
                    Some((_, c)) if spans || !*spans_only => *c,
                    _ => return true,
                }
            }
            Reads::CounterByReason(c) => {
                into.add_by_label(*c, label("reason").unwrap_or(""), value);
                *c
            }
            Reads::DiscardedByReason => {
                let reason = label("reason").unwrap_or("").to_owned();
                if let Some(tenant) = tenant_of(&q.query.reads, sample) {
                    into.tenant_mut(tenant).add_discarded(&reason, value);
                }
                *into.discarded.entry(reason).or_default() += value;
                self.recognised = true;
                self.families.note(role, "tempo_discarded_spans_total");
                return true;
            }
            _ => return false,
        };
        into.counters[counter as usize] += value;
        self.recognised = true;
        note_counter(self, role, counter);
        true
    }

    /// A gauge's or a label's answer: version, ring states, queue fill, in-flight requests,
    /// consumer lag.
    fn take_gauge(&mut self, reads: &Reads, sample: &Sample) {
        match reads {
            Reads::PartitionLag => {
                let most = self.partition_lag_seconds.unwrap_or(f64::MIN);
                self.partition_lag_seconds = Some(most.max(sample.value));
            }
            Reads::InFlight => {
                self.in_flight_requests =
                    Some(self.in_flight_requests.unwrap_or(0.0) + sample.value);
            }
            Reads::Version { label } => {
                self.recognised = true;
                if let Some(v) = sample.labels.get(*label).filter(|v| !v.is_empty()) {
                    // Two versions in one split (a rollout): the highest tells the most.
                    if self.version.as_ref().is_none_or(|old| v > old) {
                        self.version = Some(v.clone());
                    }
                }
            }
            Reads::RingGauge => {
                let name = sample.labels.get("__name__").map_or("", String::as_str);
                let Some(metric) = CATALOGUE
                    .iter()
                    .find(|e| e.family == name && e.feeds == Feeds::RingGauge)
                    .map(|e| e.family)
                else {
                    return;
                };
                self.ring_gauges.push(RingGauge {
                    metric,
                    ring: sample.labels.get("name").cloned().unwrap_or_default(),
                    state: sample.labels.get("state").cloned().unwrap_or_default(),
                    value: sample.value,
                });
            }
            Reads::QueueFill => {
                self.queue_fill_ratio =
                    Some(self.queue_fill_ratio.unwrap_or(0.0).max(sample.value));
            }
            _ => {}
        }
    }
}

/// The tenant a per-tenant answer's sample is of (none when the series had no `tenant`).
fn tenant_of<'a>(reads: &Reads, sample: &'a Sample) -> Option<&'a str> {
    matches!(reads, Reads::TenantCounter(_) | Reads::DiscardedByReason)
        .then(|| sample.labels.get("tenant"))
        .flatten()
        .map(String::as_str)
        .filter(|t| !t.is_empty())
}

/// Notes the families a counter's answer shows: every spelling the catalogue reads it from
/// tells the same, so the first is noted.
fn note_counter(r: &mut RoleReading, role: Role, counter: Counter) {
    if let Some(entry) = CATALOGUE.iter().find(|e| {
        e.role == role
            && match e.feeds {
                Feeds::Counter(c) | Feeds::ByTenant(c) | Feeds::CounterWhere { counter: c, .. } => {
                    c == counter
                }
                Feeds::CounterWithPart {
                    counter: c, part, ..
                } => c == counter || part == counter,
                Feeds::ByValue { cases, .. } => cases.iter().any(|(_, c)| *c == counter),
                _ => false,
            }
    }) {
        r.families.note(role, entry.family);
    }
    if matches!(counter, Counter::TempoAccepted | Counter::TempoRefused) {
        r.receiver_counters = true;
    }
}
