//! The terminal report of `spanflow diagnose`: one snapshot — every pipeline, or the one
//! `--pipeline` names — as text for a person, or as JSON (the same document as
//! `/api/v1/status`) for a script.
//!
//! The text lists, per pipeline worst first, the verdict, every stage with its status,
//! numbers and since when, the blocked stage, each cause with its evidence and fix, and
//! per-instance health; then discovery. Colour (ANSI) is used only when asked — on a
//! terminal, and not when `NO_COLOR` is set; the words carry the meaning either way.

use std::fmt::Write as _;

use crate::diagnose::{Certainty, Severity};
use crate::model::stage::StageStatus;
use crate::serve::status_page;
use crate::snapshot::{PipelineSnapshot, Snapshot};

/// Whether a pipeline needs attention: a stage is not ok/idle, or a cause more severe
/// than `info` is detected (silent limit drops leave every stage ok). `diagnose` exits 1
/// then.
pub fn needs_attention(pipeline: &PipelineSnapshot) -> bool {
    !pipeline.healthy || pipeline.causes.iter().any(|d| d.severity != Severity::Info)
}

/// The pipelines a report covers, worst first: every one, or the one named — a
/// store-sourced pipeline's name covers all its split pipelines (`fleet` covers
/// `fleet/eu-1`).
pub fn selected<'a>(snapshot: &'a Snapshot, only: Option<&str>) -> Vec<&'a PipelineSnapshot> {
    snapshot
        .worst_first()
        .into_iter()
        .filter(|p| only.is_none_or(|name| is_named(p, name)))
        .collect()
}

fn is_named(p: &PipelineSnapshot, name: &str) -> bool {
    p.name == name || p.source.as_deref() == Some(name)
}

/// The exit code of `spanflow diagnose`: 0 only when something passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: spans passed every stage that saw traffic, and no cause above `info`.
    Passing = 0,
    /// 1: a stage is failing, degraded or unknown, or a cause above `info` is detected
    /// (latent ones included: a broken configuration with no traffic yet).
    NotHealthy = 1,
    /// 3: nothing wrong seen, but no traffic in the window either: nothing proved that
    /// the pipeline works. (2 is "cannot run": a bad configuration or flag.)
    Idle = 3,
}

impl Outcome {
    /// The worst over `pipelines`: not healthy if any needs attention, idle if all are.
    pub fn of(pipelines: &[&PipelineSnapshot]) -> Outcome {
        if pipelines.iter().any(|p| needs_attention(p)) {
            Outcome::NotHealthy
        } else if !pipelines.is_empty() && pipelines.iter().all(|p| p.idle) {
            Outcome::Idle
        } else {
            Outcome::Passing
        }
    }
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn status(&self, status: StageStatus, text: &str) -> String {
        let code = match status {
            StageStatus::Ok => "32",
            StageStatus::Idle => "2",
            StageStatus::Degraded => "33",
            StageStatus::Failing => "1;31",
            StageStatus::Unknown => "35",
        };
        self.wrap(code, text)
    }

    fn severity(&self, severity: Severity, text: &str) -> String {
        let code = match severity {
            Severity::Critical => "1;31",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        self.wrap(code, text)
    }
}

/// The human report of `pipelines` (see [`selected`]).
pub fn text(snapshot: &Snapshot, pipelines: &[&PipelineSnapshot], colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::with_capacity(4096);
    for (i, p) in pipelines.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(out, "{}", "=".repeat(72));
        }
        let verdict = format!("{}: {}", p.name, status_page::pipeline_verdict(p));
        let verdict = if needs_attention(p) {
            paint.wrap("1;31", &verdict)
        } else {
            paint.wrap("1;32", &verdict)
        };
        let _ = writeln!(out, "Pipeline {verdict}");
        if p.idle {
            let _ = writeln!(out, "{}", status_page::IDLE_ADVICE);
        }
        let _ = writeln!(out);
        stages_text(&mut out, p, snapshot.generated_unix, &paint);
        tenants_text(&mut out, p, &paint);
        causes_text(&mut out, p, &paint);
        targets_text(&mut out, p);
    }
    discovery_text(&mut out, snapshot, pipelines);
    sources_text(&mut out, snapshot, pipelines);
    out
}

/// The metrics stores of the pipelines shown: up, partial, the last error.
fn sources_text(out: &mut String, snapshot: &Snapshot, pipelines: &[&PipelineSnapshot]) {
    let shown: Vec<_> = snapshot
        .sources
        .iter()
        .filter(|s| {
            pipelines
                .iter()
                .any(|p| p.source.as_deref() == Some(&s.pipeline_name))
        })
        .collect();
    if shown.is_empty() {
        return;
    }
    let _ = writeln!(out, "Sources:");
    for s in shown {
        let state = match s.up {
            None => "not queried yet",
            Some(true) if s.partial => "up, partial",
            Some(true) => "up",
            Some(false) => "down",
        };
        let _ = writeln!(
            out,
            "  {} from {} {}: {state}, {} queries per poll, {} samples, {} split value(s){}",
            s.pipeline_name,
            s.source,
            s.url,
            s.queries_per_poll,
            s.samples,
            s.split_values,
            s.last_error
                .iter()
                .chain(&s.warnings)
                .map(|e| format!("  ({e})"))
                .collect::<String>(),
        );
    }
}

/// Every stage with its status, ratio, rates and reason, and since when for those not ok;
/// the blocked one marked.
fn stages_text(out: &mut String, snapshot: &PipelineSnapshot, now_unix: f64, paint: &Paint) {
    let _ = writeln!(
        out,
        "Stages (status on the last polls; ratio and rates over {:.0} s):",
        snapshot.window_seconds
    );
    for s in &snapshot.stages {
        let blocked = snapshot.blocked_stage == Some(s.stage);
        let ratio = s
            .success_ratio
            .map_or_else(|| "    -".to_owned(), |r| format!("{:5.1}%", r * 100.0));
        let status = format!("{:<8}", s.status.as_str());
        let _ = writeln!(
            out,
            "{mark} {name:<19} {status} {ratio}  {rates}{blocked}",
            mark = if blocked { ">" } else { " " },
            name = s.stage.as_str(),
            status = paint.status(s.status, &status),
            rates = s.rates_text(),
            blocked = if blocked { "  <- BLOCKED" } else { "" },
        );
        let _ = writeln!(out, "  {:<19} {}", "", s.reason);
        if s.status != StageStatus::Ok
            && let Some(since) = status_page::since_text(s, now_unix)
        {
            let _ = writeln!(out, "  {:<19} {since}", "");
        }
    }
    if let Some(note) = status_page::pending_stages_note(snapshot) {
        let _ = writeln!(out, "  (not shown yet: {note})");
    }
    let _ = writeln!(out);
}

/// The tenants that do not pass, and how many do (nothing when every tenant passes).
fn tenants_text(out: &mut String, snapshot: &PipelineSnapshot, paint: &Paint) {
    let failing: Vec<_> = snapshot
        .tenants
        .iter()
        .filter(|t| matches!(t.status, StageStatus::Failing | StageStatus::Degraded))
        .collect();
    if failing.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Tenants not passing ({} of {} tenants):",
        failing.len(),
        snapshot.tenants.len()
    );
    for t in failing {
        let status = format!("{:<8}", t.status.as_str());
        let _ = writeln!(
            out,
            "  {:<19} {} {:<16} {}",
            t.stage.as_str(),
            paint.status(t.status, &status),
            t.tenant,
            t.reason
        );
    }
    let _ = writeln!(out);
}

/// Every cause with its evidence, alternatives and fix.
fn causes_text(out: &mut String, snapshot: &PipelineSnapshot, paint: &Paint) {
    if snapshot.causes.is_empty() {
        let _ = writeln!(out, "Causes: none detected.");
    } else {
        let _ = writeln!(out, "Causes:");
    }
    for d in &snapshot.causes {
        let certainty = match d.certainty {
            Certainty::Confirmed => "confirmed",
            Certainty::Likely => "likely",
            Certainty::Possible => "possible",
        };
        let _ = writeln!(
            out,
            "  {} {} at {} ({certainty}{})",
            paint.severity(d.severity, &format!("[{}]", d.severity.as_str())),
            d.cause.as_str(),
            d.stage.as_str(),
            if d.latent {
                "; latent: no traffic yet, and the first span will not pass"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "    {}", d.summary);
        for e in &d.evidence {
            let _ = writeln!(out, "    - {e}");
        }
        if !d.alternatives.is_empty() {
            let alternatives: Vec<&str> = d.alternatives.iter().map(|c| c.as_str()).collect();
            let _ = writeln!(out, "    alternatives: {}", alternatives.join(", "));
        }
        if let Some(how) = d.tell_apart {
            let _ = writeln!(out, "    to tell apart: {how}");
        }
        let _ = writeln!(out, "    fix: {}", d.fix);
    }
    let _ = writeln!(out);
}

/// Every instance: up or down, software, URL, last error.
fn targets_text(out: &mut String, snapshot: &PipelineSnapshot) {
    let _ = writeln!(out, "Targets:");
    for t in &snapshot.targets {
        let _ = writeln!(
            out,
            "  {:<12} {:<9} {:<4} {:<18} {}{}",
            if t.discovered {
                format!("{} {}", t.name, t.address)
            } else {
                t.name.clone()
            },
            t.role.as_str(),
            if t.up { "up" } else { "DOWN" },
            format!(
                "{} {}",
                t.version.as_deref().unwrap_or("-"),
                t.mode.unwrap_or("")
            )
            .trim_end(),
            t.url,
            t.last_error
                .as_deref()
                .map_or(String::new(), |e| format!("  ({e})")),
        );
    }
    let _ = writeln!(out);
}

/// Discovery of the pipelines shown: instances found and the last error.
fn discovery_text(out: &mut String, snapshot: &Snapshot, pipelines: &[&PipelineSnapshot]) {
    let shown: Vec<_> = snapshot
        .discovery
        .iter()
        .filter(|d| pipelines.iter().any(|p| p.name == d.pipeline_name))
        .collect();
    if shown.is_empty() {
        return;
    }
    let _ = writeln!(out, "Discovery:");
    for d in shown {
        let _ = writeln!(
            out,
            "  {}/{} by {}: {} instance(s){}",
            d.pipeline_name,
            d.target,
            d.mechanism,
            d.instances,
            d.last_error
                .as_deref()
                .map_or(String::new(), |e| format!("  ({e})")),
        );
    }
}

/// The machine report: the `/api/v1/status` document, with only the named pipeline (its
/// discovery and events) when one is named.
pub fn json(snapshot: &Snapshot, only: Option<&str>) -> String {
    let mut shown = snapshot.clone();
    if let Some(name) = only {
        shown.pipelines.retain(|p| is_named(p, name));
        shown.discovery.retain(|d| d.pipeline_name == name);
        shown.sources.retain(|s| {
            s.pipeline_name == name
                || shown
                    .pipelines
                    .iter()
                    .any(|p| p.source.as_deref() == Some(&s.pipeline_name))
        });
        shown.events = shown
            .events
            .iter()
            .filter(|e| {
                e.pipeline == name
                    || e.pipeline
                        .strip_prefix(name)
                        .is_some_and(|r| r.starts_with('/'))
            })
            .cloned()
            .collect();
    }
    serde_json::to_string_pretty(&shown).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
