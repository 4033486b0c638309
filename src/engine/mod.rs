//! Runs one poll task per instance, one discovery task per discovering target and one
//! runner, and publishes each new [`Snapshot`](crate::snapshot::Snapshot).
//!
//! A poll task ticks every `poll_interval` at a phase taken from a hash of the instance's
//! name and address, spread over the whole interval as Prometheus spreads its scrapes (the
//! first poll comes within a tenth of that phase, so results come quickly). It fetches the
//! page, reads it — for Tempo also its status endpoints and, at most once a minute per
//! address, the gRPC probes of its write ring ([`TargetPoller`]) — and sends a
//! [`PollOutcome`]. A poll never outlives the target's timeout, which is at most the poll
//! interval. A discovery task refreshes its target's instances every `refresh_interval`
//! (a file_sd file also when it changes) and sends what it found. A store-sourced pipeline
//! has a query task (`store.rs`), a pipeline with a canary a canary task (`canary.rs`).
//!
//! The runner owns every instance's [`TargetState`] and the set of instances
//! (`fleet.rs`): it starts and stops poll tasks as discovery adds and removes
//! instances, derives a new snapshot from each batch of outcomes (at most every tenth of
//! the poll interval) and swaps it in atomically, so readers (`/metrics`, the API) never
//! wait for polling and polling never waits for readers.
//!
//! [`prepare`] does everything that can fail (clients, TLS files, probe settings,
//! resolvers) before anything starts, so a configuration reload checks the new
//! configuration first and keeps the running engine when it is invalid; [`Engine::stop`]
//! lets polls in flight finish and hands back every instance's history and the status
//! timeline ([`Carried`]), which the new engine keeps for unchanged targets and pipelines.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

mod canary;
mod fleet;
mod poller;
mod store;
mod transitions;

pub use poller::TargetPoller;
pub use store::{MAX_SPLIT_VALUES, StoreOutcome};
pub use transitions::{Transition, transitions};

use self::fleet::Fleet;
use crate::config::Config;
use crate::derive::{PollOutcome, TargetState};
use crate::snapshot::{self, SharedSnapshot, Timeline};
use crate::source::canary::{CanaryReader, CanaryWriter};
use crate::source::discovery::{Answer, Discoverer, DiscoverySetupError};
use crate::source::probe::{ProbeSettings, ProbeSetupError};
use crate::source::scrape::{self, ClientSetupError, TargetClient};
use crate::source::store::StoreReader;

/// Running pollers, discoverers and runner. [`Engine::stop`] stops them cleanly; dropping
/// the engine aborts them.
pub struct Engine {
    pub snapshot: SharedSnapshot,
    stop: watch::Sender<bool>,
    discoverers: JoinSet<()>,
    /// One query task per store-sourced pipeline, one canary task per pipeline with one.
    queriers: JoinSet<()>,
    runner: Option<JoinHandle<Carried>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(runner) = &self.runner {
            runner.abort();
        }
    }
}

/// What a stopped engine hands the next one: every instance's history, the pipelines'
/// names it was kept under, and the status timeline.
#[derive(Debug, Default)]
pub struct Carried {
    pub states: Vec<TargetState>,
    /// The stopped engine's pipeline names, by index (`TargetState::pipeline`).
    pub pipelines: Vec<String>,
    pub timeline: Timeline,
}

/// What reaches the runner.
#[derive(Debug)]
pub enum Input {
    Polled(PollOutcome),
    /// One poll of a store-sourced pipeline.
    Queried(Box<StoreOutcome>),
    /// What a pipeline's canary found.
    Canary {
        pipeline: usize,
        event: crate::derive::canary::CanaryEvent,
    },
    /// What a refresh of the discovering target at `target` (an index into the
    /// configuration's targets) found.
    Discovered {
        target: usize,
        answer: Answer,
        wall: SystemTime,
    },
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Client(#[from] ClientSetupError),
    #[error(transparent)]
    Probe(#[from] ProbeSetupError),
    #[error(transparent)]
    Discovery(#[from] DiscoverySetupError),
}

/// A configuration whose clients, probe settings and discoverers are built: everything
/// that can fail is done, so a reload can check a new configuration before it stops the
/// running engine.
pub struct Prepared {
    config: Arc<Config>,
    /// One per configured target: a discovering target's is its instances' template.
    clients: Vec<TargetClient>,
    probes: Option<ProbeSettings>,
    discoverers: Vec<(usize, Discoverer)>,
    /// One per store-sourced pipeline, with its index.
    stores: Vec<(usize, StoreReader)>,
    /// One per pipeline with a canary, with its index.
    canaries: Vec<(usize, CanaryWriter, CanaryReader)>,
}

/// Builds every target's client (failing on unreadable TLS or credential files), the probe
/// settings and a discoverer per discovering target.
pub fn prepare(config: Arc<Config>) -> Result<Prepared, StartError> {
    let mut shared = scrape::SharedClients::default();
    let clients = config
        .targets
        .iter()
        .map(|t| TargetClient::shared(t, config.body_size_limit, &mut shared))
        .collect::<Result<Vec<_>, _>>()?;
    let probes = TargetPoller::probe_settings(&config)?;
    let mut discoverers = Vec::new();
    for (index, target) in config.targets.iter().enumerate() {
        if target.discovery.is_some() {
            discoverers.push((index, Discoverer::new(target)?));
        }
    }
    let mut stores = Vec::new();
    for (index, pipeline) in config.pipelines.iter().enumerate() {
        if let Some(source) = &pipeline.source {
            let reader = StoreReader::new(Arc::clone(source), config.body_size_limit)?;
            stores.push((index, reader));
        }
    }
    let mut canaries = Vec::new();
    for (index, pipeline) in config.pipelines.iter().enumerate() {
        if let Some(canary) = &pipeline.canary {
            canaries.push((
                index,
                CanaryWriter::new(canary, config.body_size_limit)?,
                CanaryReader::new(canary, config.body_size_limit)?,
            ));
        }
    }
    Ok(Prepared {
        config,
        clients,
        probes,
        discoverers,
        stores,
        canaries,
    })
}

/// Prepares and starts polling, with a new shared snapshot.
pub fn start(config: Arc<Config>) -> Result<Engine, StartError> {
    let prepared = prepare(config)?;
    let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snapshot::initial(
        &prepared.config,
        &[],
    )));
    Ok(prepared.start(snapshot, Carried::default()))
}

impl Prepared {
    /// Starts polling, publishing into `snapshot`. An instance whose pipeline, target name,
    /// role, URL, poll interval and window are unchanged keeps its history from `carried`
    /// (a reload loses nothing it had), and the timeline keeps the pipelines that stay;
    /// other instances start afresh.
    pub fn start(self, snapshot: SharedSnapshot, carried: Carried) -> Engine {
        let Prepared {
            config,
            clients,
            probes,
            discoverers,
            stores,
            canaries,
        } = self;
        let Carried {
            states,
            pipelines,
            mut timeline,
        } = carried;
        // The stopped engine had pipelines: this is a reload.
        let reloading = !pipelines.is_empty();
        let names: Vec<&str> = config.pipelines.iter().map(|p| p.name.as_str()).collect();
        timeline.retain_pipelines(&names);

        let (stop, stopped) = watch::channel(false);
        // Room for a poll of every written target and then some: pollers and discoverers
        // wait rather than drop.
        let (tx, rx) = mpsc::channel(config.targets.len() * 2 + 256);
        let mut fleet = Fleet::new(
            Arc::clone(&config),
            clients,
            probes,
            tx.clone(),
            stopped.clone(),
            (states, pipelines),
        );
        fleet.start_written();
        let querying = spawn_queriers(&config, &mut fleet, stores, canaries, &tx, &stopped);
        // After a reload with discovery or a metrics store, the first snapshot waits for the
        // first answers (run): made now, it would show discovered stages without instances, or a
        // split pipeline not at all — a false change in the timeline of stages that never changed.
        if !reloading || fleet.settled() {
            snapshot.store(Arc::new(fleet.snapshot(&mut timeline)));
        }

        let mut discovering = JoinSet::new();
        for (target, discoverer) in discoverers {
            let every = config.targets[target]
                .discovery
                .as_ref()
                .map_or(Duration::from_secs(30), |d| d.refresh_interval);
            discovering.spawn(discover(
                target,
                discoverer,
                every,
                tx.clone(),
                stopped.clone(),
            ));
        }
        drop(tx);
        let runner = tokio::spawn(run(fleet, rx, stopped, snapshot.clone(), timeline));
        Engine {
            snapshot,
            stop,
            discoverers: discovering,
            queriers: querying,
            runner: Some(runner),
        }
    }
}

/// One query task per store-sourced pipeline and one canary task per pipeline with a canary,
/// each followed by `fleet`.
fn spawn_queriers(
    config: &Arc<Config>,
    fleet: &mut Fleet,
    stores: Vec<(usize, StoreReader)>,
    canaries: Vec<(usize, CanaryWriter, CanaryReader)>,
    tx: &mpsc::Sender<Input>,
    stopped: &watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut querying = JoinSet::new();
    for (index, reader) in stores {
        fleet.add_store(index, reader.shown_url(), reader.queries_per_poll());
        let tempo = store::TempoApis::new(
            Arc::clone(config.pipelines[index].source.as_ref().expect("a source")),
            fleet.probes(),
            config.body_size_limit,
        );
        querying.spawn(store::query_store(
            index,
            reader,
            tempo,
            config.poll_interval,
            tx.clone(),
            stopped.clone(),
        ));
    }
    for (index, writer, reader) in canaries {
        let canary = Arc::clone(config.pipelines[index].canary.as_ref().expect("a canary"));
        fleet.add_canary(index, &canary);
        querying.spawn(canary::run_canary(
            index,
            canary,
            writer,
            reader,
            tx.clone(),
            stopped.clone(),
        ));
    }
    querying
}

impl Engine {
    /// Stops polling and discovery and returns every instance's state and the timeline. A
    /// poll in flight finishes — it is bounded by its target's timeout — and its outcome is
    /// recorded; no new poll starts.
    pub async fn stop(mut self) -> Carried {
        let _ = self.stop.send(true);
        while self.discoverers.join_next().await.is_some() {}
        while self.queriers.join_next().await.is_some() {}
        match self.runner.take() {
            Some(runner) => runner.await.unwrap_or_default(),
            None => Carried::default(),
        }
    }
}

/// A file_sd file is checked for changes this often between refreshes.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Refreshes one discovering target until stopped: at once, then every `every` (and, for
/// a file, as soon as it changes).
async fn discover(
    target: usize,
    mut discoverer: Discoverer,
    every: Duration,
    found: mpsc::Sender<Input>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let answer = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return,
            answer = discoverer.refresh() => answer,
        };
        let wall = SystemTime::now();
        let input = Input::Discovered {
            target,
            answer,
            wall,
        };
        if found.send(input).await.is_err() {
            return;
        }
        let next = Instant::now() + every;
        loop {
            let check = next.min(Instant::now() + FILE_CHECK_EVERY);
            tokio::select! {
                biased;
                _ = stopped.wait_for(|stop| *stop) => return,
                _ = tokio::time::sleep_until(check) => {}
            }
            if Instant::now() >= next || discoverer.changed() {
                break;
            }
        }
    }
}

/// How long the first snapshot waits for every discovering target's first answer; the
/// previous one (the engine's before a reload, or the initial one) is served meanwhile.
const FIRST_ANSWERS_WAIT: Duration = Duration::from_secs(2);

/// How often snapshots are derived at most: a tenth of the poll interval, between 50 ms
/// and 1 s. Polls that land within it join one derive instead of each paying for a pass
/// over every target's history (a few milliseconds at a thousand targets, whose polls
/// land every 15 ms at a 15 s interval); a tenth of an interval adds little to the two
/// polls detection takes.
fn derive_every(poll_interval: Duration) -> Duration {
    (poll_interval / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Takes in outcomes and discoveries until stopped, publishing a snapshot at most every
/// [`derive_every`]; then lets the polls in flight finish and hands everything back.
async fn run(
    mut fleet: Fleet,
    mut inputs: mpsc::Receiver<Input>,
    mut stopped: watch::Receiver<bool>,
    snapshot: SharedSnapshot,
    mut timeline: Timeline,
) -> Carried {
    let every = derive_every(fleet.config().poll_interval);
    let started = Instant::now();
    let mut due: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    loop {
        let derive_due = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => break,
            input = inputs.recv() => {
                let Some(input) = input else { break };
                fleet.take(input);
                let now = Instant::now();
                let earliest = match (fleet.settled(), last) {
                    (false, None) => started + FIRST_ANSWERS_WAIT,
                    (_, None) => now,
                    (_, Some(at)) => (at + every).max(now),
                };
                due = Some(due.map_or(earliest, |at| at.min(earliest)));
            }
            _ = derive_due => {
                publish(&fleet, &mut timeline, &snapshot);
                last = Some(Instant::now());
                due = None;
            }
        }
    }
    fleet.finish(&mut inputs).await;
    publish(&fleet, &mut timeline, &snapshot);
    fleet.carry(timeline)
}

fn publish(fleet: &Fleet, timeline: &mut Timeline, snapshot: &SharedSnapshot) {
    let next = fleet.snapshot(timeline);
    transitions::log_transitions(&snapshot.load(), &next);
    snapshot.store(Arc::new(next));
}
