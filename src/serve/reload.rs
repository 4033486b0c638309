//! Configuration reload, as Prometheus does it: on SIGHUP or `POST /-/reload`, the
//! configuration file is read again and checked completely (YAML, every field, TLS and
//! credential files, probe settings) before anything changes. An invalid file is rejected:
//! the error is logged with its chain, `spanflow_config_last_reload_successful` turns 0, and
//! the running engine carries on untouched. A valid one replaces the engine; instances whose
//! pipeline, target name, role, URL, poll interval and window are unchanged keep their
//! history, and pipelines that stay keep their status timeline.
//!
//! One task (the [`Supervisor`]) owns the engine, so reloads never run concurrently.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::{self, Engine};

/// The outcome of the last reload, for `spanflow_config_last_reload_*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub successful: bool,
    /// Unix time of the last successful load (start-up counts).
    pub last_success_unix: f64,
}

impl ReloadStatus {
    /// A configuration loaded now.
    pub fn loaded_now() -> ReloadStatus {
        ReloadStatus {
            successful: true,
            last_success_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

pub type SharedReloadStatus = Arc<ArcSwap<ReloadStatus>>;

/// Asks the supervisor to reload; answers with the error text when the new file is refused.
#[derive(Clone)]
pub struct ReloadHandle(mpsc::Sender<oneshot::Sender<Result<(), String>>>);

impl ReloadHandle {
    pub async fn reload(&self) -> Result<(), String> {
        let (answer, answered) = oneshot::channel();
        self.0
            .send(answer)
            .await
            .map_err(|_| "spanflow is shutting down".to_owned())?;
        answered
            .await
            .unwrap_or_else(|_| Err("spanflow is shutting down".to_owned()))
    }
}

/// The task that owns the running engine.
pub struct Supervisor {
    stop: watch::Sender<bool>,
    task: JoinHandle<Engine>,
}

impl Supervisor {
    /// Stops reloading and hands back the engine that is running.
    pub async fn finish(self) -> Option<Engine> {
        let _ = self.stop.send(true);
        self.task.await.ok()
    }
}

/// Starts the supervisor of `engine`, loaded from `path`.
pub fn supervise(
    path: PathBuf,
    engine: Engine,
    status: SharedReloadStatus,
) -> (ReloadHandle, Supervisor) {
    let (requests, mut incoming) = mpsc::channel::<oneshot::Sender<Result<(), String>>>(4);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut engine = engine;
        // A SIGHUP handler that cannot be installed leaves POST /-/reload.
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            let answer = tokio::select! {
                _ = stopped.wait_for(|s| *s) => return engine,
                request = incoming.recv() => match request {
                    Some(answer) => Some(answer),
                    None => return engine,
                },
                _ = hup => None,
            };
            let (next, result) = reload(&path, engine).await;
            engine = next;
            match &result {
                Ok(()) => {
                    status.store(Arc::new(ReloadStatus::loaded_now()));
                    tracing::info!(file = %path.display(), "configuration reloaded");
                }
                Err(e) => {
                    let last = status.load().last_success_unix;
                    status.store(Arc::new(ReloadStatus {
                        successful: false,
                        last_success_unix: last,
                    }));
                    tracing::error!(file = %path.display(), error = %e, "configuration reload failed; the previous configuration keeps running");
                }
            }
            if let Some(answer) = answer {
                let _ = answer.send(result);
            }
        }
    });
    (ReloadHandle(requests), Supervisor { stop, task })
}

/// Checks the new configuration fully; only then stops the old engine (its polls in flight
/// finish) and starts the new one with the old history.
async fn reload(path: &std::path::Path, engine: Engine) -> (Engine, Result<(), String>) {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return (engine, Err(crate::source::scrape::error_chain(&e))),
    };
    let prepared = match engine::prepare(Arc::new(config)) {
        Ok(p) => p,
        Err(e) => return (engine, Err(crate::source::scrape::error_chain(&e))),
    };
    let snapshot = engine.snapshot.clone();
    let history = engine.stop().await;
    (prepared.start(snapshot, history), Ok(()))
}
