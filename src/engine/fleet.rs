//! The set of instances the engine polls, and their states.
//!
//! Input: the configuration's targets (written ones are one instance each) and what
//! discovery finds for the others. Output: every instance's [`TargetState`], kept together
//! pipeline by pipeline and, within a pipeline, by target and address (the order
//! `snapshot::make` reads them in), and one [`DiscoveryReport`] per discovering target. An
//! instance that leaves discovery is stopped and its state dropped at once, so it leaves
//! the next snapshot and its counters leave the sums; one that joins starts with no history
//! and is judged from its second poll. It never judges a stage.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::poller::{TargetPoller, phase, poll_target};
use super::store::StorePipeline;
use super::{Carried, Input};
use crate::config::{Config, Target};
use crate::derive::canary::CanaryState;
use crate::derive::{DiscoveryReport, SourceReport, TargetState, unix};
use crate::snapshot::{self, Shown, Snapshot, Timeline};
use crate::source::discovery::{Answer, DiscoveryError};
use crate::source::probe::ProbeSettings;
use crate::source::scrape::{SharedClients, TargetClient};

/// The first this many instances (by address) of a discovering Tempo target read its
/// status endpoints and probe its ring; the others read only `/metrics`. Three, so one
/// instance restarting still leaves two to read them.
pub(super) const STATUS_READERS: usize = 3;

/// The reason a discovered instance is counted under when its client cannot be built.
const CLIENT_REASON: &str = "client";

/// One polled instance, beside its state.
struct Member {
    id: u64,
    /// Index into the configuration's targets.
    target: usize,
    reads_status: Arc<AtomicBool>,
    poller: AbortHandle,
}

pub(super) struct Fleet {
    config: Arc<Config>,
    clients: Vec<TargetClient>,
    shared: SharedClients,
    probes: Option<ProbeSettings>,
    outcomes: mpsc::Sender<Input>,
    stopped: watch::Receiver<bool>,
    /// Parallel to `members`, in snapshot order.
    states: Vec<TargetState>,
    members: Vec<Member>,
    /// Instance id → position in `states` and `members`.
    positions: HashMap<u64, usize>,
    /// One per discovering target, in configuration order.
    discovery: Vec<DiscoveryReport>,
    /// Configuration target index → index into `discovery`.
    discovery_of: HashMap<usize, usize>,
    /// Discovering targets (configuration indexes) that have answered at least once.
    answered: HashSet<usize>,
    /// States of the previous engine not taken up yet, and its pipeline names.
    carried: (Vec<TargetState>, Vec<String>),
    pollers: JoinSet<()>,
    next_id: u64,
    /// One per store-sourced pipeline, in configuration order.
    stores: Vec<StorePipeline>,
    /// One per pipeline with a canary: its index and the canary's outcomes.
    canaries: Vec<(usize, CanaryState)>,
}

impl Fleet {
    pub(super) fn new(
        config: Arc<Config>,
        clients: Vec<TargetClient>,
        probes: Option<ProbeSettings>,
        outcomes: mpsc::Sender<Input>,
        stopped: watch::Receiver<bool>,
        carried: (Vec<TargetState>, Vec<String>),
    ) -> Fleet {
        let mut discovery = Vec::new();
        let mut discovery_of = HashMap::new();
        for (index, t) in config.targets.iter().enumerate() {
            let Some(d) = &t.discovery else { continue };
            discovery_of.insert(index, discovery.len());
            discovery.push(DiscoveryReport {
                pipeline: t.pipeline,
                pipeline_name: config.pipelines[t.pipeline].name.clone(),
                target: t.name.clone(),
                role: t.role,
                mechanism: d.mechanism.kind(),
                instances: 0,
                last_refresh_unix: None,
                last_error: None,
                errors_total: DiscoveryError::REASONS
                    .iter()
                    .chain([&CLIENT_REASON])
                    .map(|r| (*r, 0))
                    .collect::<BTreeMap<_, _>>(),
            });
        }
        Fleet {
            config,
            clients,
            shared: SharedClients::default(),
            probes,
            outcomes,
            stopped,
            states: Vec::new(),
            members: Vec::new(),
            positions: HashMap::new(),
            discovery,
            discovery_of,
            answered: HashSet::new(),
            carried,
            pollers: JoinSet::new(),
            next_id: 0,
            stores: Vec::new(),
            canaries: Vec::new(),
        }
    }

    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    /// The gRPC probe settings every Tempo poller uses.
    pub(super) fn probes(&self) -> Option<ProbeSettings> {
        self.probes.clone()
    }

    /// Every discovering target and every metrics store has answered once (or there is
    /// none): until then a snapshot would show their stages without instances, and a
    /// store-sourced pipeline without its split pipelines.
    pub(super) fn settled(&self) -> bool {
        self.answered.len() == self.discovery.len() && self.stores.iter().all(|s| s.answered)
    }

    /// Starts polling every written target (one instance each).
    pub(super) fn start_written(&mut self) {
        let written: Vec<usize> = (0..self.config.targets.len())
            .filter(|&i| self.config.targets[i].discovery.is_none())
            .collect();
        for index in written {
            let target = self.config.targets[index].clone();
            let client = self.clients[index].clone();
            self.add(index, target, client, false);
        }
        self.reorder();
    }

    /// Follows a pipeline's canary (its task is the engine's).
    pub(super) fn add_canary(&mut self, pipeline: usize, canary: &crate::config::canary::Canary) {
        let state = CanaryState::new(self.config.window, canary.slow_after, canary.timeout);
        self.canaries.push((pipeline, state));
    }

    /// Follows a store-sourced pipeline (its query task is the engine's).
    pub(super) fn add_store(&mut self, pipeline: usize, url: String, queries: usize) {
        self.stores
            .push(StorePipeline::new(&self.config, pipeline, url, queries));
    }

    /// The snapshot of every pipeline now: written ones with their instances, each
    /// store-sourced one as its split values.
    pub(super) fn snapshot(&self, timeline: &mut Timeline) -> Snapshot {
        let mut shown = Vec::new();
        for mut p in snapshot::written(&self.config, &self.states) {
            match self.stores.iter().find(|s| s.pipeline == p.index) {
                None => {
                    p.canary = self
                        .canaries
                        .iter()
                        .find(|(i, _)| *i == p.index)
                        .map(|(_, c)| c);
                    shown.push(p)
                }
                Some(store) => {
                    for (name, states) in store.shown(&p.name) {
                        shown.push(Shown {
                            index: p.index,
                            name,
                            states,
                            source: Some(&store.report),
                            canary: None,
                        });
                    }
                }
            }
        }
        let sources: Vec<SourceReport> = self.stores.iter().map(|s| s.report.clone()).collect();
        snapshot::make_shown(
            &self.config,
            &shown,
            &self.discovery,
            &sources,
            timeline,
            Instant::now(),
            SystemTime::now(),
        )
    }

    /// Takes in one poll outcome (dropped when its instance has left) or discovery answer.
    pub(super) fn take(&mut self, input: Input) {
        match input {
            Input::Polled(outcome) => {
                if let Some(&at) = self.positions.get(&outcome.instance) {
                    self.states[at].record(outcome);
                }
            }
            Input::Canary { pipeline, event } => {
                if let Some((_, state)) = self.canaries.iter_mut().find(|(i, _)| *i == pipeline) {
                    state.record(event, Instant::now(), SystemTime::now());
                }
            }
            Input::Queried(outcome) => {
                let config = Arc::clone(&self.config);
                if let Some(store) = self
                    .stores
                    .iter_mut()
                    .find(|s| s.pipeline == outcome.pipeline)
                {
                    store.record(&config, *outcome);
                }
            }
            Input::Discovered {
                target,
                answer,
                wall,
            } => self.rediscover(target, answer, wall),
        }
    }

    /// Follows one discovery answer: instances gone are stopped and dropped, new ones
    /// started; the status role goes to the first [`STATUS_READERS`] by address.
    fn rediscover(&mut self, target: usize, answer: Answer, wall: SystemTime) {
        let Some(&report) = self.discovery_of.get(&target) else {
            return;
        };
        self.answered.insert(target);
        let mut errors = Vec::new();
        if let Some(e) = answer.error {
            errors.push((e.reason(), e.to_string()));
        }
        if let Some(instances) = answer.instances {
            self.discovery[report].last_refresh_unix = Some(unix(wall));
            let keep: Vec<&str> = instances.iter().map(|t| t.address.as_str()).collect();
            let mut gone = Vec::new();
            for (at, m) in self.members.iter().enumerate() {
                if m.target == target && !keep.contains(&self.states[at].address.as_str()) {
                    gone.push(at);
                }
            }
            for at in gone.into_iter().rev() {
                self.members.swap_remove(at).poller.abort();
                self.states.swap_remove(at);
            }
            // A JoinSet keeps every finished task until it is joined: reap the aborted ones,
            // or churning instances would pile up in it.
            while self.pollers.try_join_next().is_some() {}
            let have: Vec<String> = self
                .members
                .iter()
                .zip(&self.states)
                .filter(|(m, _)| m.target == target)
                .map(|(_, s)| s.address.clone())
                .collect();
            for instance in instances {
                if have.contains(&instance.address) {
                    continue;
                }
                let limit = self.config.body_size_limit;
                // An https instance's client is its own (its name is pinned to its address):
                // kept in the shared cache, every instance that ever came would stay there.
                let built = if instance.tls.server_name.is_some() {
                    TargetClient::new(&instance, limit)
                } else {
                    TargetClient::shared(&instance, limit, &mut self.shared)
                };
                match built {
                    Ok(client) => self.add(target, instance, client, true),
                    Err(e) => errors.push((
                        CLIENT_REASON,
                        format!(
                            "{}: {}",
                            instance.address,
                            crate::source::scrape::error_chain(&e)
                        ),
                    )),
                }
            }
            // Carried states of this target not taken up now never will be.
            let name = &self.config.targets[target].name;
            self.carried.0.retain(|s| &s.name != name);
            self.reorder();
        }
        let report = &mut self.discovery[report];
        for (reason, _) in &errors {
            *report.errors_total.entry(reason).or_default() += 1;
        }
        report.last_error = (!errors.is_empty()).then(|| {
            let texts: Vec<String> = errors.into_iter().map(|(_, text)| text).collect();
            texts.join("; ")
        });
        report.instances = self.members.iter().filter(|m| m.target == target).count();
        tracing::debug!(target = %report.target, instances = report.instances, error = ?report.last_error, "discovery refreshed");
    }

    /// Starts polling one instance, with the state the previous engine had for it if any.
    fn add(&mut self, target: usize, instance: Target, client: TargetClient, discovered: bool) {
        let config = &self.config;
        let url = client.shown_url();
        let pipeline_name = &config.pipelines[instance.pipeline].name;
        let (carried, names) = &mut self.carried;
        let kept = carried.iter().position(|s| {
            let same_pipeline = names.get(s.pipeline) == Some(pipeline_name);
            s.continues(
                same_pipeline,
                &instance,
                &url,
                config.poll_interval,
                config.window,
            )
        });
        let mut state = match kept {
            Some(i) => carried.swap_remove(i),
            None => TargetState::new(
                instance.name.clone(),
                instance.role,
                url,
                config.poll_interval,
                config.window,
            ),
        };
        state.pipeline = instance.pipeline;
        state.address = instance.address.clone();
        state.discovered = discovered;
        let id = self.next_id;
        self.next_id += 1;
        let reads_status = Arc::new(AtomicBool::new(!discovered));
        let phase = phase(&instance.name, &instance.address, config.poll_interval);
        let poller = TargetPoller::sharing_status_role(
            instance,
            client,
            self.probes.clone(),
            Arc::clone(&reads_status),
        );
        let poller = self.pollers.spawn(poll_target(
            id,
            poller,
            config.poll_interval,
            phase,
            self.outcomes.clone(),
            self.stopped.clone(),
        ));
        self.members.push(Member {
            id,
            target,
            reads_status,
            poller,
        });
        self.states.push(state);
    }

    /// Puts instances in snapshot order (pipeline, target, address), hands the status role
    /// of each discovering target to its first [`STATUS_READERS`], and re-indexes.
    fn reorder(&mut self) {
        let mut both: Vec<(Member, TargetState)> =
            self.members.drain(..).zip(self.states.drain(..)).collect();
        both.sort_by(|(a, sa), (b, sb)| {
            (sa.pipeline, a.target, &sa.address).cmp(&(sb.pipeline, b.target, &sb.address))
        });
        let mut readers: HashMap<usize, usize> = HashMap::new();
        for (m, s) in &both {
            if s.discovered {
                let n = readers.entry(m.target).or_default();
                m.reads_status.store(*n < STATUS_READERS, Ordering::Relaxed);
                *n += 1;
            }
        }
        (self.members, self.states) = both.into_iter().unzip();
        self.positions = self
            .members
            .iter()
            .enumerate()
            .map(|(at, m)| (m.id, at))
            .collect();
    }

    /// After the stop signal: every poll task finishes its poll in flight (bounded by its
    /// timeout), whose outcome is recorded; what discovery still sends is ignored.
    pub(super) async fn finish(&mut self, inputs: &mut mpsc::Receiver<Input>) {
        loop {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(Input::Polled(outcome)) => self.take(Input::Polled(outcome)),
                    Some(input @ (Input::Queried(_) | Input::Canary { .. })) => self.take(input),
                    Some(Input::Discovered { .. }) => {}
                    None => break,
                },
                done = self.pollers.join_next() => if done.is_none() { break },
            }
        }
        while let Ok(input) = inputs.try_recv() {
            if matches!(
                input,
                Input::Polled(_) | Input::Queried(_) | Input::Canary { .. }
            ) {
                self.take(input);
            }
        }
    }

    /// Everything the next engine keeps.
    pub(super) fn carry(self, timeline: Timeline) -> Carried {
        Carried {
            states: self.states,
            pipelines: self
                .config
                .pipelines
                .iter()
                .map(|p| p.name.clone())
                .collect(),
            timeline,
        }
    }
}
