//! spanflow: tells whether a tracing pipeline (app → OpenTelemetry Collector → Grafana
//! Tempo) stores the spans it is sent, per stage, as Prometheus metrics.
//!
//! Data flows one way through the modules: `config` → `scrape` (fetch) → `expfmt` (parse)
//! → `pipeline` (the stage model: which counters, which stages) → `derive` (history,
//! windows, status, snapshot) → `expose` / `web`. `engine` runs the pollers and the
//! deriver; `cli` wires it all to the command line; `demo` simulates a pipeline.
//! `../shared/DESIGN.md` is the contract.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod demo;
pub mod derive;
pub mod diagnose;
pub mod engine;
pub mod expfmt;
pub mod expose;
pub mod fuzzing;
pub mod page;
pub mod pipeline;
pub mod probe;
pub mod reload;
pub mod report;
pub mod scrape;
pub mod selector;
pub mod stage;
pub mod tempo;
pub mod trust;
pub mod web;
pub mod webconfig;
