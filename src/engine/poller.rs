//! Polls one instance: one task per instance ticks at its phase of every interval and
//! sends a [`PollOutcome`] per poll.
//!
//! Input: the instance's target (URL, TLS, credentials, timeout), its client and the probe
//! settings. Output: one outcome per poll, never later than the target's timeout. A Tempo
//! instance also reads its status endpoints and probes its write ring when it holds the
//! status role. It never judges what it read and keeps no history beyond what saves a
//! request (the build version of a process, recent probe results, the last status read).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::Input;
use crate::config::{Config, Target};
use crate::derive::PollOutcome;
use crate::model::software::Generation;
use crate::model::stage::Role;
use crate::source::page::{self, Reading};
use crate::source::probe::{self, ProbeResult, ProbeSettings, ProbeSetupError};
use crate::source::scrape::{self, ScrapeError, TargetClient};
use crate::source::tempo::{self, TempoEvidence, TempoStatus};

/// A stable point within the interval, from the target's name: targets poll spread over
/// the whole interval, as Prometheus spreads its scrapes, so a thousand targets never
/// poll (and hold their pages in memory) at once.
pub(super) fn phase(name: &str, address: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    address.hash(&mut h);
    let millis = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % millis)
}

/// Polls one target until stopped: first within a tenth of its phase, so results come
/// quickly after start, then at its phase of every interval.
pub(super) async fn poll_target(
    instance: u64,
    mut poller: TargetPoller,
    interval: Duration,
    phase: Duration,
    outcomes: mpsc::Sender<Input>,
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
        // Boxed: a poll's state (≈5 KB of request futures) is held only while it runs, not
        // by every sleeping task — 1,000 instances are 1,000 tasks (`future_sizes` test).
        let result = Box::pin(poller.poll()).await;
        if let Err(e) = &result {
            tracing::warn!(target = %poller.target.name, address = %poller.target.address, reason = e.reason(), error = %e, "poll failed");
        }
        let outcome = PollOutcome {
            instance,
            at,
            wall,
            duration: at.elapsed(),
            result,
        };
        if outcomes.send(Input::Polled(outcome)).await.is_err() {
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
    /// Whether this instance reads Tempo's status endpoints and probes: every written
    /// target does, and the first few instances of a discovering target
    /// ([`super::fleet::STATUS_READERS`]), so fifty ingesters do not mean three hundred
    /// status requests a poll. The engine moves the role as instances come and go.
    reads_status: Arc<AtomicBool>,
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
        TargetPoller::sharing_status_role(target, client, probes, Arc::new(AtomicBool::new(true)))
    }

    /// A poller that reads Tempo's status endpoints while `reads_status` is true.
    pub(super) fn sharing_status_role(
        target: Target,
        client: TargetClient,
        probes: Option<ProbeSettings>,
        reads_status: Arc<AtomicBool>,
    ) -> TargetPoller {
        TargetPoller {
            target,
            client,
            probes,
            reads_status,
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
        let (target, client) = (&self.target, &self.client);
        let tempo = target.role == Role::Tempo;
        let url = match tempo {
            true => client.endpoint("metrics"),
            false => client.url().clone(),
        };
        let page = client.fetch(url, scrape::METRICS_ACCEPT).await?;
        let mut reading = page::read_page(target.role, &page, target.app_selectors.as_ref())
            .map_err(|e| ScrapeError::Parse(e.to_string()))?;
        if tempo {
            self.complete_version(&mut reading, deadline).await;
        }
        if !tempo || !self.reads_status.load(Ordering::Relaxed) {
            return Ok(reading);
        }
        let evidence = self
            .status_evidence(
                reading.trouble_total(),
                reading.software.generation,
                deadline,
            )
            .await;
        reading.tempo = Some(evidence);
        Ok(reading)
    }

    /// Tempo's status endpoints and probes, by `deadline`: `trouble` (the failure counters'
    /// total, or anything that changes when failures happen) and `generation` decide
    /// whether the slow-changing endpoints are read again. A store-sourced pipeline reads
    /// them this way from its `tempo_api`.
    pub(super) async fn status_evidence(
        &mut self,
        trouble: f64,
        generation: Generation,
        deadline: Instant,
    ) -> TempoEvidence {
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
        let now = Instant::now();
        if self.status_due(trouble, generation, is_ready, now) {
            let status = tokio::time::timeout_at(
                deadline,
                tempo::read_status(client, generation, &mut self.config_memo),
            )
            .await
            .unwrap_or_else(|_| TempoStatus::unavailable("no answer within the target's timeout"));
            self.status = Some(LastStatus {
                status: Arc::new(status),
                read_at: now,
                trouble,
                generation,
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
                self.probe_ring(&status, generation, settings).await
            }
            None => Vec::new(),
        };
        TempoEvidence {
            ready,
            status,
            status_age_seconds,
            probes_enabled: self.probes.is_some(),
            probes,
        }
    }

    /// Whether the slow-changing status endpoints are read at this poll (see [`Self::poll`]).
    fn status_due(
        &self,
        trouble: f64,
        generation: Generation,
        is_ready: Option<bool>,
        now: Instant,
    ) -> bool {
        match &self.status {
            None => true,
            Some(last) => {
                trouble != last.trouble
                    || last.generation != generation
                    || is_ready == Some(false)
                    || last.ready != is_ready
                    || now.duration_since(last.read_at) >= tempo::STATUS_REFRESH
            }
        }
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

#[cfg(test)]
mod tests {
    /// A sleeping poll task holds its whole future: it stays small while a poll's request
    /// state lives on the heap only during the poll.
    #[test]
    fn future_sizes() {
        let config = crate::config::Config::from_yaml(
            "targets:\n  - {name: t, role: tempo, url: 'http://127.0.0.1:1'}\n",
            "x",
        )
        .unwrap();
        let t = config.targets[0].clone();
        let client = crate::source::scrape::TargetClient::new(&t, 1 << 20).unwrap();
        let poller = super::TargetPoller::new(t, client, None);
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let task = super::poll_target(
            0,
            poller,
            std::time::Duration::from_secs(1),
            std::time::Duration::ZERO,
            tx,
            stopped,
        );
        let size = std::mem::size_of_val(&task);
        eprintln!("poll task future: {size} bytes");
        assert!(size < 4096, "a poll task's future is {size} bytes");
    }
}
