//! spanflow: tells whether a tracing pipeline (app → OpenTelemetry Collector → Grafana
//! Tempo) stores the spans it is sent, per stage, as Prometheus metrics.
//!
//! Data flows one way through the modules: `config` → `scrape` → `expfmt` → `derive` →
//! `pipeline` → `expose`/`web`. See `../shared/DESIGN.md` for the contract.
#![forbid(unsafe_code)]

pub mod config;
pub mod expfmt;
pub mod pipeline;
pub mod scrape;
pub mod selector;
pub mod stage;
pub mod derive;
