//! Renders the status page served at `/`: the person on call's view of one snapshot.
//!
//! Top to bottom: the verdict over every pipeline, then each pipeline, worst first: its
//! verdict (healthy, or where spans stop), the stages left to right coloured by status with
//! the blocked stage marked, each with since when it has had its status and a strip of its
//! statuses over the last hour (inline SVG), each detected cause with its evidence and fix,
//! what Tempo's status endpoints and the gRPC probes said, per-instance health, and Tempo's
//! discards (and, read from a metrics store, whether its answers were partial); then
//! discovery, the metrics stores and the recent status changes. It is plain HTML with inline CSS:
//! readable without JavaScript, in a text browser, and refreshed every 10 s by a `<meta>`
//! tag. Every value that comes from a target or the config (names, URLs, label values,
//! error texts) goes through [`escape_html`].
//!
//! Stable hooks for tests and for people linking to a part: `#verdict` (every pipeline),
//! and per pipeline `#pipeline-<pipeline>`, `#<pipeline>/verdict`,
//! `#<pipeline>/stage-<stage>` (class `blocked` on the blocked one), `#<pipeline>/causes`,
//! `#<pipeline>/cause-<cause>`, `#<pipeline>/targets`, `#<pipeline>/partial`; `#discovery`,
//! `#sources`, `#events`.

use std::fmt::Write as _;

use crate::derive::{StageReport, Verdict};
use crate::diagnose::{Certainty, Diagnosis, Severity};
use crate::model::stage::StageStatus;
use crate::snapshot::{PipelineSnapshot, Snapshot, timeline};
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

/// One pipeline's verdict as a sentence.
pub fn pipeline_verdict(pipeline: &PipelineSnapshot) -> String {
    pipeline.verdict.headline(pipeline.blocked_stage)
}

/// The verdict over every pipeline, shared by the page title and heading: with one
/// pipeline its verdict; with several, the worst one's and how many need attention.
pub fn verdict(snapshot: &Snapshot) -> String {
    let worst = snapshot.worst_first();
    match worst.as_slice() {
        [] => "No pipeline".to_owned(),
        [only] => pipeline_verdict(only),
        [first, ..] => {
            let attention = worst
                .iter()
                .filter(|p| p.verdict != Verdict::Healthy)
                .count();
            if attention == 0 {
                format!("All {} pipelines healthy", worst.len())
            } else {
                format!(
                    "{}: {} ({attention} of {} pipelines need attention)",
                    first.name,
                    pipeline_verdict(first),
                    worst.len()
                )
            }
        }
    }
}

/// `failing for 3 h 12 min, since 14:02 UTC` (`for at least …, since spanflow first saw it
/// at …` when the status may be older than spanflow's watch); `None` before the timeline
/// set it.
pub fn since_text(stage: &StageReport, now_unix: f64) -> Option<String> {
    let since = stage.since_unix?;
    let held = duration_text(now_unix - since);
    let at = clock_text(since, now_unix);
    Some(if stage.since_first_seen {
        format!(
            "{} for at least {held}, since spanflow first saw it at {at}",
            stage.status.as_str()
        )
    } else {
        format!("{} for {held}, since {at}", stage.status.as_str())
    })
}

/// `42 s`, `12 min`, `3 h 12 min`, `2 d 5 h`.
fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `14:02 UTC` within the last day, `2026-12-03 14:02 UTC` before.
fn clock_text(unix: f64, now_unix: f64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(unix.max(0.0));
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    // `2026-12-04T14:02:09Z`
    let (date, time) = stamp.split_once('T').unwrap_or((&stamp, ""));
    let hhmm = time.get(..5).unwrap_or(time);
    if now_unix - unix < 86_400.0 {
        format!("{hhmm} UTC")
    } else {
        format!("{date} {hhmm} UTC")
    }
}

/// Said under the stages while no Tempo answered yet: which of its write stages exist
/// depends on its version, so they are not shown until then.
pub fn pending_stages_note(snapshot: &PipelineSnapshot) -> Option<&'static str> {
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
         code{{background:#eee;padding:0 .2em}} .pipeline{{border-top:3px solid #9e9e9e;margin-top:1.5em}}\
         .since{{display:block;margin-top:.3em}} svg.strip{{display:block;margin-top:.3em;background:#fff}}\
         </style></head><body><h1 id=\"verdict\">{verdict}</h1>"
    );
    let _ = write!(
        html,
        "<p class=\"sub\">Window {:.0} s · stages judged on the last polls, ratios over the window · refreshed every 10 s</p>",
        snapshot.window_seconds
    );
    if snapshot.pipelines.len() > 1 {
        html.push_str("<ul id=\"pipelines\">");
        for p in snapshot.worst_first() {
            let _ = write!(
                html,
                "<li><a href=\"#pipeline-{id}\">{name}</a>: {verdict}</li>",
                id = escape_html(&p.name),
                name = escape_html(&p.name),
                verdict = escape_html(&pipeline_verdict(p)),
            );
        }
        html.push_str("</ul>");
    }
    for p in snapshot.worst_first() {
        pipeline(&mut html, p, snapshot);
    }
    discovery(&mut html, snapshot);
    sources(&mut html, snapshot);
    events(&mut html, snapshot);
    let _ = write!(
        html,
        "<p><a href=\"{}\">Metrics</a> · <a href=\"/api/v1/status\">Status JSON</a></p></body></html>",
        escape_html(telemetry_path)
    );
    html
}

/// One pipeline's section: verdict, stages, causes, Tempo's evidence, instances, discards.
fn pipeline(html: &mut String, p: &PipelineSnapshot, snapshot: &Snapshot) {
    let name = escape_html(&p.name);
    let _ = write!(
        html,
        "<section class=\"pipeline\" id=\"pipeline-{name}\"><h2 id=\"{name}/verdict\">Pipeline <code>{name}</code>: {}</h2>",
        escape_html(&pipeline_verdict(p))
    );
    if p.idle {
        let _ = write!(
            html,
            "<p id=\"{name}/idle\">{}</p>",
            escape_html(IDLE_ADVICE)
        );
    }
    if p.partial {
        let _ = write!(
            html,
            "<p class=\"sub\" id=\"{name}/partial\">Partial: the metrics store's last answers carried warnings (see Sources); the numbers may miss some series.</p>"
        );
    }
    stages(html, p, snapshot);
    if let Some(note) = pending_stages_note(p) {
        let _ = write!(
            html,
            "<p class=\"sub\" id=\"{name}/pending-stages\">{}</p>",
            escape_html(note)
        );
    }
    causes(html, &name, &p.causes);
    tenants(html, &name, p);
    components(html, &name, p);
    tempo_evidence(html, p);
    targets(html, p);
    if !p.discarded_per_second.is_empty() {
        html.push_str("<h3>Tempo discards</h3><table><tr><th>reason</th><th>spans/s over the window</th></tr>");
        for (reason, rate) in &p.discarded_per_second {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{rate:.2}</td></tr>",
                escape_html(reason)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</section>");
}

/// The strip spans the last hour.
const STRIP_SECONDS: f64 = 3600.0;
const STRIP_WIDTH: f64 = 240.0;

/// A stage's statuses over the last hour as an inline SVG strip: one rectangle per run,
/// coloured as the stage boxes are, white hatched grey where nothing is recorded.
fn strip(html: &mut String, p: &PipelineSnapshot, s: &StageReport, snapshot: &Snapshot) {
    let to = snapshot.generated_unix;
    let from = to - STRIP_SECONDS;
    let runs = timeline::runs(&snapshot.events, &p.name, s.stage, s.status, from, to);
    let _ = write!(
        html,
        "<svg class=\"strip\" width=\"{STRIP_WIDTH}\" height=\"12\" viewBox=\"0 0 {STRIP_WIDTH} 12\" role=\"img\"><title>{} over the last hour</title>",
        s.stage.as_str()
    );
    for (start, end, status) in runs {
        let x = (start - from) / STRIP_SECONDS * STRIP_WIDTH;
        let w = ((end - start) / STRIP_SECONDS * STRIP_WIDTH).max(0.5);
        let (fill, label) = match status {
            Some(status) => (colour(status), status.as_str()),
            None => ("#e0e0e0", "not recorded"),
        };
        let _ = write!(
            html,
            "<rect x=\"{x:.1}\" y=\"0\" width=\"{w:.1}\" height=\"12\" fill=\"{fill}\"><title>{label}</title></rect>"
        );
    }
    html.push_str("</svg>");
}

/// Every discovering target: what it found, and its last error.
fn discovery(html: &mut String, snapshot: &Snapshot) {
    if snapshot.discovery.is_empty() {
        return;
    }
    html.push_str("<h2>Discovery</h2><table id=\"discovery\"><tr><th>pipeline</th><th>target</th><th>by</th><th>instances</th><th>last refresh</th><th>last error</th></tr>");
    for d in &snapshot.discovery {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&d.pipeline_name),
            escape_html(&d.target),
            d.mechanism,
            d.instances,
            d.last_refresh_unix.map_or("never".to_owned(), |at| {
                format!("{:.0} s ago", snapshot.generated_unix - at)
            }),
            escape_html(d.last_error.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>");
}

/// Every store-sourced pipeline: its query API at the last poll.
fn sources(html: &mut String, snapshot: &Snapshot) {
    if snapshot.sources.is_empty() {
        return;
    }
    html.push_str("<h2>Sources</h2><table id=\"sources\"><tr><th>pipeline</th><th>source</th><th>up</th><th>queries</th><th>samples</th><th>query time</th><th>split values</th><th>warnings or last error</th></tr>");
    for s in &snapshot.sources {
        let up = match s.up {
            None => "not yet",
            Some(true) if s.partial => "partial",
            Some(true) => "yes",
            Some(false) => "no",
        };
        let note = match (&s.last_error, s.warnings.is_empty()) {
            (Some(e), _) => e.clone(),
            (None, false) => s.warnings.join("; "),
            (None, true) => String::new(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{} {}</td><td>{up}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&s.pipeline_name),
            s.source,
            escape_html(&s.url),
            s.queries_per_poll,
            s.samples,
            s.last_query_seconds
                .map_or(String::new(), |t| format!("{:.0} ms", t * 1000.0)),
            s.split_values,
            escape_html(&note),
        );
    }
    html.push_str("</table>");
}

/// Shown in the recent changes table.
const EVENTS_SHOWN: usize = 20;

/// The last status changes, newest first.
fn events(html: &mut String, snapshot: &Snapshot) {
    if snapshot.events.is_empty() {
        return;
    }
    html.push_str("<h2>Recent status changes</h2><table id=\"events\"><tr><th>when</th><th>pipeline</th><th>stage</th><th>change</th><th>causes then</th></tr>");
    for e in snapshot.events.iter().rev().take(EVENTS_SHOWN) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            clock_text(e.unix, snapshot.generated_unix),
            escape_html(&e.pipeline),
            e.stage.as_str(),
            e.from.as_str(),
            e.to.as_str(),
            e.causes.join(", "),
        );
    }
    html.push_str("</table>");
}

fn stages(html: &mut String, p: &PipelineSnapshot, snapshot: &Snapshot) {
    let pipeline = escape_html(&p.name);
    let _ = write!(html, "<div class=\"stages\" id=\"{pipeline}/stages\">");
    for (i, s) in p.stages.iter().enumerate() {
        if i > 0 {
            html.push_str("<span class=\"arrow\" aria-hidden=\"true\">→</span>");
        }
        let blocked = p.blocked_stage == Some(s.stage);
        let ratio = s.success_ratio.map_or_else(
            || "no events in the window".to_owned(),
            |r| format!("{:.1} % success", r * 100.0),
        );
        let _ = write!(
            html,
            "<div class=\"stage{cls}\" id=\"{pipeline}/stage-{name}\" style=\"background:{bg}\">\
             <div class=\"name\">{name}{mark}</div><div class=\"status\">{status}</div>\
             <div>{ratio}</div><div>{rates}</div><small>{reason}</small>\
             <small class=\"since\">{since}</small>",
            cls = if blocked { " blocked" } else { "" },
            name = s.stage.as_str(),
            bg = colour(s.status),
            mark = if blocked { " — BLOCKED" } else { "" },
            status = s.status.as_str().to_uppercase(),
            ratio = escape_html(&ratio),
            rates = escape_html(&s.rates_text()),
            reason = escape_html(&s.reason),
            since = escape_html(&since_text(s, snapshot.generated_unix).unwrap_or_default()),
        );
        strip(html, p, s, snapshot);
        html.push_str("</div>");
    }
    html.push_str("</div>");
}

/// A pipeline's `<h3>` table up to its header row; the caller writes the rows and closes it.
fn open_table(html: &mut String, title: &str, id: &str, headers: &[&str]) {
    let _ = write!(html, "<h3>{title}</h3><table id=\"{id}\"><tr>");
    for h in headers {
        let _ = write!(html, "<th>{h}</th>");
    }
    html.push_str("</tr>");
}

/// Tempo's tenants, failing ones first: which tenant a degraded distributor fails for.
fn tenants(html: &mut String, pipeline: &str, p: &PipelineSnapshot) {
    if p.tenants.is_empty() {
        return;
    }
    open_table(
        html,
        "Tenants",
        &format!("{pipeline}/tenants"),
        &[
            "stage",
            "tenant",
            "status",
            "success over the window",
            "ok/s",
            "failed/s",
            "now",
        ],
    );
    let mut shown: Vec<&crate::derive::TenantReport> = p.tenants.iter().collect();
    let worst_first = [
        StageStatus::Failing,
        StageStatus::Degraded,
        StageStatus::Idle,
        StageStatus::Ok,
    ];
    shown.sort_by_key(|t| {
        let rank = worst_first.iter().position(|s| *s == t.status);
        (rank, t.tenant.as_str())
    });
    for t in shown {
        let ratio = t
            .success_ratio
            .map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0));
        let _ = write!(
            html,
            "<tr id=\"{pipeline}/tenant-{tenant}\"><td>{stage}</td><td>{tenant}</td><td style=\"background:{bg}\">{status}</td><td>{ratio}</td><td>{ok:.2}</td><td>{bad:.2}</td><td>{reason}</td></tr>",
            tenant = escape_html(&t.tenant),
            stage = t.stage.as_str(),
            bg = colour(t.status),
            status = t.status.as_str(),
            ok = t.success_per_second,
            bad = t.failure_per_second,
            reason = escape_html(&t.reason),
        );
    }
    html.push_str("</table>");
}

/// The receivers and exporters of Collector stages that have several: which one fails.
fn components(html: &mut String, pipeline: &str, p: &PipelineSnapshot) {
    if p.components.is_empty() {
        return;
    }
    open_table(
        html,
        "Collector components",
        &format!("{pipeline}/components"),
        &[
            "stage",
            "component",
            "status over the window",
            "succeeded",
            "failed",
        ],
    );
    for c in &p.components {
        let _ = write!(
            html,
            "<tr id=\"{pipeline}/component-{component}\"><td>{stage}</td><td>{component}</td><td style=\"background:{bg}\">{status}</td><td>{ok}</td><td>{bad}</td></tr>",
            component = escape_html(&c.component),
            stage = c.stage.as_str(),
            bg = colour(c.status),
            status = c.status.as_str(),
            ok = c.success.round(),
            bad = c.failure.round(),
        );
    }
    html.push_str("</table>");
}

fn causes(html: &mut String, pipeline: &str, causes: &[Diagnosis]) {
    let _ = write!(html, "<div id=\"{pipeline}/causes\"><h3>Causes</h3>");
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
            "<div class=\"cause\" id=\"{pipeline}/cause-{id}\" style=\"border-color:{c}\">\
             <h4><span class=\"badge\" style=\"background:{c}\">{sev}</span>{latent} <code>{id}</code> at <code>{stage}</code></h4>\
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
    html.push_str("</div>");
}

fn read_text<T>(read: &Read<T>, show: impl Fn(&T) -> String) -> String {
    match read {
        Read::Ok(v) => show(v),
        Read::Unavailable(why) => format!("unavailable: {why}"),
    }
}

fn tempo_evidence(html: &mut String, snapshot: &PipelineSnapshot) {
    let with: Vec<(String, &TempoEvidence)> = snapshot
        .targets
        .iter()
        .filter_map(|t| {
            let who = if t.discovered {
                format!("{} {}", t.name, t.address)
            } else {
                t.name.clone()
            };
            t.tempo.as_deref().map(|e| (who, e))
        })
        .collect();
    if with.is_empty() {
        return;
    }
    html.push_str("<h3>Tempo status endpoints and probes</h2><table><tr><th>target</th><th>what</th><th>reading</th></tr>");
    for (name, e) in &with {
        let name = name.as_str();
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

fn targets(html: &mut String, snapshot: &PipelineSnapshot) {
    let _ = write!(
        html,
        "<h3>Targets</h3><table id=\"{}/targets\"><tr><th>target</th><th>address</th><th>role</th><th>url</th><th>up</th><th>version</th><th>last poll</th><th>last error</th></tr>",
        escape_html(&snapshot.name)
    );
    for t in &snapshot.targets {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&t.name),
            escape_html(&t.address),
            if t.discovered {
                " <small>(discovered)</small>"
            } else {
                ""
            },
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
