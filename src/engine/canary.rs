//! Runs one pipeline's canary: every `interval` a trace is written at the entry and followed
//! in Tempo's query API until it is found or its `timeout` passes.
//!
//! Input: the pipeline's [`Canary`] settings, its writer and reader. Output: a
//! [`CanaryEvent`] to the runner per refused write, per trace whose outcome became known
//! (found — with the latency from the accepted write — incomplete or missing) and per
//! failed read. Reads come 250 ms, 500 ms, 1 s, 2 s … apart, capped at 16 s (and at what is
//! left of the timeout); at most [`Canary::max_in_flight`] traces are followed at once, and a write is
//! skipped while that many are. It never judges.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::Input;
use crate::config::canary::Canary;
use crate::derive::canary::{CanaryEvent, CanaryResult};
use crate::source::canary::{CanaryReader, CanaryTrace, CanaryWriter, ReadOutcome};

/// The wait before the first read of a trace.
const FIRST_READ: Duration = Duration::from_millis(250);

/// The longest wait between two reads of one trace.
const MAX_BACKOFF: Duration = Duration::from_secs(16);

/// Writes and follows canary traces until stopped.
pub(super) async fn run_canary(
    pipeline: usize,
    canary: Arc<Canary>,
    writer: CanaryWriter,
    reader: CanaryReader,
    outcomes: mpsc::Sender<Input>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(canary.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut following = JoinSet::new();
    let send = |event: CanaryEvent| {
        let outcomes = outcomes.clone();
        async move {
            outcomes
                .send(Input::Canary { pipeline, event })
                .await
                .is_ok()
        }
    };
    loop {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => break,
            _ = ticker.tick() => {}
            Some(_) = following.join_next(), if !following.is_empty() => continue,
        }
        if following.len() >= canary.max_in_flight() {
            continue;
        }
        let trace = CanaryTrace::random();
        let written = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => break,
            written = writer.write(&trace) => written,
        };
        match written {
            Err(e) => {
                tracing::warn!(pipeline, error = %e, "canary write refused");
                let event = CanaryEvent::Outcome {
                    result: CanaryResult::WriteFailed,
                    latency: None,
                    error: Some((e.reason(), e.to_string())),
                };
                if !send(event).await {
                    break;
                }
            }
            Ok(()) => {
                let reader = reader.clone();
                let outcomes = outcomes.clone();
                let timeout = canary.timeout;
                following.spawn(async move {
                    follow(pipeline, trace, reader, timeout, outcomes).await;
                });
            }
        }
    }
    following.abort_all();
}

/// Reads one trace back until found or `timeout`, then reports its outcome.
async fn follow(
    pipeline: usize,
    trace: CanaryTrace,
    reader: CanaryReader,
    timeout: Duration,
    outcomes: mpsc::Sender<Input>,
) {
    let accepted = Instant::now();
    let deadline = accepted + timeout;
    // The first read soon, so the latency histogram resolves a fast pipeline (its first
    // bucket is 0.25 s); then doubling.
    let mut backoff = FIRST_READ;
    let mut incomplete = false;
    loop {
        let wait = backoff.min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(wait).await;
        // The last read may end after the deadline: it is bounded by the read target's own
        // timeout, and a trace found then was queryable within the timeout.
        let outcome = match reader.read(&trace).await {
            ReadOutcome::Found => {
                let event = CanaryEvent::Outcome {
                    result: CanaryResult::Found,
                    latency: Some(accepted.elapsed()),
                    error: None,
                };
                let _ = outcomes.send(Input::Canary { pipeline, event }).await;
                return;
            }
            ReadOutcome::NotYet => None,
            ReadOutcome::Incomplete { .. } => {
                incomplete = true;
                None
            }
            ReadOutcome::Error { reason, message } => {
                Some(CanaryEvent::QueryError { reason, message })
            }
        };
        if let Some(event) = outcome
            && outcomes
                .send(Input::Canary { pipeline, event })
                .await
                .is_err()
        {
            return;
        }
        if Instant::now() >= deadline {
            let result = if incomplete {
                CanaryResult::Incomplete
            } else {
                CanaryResult::Missing
            };
            let event = CanaryEvent::Outcome {
                result,
                latency: None,
                error: None,
            };
            let _ = outcomes.send(Input::Canary { pipeline, event }).await;
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
