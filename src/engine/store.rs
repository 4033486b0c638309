//! Store-sourced pipelines: one query task per pipeline with a `source.prometheus`, and the
//! runner's side of it — the split pipelines and their roles' states.
//!
//! Input: the pipeline's [`StoreReader`] (and, with `tempo_api`, a Tempo poller per split
//! value for the evidence only Tempo's HTTP API has). Output: one [`StoreOutcome`] per poll
//! to the runner, which [`StorePipeline::record`]s it: every split value the store answered
//! gets one state per role; a value the store stops answering shows its stages `unknown`
//! and leaves after `window`. Before the first answer, or while the pipeline's series are
//! not in the store, the pipeline shows under its own name with every role `unknown`, and
//! a failed poll shows every role `unknown` with the API's error. It never judges a stage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::Input;
use super::poller::{TargetPoller, phase};
use crate::config::Config;
use crate::config::store::StoreSource;
use crate::derive::{SourceReport, StoreRecord, TargetState, unix};
use crate::model::counter::Counter;
use crate::model::stage::Role;
use crate::source::probe::ProbeSettings;
use crate::source::prometheus::QueryError;
use crate::source::scrape::{SharedClients, TargetClient};
use crate::source::store::{SplitKey, StoreReader, StoreReading};
use crate::source::tempo::TempoEvidence;

/// Split values one pipeline follows at most: memory stays bounded whatever the store
/// holds (a `split_by` on a label with a value per pod would otherwise make thousands).
pub const MAX_SPLIT_VALUES: usize = 256;

/// One poll of a store-sourced pipeline.
#[derive(Debug)]
pub struct StoreOutcome {
    /// Index into the configuration's pipelines.
    pub pipeline: usize,
    pub at: Instant,
    pub wall: SystemTime,
    pub duration: Duration,
    pub result: Result<StoreReading, QueryError>,
    /// Tempo's status endpoints per split value, when the pipeline has a `tempo_api`.
    pub evidence: BTreeMap<SplitKey, Result<Arc<TempoEvidence>, String>>,
}

/// The Tempo pollers of a pipeline's `tempo_api`, one per split value met.
pub(super) struct TempoApis {
    source: Arc<StoreSource>,
    probes: Option<ProbeSettings>,
    body_size_limit: u64,
    shared: SharedClients,
    pollers: HashMap<SplitKey, TargetPoller>,
}

impl TempoApis {
    pub(super) fn new(
        source: Arc<StoreSource>,
        probes: Option<ProbeSettings>,
        body_size_limit: u64,
    ) -> Option<TempoApis> {
        source.tempo_api.as_ref()?;
        Some(TempoApis {
            source,
            probes,
            body_size_limit,
            shared: SharedClients::default(),
            pollers: HashMap::new(),
        })
    }

    /// A poller for `key`'s Tempo, built on first use.
    fn poller(&mut self, key: &SplitKey) -> Result<TargetPoller, String> {
        if let Some(p) = self.pollers.remove(key) {
            return Ok(p);
        }
        let api = self
            .source
            .tempo_api
            .as_ref()
            .expect("built with a tempo_api");
        let url = api.url_for(&self.source.split_by, key)?;
        let mut target = api.target.clone();
        target.address = crate::config::address_of(&url);
        target.url = url;
        let client = TargetClient::shared(&target, self.body_size_limit, &mut self.shared)
            .map_err(|e| crate::source::scrape::error_chain(&e))?;
        Ok(TargetPoller::new(target, client, self.probes.clone()))
    }

    /// Reads every split value's Tempo at once, by `deadline`.
    async fn read(
        &mut self,
        reading: &StoreReading,
        tempo_role: usize,
        deadline: Instant,
    ) -> BTreeMap<SplitKey, Result<Arc<TempoEvidence>, String>> {
        let mut out = BTreeMap::new();
        let mut running = JoinSet::new();
        for (key, roles) in reading.splits.iter().take(MAX_SPLIT_VALUES) {
            let role = &roles[tempo_role];
            let generation = role.software(Role::Tempo).generation;
            let trouble: f64 = Counter::ALL
                .iter()
                .filter(|c| c.is_failure())
                .map(|c| role.window.get(*c))
                .sum::<f64>()
                + role.window.discarded.values().sum::<f64>();
            match self.poller(key) {
                Err(e) => {
                    out.insert(key.clone(), Err(e));
                }
                Ok(mut poller) => {
                    let key = key.clone();
                    running.spawn(async move {
                        let evidence = poller.status_evidence(trouble, generation, deadline).await;
                        (key, poller, evidence)
                    });
                }
            }
        }
        let keep: Vec<&SplitKey> = reading.splits.keys().collect();
        self.pollers.retain(|k, _| keep.contains(&k));
        while let Some(done) = running.join_next().await {
            if let Ok((key, poller, evidence)) = done {
                out.insert(key.clone(), Ok(Arc::new(evidence)));
                self.pollers.insert(key, poller);
            }
        }
        out
    }
}

/// Queries one pipeline's store until stopped: first at once, then at its phase of every
/// interval; every query of a poll at the same time.
pub(super) async fn query_store(
    pipeline: usize,
    reader: StoreReader,
    mut tempo: Option<TempoApis>,
    interval: Duration,
    outcomes: mpsc::Sender<Input>,
    mut stopped: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let phase = phase(&reader.shown_url(), "", interval);
    let mut ticker = tokio::time::interval_at(start + phase, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let timeout = reader.source().api.timeout;
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                biased;
                _ = stopped.wait_for(|stop| *stop) => return,
                _ = ticker.tick() => {}
            }
        }
        first = false;
        let at = Instant::now();
        let wall = SystemTime::now();
        // Whole milliseconds: every query of the poll names the same instant.
        let time = (unix(wall) * 1000.0).floor() / 1000.0;
        let result = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return,
            result = reader.read(time) => result,
        };
        let mut evidence = BTreeMap::new();
        if let (Ok(reading), Some(apis)) = (&result, tempo.as_mut()) {
            let tempo_role = reader
                .source()
                .roles
                .iter()
                .position(|r| r.role == Role::Tempo);
            if let Some(role) = tempo_role {
                let deadline = Instant::now() + timeout;
                evidence = Box::pin(apis.read(reading, role, deadline)).await;
            }
        }
        if let Err(e) = &result {
            tracing::warn!(source = %reader.shown_url(), reason = e.reason(), error = %e, "store query failed");
        }
        let outcome = StoreOutcome {
            pipeline,
            at,
            wall,
            duration: at.elapsed(),
            result,
            evidence,
        };
        if outcomes
            .send(Input::Queried(Box::new(outcome)))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// One store-sourced pipeline as the runner keeps it.
#[derive(Debug)]
pub(super) struct StorePipeline {
    pub pipeline: usize,
    pub report: SourceReport,
    source: Arc<StoreSource>,
    url: String,
    /// Never empty: before the store names a split value, the key `[]` stands for the
    /// pipeline under its own name.
    splits: BTreeMap<SplitKey, Split>,
    /// The store has answered (or failed) once: a snapshot before would show the pipeline
    /// under its own name only.
    pub answered: bool,
}

#[derive(Debug)]
struct Split {
    /// One per role, in the source's role order.
    states: Vec<TargetState>,
    last_seen: Instant,
}

impl StorePipeline {
    pub(super) fn new(config: &Config, pipeline: usize, url: String, queries: usize) -> Self {
        let source = Arc::clone(
            config.pipelines[pipeline]
                .source
                .as_ref()
                .expect("a store-sourced pipeline"),
        );
        let mut me = StorePipeline {
            pipeline,
            report: SourceReport::new(pipeline, &config.pipelines[pipeline].name, &url, queries),
            source,
            url,
            splits: BTreeMap::new(),
            answered: false,
        };
        me.splits.insert(Vec::new(), me.split(config));
        me
    }

    fn split(&self, config: &Config) -> Split {
        let states = self
            .source
            .roles
            .iter()
            .map(|r| {
                let mut s = TargetState::new(
                    r.role.as_str().to_owned(),
                    r.role,
                    self.url.clone(),
                    config.poll_interval,
                    config.window,
                );
                s.pipeline = self.pipeline;
                s.from_store = true;
                s
            })
            .collect();
        Split {
            states,
            last_seen: Instant::now(),
        }
    }

    /// The pipelines this one shows as: `(name, role states)` per split value.
    pub(super) fn shown<'a>(&'a self, name: &str) -> Vec<(String, &'a [TargetState])> {
        self.splits
            .iter()
            .map(|(key, split)| {
                let shown = if key.is_empty() {
                    name.to_owned()
                } else {
                    format!("{name}/{}", key.join("/"))
                };
                (shown, split.states.as_slice())
            })
            .collect()
    }

    /// Takes in one poll: see the module's doc.
    pub(super) fn record(&mut self, config: &Config, outcome: StoreOutcome) {
        let StoreOutcome {
            at,
            wall,
            duration,
            result,
            mut evidence,
            ..
        } = outcome;
        self.report.last_query_seconds = Some(duration.as_secs_f64());
        self.answered = true;
        let reading = match result {
            Err(e) => {
                self.report.failed(&e);
                for split in self.splits.values_mut() {
                    for state in &mut split.states {
                        state.record_store(at, wall, duration, Err(e.clone()));
                    }
                }
                return;
            }
            Ok(reading) => reading,
        };
        self.report.answered(&reading, wall, MAX_SPLIT_VALUES);
        let window = self.source.window.as_secs_f64();
        let recent = self.source.status_window.as_secs_f64();
        let named: Vec<&SplitKey> = reading.splits.keys().take(MAX_SPLIT_VALUES).collect();
        if !named.is_empty() && !self.source.split_by.is_empty() {
            self.splits.remove(&Vec::new());
        }
        for key in &named {
            if !self.splits.contains_key(*key) {
                let split = self.split(config);
                self.splits.insert((*key).clone(), split);
            }
        }
        // A split value the store stopped naming leaves after a window without answers.
        self.splits.retain(|key, split| {
            named.contains(&key)
                || key.is_empty()
                || at.duration_since(split.last_seen).as_secs_f64() < window
        });
        for (key, split) in &mut self.splits {
            let roles = reading.splits.get(key);
            if roles.is_some() {
                split.last_seen = at;
            }
            let tempo = evidence.remove(key);
            for (index, state) in split.states.iter_mut().enumerate() {
                let role = self.source.roles[index].role;
                let answered = roles.map(|r| r[index].clone()).unwrap_or_default();
                let record = StoreRecord {
                    software: answered.software(role),
                    recognised: answered.recognised,
                    window: answered.window,
                    window_seconds: window,
                    recent: answered.recent,
                    recent_seconds: recent,
                    ring_gauges: answered.ring_gauges,
                    queue_fill_ratio: answered.queue_fill_ratio,
                    in_flight_requests: answered.in_flight_requests,
                    partition_lag_seconds: answered.partition_lag_seconds,
                    tempo: match (&tempo, role) {
                        (Some(Ok(e)), Role::Tempo) => Some(Arc::clone(e)),
                        _ => None,
                    },
                };
                state.record_store(at, wall, duration, Ok(record));
            }
            if let Some(Err(e)) = &tempo {
                self.report.note_tempo_api_error(key, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::store::RoleReading;

    fn config() -> Config {
        Config::from_yaml(
            "poll_interval: 1s\nwindow: 10s\npipelines:\n  - name: fleet\n    source:\n      prometheus: {url: 'http://p:9090', scrape_interval: 1s, split_by: [cluster], roles: {tempo: '{job=\"t\"}'}}\n",
            "x",
        )
        .unwrap()
    }

    /// A reading naming `clusters`, each with a Tempo that accepted `accepted` spans.
    fn reading(clusters: &[&str], accepted: f64) -> StoreReading {
        let mut splits = BTreeMap::new();
        for c in clusters {
            let mut r = RoleReading {
                recognised: true,
                ..RoleReading::default()
            };
            r.window.counters[Counter::TempoAccepted as usize] = accepted;
            r.recent.counters[Counter::TempoAccepted as usize] = accepted;
            splits.insert(vec![(*c).to_owned()], vec![r]);
        }
        StoreReading {
            splits,
            ..StoreReading::default()
        }
    }

    fn outcome(at: Instant, result: Result<StoreReading, QueryError>) -> StoreOutcome {
        StoreOutcome {
            pipeline: 0,
            at,
            wall: SystemTime::now(),
            duration: Duration::from_millis(5),
            result,
            evidence: BTreeMap::new(),
        }
    }

    fn names(p: &StorePipeline) -> Vec<String> {
        p.shown("fleet").into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn split_values_come_with_the_store_and_leave_a_window_after_it_stops_naming_them() {
        let config = config();
        let mut p = StorePipeline::new(&config, 0, "http://p:9090/".into(), 4);
        // Before any answer, and while the store names no value, the pipeline shows as itself.
        assert_eq!(names(&p), ["fleet"]);
        let t0 = Instant::now();
        p.record(&config, outcome(t0, Ok(reading(&[], 0.0))));
        assert_eq!(names(&p), ["fleet"]);
        assert!(!p.splits[&Vec::new()].states[0].recognised);
        p.record(&config, outcome(t0, Ok(reading(&["eu", "us"], 10.0))));
        assert_eq!(names(&p), ["fleet/eu", "fleet/us"]);
        // us is gone from the answers: unknown (no series) while within the window, then gone.
        p.record(
            &config,
            outcome(t0 + Duration::from_secs(5), Ok(reading(&["eu"], 10.0))),
        );
        assert_eq!(names(&p), ["fleet/eu", "fleet/us"]);
        assert!(!p.splits[&vec!["us".to_owned()]].states[0].recognised);
        p.record(
            &config,
            outcome(t0 + Duration::from_secs(11), Ok(reading(&["eu"], 10.0))),
        );
        assert_eq!(names(&p), ["fleet/eu"]);
        assert_eq!(p.report.split_values, 1);
    }

    #[test]
    fn a_failed_poll_marks_every_split_down_with_the_error_and_counts_it() {
        let config = config();
        let mut p = StorePipeline::new(&config, 0, "http://p:9090/".into(), 4);
        let t0 = Instant::now();
        p.record(&config, outcome(t0, Ok(reading(&["eu", "us"], 10.0))));
        let error = QueryError::Api {
            status: 422,
            error_type: "execution".into(),
            error: "query processing would load too many samples".into(),
        };
        p.record(&config, outcome(t0 + Duration::from_secs(1), Err(error)));
        assert_eq!(names(&p), ["fleet/eu", "fleet/us"]);
        for split in p.splits.values() {
            let state = &split.states[0];
            assert_eq!(state.up, Some(false));
            assert!(
                state
                    .last_error
                    .as_ref()
                    .unwrap()
                    .to_string()
                    .contains("too many samples")
            );
        }
        assert_eq!(p.report.up, Some(false));
        assert_eq!(p.report.errors_total["api_error"], 1);
        // The next good poll brings them back.
        p.record(
            &config,
            outcome(
                t0 + Duration::from_secs(2),
                Ok(reading(&["eu", "us"], 10.0)),
            ),
        );
        assert_eq!(p.report.up, Some(true));
        assert!(p.splits.values().all(|s| s.states[0].up == Some(true)));
    }

    #[test]
    fn more_split_values_than_the_cap_are_not_followed_and_the_report_says_so() {
        let config = config();
        let mut p = StorePipeline::new(&config, 0, "http://p:9090/".into(), 4);
        let many: Vec<String> = (0..MAX_SPLIT_VALUES + 10)
            .map(|i| format!("c{i:04}"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        p.record(&config, outcome(Instant::now(), Ok(reading(&refs, 1.0))));
        assert_eq!(p.splits.len(), MAX_SPLIT_VALUES);
        assert!(
            p.report
                .last_error
                .as_ref()
                .unwrap()
                .contains("only the first 256")
        );
    }
}
