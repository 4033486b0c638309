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
        // Unless given, a trace is slow after 30 s or the timeout, whichever comes first.
        let slow_after = raw.slow_after.unwrap_or(DEFAULT_SLOW_AFTER.min(timeout));
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
        let (write, protocol) = self.canary_write(line, field, raw.write, interval)?;
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
            protocol,
            read,
            timeout,
            slow_after,
            service_name,
        })
    }

    /// `canary.write`: an http(s) endpoint, TLS files in pairs (gRPC over https verified by
    /// a CA file or not at all), a timeout within the interval, valid headers.
    fn canary_write(
        &self,
        line: u64,
        field: &str,
        w: RawWrite,
        interval: Duration,
    ) -> Result<(Target, Protocol), super::ConfigError> {
        let at = |f: &str| format!("{field}.{f}");
        let url = self.http_url(line, &at("write.endpoint"), &w.endpoint)?;
        self.tls_pairs(line, &at("write.tls"), &w.tls)?;
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
        Ok((write, w.protocol))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error_of(canary: &str) -> String {
        let yaml = format!(
            "targets: [{{name: tempo, role: tempo, url: 'http://t:3200'}}, {{name: otel, role: collector, url: 'http://c:8888/metrics'}}]\ncanary: {canary}\n"
        );
        Config::from_yaml(&yaml, "c.yml").unwrap_err().to_string()
    }

    #[test]
    fn the_canary_loads_with_its_defaults() {
        let c = Config::from_yaml(
            "targets: [{name: tempo, role: tempo, url: 'http://t:3200', headers: {X-Scope-OrgID: ops}}]\ncanary: {write: {endpoint: 'http://otel:4318'}, read: {target: tempo}}\n",
            "c.yml",
        )
        .unwrap();
        let canary = c.pipelines[0].canary.as_ref().unwrap();
        assert_eq!(canary.interval, super::DEFAULT_INTERVAL);
        assert_eq!(canary.timeout, super::DEFAULT_TIMEOUT);
        assert_eq!(canary.protocol, super::Protocol::HttpProtobuf);
        assert_eq!(canary.read.headers["X-Scope-OrgID"], "ops");
        assert_eq!(canary.service_name, "spanflow-canary");
        assert_eq!(canary.max_in_flight(), 9);
    }

    #[test]
    fn every_mistake_names_its_field() {
        let w = "write: {endpoint: 'http://otel:4318'}";
        for (canary, want) in [
            (
                format!("{{{w}, read: {{target: otel}}}}"),
                "canary.read.target: \"otel\" is not a tempo target of this pipeline (tempo targets: tempo)",
            ),
            (
                format!("{{{w}, read: {{target: tempo}}, interval: 100ms}}"),
                "canary.interval: must be at least 1s",
            ),
            (
                format!("{{{w}, read: {{target: tempo}}, interval: 1m, timeout: 30s}}"),
                "canary.timeout: must be at least the interval (1m)",
            ),
            (
                format!("{{{w}, read: {{target: tempo}}, slow_after: 5m}}"),
                "canary.slow_after: must be above zero and at most the timeout",
            ),
            (
                "{write: {endpoint: 'otel:4318'}, read: {target: tempo}}".to_owned(),
                "canary.write.endpoint: \"otel:4318\" must be an absolute http:// or https:// URL",
            ),
            (
                "{write: {endpoint: 'https://otel:4317', protocol: grpc}, read: {target: tempo}}"
                    .to_owned(),
                "canary.write.tls: grpc over https needs tls.ca_file (or insecure_skip_verify: true)",
            ),
            (
                "{write: {endpoint: 'http://otel:4318', protocol: thrift}, read: {target: tempo}}"
                    .to_owned(),
                "unknown variant `thrift`",
            ),
        ] {
            let e = error_of(&canary);
            assert!(e.contains(want), "{canary}\n→ {e}\nwants {want}");
        }
        let with_pipelines = "pipelines: [{name: a, targets: [{name: t, role: tempo, url: 'http://t:1'}]}]\ncanary: {write: {endpoint: 'http://o:4318'}, read: {target: t}}\n";
        assert!(
            Config::from_yaml(with_pipelines, "c.yml")
                .unwrap_err()
                .to_string()
                .contains("canary: with pipelines, each pipeline has its own canary")
        );
    }
}
