//! Since when, and what changed: per pipeline and stage, when its status last changed, and
//! a bounded log of the changes.
//!
//! Input: each new snapshot's pipelines, in order. Output: every stage's `since_unix` (and
//! whether the status has held since spanflow first saw the stage, so "since" is a lower
//! bound), and the last [`MAX_EVENTS`] [`Event`]s — time, pipeline, stage, from → to, the
//! cause ids then. It keeps a fixed amount per stage and at most [`MAX_EVENTS`] events, so
//! memory does not grow with time; a configuration reload keeps it for the pipelines that
//! stay ([`Timeline::retain_pipelines`]). It never judges a stage.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;

use super::PipelineSnapshot;
use crate::model::stage::{Stage, StageStatus};

/// Status changes kept, over every pipeline.
pub const MAX_EVENTS: usize = 200;

/// One stage status change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub unix: f64,
    pub pipeline: String,
    pub stage: Stage,
    pub from: StageStatus,
    pub to: StageStatus,
    /// The causes blaming this stage when it changed.
    pub causes: Vec<&'static str>,
}

/// A stage's status and since when.
#[derive(Debug, Clone, Copy)]
struct Held {
    status: StageStatus,
    since_unix: f64,
    /// The status has held since spanflow first saw the stage: it began no later.
    since_first_seen: bool,
}

#[derive(Debug, Default)]
pub struct Timeline {
    held: HashMap<(String, Stage), Held>,
    events: VecDeque<Event>,
    /// `events` as the last snapshot shared them; made anew only when they change.
    shared: Option<Arc<[Event]>>,
}

impl Timeline {
    /// Records the status changes of `pipelines` at `unix` and sets every stage's since.
    pub fn observe(&mut self, pipelines: &mut [PipelineSnapshot], unix: f64) {
        // A pipeline that is gone (a split value the store stopped naming) is forgotten; its
        // events stay until newer ones push them out.
        let names: std::collections::HashSet<&str> =
            pipelines.iter().map(|p| p.name.as_str()).collect();
        self.held.retain(|(p, _), _| names.contains(p.as_str()));
        for pipeline in pipelines.iter_mut() {
            let PipelineSnapshot {
                name,
                derived,
                causes,
                ..
            } = pipeline;
            for stage in &mut derived.stages {
                let key = (name.clone(), stage.stage);
                let held = match self.held.get(&key).copied() {
                    None => Held {
                        status: stage.status,
                        since_unix: unix,
                        since_first_seen: true,
                    },
                    Some(held) if held.status == stage.status => held,
                    Some(held) => {
                        self.push(Event {
                            unix,
                            pipeline: name.clone(),
                            stage: stage.stage,
                            from: held.status,
                            to: stage.status,
                            causes: causes
                                .iter()
                                .filter(|d| d.stage.stage() == Some(stage.stage))
                                .map(|d| d.cause.as_str())
                                .collect(),
                        });
                        Held {
                            status: stage.status,
                            since_unix: unix,
                            // Out of the unknown spanflow starts in, the status is what
                            // spanflow first learns: it may be much older.
                            since_first_seen: held.since_first_seen
                                && held.status == StageStatus::Unknown,
                        }
                    }
                };
                stage.since_unix = Some(held.since_unix);
                stage.since_first_seen = held.since_first_seen;
                self.held.insert(key, held);
            }
        }
    }

    fn push(&mut self, event: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
        self.shared = None;
    }

    /// The events, oldest first, shared with the snapshot.
    pub fn events(&mut self) -> Arc<[Event]> {
        self.shared
            .get_or_insert_with(|| self.events.iter().cloned().collect())
            .clone()
    }

    /// Forgets the pipelines not in `names` (a reload removed them); the split pipelines
    /// of a name (`fleet/eu-1` of `fleet`) stay with it.
    pub fn retain_pipelines(&mut self, names: &[&str]) {
        let kept = |p: &str| {
            names
                .iter()
                .any(|n| p == *n || p.strip_prefix(n).is_some_and(|rest| rest.starts_with('/')))
        };
        self.held.retain(|(p, _), _| kept(p));
        let before = self.events.len();
        self.events.retain(|e| kept(&e.pipeline));
        if self.events.len() != before {
            self.shared = None;
        }
    }
}

/// The statuses of one stage over `[from, to]`, as runs `(start, end, status)`, from the
/// events of that stage and its status now; before the oldest event kept, the run is
/// `None` (not known). For the status page's timeline strip.
pub fn runs(
    events: &[Event],
    pipeline: &str,
    stage: Stage,
    now_status: StageStatus,
    from: f64,
    to: f64,
) -> Vec<(f64, f64, Option<StageStatus>)> {
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| e.pipeline == pipeline && e.stage == stage)
        .collect();
    let mut runs = Vec::new();
    let mut at = from;
    // Before the first change kept, the status is not known.
    let mut status = None;
    for e in &mine {
        if e.unix > at && at < to {
            let end = e.unix.min(to);
            runs.push((at, end, status));
            at = end;
        }
        status = Some(e.to);
    }
    if at < to {
        // With no change kept, the status now has held as long as anything is known.
        runs.push((
            at,
            to,
            if mine.is_empty() {
                Some(now_status)
            } else {
                status
            },
        ));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use StageStatus::{Failing, Ok, Unknown};

    fn pipeline(name: &str, status: StageStatus) -> PipelineSnapshot {
        PipelineSnapshot::of_statuses(name, &[(Stage::TempoIngester, status)])
    }

    fn event(unix: f64, from: StageStatus, to: StageStatus) -> Event {
        Event {
            unix,
            pipeline: "eu".into(),
            stage: Stage::TempoIngester,
            from,
            to,
            causes: vec![],
        }
    }

    fn since(p: &PipelineSnapshot) -> (Option<f64>, bool) {
        (p.stages[0].since_unix, p.stages[0].since_first_seen)
    }

    #[test]
    fn a_change_is_logged_once_and_since_moves_with_it() {
        let mut t = Timeline::default();
        let mut ps = [pipeline("eu", Unknown), pipeline("us", Unknown)];
        t.observe(&mut ps, 100.0);
        assert_eq!(since(&ps[0]), (Some(100.0), true));
        // Out of the unknown spanflow starts in, failing may be older than spanflow's watch.
        let mut ps = [pipeline("eu", Failing), pipeline("us", Unknown)];
        t.observe(&mut ps, 115.0);
        t.observe(&mut ps, 130.0);
        assert_eq!(since(&ps[0]), (Some(115.0), true));
        assert_eq!(since(&ps[1]), (Some(100.0), true));
        // A change seen happen is dated.
        let mut ps = [pipeline("eu", Ok), pipeline("us", Unknown)];
        t.observe(&mut ps, 145.0);
        assert_eq!(since(&ps[0]), (Some(145.0), false));
        assert_eq!(
            &*t.events(),
            [event(115.0, Unknown, Failing), event(145.0, Failing, Ok)]
        );
        t.retain_pipelines(&["us"]);
        assert!(t.events().is_empty());
    }

    #[test]
    fn the_log_is_bounded() {
        let mut t = Timeline::default();
        for i in 0..(MAX_EVENTS + 50) {
            let status = if i % 2 == 0 { Ok } else { Failing };
            t.observe(&mut [pipeline("eu", status)], i as f64);
        }
        let events = t.events();
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(events.last().unwrap().unix, (MAX_EVENTS + 49) as f64);
    }

    #[test]
    fn runs_cover_the_span_and_mark_what_is_not_known() {
        let events = [event(1100.0, Ok, Failing), event(1500.0, Failing, Ok)];
        assert_eq!(
            runs(&events, "eu", Stage::TempoIngester, Ok, 1000.0, 2000.0),
            [
                (1000.0, 1100.0, None),
                (1100.0, 1500.0, Some(Failing)),
                (1500.0, 2000.0, Some(Ok))
            ]
        );
        // No change in the log: the status now held all along, as far as is known.
        assert_eq!(
            runs(&[], "eu", Stage::TempoIngester, Failing, 1000.0, 2000.0),
            [(1000.0, 2000.0, Some(Failing))]
        );
    }
}
