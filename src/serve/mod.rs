//! What spanflow shows: `/metrics` ([`metrics`]), the web endpoints ([`web`]), the status
//! page ([`status_page`]), the `spanflow diagnose` report ([`report`]), TLS and basic auth
//! for them ([`webconfig`]), and configuration reload ([`reload`]).
//!
//! Input: the latest [`Snapshot`](crate::snapshot::Snapshot). Output: bytes for people and
//! for Prometheus. Nothing here polls a target, derives a status or names a cause: it
//! renders what the snapshot says.

pub mod metrics;
pub mod reload;
pub mod report;
pub mod status_page;
pub mod web;
pub mod webconfig;
