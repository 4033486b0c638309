//! A pipeline's `canary:` block: a trace written at the pipeline's entry every `interval` and
//! read back from Tempo's query API.
//!
//! Input: the block as written, and the pipeline's targets (the reading Tempo is one of
//! them). Output: a checked [`Canary`] — where and how to write (OTLP over HTTP/protobuf or
//! gRPC, headers, TLS), the Tempo target to read from, how long a trace may take to become
//! queryable, when it counts as slow, and the service name it carries. It never writes or
//! reads a trace: that is `source::canary`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{Check, Target, TlsSettings};
use crate::model::stage::Role;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_SLOW_AFTER: Duration = Duration::from_secs(30);
pub const DEFAULT_SERVICE_NAME: &str = "spanflow-canary";

/// How a canary trace is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// `POST <endpoint>/v1/traces` with a protobuf body.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    #[serde(rename = "grpc")]
    Grpc,
}

/// A pipeline's canary, checked.
#[derive(Debug, Clone)]
pub struct Canary {
    pub interval: Duration,
    /// The entry written to, as a target: URL (the OTLP receiver's base), TLS, headers,
    /// timeout of one write.
    pub write: Target,
    pub protocol: Protocol,
    /// The Tempo read from: a copy of the pipeline's Tempo target named by `read.target`.
    pub read: Target,
    /// Not found by then: missing.
    pub timeout: Duration,
    /// Found later than this (p90 over the window): slow.
    pub slow_after: Duration,
    pub service_name: String,
}

impl Canary {
    /// Traces in flight at most: one per interval over the timeout, and one more.
    pub fn max_in_flight(&self) -> usize {
        (self.timeout.as_secs_f64() / self.interval.as_secs_f64()).ceil() as usize + 1
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCanary {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    write: RawWrite,
    read: RawRead,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    slow_after: Option<Duration>,
    service_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrite {
    endpoint: String,
    #[serde(default = "default_protocol")]
    protocol: Protocol,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    tls: TlsSettings,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
}

fn default_protocol() -> Protocol {
    Protocol::HttpProtobuf
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRead {
    target: String,
}

impl Check<'_> {
    /// `canary`: an interval of at least a second, a timeout of at least one interval, an
    /// http(s) endpoint, and a `read.target` that is a Tempo target of the pipeline.
    pub(super) fn canary(
        &self,
        line: u64,
        field: &str,
        raw: RawCanary,
        targets: &[Target],
    ) -> Result<Canary, super::ConfigError> {
        let at = |f: &str| format!("{field}.{f}");
        let interval = raw.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_secs(1) {
            return Err(self.invalid(line, at("interval"), "must be at least 1s"));
        }
        let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout < interval {
            return Err(self.invalid(
                line,
                at("timeout"),
                format!(
                    "must be at least the interval ({})",
                    humantime::format_duration(interval)
                ),
            ));
        }
        let slow_after = raw.slow_after.unwrap_or(DEFAULT_SLOW_AFTER);
        if slow_after.is_zero() || slow_after > timeout {
            return Err(self.invalid(
                line,
                at("slow_after"),
                "must be above zero and at most the timeout",
            ));
        }
        let service_name = raw
            .service_name
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        if service_name.is_empty() || service_name.chars().any(char::is_control) {
            return Err(self.invalid(
                line,
                at("service_name"),
                "must be a non-empty printable string",
            ));
        }
        let w = raw.write;
        let shown = super::without_userinfo(&w.endpoint);
        let url = reqwest::Url::parse(&w.endpoint).map_err(|e| {
            self.invalid(
                line,
                at("write.endpoint"),
                format!("{shown:?} is not a URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.invalid(
                line,
                at("write.endpoint"),
                format!("{shown:?} must be an absolute http:// or https:// URL"),
            ));
        }
        if w.tls.cert_file.is_some() != w.tls.key_file.is_some() {
            return Err(self.invalid(line, at("write.tls"), "cert_file and key_file go together"));
        }
        if w.protocol == Protocol::Grpc && url.scheme() == "https" {
            // gRPC over TLS is verified by spanflow's own rustls settings, which have no
            // system roots and no client certificate yet.
            if w.tls.ca_file.is_none() && !w.tls.insecure_skip_verify {
                return Err(self.invalid(
                    line,
                    at("write.tls"),
                    "grpc over https needs tls.ca_file (or insecure_skip_verify: true)",
                ));
            }
            if w.tls.cert_file.is_some() {
                return Err(self.invalid(
                    line,
                    at("write.tls.cert_file"),
                    "client certificates are supported with http/protobuf only",
                ));
            }
        }
        let write_timeout = w.timeout.unwrap_or(super::DEFAULT_TIMEOUT.min(interval));
        if write_timeout.is_zero() || write_timeout > interval {
            return Err(self.invalid(
                line,
                at("write.timeout"),
                "must be above zero and at most the interval",
            ));
        }
        self.headers(line, &|f: &str| at(&format!("write.{f}")), &w.headers)?;
        let mut write = Target::new("canary", Role::Collector, url);
        write.timeout = write_timeout;
        write.tls = w.tls;
        write.headers = w.headers;
        let read = targets
            .iter()
            .find(|t| t.name == raw.read.target && t.role == Role::Tempo)
            .cloned()
            .ok_or_else(|| {
                let tempos: Vec<&str> = targets
                    .iter()
                    .filter(|t| t.role == Role::Tempo)
                    .map(|t| t.name.as_str())
                    .collect();
                self.invalid(
                    line,
                    at("read.target"),
                    format!(
                        "{:?} is not a tempo target of this pipeline (tempo targets: {})",
                        raw.read.target,
                        if tempos.is_empty() {
                            "none".to_owned()
                        } else {
                            tempos.join(", ")
                        }
                    ),
                )
            })?;
        Ok(Canary {
            interval,
            write,
            protocol: w.protocol,
            read,
            timeout,
            slow_after,
            service_name,
        })
    }
}
