//! The Collector's causes: its exporter failing (told apart by what Tempo saw), its queue
//! filling, its memory_limiter refusing.

use super::{Cause, Certainty, Diagnosis, Facts, Severity, count, diagnosis};
use crate::derive::TargetReport;
use crate::model::counter::Counter;
use crate::model::stage::{Role, Stage, StageStatus};
pub(super) fn collector(f: &Facts, found: &mut Vec<Diagnosis>) {
    exporter_failing(f, found);
    queue_full(f, found);
    memory_limited(f, found);
}

/// The exporter stage failing or degraded, told apart by what Tempo saw.
fn exporter_failing(f: &Facts, found: &mut Vec<Diagnosis>) {
    use StageStatus::{Degraded, Failing};
    if f.is(Stage::CollectorExporter, &[Failing, Degraded]) {
        let failing = f.is(Stage::CollectorExporter, &[Failing]);
        let mut d = diagnosis(
            Cause::CollectorExporterFailing,
            Stage::CollectorExporter,
            if failing {
                Severity::Critical
            } else {
                Severity::Warning
            },
            Certainty::Likely,
        );
        let (sent, failed) = sent_and_failed(f);
        d.evidence.push(format!(
            "{} spans sent, {} failed to send or enqueue {}",
            count(sent),
            count(failed),
            f.over()
        ));
        d.evidence
            .extend(failing_components(f, Stage::CollectorExporter));
        d.evidence.extend(pipeline_evidence(f));
        let tempo_up = f.targets(Role::Tempo).any(|t| t.up);
        let tempo_saw = f.refused(false) + f.accepted(false);
        if tempo_up && tempo_saw == 0.0 {
            d.evidence.push(
                "Tempo received nothing at all: the connection fails before gRPC (TLS/plaintext mismatch, wrong endpoint, or Tempo's OTLP receiver not listening on that address)"
                    .into(),
            );
            d.tell_apart = Some(
                "the Collector's log names it: 'http2: frame too large' or 'error reading server preface' is a plaintext exporter talking to a TLS receiver, 'first record does not look like a TLS handshake' a TLS exporter talking to a plaintext one, 'connection refused' nothing listening",
            );
        } else if tempo_up && f.refused(false) > 0.0 {
            // A symptom: the spans are lost because Tempo refuses them.
            d.severity = Severity::Warning;
            d.evidence.push(format!(
                "Tempo refuses spans ({} refused {}): the exporter fails because of Tempo — see Tempo's cause",
                count(f.refused(true)),
                f.over()
            ));
        } else if !tempo_up {
            d.certainty = Certainty::Possible;
            d.tell_apart = Some(
                "add the Tempo target (role: tempo) so spanflow can see whether Tempo receives and refuses, or receives nothing",
            );
        }
        // Last: a permanent failure is proven by its label, whatever Tempo shows.
        permanent_or_retried(f, &mut d);
        found.push(d);
    }
}

/// The exporter's spans sent and failed over the window: the classic span counters, or the
/// pipeline item counters on a Collector that has only those (as the stage counts them).
fn sent_and_failed(f: &Facts) -> (f64, f64) {
    let classic = (
        f.window(Counter::CollectorSent),
        f.window(Counter::CollectorSendFailed) + f.window(Counter::CollectorEnqueueFailed),
    );
    if classic.0 + classic.1 > 0.0 {
        classic
    } else {
        (
            f.window(Counter::CollectorItemsSent),
            f.window(Counter::CollectorItemsSendFailed),
        )
    }
}

/// Send failures marked `error_permanent="true"` (v0.146+, detailed level) are dropped at
/// once: most of them permanent makes the cause `collector_exporter_dropping`; fewer is said
/// in the evidence.
fn permanent_or_retried(f: &Facts, d: &mut Diagnosis) {
    let permanent = f.window(Counter::CollectorSendFailedPermanent);
    let failed = f.window(Counter::CollectorSendFailed);
    if permanent <= 0.0 || f.recent(Counter::CollectorSendFailedPermanent) <= 0.0 {
        return;
    }
    // Right after the counts it explains.
    d.evidence.insert(
        d.evidence.len().min(1),
        format!(
        "{} of {} failed spans were permanent failures (error_permanent=\"true\"): dropped at once, not retried",
        count(permanent),
        count(failed)
    ),
    );
    if permanent * 2.0 >= failed {
        d.cause = Cause::CollectorExporterDropping;
        d.summary = Cause::CollectorExporterDropping.summary();
        d.fix = Cause::CollectorExporterDropping.fix();
        d.certainty = Certainty::Confirmed;
    }
}

/// The components of a stage with several that fail, named, beside how many pass.
fn failing_components(f: &Facts, stage: Stage) -> Vec<String> {
    let of_stage: Vec<_> = f
        .snapshot
        .components
        .iter()
        .filter(|c| c.stage == stage)
        .collect();
    let passing = of_stage
        .iter()
        .filter(|c| matches!(c.status, StageStatus::Ok | StageStatus::Idle))
        .count();
    of_stage
        .iter()
        .filter(|c| matches!(c.status, StageStatus::Failing | StageStatus::Degraded))
        .map(|c| {
            format!(
                "component {} {}: {} of {} spans succeeded {} ({passing} other component(s) pass)",
                c.component,
                c.status.as_str(),
                count(c.success),
                count(c.success + c.failure),
                f.over()
            )
        })
        .collect()
}

/// What the Collector's newer telemetry adds: requests in flight, the receiver's refused
/// (downstream) and failed (internal) requests, spans the processors did not pass on.
fn pipeline_evidence(f: &Facts) -> Vec<String> {
    let mut lines = Vec::new();
    let in_flight: f64 = f
        .targets(Role::Collector)
        .filter_map(|t| t.in_flight_requests)
        .sum();
    if in_flight > 0.0 {
        lines.push(format!(
            "{} export requests in flight now",
            count(in_flight)
        ));
    }
    let refused = f.window(Counter::CollectorRequestsRefused);
    let failed = f.window(Counter::CollectorRequestsFailed);
    if refused + failed > 0.0 {
        lines.push(format!(
            "the receivers answered {} requests with an error {}: {} refused (a downstream error: exporter or queue), {} failed (the Collector's own)",
            count(refused + failed),
            f.over(),
            count(refused),
            count(failed)
        ));
    }
    // incoming/outgoing (v0.110+) and consumed/produced (pipeline telemetry) count the same
    // spans; whichever the Collector writes.
    let into = f
        .window(Counter::CollectorProcessorIncoming)
        .max(f.window(Counter::CollectorProcessorConsumed));
    let out = f
        .window(Counter::CollectorProcessorOutgoing)
        .max(f.window(Counter::CollectorProcessorProduced));
    if into > out {
        lines.push(format!(
            "the processors passed on {} of {} spans {} (a sampler or filter drops on purpose; a failing one does not)",
            count(out),
            count(into),
            f.over()
        ));
    }
    lines
}

/// An exporter queue nearly full, or spans dropped at enqueue.
fn queue_full(f: &Facts, found: &mut Vec<Diagnosis>) {
    let fullest = f
        .targets(Role::Collector)
        .filter_map(|t| t.queue_fill_ratio.map(|r| (t, r)))
        .fold(
            None,
            |best: Option<(&TargetReport, f64)>, (t, r)| match best {
                Some((_, b)) if b >= r => best,
                _ => Some((t, r)),
            },
        );
    let enqueue_failed = f.recent(Counter::CollectorEnqueueFailed);
    if fullest.is_some_and(|(_, r)| r >= QUEUE_NEARLY_FULL) || enqueue_failed > 0.0 {
        let mut d = diagnosis(
            Cause::CollectorQueueFull,
            Stage::CollectorExporter,
            Severity::Warning,
            Certainty::Confirmed,
        );
        if let Some((t, r)) = fullest {
            d.evidence.push(format!(
                "{}: exporter queue {:.0} % full",
                t.name,
                r * 100.0
            ));
        }
        if enqueue_failed > 0.0 {
            d.severity = Severity::Critical;
            d.evidence.push(format!(
                "{} spans dropped because the queue was full {}",
                count(f.window(Counter::CollectorEnqueueFailed)),
                f.over()
            ));
        }
        found.push(d);
    }
}

/// The memory_limiter refusing spans.
fn memory_limited(f: &Facts, found: &mut Vec<Diagnosis>) {
    if f.recent(Counter::CollectorMemoryLimited) > 0.0 {
        let mut d = diagnosis(
            Cause::CollectorMemoryLimited,
            Stage::CollectorReceiver,
            Severity::Warning,
            Certainty::Confirmed,
        );
        d.evidence.push(format!(
            "{} spans refused by memory_limiter {}",
            count(f.window(Counter::CollectorMemoryLimited)),
            f.over()
        ));
        found.push(d);
    }
}

/// Above this queue fill, the queue counts as nearly full.
pub const QUEUE_NEARLY_FULL: f64 = 0.9;
