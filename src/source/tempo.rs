//! Tempo's status endpoints, read as evidence for diagnosis.
//!
//! Beside `/metrics`, a Tempo target's API base answers `/ready` (`ready`, or 503 with the
//! reason), `/status/services` (an ASCII table of module states), `/status/config` (YAML
//! after a `GET /status/config` line and a `---` line) and the ring pages, which answer
//! JSON when asked with `Accept: application/json` (`/ingester/ring` on 2.x, `/live-store/ring`
//! and `/partition-ring` on 3.x, `/metrics-generator/ring`). [`read_status`] fetches them with
//! the target's own client — the same timeout, credentials and body cap as `/metrics` —
//! concurrently.
//!
//! Every reader tolerates absence: an endpoint that is missing (older or newer Tempo, another
//! component), refused by auth, unreachable or unparsable becomes [`Read::Unavailable`] with
//! the reason, never an error for the poll. Diagnosis treats unavailable evidence as unknown.
//!
//! `/status/config` can hold secrets (Tempo masks most, not all). Only the few facts
//! diagnosis needs are kept ([`ConfigFacts`]: booleans and numbers); the YAML itself is
//! dropped after parsing and parse errors never quote it, so nothing from it can reach a
//! log, an endpoint or an error message.

use std::hash::BuildHasher;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::software::Generation;
use crate::source::probe::ProbeResult;
use crate::source::scrape::TargetClient;

/// One piece of evidence, or why it is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Read<T> {
    Ok(T),
    Unavailable(String),
}

impl<T> Read<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Read::Ok(v) => Some(v),
            Read::Unavailable(_) => None,
        }
    }
}

impl<T> Default for Read<T> {
    fn default() -> Self {
        Read::Unavailable("not read".to_owned())
    }
}

/// `/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Tempo's own words (first lines, shortened).
    pub message: String,
}

/// One row of `/status/services`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    pub status: String,
    pub failure: String,
}

/// What diagnosis needs from `/status/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConfigFacts {
    /// `server.grpc_tls_config` has a certificate: every gRPC call to :9095 needs TLS.
    pub grpc_server_tls: bool,
    /// `ingester_client.grpc_client_config.tls_enabled` (2.x distributor → ingester).
    pub ingester_client_tls: Option<bool>,
    /// `live_store_client.grpc_client_config.tls_enabled` (3.x).
    pub live_store_client_tls: Option<bool>,
    /// `ingester.lifecycler.ring.replication_factor` (2.x).
    pub replication_factor: Option<u32>,
    /// `ingester_client.grpc_client_config.tls_ca_path` is set: the client trusts that CA,
    /// not only the system's.
    pub ingester_client_tls_ca: bool,
    /// `ingester_client.grpc_client_config.tls_insecure_skip_verify`.
    pub ingester_client_skip_verify: bool,
    /// `querier.frontend_worker.grpc_client_config.tls_enabled`: how the querier dials the
    /// query-frontend (the read path).
    pub frontend_worker_tls: Option<bool>,
}

/// A dskit ring page (`/ingester/ring`, `/live-store/ring`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ring {
    pub members: Vec<RingMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RingMember {
    pub id: String,
    /// `ACTIVE`, `JOINING`, `PENDING`, `LEAVING`, `UNHEALTHY`, …
    pub state: String,
    pub address: String,
}

impl Ring {
    pub fn count(&self, state: &str) -> usize {
        self.members
            .iter()
            .filter(|m| m.state.eq_ignore_ascii_case(state))
            .count()
    }
}

/// `/partition-ring` (3.x).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionRing {
    pub partitions: Vec<Partition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub id: i64,
    /// `Pending`, `Active`, `Inactive`, …
    pub state: String,
}

impl PartitionRing {
    pub fn active(&self) -> usize {
        self.partitions
            .iter()
            .filter(|p| p.state == "Active")
            .count()
    }
}

/// Everything read from one Tempo's slow-changing status endpoints in one go (`/ready`,
/// which is tiny and changes within seconds of a start, is read on every poll instead:
/// [`TempoEvidence::ready`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TempoStatus {
    pub services: Read<Vec<Service>>,
    pub config: Read<ConfigFacts>,
    /// 2.x.
    pub ingester_ring: Read<Ring>,
    /// 3.x.
    pub live_store_ring: Read<Ring>,
    /// 3.x.
    pub partition_ring: Read<PartitionRing>,
    pub generator_ring: Read<Ring>,
}

impl TempoStatus {
    /// Every endpoint unavailable for the same reason (the poll ran out of time).
    pub fn unavailable(reason: &str) -> TempoStatus {
        fn read<T>(reason: &str) -> Read<T> {
            Read::Unavailable(reason.to_owned())
        }
        TempoStatus {
            services: read(reason),
            config: read(reason),
            ingester_ring: read(reason),
            live_store_ring: read(reason),
            partition_ring: read(reason),
            generator_ring: read(reason),
        }
    }

    /// The ring whose members receive the distributor's writes in this generation.
    pub fn write_ring(&self, generation: Generation) -> &Read<Ring> {
        match generation {
            Generation::TempoV3Monolithic | Generation::TempoV3Microservices => {
                &self.live_store_ring
            }
            _ => &self.ingester_ring,
        }
    }
}

/// How long a reading of the status endpoints is kept while nothing fails and Tempo says
/// it is ready. They describe
/// the pipeline's health (readiness, rings, configuration), which matters when something
/// fails — and then they are read again at once, on every poll of an incident. While all is
/// well, re-reading five endpoints per Tempo cost more than the poll itself (2.5 requests per
/// poll at a 15 s interval with a 30 s refresh).
pub const STATUS_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// The status endpoints and the gRPC probes of one Tempo, as read in one poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TempoEvidence {
    /// `/ready`, read on every poll: a kept reading showed Tempo's start-up 503 for minutes
    /// after Tempo was ready.
    pub ready: Read<Readiness>,
    /// Shared with the poller, which keeps it between reads of the endpoints: a poll that
    /// does not read them hands on the last reading without copying its rings and config.
    pub status: Arc<TempoStatus>,
    /// How old `status` is: the endpoints are read again when something fails, and at
    /// least every [`STATUS_REFRESH`] while nothing does.
    pub status_age_seconds: f64,
    /// Whether probing is on (`probes.grpc_health`); off, `probes` is empty. Each probe
    /// says its own age.
    pub probes_enabled: bool,
    /// The latest probe of each address of the write ring (at most one per minute each).
    pub probes: Vec<ProbeResult>,
}

/// Why an endpoint's body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error("not the table Tempo writes: {0}")]
    Services(&'static str),
    #[error("not the YAML Tempo writes{0}")]
    Config(String),
    #[error("not ring JSON: {0}")]
    Ring(String),
}

/// Long bodies and hostile pages cannot grow what is kept.
const MAX_MEMBERS: usize = 1_000;
const MAX_SERVICES: usize = 200;
const MAX_TEXT: usize = 300;

/// Reads `/ready`: 200 means ready, anything else (503) not, with Tempo's reason.
pub fn parse_ready(status: u16, body: &[u8]) -> Readiness {
    let text = String::from_utf8_lossy(body);
    let message: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(4)
        .collect::<Vec<_>>()
        .join("; ");
    Readiness {
        ready: status == 200,
        message: shorten(&message),
    }
}

/// Reads the `/status/services` table: `| name | status | failure case |` rows.
pub fn parse_services(body: &str) -> Result<Vec<Service>, StatusError> {
    let mut services = Vec::new();
    let mut header = false;
    for line in body.lines().map(str::trim) {
        if !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 2 {
            return Err(StatusError::Services("a row with fewer than two cells"));
        }
        if !header {
            if !cells[0].eq_ignore_ascii_case("SERVICE NAME") {
                return Err(StatusError::Services("no SERVICE NAME header"));
            }
            header = true;
            continue;
        }
        if services.len() < MAX_SERVICES {
            services.push(Service {
                name: shorten(cells[0]),
                status: shorten(cells[1]),
                failure: shorten(cells.get(2).copied().unwrap_or("")),
            });
        }
    }
    if !header {
        return Err(StatusError::Services("no table"));
    }
    Ok(services)
}

/// Reads the facts diagnosis needs from `/status/config` (see the module doc on secrets).
pub fn parse_config(body: &str) -> Result<ConfigFacts, StatusError> {
    // Tempo writes "GET /status/config" and "---" before the YAML.
    let yaml = match body.find("\n---\n") {
        Some(at) => &body[at + 5..],
        None => body.strip_prefix("---\n").unwrap_or(body),
    };
    let raw: RawConfig = serde_saphyr::from_str(yaml).map_err(|e| {
        // Only the position: the message could quote the (secret-bearing) document.
        let at = format!("{e}")
            .split("line ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .filter(|n| !n.is_empty())
            .map(|n| format!(" (near line {n})"))
            .unwrap_or_default();
        StatusError::Config(at)
    })?;
    let grpc_tls = raw
        .server
        .and_then(|s| s.grpc_tls_config)
        .unwrap_or_default();
    let set = |v: Option<String>| v.is_some_and(|v| !v.trim().is_empty());
    let ingester_client = raw.ingester_client.and_then(|c| c.grpc_client_config);
    let frontend_worker = raw
        .querier
        .and_then(|q| q.frontend_worker)
        .and_then(|w| w.grpc_client_config);
    Ok(ConfigFacts {
        grpc_server_tls: set(grpc_tls.cert_file) || set(grpc_tls.cert),
        ingester_client_tls: ingester_client.as_ref().and_then(|c| c.tls_enabled),
        ingester_client_tls_ca: ingester_client
            .as_ref()
            .is_some_and(|c| set(c.tls_ca_path.clone())),
        ingester_client_skip_verify: ingester_client
            .as_ref()
            .and_then(|c| c.tls_insecure_skip_verify)
            .unwrap_or(false),
        frontend_worker_tls: frontend_worker.and_then(|c| c.tls_enabled),
        live_store_client_tls: raw
            .live_store_client
            .and_then(|c| c.grpc_client_config)
            .and_then(|c| c.tls_enabled),
        replication_factor: raw
            .ingester
            .and_then(|i| i.lifecycler)
            .and_then(|l| l.ring)
            .and_then(|r| r.replication_factor),
    })
}

/// Reads a dskit ring page asked for as JSON: `{"shards":[{"id","state","address",…}]}`.
pub fn parse_ring(body: &[u8]) -> Result<Ring, StatusError> {
    let raw: RawRing =
        serde_json::from_slice(body).map_err(|e| StatusError::Ring(e.to_string()))?;
    let members = raw
        .shards
        .unwrap_or_default()
        .into_iter()
        .take(MAX_MEMBERS)
        .map(|s| RingMember {
            id: shorten(&s.id),
            state: shorten(&s.state),
            address: shorten(&s.address),
        })
        .collect();
    Ok(Ring { members })
}

/// Reads `/partition-ring` asked for as JSON; states are numbers (dskit's
/// `PartitionState`) or names.
pub fn parse_partition_ring(body: &[u8]) -> Result<PartitionRing, StatusError> {
    let raw: RawPartitionRing =
        serde_json::from_slice(body).map_err(|e| StatusError::Ring(e.to_string()))?;
    let partitions = raw
        .partitions
        .into_iter()
        .take(MAX_MEMBERS)
        .map(|p| Partition {
            id: p.id,
            state: match p.state {
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(1) => "Pending".to_owned(),
                    Some(2) => "Active".to_owned(),
                    Some(3) => "Inactive".to_owned(),
                    Some(4) => "Deleted".to_owned(),
                    _ => "Unknown".to_owned(),
                },
                serde_json::Value::String(s) => {
                    let s = s.trim_start_matches("Partition");
                    let mut name = s.to_ascii_lowercase();
                    if let Some(first) = name.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    shorten(&name)
                }
                _ => "Unknown".to_owned(),
            },
        })
        .collect();
    Ok(PartitionRing { partitions })
}

/// Fetches `/ready`: 200 or 503 with Tempo's reason.
pub async fn read_ready(client: &TargetClient) -> Read<Readiness> {
    match client
        .fetch_any_status(client.endpoint("ready"), "text/plain")
        .await
    {
        Ok(page) if page.status == 200 || page.status == 503 => {
            Read::Ok(parse_ready(page.status, &page.body))
        }
        Ok(page) => Read::Unavailable(format!("/ready: HTTP status {}", page.status)),
        Err(e) => Read::Unavailable(format!("/ready: {e}")),
    }
}

/// Fetches every slow-changing status endpoint the generation has, concurrently.
pub async fn read_status(
    client: &TargetClient,
    generation: Generation,
    config_memo: &mut ConfigMemo,
) -> TempoStatus {
    let v2 = !matches!(
        generation,
        Generation::TempoV3Monolithic | Generation::TempoV3Microservices
    );
    let v3 = !matches!(generation, Generation::TempoV2 { .. });
    let services = fetch_text(client, "status/services", parse_services);
    let config = async {
        match client
            .fetch(client.endpoint("status/config"), "text/plain")
            .await
        {
            Ok(page) => config_memo.read(page.body),
            Err(e) => Read::Unavailable(format!("/status/config: {e}")),
        }
    };
    let ingester_ring = fetch_json(client, "ingester/ring", v2, parse_ring);
    let live_store_ring = fetch_json(client, "live-store/ring", v3, parse_ring);
    let partition_ring = fetch_json(client, "partition-ring", v3, parse_partition_ring);
    let generator_ring = fetch_json(client, "metrics-generator/ring", true, parse_ring);
    let (services, config, ingester_ring, live_store_ring, partition_ring, generator_ring) = tokio::join!(
        services,
        config,
        ingester_ring,
        live_store_ring,
        partition_ring,
        generator_ring
    );
    TempoStatus {
        services,
        config,
        ingester_ring,
        live_store_ring,
        partition_ring,
        generator_ring,
    }
}

async fn fetch_text<T>(
    client: &TargetClient,
    path: &str,
    parse: impl Fn(&str) -> Result<T, StatusError>,
) -> Read<T> {
    match client.fetch(client.endpoint(path), "text/plain").await {
        Ok(page) => read_text(path, &page.body, parse),
        Err(e) => Read::Unavailable(format!("/{path}: {e}")),
    }
}

fn read_text<T>(
    path: &str,
    body: &[u8],
    parse: impl Fn(&str) -> Result<T, StatusError>,
) -> Read<T> {
    match std::str::from_utf8(body) {
        Ok(text) => match parse(text) {
            Ok(v) => Read::Ok(v),
            Err(e) => Read::Unavailable(format!("/{path}: {e}")),
        },
        Err(_) => Read::Unavailable(format!("/{path}: not UTF-8")),
    }
}

/// The last `/status/config` body of one Tempo and what was read from it. Tempo's
/// configuration changes with a restart at most, and reading its ~25 KB of YAML costs about
/// a millisecond — most of a poll — so a body identical to the last one is not read again.
/// The body is remembered by its length and a keyed 64-bit hash, not kept: at a thousand
/// Tempos the bodies were a third of spanflow's memory.
#[derive(Debug, Default)]
pub struct ConfigMemo {
    keys: std::hash::RandomState,
    digest: Option<(usize, u64)>,
    read: Option<Read<ConfigFacts>>,
}

impl ConfigMemo {
    fn read(&mut self, body: Vec<u8>) -> Read<ConfigFacts> {
        let digest = Some((body.len(), self.keys.hash_one(&body)));
        if let Some(read) = &self.read
            && self.digest == digest
        {
            return read.clone();
        }
        let read = read_text("status/config", &body, parse_config);
        self.digest = digest;
        self.read = Some(read.clone());
        read
    }
}

async fn fetch_json<T>(
    client: &TargetClient,
    path: &str,
    wanted: bool,
    parse: impl Fn(&[u8]) -> Result<T, StatusError>,
) -> Read<T> {
    if !wanted {
        return Read::Unavailable(format!("/{path}: not read for this Tempo version"));
    }
    match client
        .fetch(client.endpoint(path), "application/json")
        .await
    {
        Ok(page) => match parse(&page.body) {
            Ok(v) => Read::Ok(v),
            Err(e) => Read::Unavailable(format!("/{path}: {e}")),
        },
        Err(e) => Read::Unavailable(format!("/{path}: {e}")),
    }
}

fn shorten(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[derive(Deserialize)]
struct RawConfig {
    server: Option<RawServer>,
    ingester_client: Option<RawClient>,
    live_store_client: Option<RawClient>,
    ingester: Option<RawIngester>,
    querier: Option<RawQuerier>,
}

#[derive(Deserialize)]
struct RawQuerier {
    frontend_worker: Option<RawClient>,
}

#[derive(Deserialize)]
struct RawServer {
    grpc_tls_config: Option<RawTlsConfig>,
}

#[derive(Deserialize, Default)]
struct RawTlsConfig {
    cert: Option<String>,
    cert_file: Option<String>,
}

#[derive(Deserialize)]
struct RawClient {
    grpc_client_config: Option<RawGrpcClient>,
}

#[derive(Deserialize)]
struct RawGrpcClient {
    tls_enabled: Option<bool>,
    tls_ca_path: Option<String>,
    tls_insecure_skip_verify: Option<bool>,
}

#[derive(Deserialize)]
struct RawIngester {
    lifecycler: Option<RawLifecycler>,
}

#[derive(Deserialize)]
struct RawLifecycler {
    ring: Option<RawRingConfig>,
}

#[derive(Deserialize)]
struct RawRingConfig {
    replication_factor: Option<u32>,
}

#[derive(Deserialize)]
struct RawRing {
    shards: Option<Vec<RawShard>>,
}

#[derive(Deserialize)]
struct RawShard {
    #[serde(default)]
    id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    address: String,
}

#[derive(Deserialize)]
struct RawPartitionRing {
    partitions: Vec<RawPartition>,
}

#[derive(Deserialize)]
struct RawPartition {
    #[serde(default)]
    id: i64,
    #[serde(default)]
    state: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_keeps_tempo_reason() {
        let r = parse_ready(
            503,
            b"Some services are not Running:\nStarting: 1\nRunning: 16\n",
        );
        assert!(!r.ready);
        assert_eq!(
            r.message,
            "Some services are not Running:; Starting: 1; Running: 16"
        );
        assert!(parse_ready(200, b"ready\n").ready);
    }

    #[test]
    fn services_table_with_a_failure() {
        let body = "GET /status/services\n+------+---------+--------------+\n| SERVICE NAME | STATUS | FAILURE CASE |\n+---+\n| ingester | Failed | flush: boom |\n| store | Running |  |\n";
        let s = parse_services(body).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].status, "Failed");
        assert_eq!(s[0].failure, "flush: boom");
        assert!(parse_services("<html>login</html>").is_err());
    }

    #[test]
    fn an_unchanged_config_is_not_read_again() {
        let tls =
            b"GET /status/config\n---\nserver:\n  grpc_tls_config:\n    cert_file: /c\n".to_vec();
        let mut memo = ConfigMemo::default();
        let first = memo.read(tls.clone());
        assert_eq!(first.ok().map(|c| c.grpc_server_tls), Some(true));
        // The same body again: the remembered reading is returned, not a new one.
        memo.read = Some(Read::Unavailable("remembered".into()));
        assert_eq!(memo.read(tls), Read::Unavailable("remembered".into()));
        // A changed body is read: here not YAML at all.
        let changed = memo.read(b"<html>".to_vec());
        assert!(
            matches!(changed, Read::Unavailable(ref m) if m.starts_with("/status/config: ")),
            "{changed:?}"
        );
    }

    #[test]
    fn config_errors_never_quote_the_document() {
        let e = parse_config("GET /status/config\n---\nserver: [unclosed\n  secret_key: hunter2\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && !e.contains("unclosed"), "{e}");
    }

    #[test]
    fn partition_states_by_number_and_name() {
        let r = parse_partition_ring(
            br#"{"partitions":[{"id":0,"state":2},{"id":1,"state":"PartitionInactive"},{"id":2,"state":1}]}"#,
        )
        .unwrap();
        let states: Vec<&str> = r.partitions.iter().map(|p| p.state.as_str()).collect();
        assert_eq!(states, ["Active", "Inactive", "Pending"]);
        assert_eq!(r.active(), 1);
    }

    #[test]
    fn garbage_rings_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"404 page not found",
            b"{\"shards\":7}",
            b"\xff\xfe",
        ] {
            assert!(parse_ring(body).is_err(), "{body:?}");
        }
        assert_eq!(parse_ring(b"{\"shards\":null}").unwrap().members.len(), 0);
    }
}
