//! How readings come in: each module fetches or reads one kind of evidence from a target
//! and hands it on as plain data, never judging it.
//!
//! - [`scrape`]: HTTP(S) fetches of a target's pages, within its timeout and body cap,
//!   classified errors; [`trust`] says which server certificates a `ca_file` trusts.
//! - [`expfmt`]: the Prometheus text and OpenMetrics parser.
//! - [`page`]: a metrics page read into a [`page::Reading`] by the catalogue
//!   (`model::catalogue`).
//! - [`tempo`]: Tempo's status endpoints (`/ready`, `/status/*`, the rings).
//! - [`probe`]: the gRPC health probe of Tempo's write ring.
//! - [`discovery`]: the instances a target stands for, from DNS or a file_sd file.
//! - [`prometheus`]: instant queries of a Prometheus-compatible query API; [`query_plan`]:
//!   the PromQL that reads a role's counters there, from the catalogue; [`store`]: one
//!   poll of a store-sourced pipeline, every query at one time, sorted by split value.
//!
//! - [`canary`]: a canary trace written over OTLP and read back from Tempo's query API.
//!
//! Nothing here keeps history, knows a stage's status or names a cause.

pub mod canary;
pub mod discovery;
pub mod expfmt;
pub mod page;
pub mod probe;
pub mod prometheus;
pub mod query_plan;
pub mod scrape;
pub mod store;
pub mod tempo;
pub mod trust;
