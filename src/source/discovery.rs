//! Finds the instances a discovering target stands for: DNS records (`A`, `AAAA`, `SRV`)
//! or a Prometheus `file_sd_configs` file.
//!
//! Input: a target whose `discovery` block is set (its URL is the template: scheme, path,
//! port for A/AAAA, TLS, credentials). Output: an [`Answer`] per refresh — the instances
//! found, each a [`Target`] of its own named by the target's name and its `address`
//! (`host:port`), or `None` when the refresh failed and the last good list stands — and the
//! error, named by reason. What a DNS server or a file says is bounded by `max_instances`;
//! beyond it, the rest is refused with an error. It never polls an instance and never
//! panics on what it is told.
//!
//! A name that does not exist (NXDOMAIN) or has no records is an answer — an empty list,
//! as in Prometheus' `dns_sd_configs` — with the error shown; a nameserver that times out
//! or fails, or a file that cannot be read or parsed, is no answer: the last good list is
//! kept.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, Record};
use serde::Deserialize;

use crate::config::discovery::{Mechanism, RecordKind};
use crate::config::{Target, address_of};

/// A file of targets larger than this is refused: a file_sd file lists host:port pairs.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// A DNS lookup never waits longer than this (resolv.conf's default), nor longer than the
/// refresh interval.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// What one refresh found.
#[derive(Debug)]
pub struct Answer {
    /// The instances, sorted by address and at most `max_instances`; `None`: the refresh
    /// failed and the last good list stands.
    pub instances: Option<Vec<Target>>,
    pub error: Option<DiscoveryError>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{name}: no such name (NXDOMAIN)")]
    NxDomain { name: String },
    #[error("{name}: no {record} records")]
    Empty { name: String, record: &'static str },
    #[error("{name}: the nameserver did not answer in time")]
    Timeout { name: String },
    #[error("{name}: {message}")]
    Dns { name: String, message: String },
    #[error("{path}: cannot read the file: {message}")]
    FileRead { path: String, message: String },
    #[error("{path}: {message}")]
    FileParse { path: String, message: String },
    #[error(
        "{found} instances found, more than max_instances ({max}): the first {max} by address are polled"
    )]
    TooMany { found: usize, max: usize },
}

impl DiscoveryError {
    /// Every reason, as `spanflow_discovery_errors_total{reason}` names it.
    pub const REASONS: [&'static str; 7] = [
        "nxdomain",
        "empty",
        "timeout",
        "dns",
        "file_read",
        "file_parse",
        "too_many",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            DiscoveryError::NxDomain { .. } => "nxdomain",
            DiscoveryError::Empty { .. } => "empty",
            DiscoveryError::Timeout { .. } => "timeout",
            DiscoveryError::Dns { .. } => "dns",
            DiscoveryError::FileRead { .. } => "file_read",
            DiscoveryError::FileParse { .. } => "file_parse",
            DiscoveryError::TooMany { .. } => "too_many",
        }
    }
}

/// Why a discoverer could not be made (an unreadable `/etc/resolv.conf`).
#[derive(Debug, thiserror::Error)]
#[error("target {target}: cannot set up DNS discovery: {message}")]
pub struct DiscoverySetupError {
    target: String,
    message: String,
}

/// Refreshes one discovering target's instances.
pub struct Discoverer {
    template: Target,
    mechanism: Mechanism,
    max_instances: usize,
    resolver: Option<TokioResolver>,
    /// The file's modification time and length when last read.
    file_seen: Option<(SystemTime, u64)>,
}

impl Discoverer {
    /// A discoverer for `template`, whose `discovery` must be set.
    pub fn new(template: &Target) -> Result<Discoverer, DiscoverySetupError> {
        let discovery = template
            .discovery
            .clone()
            .ok_or_else(|| DiscoverySetupError {
                target: template.name.clone(),
                message: "the target has no discovery block".into(),
            })?;
        let resolver = match &discovery.mechanism {
            Mechanism::Dns { nameserver, .. } => {
                let timeout = DNS_TIMEOUT.min(discovery.refresh_interval);
                Some(
                    resolver(*nameserver, timeout).map_err(|e| DiscoverySetupError {
                        target: template.name.clone(),
                        message: e.to_string(),
                    })?,
                )
            }
            Mechanism::File { .. } => None,
        };
        Ok(Discoverer {
            template: template.clone(),
            mechanism: discovery.mechanism,
            max_instances: discovery.max_instances,
            resolver,
            file_seen: None,
        })
    }

    /// Looks the instances up once.
    pub async fn refresh(&mut self) -> Answer {
        let found = match (&self.mechanism, &self.resolver) {
            (Mechanism::Dns { record, name, .. }, Some(resolver)) => {
                lookup(resolver, *record, name, &self.template).await
            }
            (Mechanism::File { path }, _) => {
                let path = path.clone();
                self.file_seen = file_stamp(&path);
                read_file(&path, &self.template).map(|found| (found, None))
            }
            (Mechanism::Dns { name, .. }, None) => Err(DiscoveryError::Dns {
                name: name.clone(),
                message: "no resolver".into(),
            }),
        };
        match found {
            Ok((instances, partial)) => {
                let mut answer = bounded(instances, self.max_instances);
                answer.error = answer.error.or(partial);
                answer
            }
            Err(e @ (DiscoveryError::NxDomain { .. } | DiscoveryError::Empty { .. })) => Answer {
                instances: Some(Vec::new()),
                error: Some(e),
            },
            Err(e) => Answer {
                instances: None,
                error: Some(e),
            },
        }
    }

    /// Whether a file-discovered target's file changed since it was last read (always
    /// false for DNS): cheap enough to ask every second.
    pub fn changed(&self) -> bool {
        match &self.mechanism {
            Mechanism::File { path } => file_stamp(path) != self.file_seen,
            Mechanism::Dns { .. } => false,
        }
    }
}

/// `instances` sorted by address, duplicates dropped, cut at `max_instances` (the cut named
/// as an error).
pub(crate) fn bounded(mut instances: Vec<Target>, max_instances: usize) -> Answer {
    instances.sort_by(|a, b| a.address.cmp(&b.address));
    instances.dedup_by(|a, b| a.address == b.address);
    let found = instances.len();
    let error = (found > max_instances).then_some(DiscoveryError::TooMany {
        found,
        max: max_instances,
    });
    instances.truncate(max_instances);
    Answer {
        instances: Some(instances),
        error,
    }
}

/// A resolver for `nameserver`, or the system's; no cache (each refresh asks), a bounded
/// timeout, no search domains (names are absolute).
fn resolver(nameserver: Option<SocketAddr>, timeout: Duration) -> Result<TokioResolver, NetError> {
    let mut builder = match nameserver {
        Some(at) => {
            let mut server = NameServerConfig::udp_and_tcp(at.ip());
            for connection in &mut server.connections {
                connection.port = at.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()?,
    };
    let options = builder.options_mut();
    options.timeout = timeout;
    options.attempts = 1;
    options.cache_size = 0;
    builder.build()
}

/// The instances a name's records give, each a copy of `template` at its address, and the
/// error of SRV targets that did not resolve (the others are kept; when none resolves, the
/// refresh fails and the last good list stands).
async fn lookup(
    resolver: &TokioResolver,
    record: RecordKind,
    name: &str,
    template: &Target,
) -> Result<(Vec<Target>, Option<DiscoveryError>), DiscoveryError> {
    let port = template.url.port_or_known_default().unwrap_or(80);
    let from_name = template.url.host_str().unwrap_or(name).to_owned();
    let answers = match record {
        RecordKind::A => resolver.ipv4_lookup(name).await,
        RecordKind::AAAA => resolver.ipv6_lookup(name).await,
        RecordKind::SRV => resolver.srv_lookup(name).await,
    }
    .map_err(|e| dns_error(name, record, e))?;
    let mut instances = Vec::new();
    let mut unresolved = None;
    for found in records_found(answers.answers()) {
        match found {
            Found::Address(ip) => instances.push(instance(template, ip, port, &from_name)),
            Found::Service { host, port } => {
                let ips = match resolver.lookup_ip(host.as_str()).await {
                    Ok(ips) => ips,
                    Err(e) => {
                        unresolved.get_or_insert(dns_error(&host, RecordKind::A, e));
                        continue;
                    }
                };
                let server_name = host.trim_end_matches('.');
                for ip in ips.iter() {
                    instances.push(instance(template, ip, port, server_name));
                }
            }
        }
    }
    match (instances.is_empty(), unresolved) {
        (true, Some(e)) => Err(DiscoveryError::Dns {
            name: name.to_owned(),
            message: format!("no SRV target resolves ({e})"),
        }),
        (true, None) => Err(DiscoveryError::Empty {
            name: name.to_owned(),
            record: record_name(record),
        }),
        (false, unresolved) => Ok((instances, unresolved)),
    }
}

/// What one DNS record names: an address to poll, or an SRV target still to resolve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    Address(IpAddr),
    Service { host: String, port: u16 },
}

/// The addresses and SRV targets of a DNS answer's records, in order; records of other
/// types (a CNAME on the way, say) are passed over.
pub(crate) fn records_found(records: &[Record]) -> impl Iterator<Item = Found> + '_ {
    records.iter().filter_map(|record| match &record.data {
        RData::A(a) => Some(Found::Address(IpAddr::V4(a.0))),
        RData::AAAA(a) => Some(Found::Address(IpAddr::V6(a.0))),
        RData::SRV(srv) => Some(Found::Service {
            host: srv.target.to_ascii(),
            port: srv.port,
        }),
        _ => None,
    })
}

fn record_name(record: RecordKind) -> &'static str {
    match record {
        RecordKind::A => "A",
        RecordKind::AAAA => "AAAA",
        RecordKind::SRV => "SRV",
    }
}

fn dns_error(name: &str, record: RecordKind, e: NetError) -> DiscoveryError {
    let name = name.to_owned();
    if e.is_nx_domain() {
        DiscoveryError::NxDomain { name }
    } else if e.is_no_records_found() {
        DiscoveryError::Empty {
            name,
            record: record_name(record),
        }
    } else if matches!(e, NetError::Timeout) {
        DiscoveryError::Timeout { name }
    } else if matches!(e, NetError::Truncated) {
        // A DNS message over TCP holds at most 65,535 bytes: about 4,000 A records (dnsmasq
        // sends 4,093 and sets TC). What was cut is unknown, so nothing of it is used.
        DiscoveryError::Dns {
            name,
            message: "the answer was truncated even over TCP (more records than one DNS message carries, about 4,000 A records): list the instances in a file_sd file or split the name".into(),
        }
    } else {
        DiscoveryError::Dns {
            name,
            message: e.to_string(),
        }
    }
}

/// `template` at `ip:port`. Over https the certificate is checked against the name the
/// address came from (the URL's host or the SRV target), unless `tls.server_name` says
/// otherwise.
pub(crate) fn instance(template: &Target, ip: IpAddr, port: u16, from_name: &str) -> Target {
    let mut url = template.url.clone();
    // An http(s) URL takes any IP host and port.
    let _ = url.set_ip_host(ip);
    let _ = url.set_port(Some(port));
    let mut target = template.clone();
    if url.scheme() == "https" && target.tls.server_name.is_none() {
        target.tls.server_name = Some(from_name.to_owned());
    }
    target.address = address_of(&url);
    target.url = url;
    target.discovery = None;
    target
}

/// One group of a Prometheus `file_sd_configs` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The instances a file lists. `__scheme__` and `__metrics_path__` labels set the scheme
/// and path, as in Prometheus; other labels are read and not used.
fn read_file(path: &PathBuf, template: &Target) -> Result<Vec<Target>, DiscoveryError> {
    let shown = path.display().to_string();
    let read_error = |message: String| DiscoveryError::FileRead {
        path: shown.clone(),
        message,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| read_error(e.to_string()))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(read_error(format!(
            "{len} bytes, more than the {MAX_FILE_BYTES} a target list may have"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| read_error(e.to_string()))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    );
    parse_target_file(&text, yaml, &shown, template)
}

/// The instances a target file's `text` lists (YAML when `yaml`, else JSON); errors name
/// the file as `shown` and the group and entry.
pub(crate) fn parse_target_file(
    text: &str,
    yaml: bool,
    shown: &str,
    template: &Target,
) -> Result<Vec<Target>, DiscoveryError> {
    let parse_error = |message: String| DiscoveryError::FileParse {
        path: shown.to_owned(),
        message,
    };
    let groups: Vec<FileGroup> = if yaml {
        serde_saphyr::from_str(text)
            .map_err(|e| parse_error(crate::config::yaml_error_text(&e, text, shown)))?
    } else {
        serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?
    };
    let mut instances = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for (t, entry) in group.targets.iter().enumerate() {
            let target = file_instance(template, entry, &group.labels)
                .map_err(|m| parse_error(format!("[{g}].targets[{t}]: {entry:?}: {m}")))?;
            instances.push(target);
        }
    }
    Ok(instances)
}

fn file_instance(
    template: &Target,
    entry: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Target, String> {
    if entry.is_empty() || entry.contains(['/', '?', '#', '@', ' ']) {
        return Err("must be host:port".into());
    }
    let scheme = labels
        .get("__scheme__")
        .map_or(template.url.scheme(), String::as_str);
    if !matches!(scheme, "http" | "https") {
        return Err(format!("__scheme__ {scheme:?} is not http or https"));
    }
    let mut url = reqwest::Url::parse(&format!("{scheme}://{entry}"))
        .map_err(|e| format!("must be host:port: {e}"))?;
    let path = labels
        .get("__metrics_path__")
        .map_or(template.url.path(), String::as_str);
    url.set_path(path);
    url.set_query(template.url.query());
    let mut target = template.clone();
    target.address = address_of(&url);
    target.url = url;
    target.discovery = None;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::discovery::Discovery;
    use crate::model::stage::Role;

    fn template(url: &str, mechanism: Mechanism, max_instances: usize) -> Target {
        Target {
            discovery: Some(Discovery {
                mechanism,
                refresh_interval: Duration::from_secs(1),
                max_instances,
            }),
            ..Target::new("collectors", Role::Collector, url.parse().unwrap())
        }
    }

    fn file_discoverer(body: &str, ext: &str, max: usize) -> (tempfile::TempDir, Discoverer) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("targets.{ext}"));
        std::fs::write(&path, body).unwrap();
        let t = template(
            "http://placeholder:8888/metrics",
            Mechanism::File { path },
            max,
        );
        (dir, Discoverer::new(&t).unwrap())
    }

    fn addresses(answer: &Answer) -> Vec<String> {
        let instances = answer.instances.as_ref().expect("an answer");
        instances.iter().map(|t| t.url.to_string()).collect()
    }

    #[tokio::test]
    async fn a_file_lists_instances_with_prometheus_labels() {
        let (_dir, mut d) = file_discoverer(
            r#"[{"targets": ["10.0.0.2:8888", "10.0.0.1:8888"], "labels": {"zone": "a"}},
                {"targets": ["otel-2.obs:8889", "10.0.0.1:8888"], "labels": {"__scheme__": "https", "__metrics_path__": "/m"}}]"#,
            "json",
            256,
        );
        let answer = d.refresh().await;
        assert!(answer.error.is_none(), "{:?}", answer.error);
        assert_eq!(
            addresses(&answer),
            [
                "http://10.0.0.1:8888/metrics",
                "http://10.0.0.2:8888/metrics",
                "https://otel-2.obs:8889/m"
            ]
        );
        assert!(!d.changed());
    }

    #[tokio::test]
    async fn a_yaml_file_reads_as_json_does() {
        let (_dir, mut d) = file_discoverer("- targets: ['127.0.0.1:9', '[::1]:9']\n", "yml", 256);
        let answer = d.refresh().await;
        assert_eq!(
            addresses(&answer),
            ["http://127.0.0.1:9/metrics", "http://[::1]:9/metrics"]
        );
        let instances = answer.instances.unwrap();
        assert_eq!(instances[1].address, "[::1]:9");
    }

    #[tokio::test]
    async fn a_broken_file_keeps_the_last_list_and_names_the_entry() {
        let (_dir, mut d) = file_discoverer(
            r#"[{"targets": ["10.0.0.1:8888", "http://10.0.0.2:8888/x"]}]"#,
            "json",
            256,
        );
        let answer = d.refresh().await;
        assert!(answer.instances.is_none());
        assert_eq!(
            answer.error.unwrap().to_string(),
            format!(
                "{}: [0].targets[1]: \"http://10.0.0.2:8888/x\": must be host:port",
                _dir.path().join("targets.json").display()
            )
        );
        let (_dir, mut d) = file_discoverer("{not json", "json", 256);
        let answer = d.refresh().await;
        assert_eq!(answer.error.unwrap().reason(), "file_parse");
        let mut gone = d;
        drop(_dir);
        assert!(gone.changed());
        assert_eq!(gone.refresh().await.error.unwrap().reason(), "file_read");
    }

    #[tokio::test]
    async fn more_instances_than_allowed_are_cut_with_an_error_naming_the_bound() {
        let (_dir, mut d) = file_discoverer(r#"[{"targets": ["h:3", "h:1", "h:2"]}]"#, "json", 2);
        let answer = d.refresh().await;
        assert_eq!(
            addresses(&answer),
            ["http://h:1/metrics", "http://h:2/metrics"]
        );
        assert_eq!(
            answer.error.unwrap().to_string(),
            "3 instances found, more than max_instances (2): the first 2 by address are polled"
        );
    }

    #[test]
    fn an_https_instance_checks_the_certificate_against_the_discovered_name() {
        let t = template(
            "https://tempo.tracing.svc:3200/metrics",
            Mechanism::Dns {
                record: RecordKind::A,
                name: "tempo.tracing.svc.".into(),
                nameserver: None,
            },
            8,
        );
        let i = instance(&t, "10.1.2.3".parse().unwrap(), 3200, "tempo.tracing.svc");
        assert_eq!(i.url.as_str(), "https://10.1.2.3:3200/metrics");
        assert_eq!(i.address, "10.1.2.3:3200");
        assert_eq!(i.tls.server_name.as_deref(), Some("tempo.tracing.svc"));
        assert!(i.discovery.is_none());
    }
}
