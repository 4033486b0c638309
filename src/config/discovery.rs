//! The `discovery:` block of a target: where its instances come from.
//!
//! Input: the block as written. Output: a checked [`Discovery`] — DNS (`A`, `AAAA` or `SRV`
//! records of a name, through a chosen or the system's nameserver) or a Prometheus
//! `file_sd_configs` file — with its refresh interval and the most instances it may stand
//! for. It never resolves a name nor reads the file: that is `source::discovery`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Prometheus' `dns_sd_configs` default refresh interval.
pub const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(30);
/// Prometheus' `file_sd_configs` default refresh interval; a changed file is read sooner.
pub const DEFAULT_FILE_REFRESH: Duration = Duration::from_secs(300);
/// Instances one discovering target stands for at most: memory stays bounded whatever a
/// DNS server or a file says.
pub const DEFAULT_MAX_INSTANCES: usize = 256;

/// Where a target's instances come from, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    pub mechanism: Mechanism,
    pub refresh_interval: Duration,
    pub max_instances: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mechanism {
    /// Records of `name` (absolute, ending with a dot); A and AAAA addresses keep the
    /// target URL's port, SRV records give host and port.
    Dns {
        record: RecordKind,
        name: String,
        /// `None`: the system's resolver configuration (`/etc/resolv.conf`).
        nameserver: Option<SocketAddr>,
    },
    /// A Prometheus `file_sd_configs` file (JSON, or YAML by its `.yml`/`.yaml` name).
    File { path: PathBuf },
}

impl Mechanism {
    /// `dns` or `file`, as labels and messages name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Mechanism::Dns { .. } => "dns",
            Mechanism::File { .. } => "file",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RecordKind {
    A,
    AAAA,
    SRV,
}

/// `discovery:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscovery {
    dns: Option<RawDns>,
    file: Option<RawFile>,
    max_instances: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    #[serde(rename = "type", default = "default_record")]
    record: RecordKind,
    name: Option<String>,
    #[serde(default, with = "humantime_serde")]
    refresh_interval: Option<Duration>,
    nameserver: Option<String>,
}

fn default_record() -> RecordKind {
    RecordKind::A
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: PathBuf,
    #[serde(default, with = "humantime_serde")]
    refresh_interval: Option<Duration>,
}

/// Refresh intervals below this would only load the nameserver.
const MIN_REFRESH: Duration = Duration::from_millis(100);

impl RawDiscovery {
    /// Checks the block of a target whose URL is `url`; errors are `(field, message)`,
    /// the field relative to `discovery`.
    pub(super) fn check(self, url: &reqwest::Url) -> Result<Discovery, (String, String)> {
        let fail = |field: &str, message: String| Err((field.to_owned(), message));
        let max_instances = self.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES);
        if max_instances == 0 {
            return fail("max_instances", "must be at least 1".into());
        }
        let (mechanism, refresh) = match (self.dns, self.file) {
            (Some(dns), None) => {
                let refresh = dns.refresh_interval.unwrap_or(DEFAULT_DNS_REFRESH);
                (dns.check(url)?, refresh)
            }
            (None, Some(file)) => (
                Mechanism::File { path: file.path },
                file.refresh_interval.unwrap_or(DEFAULT_FILE_REFRESH),
            ),
            _ => return fail("", "needs exactly one of dns or file".into()),
        };
        if refresh < MIN_REFRESH {
            let field = format!("{}.refresh_interval", mechanism.kind());
            return fail(&field, "must be at least 100ms".into());
        }
        Ok(Discovery {
            mechanism,
            refresh_interval: refresh,
            max_instances,
        })
    }
}

impl RawDns {
    fn check(self, url: &reqwest::Url) -> Result<Mechanism, (String, String)> {
        let name = match (self.record, self.name) {
            (RecordKind::SRV, None) => {
                return Err((
                    "dns.name".into(),
                    "SRV discovery needs the record's name, e.g. _http-metrics._tcp.tempo-distributor.tracing.svc.cluster.local".into(),
                ));
            }
            (_, Some(name)) => name,
            (_, None) => match url.domain() {
                Some(host) => host.to_owned(),
                None => {
                    return Err((
                        "dns".into(),
                        "the url's host is an address: A/AAAA discovery needs a name (set dns.name or write the name in the url)".into(),
                    ));
                }
            },
        };
        let name = name.trim().trim_end_matches('.');
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(("dns.name".into(), "must be a DNS name".into()));
        }
        let nameserver = match self.nameserver {
            None => None,
            Some(text) => Some(parse_nameserver(&text).ok_or_else(|| {
                (
                    "dns.nameserver".to_owned(),
                    format!("{text:?} is not an address, e.g. 10.96.0.10 or 127.0.0.1:5353"),
                )
            })?),
        };
        Ok(Mechanism::Dns {
            record: self.record,
            // Absolute: Kubernetes' search domains (ndots: 5) would otherwise turn one
            // lookup into six.
            name: format!("{name}."),
            nameserver,
        })
    }
}

/// `ip:port`, `[ipv6]:port` or a bare address (port 53).
fn parse_nameserver(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str, url: &str) -> Result<Discovery, (String, String)> {
        let raw: RawDiscovery = serde_saphyr::from_str(yaml).unwrap();
        raw.check(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn a_records_default_to_the_urls_host_made_absolute() {
        let d = check(
            "dns: {refresh_interval: 5s, nameserver: 127.0.0.1:5353}",
            "http://tempo.tracing.svc.cluster.local:3200",
        )
        .unwrap();
        assert_eq!(
            d,
            Discovery {
                mechanism: Mechanism::Dns {
                    record: RecordKind::A,
                    name: "tempo.tracing.svc.cluster.local.".into(),
                    nameserver: Some("127.0.0.1:5353".parse().unwrap()),
                },
                refresh_interval: Duration::from_secs(5),
                max_instances: DEFAULT_MAX_INSTANCES,
            }
        );
    }

    #[test]
    fn bad_blocks_name_their_field() {
        let err = |yaml: &str, url: &str| check(yaml, url).unwrap_err();
        assert_eq!(err("dns: {type: SRV}", "http://x:1").0, "dns.name");
        assert_eq!(err("dns: {}", "http://127.0.0.1:1").0, "dns");
        assert_eq!(
            err("dns: {nameserver: 'dns.local'}", "http://x:1"),
            (
                "dns.nameserver".into(),
                "\"dns.local\" is not an address, e.g. 10.96.0.10 or 127.0.0.1:5353".into()
            )
        );
        assert_eq!(
            err("{}", "http://x:1").1,
            "needs exactly one of dns or file"
        );
        assert_eq!(
            err(
                "{file: {path: a.json, refresh_interval: 1ms}}",
                "http://x:1"
            )
            .0,
            "file.refresh_interval"
        );
        assert_eq!(
            err("{max_instances: 0, dns: {}}", "http://x:1").0,
            "max_instances"
        );
        assert_eq!(
            check("dns: {nameserver: '10.96.0.10'}", "http://x:1")
                .unwrap()
                .mechanism,
            Mechanism::Dns {
                record: RecordKind::A,
                name: "x.".into(),
                nameserver: Some("10.96.0.10:53".parse().unwrap())
            }
        );
    }
}
