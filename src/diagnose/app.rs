//! The app's causes: it exports nothing, or every export fails while the Collector receives
//! nothing (`app_not_exporting`); its SDK reports exports failing (`app_export_failing`);
//! its SDK's span processor drops spans, the queue full (`app_queue_full`).

use super::{Cause, Certainty, Diagnosis, Facts, Severity, count, diagnosis};
use crate::model::counter::Counter;
use crate::model::stage::{Role, Stage, StageStatus};
pub(super) fn app(f: &Facts, found: &mut Vec<Diagnosis>) {
    let Some(report) = f.stage(Stage::App) else {
        return;
    };
    let collector_receives =
        f.recent(Counter::CollectorAccepted) + f.recent(Counter::CollectorRefused);
    let collector_configured = f.targets(Role::Collector).next().is_some();
    match report.status {
        StageStatus::Idle => {
            let mut d = diagnosis(
                Cause::AppNotExporting,
                Stage::App,
                Severity::Info,
                Certainty::Possible,
            );
            d.evidence
                .push(format!("the app exported no spans {}", f.over()));
            d.tell_apart = Some(
                "an app without traffic exports nothing too: check that it is serving requests and that its sampler keeps some",
            );
            found.push(d);
        }
        StageStatus::Failing if collector_configured && collector_receives == 0.0 => {
            let mut d = diagnosis(
                Cause::AppNotExporting,
                Stage::App,
                Severity::Critical,
                Certainty::Likely,
            );
            d.evidence.push(format!(
                "every export failed: {} exported, {} failed {}",
                count(f.window(Counter::AppSuccess)),
                count(f.window(Counter::AppFailure)),
                f.over()
            ));
            d.evidence
                .push("the Collector's receiver got nothing: the app does not reach it".into());
            found.push(d);
        }
        StageStatus::Failing | StageStatus::Degraded => {
            let mut d = diagnosis(
                Cause::AppExportFailing,
                Stage::App,
                if report.status == StageStatus::Failing {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                Certainty::Confirmed,
            );
            d.evidence.push(format!(
                "the app reports {} spans exported and {} failed {}",
                count(f.window(Counter::AppSuccess)),
                count(f.window(Counter::AppFailure)),
                f.over()
            ));
            found.push(d);
        }
        _ => {}
    }
    queue_full(f, found);
}

/// The SDK's span processor dropping spans, its queue full.
fn queue_full(f: &Facts, found: &mut Vec<Diagnosis>) {
    let dropped = f.window(Counter::AppQueueDropped);
    if f.recent(Counter::AppQueueDropped) > 0.0 {
        let mut d = diagnosis(
            Cause::AppQueueFull,
            Stage::App,
            Severity::Warning,
            Certainty::Confirmed,
        );
        d.evidence.push(format!(
            "the SDK's span processor dropped {} spans, its queue full, {}; they were never exported",
            count(dropped),
            f.over()
        ));
        // otel_sdk_processor_span_queue_size / _capacity, when the SDK writes them.
        for t in f.targets(Role::App) {
            if let Some(fill) = t.queue_fill_ratio {
                d.evidence.push(format!(
                    "{}: span processor queue {:.0} % full now",
                    t.name,
                    fill * 100.0
                ));
            }
        }
        found.push(d);
    }
}
