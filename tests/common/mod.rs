//! Helpers shared by the integration tests: where `../shared` is, and real HTTP servers
//! on 127.0.0.1 that serve captured bodies.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

/// `../shared` beside the repository. Tests read fixtures, conformance cases and corpora
/// from there; they are never copied into the repository.
pub fn shared() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        dir.join("DESIGN.md").is_file(),
        "../shared is missing: clone the steering repo's shared/ beside this checkout ({} not found)",
        dir.display()
    );
    dir
}

pub fn read_shared(rel: &str) -> String {
    let path = shared().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use spanflow::config::Config;
use spanflow::derive::{self, PollOutcome, Snapshot, TargetState};
use spanflow::engine::TargetPoller;
use spanflow::scrape::TargetClient;
use spanflow::stage::{Stage, StageStatus};

/// A real HTTP server on 127.0.0.1 answering every GET with the body set last (and 404 on
/// `/api/status/buildinfo` unless told otherwise), with the captured Content-Type.
pub struct PageServer {
    pub base: String,
    page: Arc<Mutex<(Vec<u8>, String, u16)>>,
    _task: tokio::task::JoinHandle<()>,
}

impl PageServer {
    pub async fn start() -> PageServer {
        use axum::response::IntoResponse;
        let page = Arc::new(Mutex::new((
            Vec::new(),
            "text/plain; version=0.0.4".to_owned(),
            200u16,
        )));
        let shared = page.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let shared = shared.clone();
            async move {
                if uri.path().ends_with("/api/status/buildinfo") {
                    return axum::http::StatusCode::NOT_FOUND.into_response();
                }
                let (body, content_type, status) = shared.lock().unwrap().clone();
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [(axum::http::header::CONTENT_TYPE, content_type)],
                    body,
                )
                    .into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        PageServer {
            base,
            page,
            _task: task,
        }
    }

    pub fn set(&self, body: impl Into<Vec<u8>>, content_type: &str) {
        *self.page.lock().unwrap() = (body.into(), content_type.to_owned(), 200);
    }

    pub fn set_status(&self, status: u16) {
        self.page.lock().unwrap().2 = status;
    }
}

pub const TEMPO_CONTENT_TYPE: &str =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

/// Polls one target through the real HTTP client and page reader, stamping each poll
/// `poll_interval` after the previous one so windows are exact whatever the machine's speed.
pub struct Poller {
    pub config: Config,
    pub state: Vec<TargetState>,
    poller: TargetPoller,
    t0: tokio::time::Instant,
    step: u32,
}

impl Poller {
    pub fn new(yaml: &str) -> Poller {
        let config = Config::from_yaml(yaml, "test.yml").unwrap();
        let t = &config.targets[0];
        let client = TargetClient::new(t, config.body_size_limit).unwrap();
        let probes = TargetPoller::probe_settings(&config).unwrap();
        let poller = TargetPoller::new(t.clone(), client, probes);
        let state = vec![TargetState::new(
            t.name.clone(),
            t.role,
            t.url.to_string(),
            config.poll_interval,
            config.window,
        )];
        Poller {
            config,
            state,
            poller,
            t0: tokio::time::Instant::now(),
            step: 0,
        }
    }

    /// A Tempo target at `base`, polled every 2 s (the captures' step) with a 1 min window.
    /// Probes are off: the captured rings advertise 127.0.0.1:9095, which is not the
    /// captured Tempo here (tests that probe serve a ring pointing at their own server).
    pub fn tempo(base: &str) -> Poller {
        Poller::new(&format!(
            "poll_interval: 2s\nwindow: 1m\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{base}', timeout: 1s}}\n"
        ))
    }

    pub async fn poll(&mut self) -> Snapshot {
        self.step += 1;
        let at = self.t0 + self.config.poll_interval * self.step;
        let result = self.poller.poll().await;
        self.state[0].record(PollOutcome {
            target: 0,
            at,
            wall: SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_795_312_800)
                + self.config.poll_interval * self.step,
            duration: Duration::from_millis(5),
            result,
        });
        derive::derive_snapshot(
            &self.config,
            &self.state,
            at,
            SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_795_312_800)
                + self.config.poll_interval * self.step,
        )
    }
}

pub fn status(s: &Snapshot, stage: Stage) -> StageStatus {
    s.stages
        .iter()
        .find(|r| r.stage == stage)
        .unwrap_or_else(|| {
            panic!(
                "no stage {stage:?} in {:?}",
                s.stages.iter().map(|r| r.stage).collect::<Vec<_>>()
            )
        })
        .status
}

pub fn stage_list(s: &Snapshot) -> Vec<Stage> {
    s.stages.iter().map(|r| r.stage).collect()
}

/// Every stage's status, for assertion messages.
pub fn statuses(s: &Snapshot) -> String {
    s.stages
        .iter()
        .map(|r| format!("{}={} ({})", r.stage.as_str(), r.status.as_str(), r.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Polls a before/after capture pair (`metrics_before_spans.txt`, then `metrics.txt`) of a
/// fixture folder through a real server; returns the snapshot after the second poll.
pub async fn replay_pair(dir: &str) -> Snapshot {
    let server = PageServer::start().await;
    let mut poller = Poller::tempo(&server.base);
    server.set(
        read_shared(&format!("{dir}/metrics_before_spans.txt")),
        TEMPO_CONTENT_TYPE,
    );
    poller.poll().await;
    server.set(
        read_shared(&format!("{dir}/metrics.txt")),
        TEMPO_CONTENT_TYPE,
    );
    poller.poll().await
}
