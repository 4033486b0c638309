//! Targets spanflow cannot read: unreachable, refusing its credentials, or serving no page
//! it can read. Blamed on the role's first stage, as a warning: nothing is known there.

use super::{Cause, Certainty, Diagnosis, Facts, Severity, diagnosis};
/// Targets spanflow cannot read.
pub(super) fn targets(f: &Facts, found: &mut Vec<Diagnosis>) {
    for t in &f.snapshot.targets {
        let Some(reason) = t.error_reason else {
            continue;
        };
        let Some(stage) = f.first_stage(t.role) else {
            continue;
        };
        let cause = match (reason, t.http_status) {
            ("http_status", Some(401 | 403)) => Cause::TargetAuthFailed,
            ("parse" | "too_large", _) => Cause::TargetPageUnreadable,
            _ => Cause::TargetUnreachable,
        };
        let mut d = diagnosis(cause, stage, Severity::Warning, Certainty::Confirmed);
        d.evidence.push(format!(
            "{} target {} ({}): {}",
            t.role.as_str(),
            t.name,
            t.url,
            t.last_error.as_deref().unwrap_or(reason)
        ));
        let errors: u64 = t.scrape_errors_total.values().sum();
        d.evidence
            .push(format!("{errors} failed polls since spanflow started"));
        found.push(d);
    }
}
