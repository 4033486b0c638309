//! Serves spanflow's HTTP endpoints from the latest snapshot.
//!
//! * `GET <telemetry path>` (default `/metrics`): the metric contract, text 0.0.4 or
//!   OpenMetrics by content negotiation, always with an exact `Content-Type`.
//! * `GET /api/v1/status`: the snapshot as JSON, with its age.
//! * `GET /`: the status page (see the `page` module).
//! * `POST /-/reload`: reload the configuration file (see the `reload` module).
//! * `GET /-/healthy`: 200 while the process serves. `GET /-/ready`: 200 once every target
//!   has been polled at least once, 503 before.
//!
//! Handlers only read the current snapshot (an atomic load); nothing here waits on polling.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::time::Instant;

use crate::snapshot::Snapshot;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use crate::serve::metrics;
use crate::serve::reload::{ReloadHandle, ReloadStatus, SharedReloadStatus};
use crate::serve::status_page;
use crate::snapshot::SharedSnapshot;

#[derive(Clone)]
struct WebState {
    snapshot: SharedSnapshot,
    telemetry_path: String,
    lifecycle: Lifecycle,
    /// Permits for concurrent scrapes of the telemetry path; `None` is unlimited.
    scrapes: Option<Arc<Semaphore>>,
    /// The telemetry path's bodies for the current snapshot, encoded once.
    bodies: Arc<metrics::RenderCache>,
}

/// The configuration's life: how it last loaded, and how to reload it (none for the demo
/// and for a snapshot served on its own).
#[derive(Clone)]
pub struct Lifecycle {
    pub status: SharedReloadStatus,
    pub reload: Option<ReloadHandle>,
    /// Concurrent scrapes of the telemetry path served at once (`--web.max-requests`); more
    /// get 503 at once instead of queueing. 0 is unlimited.
    pub max_requests: usize,
}

impl Lifecycle {
    /// A configuration loaded once, with no file to reload from.
    pub fn fixed() -> Lifecycle {
        Lifecycle {
            status: Arc::new(ArcSwap::from_pointee(ReloadStatus::loaded_now())),
            reload: None,
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

/// `--web.max-requests` default, as Prometheus' exporters have it.
pub const DEFAULT_MAX_REQUESTS: usize = 40;

/// The router for a running engine's snapshot.
pub fn router(snapshot: SharedSnapshot, telemetry_path: &str, lifecycle: Lifecycle) -> Router {
    let scrapes =
        (lifecycle.max_requests > 0).then(|| Arc::new(Semaphore::new(lifecycle.max_requests)));
    let state = WebState {
        snapshot,
        telemetry_path: telemetry_path.to_owned(),
        lifecycle,
        scrapes,
        bodies: Arc::default(),
    };
    Router::new()
        .route(telemetry_path, get(metrics))
        .route("/api/v1/status", get(status_json))
        .route("/", get(status_page))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload))
        .with_state(state)
}

/// `POST /-/reload` (other methods get 405): 200 when the new configuration runs, 500 with
/// the error when it was refused (the previous one keeps running).
async fn reload(State(state): State<WebState>) -> (StatusCode, String) {
    match &state.lifecycle.reload {
        None => (
            StatusCode::BAD_REQUEST,
            "no configuration file to reload (demo or fixed configuration)\n".to_owned(),
        ),
        Some(handle) => match handle.reload().await {
            Ok(()) => (StatusCode::OK, "configuration reloaded\n".to_owned()),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("configuration refused, previous one still running: {e}\n"),
            ),
        },
    }
}

fn age_seconds(snapshot: &Snapshot) -> f64 {
    Instant::now()
        .saturating_duration_since(snapshot.generated_at)
        .as_secs_f64()
}

async fn metrics(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let _permit = match &state.scrapes {
        Some(scrapes) => match scrapes.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "too many concurrent scrapes (--web.max-requests {})\n",
                        state.lifecycle.max_requests
                    ),
                )
                    .into_response();
            }
        },
        None => None,
    };
    let snapshot = state.snapshot.load();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let reload = **state.lifecycle.status.load();
    let (body, content_type) =
        state
            .bodies
            .render(&snapshot, age_seconds(&snapshot), &reload, accept);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn status_json(State(state): State<WebState>) -> Response {
    let snapshot = state.snapshot.load();
    let mut value = serde_json::to_value(&**snapshot).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("snapshot_age_seconds".into(), age_seconds(&snapshot).into());
    }
    axum::Json(value).into_response()
}

async fn ready(State(state): State<WebState>) -> (StatusCode, &'static str) {
    let snapshot = state.snapshot.load();
    if snapshot
        .pipelines
        .iter()
        .flat_map(|p| &p.targets)
        .all(|t| t.last_scrape_duration_seconds.is_some())
    {
        (StatusCode::OK, "Ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: not every target has been polled yet\n",
        )
    }
}

async fn status_page(State(state): State<WebState>) -> Html<String> {
    let snapshot = state.snapshot.load();
    Html(status_page::render(&snapshot, &state.telemetry_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scrapes_beyond_max_requests_get_503_not_a_queue() {
        let config = crate::demo::config("http://127.0.0.1:1");
        let state = WebState {
            snapshot: Arc::new(ArcSwap::from_pointee(crate::snapshot::initial(
                &config,
                &[],
            ))),
            telemetry_path: "/metrics".into(),
            lifecycle: Lifecycle {
                max_requests: 1,
                ..Lifecycle::fixed()
            },
            scrapes: Some(Arc::new(Semaphore::new(1))),
            bodies: Arc::default(),
        };
        let scrape = || metrics(State(state.clone()), HeaderMap::new());
        assert_eq!(scrape().await.status(), 200);
        // A scrape in progress holds the only permit: the next one is refused at once.
        let held = state.scrapes.clone().unwrap().try_acquire_owned().unwrap();
        let refused = scrape().await;
        assert_eq!(refused.status(), 503);
        drop(held);
        assert_eq!(scrape().await.status(), 200);
    }
}
