//! spanflow: tells whether a tracing pipeline (app → OpenTelemetry Collector → Grafana
//! Tempo) stores the spans it is sent, per stage, as Prometheus metrics.
//!
//! Data flows one way, and the folders show it:
//! [`config`] → [`source`] (fetch and read what targets say) → [`model`] (the stage
//! vocabulary and the counter catalogue every step uses) → [`derive`](mod@derive) (history, windows,
//! stage status, the blocked stage) → [`diagnose`] (causes, evidence, fixes) →
//! [`snapshot`] (the two together, as served) → [`serve`] (`/metrics`, the status page,
//! the JSON API, the `diagnose` report). [`engine`] runs the pollers and each derive →
//! diagnose step; [`cli`] wires it to the command line; [`demo`] simulates a pipeline.
//! The architecture and the metric contract: `docs/architecture.md`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod demo;
pub mod derive;
pub mod diagnose;
pub mod engine;
pub mod fuzzing;
pub mod model;
pub mod serve;
pub mod snapshot;
pub mod source;
