//! Runs one poll task per target and one deriver, and publishes each new [`Snapshot`].
//!
//! A poll task ticks every `poll_interval`, offset by a per-target delay taken from a hash
//! of its name (as Prometheus spreads its scrapes), fetches the page, reads it and sends a
//! [`PollOutcome`]. A poll never outlives the target's timeout, which is at most the poll
//! interval. The deriver owns every [`TargetState`]; after each batch of outcomes it
//! derives a new snapshot and swaps it in atomically, so readers (`/metrics`, the API)
//! never wait for polling and polling never waits for readers.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::{Config, Target};
use crate::derive::{self, PollOutcome, Snapshot, TargetState};
use crate::pipeline::{self, Reading};
use crate::scrape::{self, ClientSetupError, ScrapeError, TargetClient};
use crate::stage::Role;

/// The latest snapshot, shared with every reader.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// Running pollers and deriver; dropping it stops them.
pub struct Engine {
    pub snapshot: SharedSnapshot,
    _tasks: JoinSet<()>,
}

/// Builds every target's client (failing on unreadable TLS or credential files), then
/// starts polling.
pub fn start(config: Arc<Config>) -> Result<Engine, ClientSetupError> {
    let clients = config
        .targets
        .iter()
        .map(|t| TargetClient::new(t, config.body_size_limit))
        .collect::<Result<Vec<_>, _>>()?;
    let states: Vec<TargetState> = config
        .targets
        .iter()
        .zip(&clients)
        .map(|(t, c)| {
            TargetState::new(
                t.name.clone(),
                t.role,
                redacted(c.url()),
                config.poll_interval,
                config.window,
            )
        })
        .collect();
    let snapshot: SharedSnapshot =
        Arc::new(ArcSwap::from_pointee(Snapshot::initial(&config, &states)));

    let mut tasks = JoinSet::new();
    // Room for one outcome per target and then some: pollers wait rather than drop.
    let (tx, rx) = mpsc::channel(config.targets.len() * 2 + 16);
    for (index, (target, client)) in config.targets.iter().cloned().zip(clients).enumerate() {
        let offset = spread(&target.name, config.poll_interval);
        tasks.spawn(poll_target(
            index,
            target,
            client,
            config.poll_interval,
            offset,
            tx.clone(),
        ));
    }
    tasks.spawn(run_deriver(config, states, rx, snapshot.clone()));
    Ok(Engine {
        snapshot,
        _tasks: tasks,
    })
}

/// The URL without credentials, for showing.
fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A stable offset within the interval, from the target's name.
fn spread(name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let millis = interval.as_millis().max(1) as u64;
    // At most a tenth of the interval, so the first results come quickly.
    Duration::from_millis(h.finish() % (millis / 10).max(1))
}

async fn poll_target(
    index: usize,
    target: Target,
    client: TargetClient,
    interval: Duration,
    offset: Duration,
    outcomes: mpsc::Sender<PollOutcome>,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut buildinfo: Option<(Option<f64>, String)> = None;
    loop {
        ticker.tick().await;
        let at = Instant::now();
        let wall = SystemTime::now();
        let result = poll_once(&target, &client, &mut buildinfo).await;
        if let Err(e) = &result {
            tracing::warn!(target = %target.name, reason = e.reason(), error = %e, "poll failed");
        }
        let outcome = PollOutcome {
            target: index,
            at,
            wall,
            duration: at.elapsed(),
            result,
        };
        if outcomes.send(outcome).await.is_err() {
            return;
        }
    }
}

/// Fetches and reads one target's metrics page. For Tempo without `tempo_build_info` the
/// version comes from `/api/status/buildinfo`, read once per Tempo process.
pub async fn poll_once(
    target: &Target,
    client: &TargetClient,
    buildinfo: &mut Option<(Option<f64>, String)>,
) -> Result<Reading, ScrapeError> {
    let url = match target.role {
        Role::Tempo => client.endpoint("metrics"),
        _ => client.url().clone(),
    };
    let page = client.fetch(url, scrape::METRICS_ACCEPT).await?;
    let mut reading = pipeline::read_page(target.role, &page, target.app_selectors.as_ref())
        .map_err(|e| ScrapeError::Parse(e.to_string()))?;
    if target.role == Role::Tempo && reading.recognised && reading.software.version.is_none() {
        let cached = buildinfo
            .as_ref()
            .filter(|(start, _)| *start == reading.process_start);
        let version = match cached {
            Some((_, v)) => Some(v.clone()),
            None => fetch_build_version(client).await,
        };
        if let Some(version) = version {
            *buildinfo = Some((reading.process_start, version.clone()));
            reading.set_build_version(target.role, version);
        }
    }
    Ok(reading)
}

async fn fetch_build_version(client: &TargetClient) -> Option<String> {
    let page = client
        .fetch(client.endpoint("api/status/buildinfo"), "application/json")
        .await
        .ok()?;
    let info: serde_json::Value = serde_json::from_slice(&page.body).ok()?;
    info.get("version")?.as_str().map(str::to_owned)
}

async fn run_deriver(
    config: Arc<Config>,
    mut states: Vec<TargetState>,
    mut outcomes: mpsc::Receiver<PollOutcome>,
    snapshot: SharedSnapshot,
) {
    while let Some(first) = outcomes.recv().await {
        let index = first.target;
        states[index].record(first);
        while let Ok(more) = outcomes.try_recv() {
            let index = more.target;
            states[index].record(more);
        }
        let derived = derive::derive_snapshot(&config, &states, Instant::now(), SystemTime::now());
        snapshot.store(Arc::new(derived));
    }
}
