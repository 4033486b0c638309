//! Serves spanflow's HTTP endpoints from the latest snapshot.
//!
//! * `GET <telemetry path>` (default `/metrics`): the metric contract, text 0.0.4 or
//!   OpenMetrics by content negotiation, always with an exact `Content-Type`.
//! * `GET /api/v1/status`: the snapshot as JSON, with its age.
//! * `GET /`: a page listing the stages left to right with their status and the blocked
//!   stage; readable without JavaScript, every value HTML-escaped, refreshed every 10 s.
//! * `GET /-/healthy`: 200 while the process serves. `GET /-/ready`: 200 once every target
//!   has been polled at least once, 503 before.
//!
//! Handlers only read the current snapshot (an atomic load); nothing here waits on polling.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::time::Instant;

use crate::derive::Snapshot;
use crate::engine::SharedSnapshot;
use crate::expose;
use crate::stage::StageStatus;

#[derive(Clone)]
struct WebState {
    snapshot: SharedSnapshot,
    telemetry_path: String,
}

/// The router for a running engine's snapshot.
pub fn router(snapshot: SharedSnapshot, telemetry_path: &str) -> Router {
    let state = WebState {
        snapshot,
        telemetry_path: telemetry_path.to_owned(),
    };
    Router::new()
        .route(telemetry_path, get(metrics))
        .route("/api/v1/status", get(status_json))
        .route("/", get(status_page))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .with_state(state)
}

fn age_seconds(snapshot: &Snapshot) -> f64 {
    Instant::now()
        .saturating_duration_since(snapshot.generated_at)
        .as_secs_f64()
}

async fn metrics(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let snapshot = state.snapshot.load();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (body, content_type) = expose::render(&snapshot, age_seconds(&snapshot), accept);
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
        .targets
        .iter()
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
    Html(render_status_page(&snapshot, &state.telemetry_path))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(status: StageStatus) -> &'static str {
    match status {
        StageStatus::Ok => "#2e7d32",
        StageStatus::Idle => "#757575",
        StageStatus::Degraded => "#ef6c00",
        StageStatus::Failing => "#c62828",
        StageStatus::Unknown => "#5e35b1",
    }
}

fn render_status_page(snapshot: &Snapshot, telemetry_path: &str) -> String {
    let mut html = String::with_capacity(8192);
    let verdict = if snapshot.healthy {
        "Pipeline healthy".to_owned()
    } else if let Some(blocked) = snapshot.blocked_stage {
        format!("Spans stop at {}", blocked.as_str())
    } else {
        "Pipeline not healthy".to_owned()
    };
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>spanflow — {verdict}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#212121}}\
         .stages{{display:flex;gap:.5em;flex-wrap:wrap;align-items:stretch}}\
         .stage{{color:#fff;padding:.8em;border-radius:6px;min-width:11em}}\
         .stage.blocked{{outline:4px solid #000}} .arrow{{align-self:center;font-size:1.5em}}\
         table{{border-collapse:collapse;margin-top:1em}} td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         </style></head><body><h1 id=\"verdict\">{verdict}</h1><div class=\"stages\">",
        verdict = escape_html(&verdict)
    );
    for (i, s) in snapshot.stages.iter().enumerate() {
        if i > 0 {
            html.push_str("<span class=\"arrow\">→</span>");
        }
        let blocked = snapshot.blocked_stage == Some(s.stage);
        let ratio = s.success_ratio.map_or_else(
            || "no events".to_owned(),
            |r| format!("{:.1} % success", r * 100.0),
        );
        let _ = write!(
            html,
            "<div class=\"stage{cls}\" id=\"stage-{name}\" style=\"background:{bg}\"><strong>{name}</strong>{mark}<br>{status}<br>{ratio}<br><small>{reason}</small></div>",
            cls = if blocked { " blocked" } else { "" },
            name = s.stage.as_str(),
            bg = colour(s.status),
            mark = if blocked { " ⛔ blocked" } else { "" },
            status = s.status.as_str(),
            ratio = escape_html(&ratio),
            reason = escape_html(&s.reason),
        );
    }
    html.push_str("</div><h2>Targets</h2><table><tr><th>target</th><th>role</th><th>up</th><th>version</th><th>last error</th></tr>");
    for t in &snapshot.targets {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&t.name),
            t.role.as_str(),
            if t.up { "yes" } else { "no" },
            escape_html(t.version.as_deref().unwrap_or("")),
            escape_html(t.last_error.as_deref().unwrap_or("")),
        );
    }
    if !snapshot.discarded_per_second.is_empty() {
        html.push_str("</table><h2>Tempo discards (spans/s over the window)</h2><table>");
        for (reason, rate) in &snapshot.discarded_per_second {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{rate:.2}</td></tr>",
                escape_html(reason)
            );
        }
    }
    let _ = write!(
        html,
        "</table><p><a href=\"{}\">Metrics</a> · <a href=\"/api/v1/status\">Status JSON</a></p></body></html>",
        escape_html(telemetry_path)
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_html_special_character() {
        assert_eq!(
            escape_html("<script>\"&'"),
            "&lt;script&gt;&quot;&amp;&#39;"
        );
    }
}
