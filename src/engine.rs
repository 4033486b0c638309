//! Runs one poll task per target and one deriver, and publishes each new [`Snapshot`].
//!
//! A poll task ticks every `poll_interval` at a phase taken from a hash of the target's
//! name, spread over the whole interval as Prometheus spreads its scrapes (the first poll
//! comes within a tenth of that phase, so results come quickly). It fetches the page, reads
//! it — for Tempo also its status endpoints and, at most once a minute per address, the
//! gRPC probes of its write ring ([`TargetPoller`]) — and sends a [`PollOutcome`]. A poll
//! never outlives the target's timeout, which is at most the poll interval. The deriver
//! owns every [`TargetState`]; it derives a new snapshot from each batch of outcomes (at
//! most every tenth of the poll interval) and swaps it in atomically, so readers (`/metrics`, the API) never
//! wait for polling and polling never waits for readers.
//!
//! [`prepare`] does everything that can fail (clients, TLS files, probe settings) before
//! anything starts, so a configuration reload checks the new configuration first and keeps
//! the running engine when it is invalid; [`Engine::stop`] lets polls in flight finish and
//! hands back every target's history, which the new engine keeps for unchanged targets.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::{Config, Target};
use crate::derive::{PollOutcome, TargetState};
use crate::model::software::Generation;
use crate::model::stage::{Role, Stage, StageStatus};
use crate::snapshot::{self, SharedSnapshot, Snapshot};
use crate::source::page::{self, Reading};
use crate::source::probe::{self, ProbeResult, ProbeSettings, ProbeSetupError};
use crate::source::scrape::{self, ClientSetupError, ScrapeError, TargetClient};
use crate::source::tempo::{self, TempoEvidence, TempoStatus};

/// Running pollers and deriver. [`Engine::stop`] stops them cleanly; dropping the engine
/// aborts them.
pub struct Engine {
    pub snapshot: SharedSnapshot,
    stop: watch::Sender<bool>,
    pollers: JoinSet<()>,
    deriver: Option<JoinHandle<Vec<TargetState>>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(deriver) = &self.deriver {
            deriver.abort();
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Client(#[from] ClientSetupError),
    #[error(transparent)]
    Probe(#[from] ProbeSetupError),
}

/// A configuration whose clients and probe settings are built: everything that can fail is
/// done, so a reload can check a new configuration before it stops the running engine.
pub struct Prepared {
    config: Arc<Config>,
    clients: Vec<TargetClient>,
    probes: Option<ProbeSettings>,
}

/// Builds every target's client (failing on unreadable TLS or credential files) and the
/// probe settings.
pub fn prepare(config: Arc<Config>) -> Result<Prepared, StartError> {
    let mut shared = scrape::SharedClients::default();
    let clients = config
        .targets
        .iter()
        .map(|t| TargetClient::shared(t, config.body_size_limit, &mut shared))
        .collect::<Result<Vec<_>, _>>()?;
    let probes = TargetPoller::probe_settings(&config)?;
    Ok(Prepared {
        config,
        clients,
        probes,
    })
}

/// Prepares and starts polling, with a new shared snapshot.
pub fn start(config: Arc<Config>) -> Result<Engine, StartError> {
    let prepared = prepare(config)?;
    let snapshot: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snapshot::initial(
        &prepared.config,
        &[],
    )));
    Ok(prepared.start(snapshot, Vec::new()))
}

impl Prepared {
    /// Starts polling, publishing into `snapshot`. A target whose name, role, URL, poll
    /// interval and window are unchanged keeps its history from `previous` (a reload loses
    /// nothing it had); other targets start afresh.
    pub fn start(self, snapshot: SharedSnapshot, mut previous: Vec<TargetState>) -> Engine {
        let Prepared {
            config,
            clients,
            probes,
        } = self;
        let states: Vec<TargetState> = config
            .targets
            .iter()
            .zip(&clients)
            .map(|(t, c)| {
                let url = redacted(c.url());
                let kept = previous.iter().position(|p| {
                    p.continues(&t.name, t.role, &url, config.poll_interval, config.window)
                });
                match kept {
                    Some(i) => previous.swap_remove(i),
                    None => TargetState::new(
                        t.name.clone(),
                        t.role,
                        url,
                        config.poll_interval,
                        config.window,
                    ),
                }
            })
            .collect();
        snapshot.store(Arc::new(snapshot::initial(&config, &states)));

        let (stop, stopped) = watch::channel(false);
        let mut pollers = JoinSet::new();
        // Room for one outcome per target and then some: pollers wait rather than drop.
        let (tx, rx) = mpsc::channel(config.targets.len() * 2 + 16);
        for (index, (target, client)) in config.targets.iter().cloned().zip(clients).enumerate() {
            let phase = phase(&target.name, config.poll_interval);
            let poller = TargetPoller::new(target, client, probes.clone());
            pollers.spawn(poll_target(
                index,
                poller,
                config.poll_interval,
                phase,
                tx.clone(),
                stopped.clone(),
            ));
        }
        let deriver = tokio::spawn(run_deriver(config, states, rx, snapshot.clone()));
        Engine {
            snapshot,
            stop,
            pollers,
            deriver: Some(deriver),
        }
    }
}

impl Engine {
    /// Stops polling and returns every target's state. A poll in flight finishes — it is
    /// bounded by its target's timeout — and its outcome is recorded; no new poll starts.
    pub async fn stop(mut self) -> Vec<TargetState> {
        let _ = self.stop.send(true);
        while self.pollers.join_next().await.is_some() {}
        // Every sender is gone with the pollers: the deriver drains and returns.
        match self.deriver.take() {
            Some(deriver) => deriver.await.unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

/// The URL without credentials, for showing.
fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A stable point within the interval, from the target's name: targets poll spread over
/// the whole interval, as Prometheus spreads its scrapes, so a thousand targets never
/// poll (and hold their pages in memory) at once.
fn phase(name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let millis = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % millis)
}

/// Polls one target until stopped: first within a tenth of its phase, so results come
/// quickly after start, then at its phase of every interval.
async fn poll_target(
    index: usize,
    mut poller: TargetPoller,
    interval: Duration,
    phase: Duration,
    outcomes: mpsc::Sender<PollOutcome>,
    mut stopped: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut ticker = tokio::time::interval_at(start + phase + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut first = Some(start + phase / 10);
    loop {
        let due = async {
            match first.take() {
                Some(at) => tokio::time::sleep_until(at).await,
                None => {
                    ticker.tick().await;
                }
            }
        };
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return,
            _ = due => {}
        }
        let at = Instant::now();
        let wall = SystemTime::now();
        let result = poller.poll().await;
        if let Err(e) = &result {
            tracing::warn!(target = %poller.target.name, reason = e.reason(), error = %e, "poll failed");
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

/// A probe result is reused for this long before the address is probed again.
const PROBE_EVERY: Duration = Duration::from_secs(60);

/// At most this many ring addresses are probed per Tempo target.
const MAX_PROBED_ADDRESSES: usize = 16;

/// Polls one target: its metrics page and, for Tempo, the status endpoints and probes. It
/// remembers what need not be fetched every time (the build version of a Tempo process
/// without `tempo_build_info`, recent probe results).
pub struct TargetPoller {
    pub target: Target,
    client: TargetClient,
    probes: Option<ProbeSettings>,
    buildinfo: Option<(Option<f64>, String)>,
    probed: HashMap<String, (Instant, ProbeResult)>,
    config_memo: tempo::ConfigMemo,
    status: Option<LastStatus>,
}

/// The last reading of a Tempo's status endpoints, and what the page said then.
struct LastStatus {
    status: Arc<TempoStatus>,
    read_at: Instant,
    /// [`Reading::trouble_total`] at the last poll.
    trouble: f64,
    generation: Generation,
    /// What `/ready` said when the endpoints were read.
    ready: Option<bool>,
}

impl TargetPoller {
    pub fn new(
        target: Target,
        client: TargetClient,
        probes: Option<ProbeSettings>,
    ) -> TargetPoller {
        TargetPoller {
            target,
            client,
            probes,
            buildinfo: None,
            probed: HashMap::new(),
            config_memo: tempo::ConfigMemo::default(),
            status: None,
        }
    }

    /// Builds the probe settings a config asks for (`None` when probes are off).
    pub fn probe_settings(config: &Config) -> Result<Option<ProbeSettings>, ProbeSetupError> {
        let p = &config.probes;
        if !p.grpc_health {
            return Ok(None);
        }
        ProbeSettings::new(
            p.grpc_timeout,
            p.grpc_tls.ca_file.as_deref(),
            p.grpc_tls.server_name.as_deref(),
            p.grpc_tls.insecure_skip_verify,
        )
        .map(Some)
    }

    /// One poll, finished within the target's `timeout` whatever the target does: the
    /// metrics page gets the whole timeout, the status endpoints and probes what is left of
    /// it. Only the metrics page decides success: status endpoints and probes that fail or
    /// run out of time become "unavailable" evidence inside the reading.
    pub async fn poll(&mut self) -> Result<Reading, ScrapeError> {
        let deadline = Instant::now() + self.target.timeout;
        let target = &self.target;
        let client = &self.client;
        let url = match target.role {
            Role::Tempo => client.endpoint("metrics"),
            _ => client.url().clone(),
        };
        let page = client.fetch(url, scrape::METRICS_ACCEPT).await?;
        let mut reading = page::read_page(target.role, &page, target.app_selectors.as_ref())
            .map_err(|e| ScrapeError::Parse(e.to_string()))?;
        if target.role != Role::Tempo {
            return Ok(reading);
        }
        self.complete_version(&mut reading, deadline).await;
        let client = &self.client;
        // `/ready` is tiny and changes within seconds of a start: read on every poll. The
        // other status endpoints change with the pipeline's health, not with every poll:
        // they are read when something failed since the last poll, when the generation
        // changed, while Tempo is not ready or when its readiness changed, and at least every
        // tempo::STATUS_REFRESH; in between the last reading is kept and says how old it is.
        let ready = tokio::time::timeout_at(deadline, tempo::read_ready(client))
            .await
            .unwrap_or_else(|_| {
                tempo::Read::Unavailable("/ready: no answer within the target's timeout".into())
            });
        let is_ready = ready.ok().map(|r| r.ready);
        let trouble = reading.trouble_total();
        let now = Instant::now();
        let due = match &self.status {
            None => true,
            Some(last) => {
                trouble != last.trouble
                    || last.generation != reading.software.generation
                    || is_ready == Some(false)
                    || last.ready != is_ready
                    || now.duration_since(last.read_at) >= tempo::STATUS_REFRESH
            }
        };
        if due {
            let status = tokio::time::timeout_at(
                deadline,
                tempo::read_status(client, reading.software.generation, &mut self.config_memo),
            )
            .await
            .unwrap_or_else(|_| TempoStatus::unavailable("no answer within the target's timeout"));
            self.status = Some(LastStatus {
                status: Arc::new(status),
                read_at: now,
                trouble,
                generation: reading.software.generation,
                ready: is_ready,
            });
        } else if let Some(last) = &mut self.status {
            last.trouble = trouble;
        }
        let last = self.status.as_ref().expect("read above");
        let status = Arc::clone(&last.status);
        let status_age_seconds = now.duration_since(last.read_at).as_secs_f64();
        let probes = match &self.probes {
            Some(settings) => {
                // Each probe is bounded by its own timeout, cut to what the poll has left.
                let mut settings = settings.clone();
                settings.timeout = settings
                    .timeout
                    .min(deadline.saturating_duration_since(Instant::now()));
                self.probe_ring(&status, reading.software.generation, settings)
                    .await
            }
            None => Vec::new(),
        };
        reading.tempo = Some(TempoEvidence {
            ready,
            status,
            status_age_seconds,
            probes_enabled: self.probes.is_some(),
            probes,
        });
        Ok(reading)
    }

    /// Tempo's version from `/api/status/buildinfo` when the page had no `tempo_build_info`:
    /// read once per process (a restart changes `process_start_time_seconds`).
    async fn complete_version(&mut self, reading: &mut Reading, deadline: Instant) {
        let client = &self.client;
        let target = &self.target;
        if reading.recognised && reading.software.version.is_none() {
            let cached = self
                .buildinfo
                .as_ref()
                .filter(|(start, _)| *start == reading.process_start);
            let version = match cached {
                Some((_, v)) => Some(v.clone()),
                None => tokio::time::timeout_at(deadline, fetch_build_version(client))
                    .await
                    .ok()
                    .flatten(),
            };
            if let Some(version) = version {
                self.buildinfo = Some((reading.process_start, version.clone()));
                reading.set_build_version(target.role, version);
            }
        }
    }

    /// Probes the write ring's addresses not probed in the last minute, concurrently, and
    /// returns the latest result of every address still in the ring.
    async fn probe_ring(
        &mut self,
        status: &TempoStatus,
        generation: Generation,
        settings: ProbeSettings,
    ) -> Vec<ProbeResult> {
        let Some(ring) = status.write_ring(generation).ok() else {
            return Vec::new();
        };
        let host = self.client.url().host_str().unwrap_or("").to_owned();
        let mut addresses: Vec<String> = ring
            .members
            .iter()
            .map(|m| m.address.clone())
            .filter(|a| !a.is_empty())
            .collect();
        addresses.sort();
        addresses.dedup();
        addresses.truncate(MAX_PROBED_ADDRESSES);
        self.probed.retain(|a, _| addresses.contains(a));

        let now = Instant::now();
        let mut due = JoinSet::new();
        for ring_address in &addresses {
            let fresh = self
                .probed
                .get(ring_address)
                .is_some_and(|(at, _)| now.duration_since(*at) < PROBE_EVERY);
            if fresh {
                continue;
            }
            let ring_address = ring_address.clone();
            let address = probe::probe_address(&ring_address, &host);
            let settings = settings.clone();
            due.spawn(async move { probe::probe(&ring_address, &address, &settings).await });
        }
        while let Some(done) = due.join_next().await {
            if let Ok(result) = done {
                self.probed
                    .insert(result.ring_address.clone(), (Instant::now(), result));
            }
        }
        let now = Instant::now();
        addresses
            .iter()
            .filter_map(|a| {
                self.probed.get(a).map(|(at, r)| ProbeResult {
                    age_seconds: now.duration_since(*at).as_secs_f64(),
                    ..r.clone()
                })
            })
            .collect()
    }
}

async fn fetch_build_version(client: &TargetClient) -> Option<String> {
    let page = client
        .fetch(client.endpoint("api/status/buildinfo"), "application/json")
        .await
        .ok()?;
    let info: serde_json::Value = serde_json::from_slice(&page.body).ok()?;
    info.get("version")?.as_str().map(str::to_owned)
}

/// How often snapshots are derived at most: a tenth of the poll interval, between 50 ms
/// and 1 s. Polls that land within it join one derive instead of each paying for a pass
/// over every target's history (a few milliseconds at a thousand targets, whose polls
/// land every 15 ms at a 15 s interval); a tenth of an interval adds little to the two
/// polls detection takes.
fn derive_every(poll_interval: Duration) -> Duration {
    (poll_interval / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

async fn run_deriver(
    config: Arc<Config>,
    mut states: Vec<TargetState>,
    mut outcomes: mpsc::Receiver<PollOutcome>,
    snapshot: SharedSnapshot,
) -> Vec<TargetState> {
    let derive = |states: &[TargetState]| {
        let derived = snapshot::make(&config, states, Instant::now(), SystemTime::now());
        log_transitions(&snapshot.load(), &derived);
        snapshot.store(Arc::new(derived));
    };
    let every = derive_every(config.poll_interval);
    let mut last_derive: Option<Instant> = None;
    while let Some(first) = outcomes.recv().await {
        let index = first.target;
        states[index].record(first);
        let due = last_derive.map_or_else(Instant::now, |at| at + every);
        loop {
            match tokio::time::timeout_at(due, outcomes.recv()).await {
                Ok(Some(more)) => {
                    let index = more.target;
                    states[index].record(more);
                }
                Ok(None) => {
                    derive(&states);
                    return states;
                }
                Err(_) => break,
            }
        }
        derive(&states);
        last_derive = Some(Instant::now());
    }
    states
}

/// A change worth one log line: a stage turning failing or degraded, or recovering; the
/// pipeline becoming blocked, or no longer blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    StageTurned {
        stage: Stage,
        status: StageStatus,
        cause: Option<&'static str>,
    },
    StageRecovered {
        stage: Stage,
        status: StageStatus,
    },
    Blocked {
        stage: Stage,
        cause: Option<&'static str>,
    },
    Unblocked {
        was: Stage,
    },
}

/// What changed between two snapshots, each change once. Turning `unknown` is left to the
/// poll-failure log lines, which say why.
pub fn transitions(before: &Snapshot, after: &Snapshot) -> Vec<Transition> {
    use StageStatus::{Degraded, Failing, Idle, Ok};
    let cause_at = |stage: Stage| {
        after
            .causes
            .iter()
            .find(|d| d.stage == stage)
            .map(|d| d.cause.as_str())
    };
    let mut found = Vec::new();
    for now in &after.stages {
        let was = before
            .stages
            .iter()
            .find(|s| s.stage == now.stage)
            .map(|s| s.status);
        match (was, now.status) {
            (Some(was), status @ (Failing | Degraded)) if was != status => {
                found.push(Transition::StageTurned {
                    stage: now.stage,
                    status,
                    cause: cause_at(now.stage),
                })
            }
            (Some(Failing | Degraded), status @ (Ok | Idle)) => {
                found.push(Transition::StageRecovered {
                    stage: now.stage,
                    status,
                })
            }
            _ => {}
        }
    }
    match (before.blocked_stage, after.blocked_stage) {
        (was, Some(stage)) if was != Some(stage) => found.push(Transition::Blocked {
            stage,
            cause: cause_at(stage),
        }),
        (Some(was), None) => found.push(Transition::Unblocked { was }),
        _ => {}
    }
    found
}

fn log_transitions(before: &Snapshot, after: &Snapshot) {
    for t in transitions(before, after) {
        match t {
            Transition::StageTurned {
                stage,
                status,
                cause,
            } => tracing::warn!(
                stage = stage.as_str(),
                status = status.as_str(),
                cause = cause.unwrap_or("none named"),
                "stage turned {}",
                status.as_str()
            ),
            Transition::StageRecovered { stage, status } => tracing::info!(
                stage = stage.as_str(),
                status = status.as_str(),
                "stage recovered"
            ),
            Transition::Blocked { stage, cause } => tracing::warn!(
                stage = stage.as_str(),
                status = "failing",
                cause = cause.unwrap_or("none named"),
                "pipeline blocked: spans stop here"
            ),
            Transition::Unblocked { was } => {
                tracing::info!(stage = was.as_str(), "pipeline no longer blocked")
            }
        }
    }
}

#[cfg(test)]
mod transition_tests {
    use super::*;
    use crate::derive::{Judged, StageReport, Verdict};

    fn snapshot(stages: &[(Stage, StageStatus)]) -> Snapshot {
        let mut derived = crate::derive::Derived {
            generated_unix: 0.0,
            generated_at: Instant::now(),
            window_seconds: 60.0,
            verdict: Verdict::NotHealthy,
            healthy: false,
            idle: false,
            blocked_stage: None,
            stages: stages
                .iter()
                .map(|(stage, status)| StageReport {
                    stage: *stage,
                    status: *status,
                    reason: String::new(),
                    unit: stage.unit(),
                    success_ratio: None,
                    success_per_second: None,
                    failure_per_second: None,
                    judged: Judged {
                        success: 0.0,
                        failure: 0.0,
                        seconds: 0.0,
                    },
                })
                .collect(),
            discarded_per_second: Default::default(),
            targets: Vec::new(),
            tempo_generation: Generation::Unknown,
        };
        derived.judge_pipeline();
        Snapshot {
            derived,
            causes: Vec::new(),
        }
    }

    #[test]
    fn each_change_is_reported_once() {
        use StageStatus::{Failing, Ok, Unknown};
        let d = Stage::TempoDistributor;
        let i = Stage::TempoIngester;
        let start = snapshot(&[(d, Unknown), (i, Unknown)]);
        let fine = snapshot(&[(d, Ok), (i, Ok)]);
        let broken = snapshot(&[(d, Failing), (i, Failing)]);
        assert_eq!(transitions(&start, &fine), []);
        assert_eq!(
            transitions(&fine, &broken),
            [
                Transition::StageTurned {
                    stage: d,
                    status: Failing,
                    cause: None
                },
                Transition::StageTurned {
                    stage: i,
                    status: Failing,
                    cause: None
                },
                Transition::Blocked {
                    stage: i,
                    cause: None
                },
            ]
        );
        // Nothing new while it stays broken.
        assert_eq!(transitions(&broken, &broken), []);
        assert_eq!(
            transitions(&broken, &fine),
            [
                Transition::StageRecovered {
                    stage: d,
                    status: Ok
                },
                Transition::StageRecovered {
                    stage: i,
                    status: Ok
                },
                Transition::Unblocked { was: i },
            ]
        );
    }
}
