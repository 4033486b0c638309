//! The app's cause: it exports nothing, or every export fails while the Collector receives
//! nothing.

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
        StageStatus::Failing if !collector_configured || collector_receives == 0.0 => {
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
            if collector_configured {
                d.evidence
                    .push("the Collector's receiver got nothing: the app does not reach it".into());
            }
            found.push(d);
        }
        _ => {}
    }
}
