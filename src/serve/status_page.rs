//! Renders the status page served at `/`: the person on call's view of one snapshot.
//!
//! Top to bottom: the verdict (healthy, or where spans stop), the stages left to right
//! coloured by status with the blocked stage marked, each detected cause with its evidence
//! and fix, what Tempo's status endpoints and the gRPC probes said, per-target health, and
//! Tempo's discards. It is plain HTML with inline CSS: readable without JavaScript, in a text
//! browser, and refreshed every 10 s by a `<meta>` tag. Every value that comes from a target
//! or the config (names, URLs, label values, error texts) goes through [`escape_html`].
//!
//! Stable hooks for tests and for people linking to a part: `#verdict`, `#stage-<stage>`
//! (class `blocked` on the blocked one), `#causes`, `#cause-<cause>`, `#targets`.

use std::fmt::Write as _;

use crate::diagnose::{Certainty, Diagnosis, Severity};
use crate::model::stage::StageStatus;
use crate::snapshot::Snapshot;
use crate::source::tempo::{Read, TempoEvidence};

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
        StageStatus::Idle => "#616161",
        StageStatus::Degraded => "#e65100",
        StageStatus::Failing => "#c62828",
        StageStatus::Unknown => "#5e35b1",
    }
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#c62828",
        Severity::Warning => "#e65100",
        Severity::Info => "#1565c0",
    }
}

/// The verdict line shared by the page title and heading.
pub fn verdict(snapshot: &Snapshot) -> String {
    snapshot.verdict.headline(snapshot.blocked_stage)
}

/// Said under the stages while no Tempo answered yet: which of its write stages exist
/// depends on its version, so they are not shown until then.
pub fn pending_stages_note(snapshot: &Snapshot) -> Option<&'static str> {
    let tempo = snapshot
        .targets
        .iter()
        .any(|t| t.role == crate::model::stage::Role::Tempo);
    (tempo && snapshot.tempo_generation == crate::model::software::Generation::Unknown).then_some(
        "tempo_ingester (Tempo 2.x) or tempo_live_store and tempo_kafka (3.x): shown once a Tempo target answers — its version decides which; until then they are unknown",
    )
}

/// What to do when the window saw no traffic, under the verdict.
pub const IDLE_ADVICE: &str = "spanflow judges stages by the spans that pass them, and none did in the window: send traffic through the app (or a test trace to the Collector or Tempo) and look again. The way to know at all times is a canary: a test trace sent through the app's path on a timer and read back from Tempo (planned for spanflow). Causes the configuration or the probe show without traffic are still reported below.";

pub fn render(snapshot: &Snapshot, telemetry_path: &str) -> String {
    let mut html = String::with_capacity(16 * 1024);
    let verdict = escape_html(&verdict(snapshot));
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>spanflow — {verdict}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#212121;max-width:80em}}\
         h1{{margin-bottom:.3em}} .sub{{color:#616161;margin-top:0}}\
         .stages{{display:flex;gap:.4em;flex-wrap:wrap;align-items:stretch;margin:1em 0}}\
         .stage{{color:#fff;padding:.7em .8em;border-radius:6px;min-width:10em;flex:1}}\
         .stage.blocked{{outline:5px solid #000;outline-offset:2px}}\
         .stage .name{{font-weight:bold}} .stage small{{opacity:.9}}\
         .arrow{{align-self:center;font-size:1.4em;color:#9e9e9e}}\
         .cause{{border-left:6px solid;padding:.4em 1em;margin:.8em 0;background:#fafafa}}\
         .cause h3{{margin:.2em 0}} .badge{{color:#fff;border-radius:4px;padding:0 .4em;font-size:.85em}}\
         .fix{{background:#e8f5e9;padding:.4em .6em;border-radius:4px}}\
         table{{border-collapse:collapse;margin-top:.5em}} td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}\
         code{{background:#eee;padding:0 .2em}}\
         </style></head><body><h1 id=\"verdict\">{verdict}</h1>"
    );
    let _ = write!(
        html,
        "<p class=\"sub\">Window {:.0} s · stages judged on the last polls, ratios over the window · refreshed every 10 s</p>",
        snapshot.window_seconds
    );
    if snapshot.idle {
        let _ = write!(html, "<p id=\"idle\">{}</p>", escape_html(IDLE_ADVICE));
    }
    stages(&mut html, snapshot);
    if let Some(note) = pending_stages_note(snapshot) {
        let _ = write!(
            html,
            "<p class=\"sub\" id=\"pending-stages\">{}</p>",
            escape_html(note)
        );
    }
    causes(&mut html, &snapshot.causes);
    tempo_evidence(&mut html, snapshot);
    targets(&mut html, snapshot);
    if !snapshot.discarded_per_second.is_empty() {
        html.push_str("<h2>Tempo discards</h2><table><tr><th>reason</th><th>spans/s over the window</th></tr>");
        for (reason, rate) in &snapshot.discarded_per_second {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{rate:.2}</td></tr>",
                escape_html(reason)
            );
        }
        html.push_str("</table>");
    }
    let _ = write!(
        html,
        "<p><a href=\"{}\">Metrics</a> · <a href=\"/api/v1/status\">Status JSON</a></p></body></html>",
        escape_html(telemetry_path)
    );
    html
}

fn stages(html: &mut String, snapshot: &Snapshot) {
    html.push_str("<div class=\"stages\" id=\"stages\">");
    for (i, s) in snapshot.stages.iter().enumerate() {
        if i > 0 {
            html.push_str("<span class=\"arrow\" aria-hidden=\"true\">→</span>");
        }
        let blocked = snapshot.blocked_stage == Some(s.stage);
        let ratio = s.success_ratio.map_or_else(
            || "no events in the window".to_owned(),
            |r| format!("{:.1} % success", r * 100.0),
        );
        let _ = write!(
            html,
            "<div class=\"stage{cls}\" id=\"stage-{name}\" style=\"background:{bg}\">\
             <div class=\"name\">{name}{mark}</div><div class=\"status\">{status}</div>\
             <div>{ratio}</div><div>{rates}</div><small>{reason}</small></div>",
            cls = if blocked { " blocked" } else { "" },
            name = s.stage.as_str(),
            bg = colour(s.status),
            mark = if blocked { " — BLOCKED" } else { "" },
            status = s.status.as_str().to_uppercase(),
            ratio = escape_html(&ratio),
            rates = escape_html(&s.rates_text()),
            reason = escape_html(&s.reason),
        );
    }
    html.push_str("</div>");
}

fn causes(html: &mut String, causes: &[Diagnosis]) {
    html.push_str("<section id=\"causes\"><h2>Causes</h2>");
    if causes.is_empty() {
        html.push_str("<p>No known cause detected.</p>");
    }
    for d in causes {
        let certainty = match d.certainty {
            Certainty::Confirmed => "confirmed by the evidence",
            Certainty::Likely => "likely",
            Certainty::Possible => {
                "possible — the evidence cannot tell it apart from the alternatives below"
            }
        };
        let _ = write!(
            html,
            "<div class=\"cause\" id=\"cause-{id}\" style=\"border-color:{c}\">\
             <h3><span class=\"badge\" style=\"background:{c}\">{sev}</span>{latent} <code>{id}</code> at <code>{stage}</code></h3>\
             <p>{summary} <em>({certainty})</em></p><ul>",
            id = d.cause.as_str(),
            c = severity_colour(d.severity),
            sev = d.severity.as_str(),
            latent = if d.latent {
                " <span class=\"badge latent\" style=\"background:#424242\" title=\"no traffic yet: the evidence shows the first span will not pass\">latent</span>"
            } else {
                ""
            },
            stage = d.stage.as_str(),
            summary = escape_html(d.summary),
        );
        for e in &d.evidence {
            let _ = write!(html, "<li>{}</li>", escape_html(e));
        }
        html.push_str("</ul>");
        if !d.alternatives.is_empty() {
            let alternatives: Vec<&str> = d.alternatives.iter().map(|c| c.as_str()).collect();
            let _ = write!(
                html,
                "<p>Alternatives: <code>{}</code></p>",
                escape_html(&alternatives.join(", "))
            );
        }
        if let Some(how) = d.tell_apart {
            let _ = write!(html, "<p>To tell them apart: {}</p>", escape_html(how));
        }
        let _ = write!(
            html,
            "<p class=\"fix\"><strong>Fix:</strong> {}</p></div>",
            escape_html(d.fix)
        );
    }
    html.push_str("</section>");
}

fn read_text<T>(read: &Read<T>, show: impl Fn(&T) -> String) -> String {
    match read {
        Read::Ok(v) => show(v),
        Read::Unavailable(why) => format!("unavailable: {why}"),
    }
}

fn tempo_evidence(html: &mut String, snapshot: &Snapshot) {
    let with: Vec<(&str, &TempoEvidence)> = snapshot
        .targets
        .iter()
        .filter_map(|t| t.tempo.as_deref().map(|e| (t.name.as_str(), e)))
        .collect();
    if with.is_empty() {
        return;
    }
    html.push_str("<h2>Tempo status endpoints and probes</h2><table><tr><th>target</th><th>what</th><th>reading</th></tr>");
    for (name, e) in with {
        let s = &e.status;
        let _ = write!(
            html,
            "<tr><td>{}</td><td>/ready</td><td>{} <small>(read on every poll)</small></td></tr>",
            escape_html(name),
            escape_html(&read_text(&e.ready, |r| {
                match (r.ready, r.message.as_str()) {
                    (true, "ready") => "ready".to_owned(),
                    (true, message) => format!("ready ({message})"),
                    (false, message) => format!("not ready: {message}"),
                }
            })),
        );
        let _ = write!(
            html,
            "<tr><td>{}</td><td>the endpoints below</td><td>read {:.0} s ago (again at once when something fails or Tempo is not ready, else every {})</td></tr>",
            escape_html(name),
            e.status_age_seconds,
            humantime::format_duration(crate::source::tempo::STATUS_REFRESH)
        );
        let rows = status_rows(s);
        for (what, reading) in rows {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{what}</td><td>{}</td></tr>",
                escape_html(name),
                escape_html(&reading)
            );
        }
        if !e.probes_enabled {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>gRPC probe</td><td>off (probes.grpc_health: false)</td></tr>",
                escape_html(name)
            );
        }
        for p in &e.probes {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>gRPC probe {}</td><td>plaintext: {}<br>TLS: {}<br><small>probed {:.0} s ago</small></td></tr>",
                escape_html(name),
                escape_html(&p.address),
                escape_html(&p.plaintext.describe()),
                escape_html(&p.tls.describe()),
                p.age_seconds
            );
        }
    }
    html.push_str("</table>");
}

/// The slow-changing status endpoints of one Tempo, one row each, in words.
fn status_rows(s: &crate::source::tempo::TempoStatus) -> [(&'static str, String); 5] {
    let ring = |r: &crate::source::tempo::Ring| {
        let active = r.count("ACTIVE");
        format!("{} member(s), {active} ACTIVE", r.members.len())
    };
    [
        (
            "/status/services",
            read_text(&s.services, |list| {
                let bad: Vec<String> = list
                    .iter()
                    .filter(|svc| svc.status != "Running")
                    .map(|svc| format!("{} {} {}", svc.name, svc.status, svc.failure))
                    .collect();
                if bad.is_empty() {
                    format!("all {} Running", list.len())
                } else {
                    bad.join("; ")
                }
            }),
        ),
        (
            "/status/config",
            read_text(&s.config, |c| {
                format!(
                    "gRPC server TLS: {}; ingester client TLS: {}; live-store client TLS: {}; replication factor: {}",
                    if c.grpc_server_tls { "on" } else { "off" },
                    c.ingester_client_tls.map_or("-".into(), |v| v.to_string()),
                    c.live_store_client_tls
                        .map_or("-".into(), |v| v.to_string()),
                    c.replication_factor.map_or("-".into(), |v| v.to_string()),
                )
            }),
        ),
        ("/ingester/ring", read_text(&s.ingester_ring, ring)),
        ("/live-store/ring", read_text(&s.live_store_ring, ring)),
        (
            "/partition-ring",
            read_text(&s.partition_ring, |p| {
                format!("{} partition(s), {} Active", p.partitions.len(), p.active())
            }),
        ),
    ]
}

fn targets(html: &mut String, snapshot: &Snapshot) {
    html.push_str("<h2>Targets</h2><table id=\"targets\"><tr><th>target</th><th>role</th><th>url</th><th>up</th><th>version</th><th>last poll</th><th>last error</th></tr>");
    for t in &snapshot.targets {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&t.name),
            t.role.as_str(),
            escape_html(&t.url),
            if t.up { "yes" } else { "no" },
            escape_html(&format!(
                "{} {}",
                t.version.as_deref().unwrap_or(""),
                t.mode.unwrap_or("")
            )),
            t.last_scrape_duration_seconds
                .map_or("never".to_owned(), |d| format!("{:.0} ms", d * 1000.0)),
            escape_html(t.last_error.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>");
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
