//! Loads and validates spanflow's YAML configuration (README "Configuration reference").
//!
//! Unknown fields are rejected, durations are humantime (`15s`, `5m`), and every error names
//! the file, the line and the field (`spanflow.yml: line 9: targets[1].success: …`). What
//! comes out is a [`Config`] whose every value has been checked: selectors parsed, URLs
//! absolute http(s), timeouts within the poll interval, thresholds ordered. Secrets
//! (passwords) are wrapped in [`Secret`], which never prints.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use thiserror::Error;

pub mod canary;
pub mod discovery;
pub mod selector;
pub mod store;

use self::canary::{Canary, RawCanary};
use self::discovery::{Discovery, RawDiscovery};
use self::selector::Selector;
use self::store::{RawSource, StoreSource};
use crate::model::counter::MAX_TENANTS_KEPT;
use crate::model::stage::{Role, Stage};

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
pub const DEFAULT_BODY_SIZE_LIMIT: u64 = 16 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FAILING_BELOW: f64 = 0.01;
pub const DEFAULT_DEGRADED_BELOW: f64 = 0.99;
pub const DEFAULT_BALANCE_BELOW: f64 = 0.95;

/// Tenants shown one by one unless `max_tenants` says otherwise.
pub const DEFAULT_MAX_TENANTS: usize = 100;

/// The pipeline a top-level `targets:` list makes.
pub const DEFAULT_PIPELINE: &str = "default";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub poll_interval: Duration,
    pub window: Duration,
    pub body_size_limit: u64,
    /// The top-level `stages:` thresholds, which every pipeline starts from.
    pub thresholds: BTreeMap<Stage, Thresholds>,
    pub probes: Probes,
    /// At least one; in the order written.
    pub pipelines: Vec<Pipeline>,
    /// Every pipeline's targets, pipeline by pipeline in the order written
    /// ([`Target::pipeline`] is the index into `pipelines`).
    pub targets: Vec<Target>,
    /// Spans accepted by a hop over spans the hop before sent, below which spans are lost
    /// between them (and above `2 - balance_below`, counted twice).
    pub balance_below: f64,
    /// Tenants of Tempo's distributor shown one by one; the rest are summed as `other`.
    pub max_tenants: usize,
}

/// One pipeline: its own stages, status, blocked stage and causes.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The top-level thresholds with the pipeline's own `stages:` over them.
    pub thresholds: BTreeMap<Stage, Thresholds>,
    /// Counters read from a metrics store instead of targets (the pipeline has none then).
    pub source: Option<std::sync::Arc<StoreSource>>,
    /// A trace written at the entry and read back from Tempo.
    pub canary: Option<std::sync::Arc<Canary>>,
}

impl Pipeline {
    /// The single pipeline of a configuration written with a top-level `targets:`.
    pub fn default_with(thresholds: BTreeMap<Stage, Thresholds>) -> Pipeline {
        Pipeline {
            name: DEFAULT_PIPELINE.to_owned(),
            thresholds,
            source: None,
            canary: None,
        }
    }

    pub fn thresholds(&self, stage: Stage) -> Thresholds {
        self.thresholds.get(&stage).copied().unwrap_or_default()
    }
}

/// Active checks beside polling (`probes:`).
#[derive(Debug, Clone)]
pub struct Probes {
    /// A gRPC health check, plaintext and TLS, of each address in Tempo's write ring (the
    /// ingesters on 2.x, the live-stores on 3.x), at most once a minute per address.
    pub grpc_health: bool,
    /// Bound on each probe attempt: 2 s, or the poll interval when that is shorter.
    pub grpc_timeout: Duration,
    /// How the TLS attempt verifies the server. Without `ca_file` it accepts any
    /// certificate: it asks whether the server speaks TLS, and sends nothing secret.
    pub grpc_tls: ProbeTls,
}

impl Probes {
    /// Probes on, with the default timeout for this poll interval.
    pub fn default_for(poll_interval: Duration) -> Probes {
        Probes {
            grpc_health: true,
            grpc_timeout: DEFAULT_PROBE_TIMEOUT.min(poll_interval),
            grpc_tls: ProbeTls::default(),
        }
    }
}

/// `probes:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbes {
    #[serde(default = "default_true")]
    grpc_health: bool,
    #[serde(default, with = "humantime_serde")]
    grpc_timeout: Option<Duration>,
    #[serde(default)]
    grpc_tls: ProbeTls,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeTls {
    pub ca_file: Option<PathBuf>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_true() -> bool {
    true
}

/// A YAML error as `line L column C (key): what`, without the source snippet serde-saphyr
/// adds: the line it quotes may hold a password. Only the key the error points into is
/// taken from the source, never a value.
pub(crate) fn yaml_error_text(e: &serde_saphyr::Error, source: &str, path: &str) -> String {
    let e = e.without_snippet();
    let text = e.to_string();
    let text = text.trim_start_matches("error: ").replace("<input>", path);
    let Some(at) = e.location() else {
        return text;
    };
    let suffix = format!(" at line {}, column {}", at.line(), at.column());
    let text = text.trim_end_matches(&suffix);
    let key = source
        .lines()
        .nth((at.line() as usize).saturating_sub(1))
        .and_then(|line| line.get(..(at.column() as usize).saturating_sub(1)))
        .map(|before| before.rsplit([',', '{', '-']).next().unwrap_or(before))
        .and_then(|entry| entry.split_once(':'))
        .map(|(key, _)| key.trim().trim_matches(['"', '\'']))
        .filter(|key| !key.is_empty());
    // A value that does not convert (a duration, a size) is reported at the mapping that
    // holds it, often line 1 column 1: the key is then found where the refused value is.
    let (line, key) = match key {
        Some(key) => (at.line() as usize, Some(key.to_owned())),
        None => match key_of_refused_value(text, source, at.line() as usize) {
            Some((line, key)) => (line, Some(key)),
            None => (at.line() as usize, None),
        },
    };
    match key {
        Some(key) => format!("line {line} column {} ({key}): {text}", at.column()),
        None => format!("line {line} column {}: {text}", at.column()),
    }
}

/// The line and key of the value an `invalid value: string "…"` error quotes, searched
/// from `from_line` on. Only the key is returned, never the value (it could be a secret).
fn key_of_refused_value(message: &str, source: &str, from_line: usize) -> Option<(usize, String)> {
    let quoted = message.split_once("string \"")?.1;
    let value = quoted.split_once('"')?.0;
    if value.is_empty() {
        return None;
    }
    source
        .lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find_map(|(i, line)| {
            let before = &line[..line.find(value)?];
            let before = before.trim_end().trim_end_matches(['"', '\'']).trim_end();
            let key = before.strip_suffix(':')?.rsplit([',', '{']).next()?;
            let key = key
                .trim()
                .trim_start_matches("- ")
                .trim_matches(['"', '\'']);
            (!key.is_empty()).then(|| (i + 1, key.to_owned()))
        })
}

/// A URL as written, with anything between `://` and `@` (user and password) hidden, for
/// error messages about URLs that may not even parse.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://<hidden>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a stage turns degraded and failing, as success ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub failing_below: f64,
    pub degraded_below: f64,
}

impl Thresholds {
    /// The status of a stage with events whose success ratio is `ratio`.
    pub fn status_of(self, ratio: f64) -> crate::model::stage::StageStatus {
        use crate::model::stage::StageStatus;
        if ratio <= self.failing_below {
            StageStatus::Failing
        } else if ratio < self.degraded_below {
            StageStatus::Degraded
        } else {
            StageStatus::Ok
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failing_below: DEFAULT_FAILING_BELOW,
            degraded_below: DEFAULT_DEGRADED_BELOW,
        }
    }
}

impl Config {
    pub fn thresholds(&self, stage: Stage) -> Thresholds {
        self.thresholds.get(&stage).copied().unwrap_or_default()
    }

    /// The targets of pipeline `index`: a contiguous run of [`Config::targets`].
    pub fn targets_of(&self, index: usize) -> &[Target] {
        let start = self.targets.partition_point(|t| t.pipeline < index);
        let end = self.targets.partition_point(|t| t.pipeline <= index);
        &self.targets[start..end]
    }
}

/// One endpoint to poll — or, with `discovery`, the template of every instance found.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index into [`Config::pipelines`].
    pub pipeline: usize,
    pub name: String,
    /// `host:port` of the URL: what names one instance of the target beside its name.
    pub address: String,
    pub role: Role,
    pub url: reqwest::Url,
    pub timeout: Duration,
    pub tls: TlsSettings,
    pub auth: Auth,
    pub headers: BTreeMap<String, String>,
    /// For `app` targets: which series count exported and failed spans.
    pub app_selectors: Option<AppSelectors>,
    /// Where the instances this target stands for come from; `None`: the URL is the one
    /// instance.
    pub discovery: Option<Discovery>,
}

impl Target {
    /// A target of the first pipeline at `url`, with the defaults a configuration file
    /// gives: no TLS settings, credentials, headers or discovery, a 10 s timeout.
    pub fn new(name: &str, role: Role, url: reqwest::Url) -> Target {
        Target {
            pipeline: 0,
            name: name.to_owned(),
            address: address_of(&url),
            role,
            url,
            timeout: DEFAULT_TIMEOUT,
            tls: TlsSettings::default(),
            auth: Auth::None,
            headers: BTreeMap::new(),
            app_selectors: None,
            discovery: None,
        }
    }
}

/// `host:port` of a URL, with the scheme's default port when none is written and IPv6
/// hosts in brackets.
pub fn address_of(url: &reqwest::Url) -> String {
    // `host_str` keeps IPv6 addresses in brackets.
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct AppSelectors {
    pub success: Selector,
    pub failure: Selector,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// CA bundle (PEM) that signs the target's certificate; replaces the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Name to verify the certificate against (and send as SNI) instead of the URL's host.
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Bearer {
        token_file: PathBuf,
    },
    Basic {
        username: String,
        password: Option<Secret>,
        password_file: Option<PathBuf>,
    },
}

/// A secret value: its `Debug` and `Display` never show it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: line {line}: {field}: {message}")]
    Invalid {
        path: String,
        line: u64,
        field: String,
        message: String,
    },
}

// ---- the file as written -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, with = "humantime_serde")]
    poll_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    window: Option<Duration>,
    #[serde(default)]
    body_size_limit: Option<Spanned<ByteSize>>,
    #[serde(default)]
    stages: BTreeMap<String, Spanned<RawThresholds>>,
    #[serde(default)]
    probes: Option<Spanned<RawProbes>>,
    targets: Option<Vec<RawTarget>>,
    pipelines: Option<Vec<RawPipeline>>,
    /// The canary of the pipeline a top-level `targets:` list makes.
    canary: Option<RawCanary>,
    balance_below: Option<f64>,
    max_tenants: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: Spanned<String>,
    #[serde(default)]
    stages: BTreeMap<String, Spanned<RawThresholds>>,
    targets: Option<Vec<RawTarget>>,
    source: Option<RawSource>,
    canary: Option<RawCanary>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    failing_below: Option<f64>,
    degraded_below: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Spanned<String>,
    role: Role,
    url: String,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default)]
    tls: TlsSettings,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    success: Option<String>,
    failure: Option<String>,
    discovery: Option<RawDiscovery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: String,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

/// A byte count written as a number or with a unit (`16MiB`, `512KiB`, `10MB`).
#[derive(Debug, Clone, Copy)]
struct ByteSize(u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(u64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(n) => Ok(ByteSize(n)),
            Repr::Text(t) => parse_byte_size(&t)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected e.g. 16MiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {text:?}: use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::from_yaml(&text, &shown)
    }

    /// Parses and validates `text`; `path` is only used in error messages.
    pub fn from_yaml(text: &str, path: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: yaml_error_text(&e, text, path),
        })?;
        validate(raw, path)
    }
}

fn validate(raw: RawConfig, path: &str) -> Result<Config, ConfigError> {
    let check = Check { path };
    let poll_interval = raw.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL);
    let window = raw.window.unwrap_or(DEFAULT_WINDOW);
    if poll_interval < Duration::from_millis(100) {
        return Err(check.invalid(0, "poll_interval", "must be at least 100ms"));
    }
    if window < poll_interval * 2 {
        return Err(check.invalid(
            0,
            "window",
            format!(
                "must be at least two poll intervals ({}) to hold a rate",
                humantime::format_duration(poll_interval * 2)
            ),
        ));
    }
    let body_size_limit = match raw.body_size_limit {
        Some(size) if size.value.0 < 1024 => {
            return Err(check.invalid(
                size.referenced.line(),
                "body_size_limit",
                "must be at least 1KiB",
            ));
        }
        Some(size) => size.value.0,
        None => DEFAULT_BODY_SIZE_LIMIT,
    };
    let thresholds = check.thresholds(raw.stages, "stages")?;
    let (pipelines, targets) = match (raw.targets, raw.pipelines) {
        (Some(targets), None) => {
            let mut pipeline = Pipeline::default_with(thresholds.clone());
            let targets = check.targets("targets", 0, targets, poll_interval)?;
            if let Some(raw) = raw.canary {
                pipeline.canary = Some(std::sync::Arc::new(
                    check.canary(0, "canary", raw, &targets)?,
                ));
            }
            (vec![pipeline], targets)
        }
        (None, Some(_)) if raw.canary.is_some() => {
            return Err(check.invalid(
                0,
                "canary",
                "with pipelines, each pipeline has its own canary (pipelines[].canary)",
            ));
        }
        (None, Some(raw_pipelines)) => {
            check.pipelines(raw_pipelines, &thresholds, poll_interval, window)?
        }
        (Some(_), Some(_)) => {
            return Err(check.invalid(
                0,
                "pipelines",
                "use either a top-level targets list (the pipeline \"default\") or pipelines, not both",
            ));
        }
        (None, None) => {
            return Err(check.invalid(0, "targets", "at least one target is needed"));
        }
    };
    let probes = check.probes(raw.probes, poll_interval)?;
    let (balance_below, max_tenants) = check.derive_limits(raw.balance_below, raw.max_tenants)?;
    Ok(Config {
        poll_interval,
        window,
        body_size_limit,
        thresholds,
        probes,
        pipelines,
        targets,
        balance_below,
        max_tenants,
    })
}

impl Check<'_> {
    /// `balance_below` (a ratio below 1) and `max_tenants` (1 to [`MAX_TENANTS_KEPT`]), or
    /// their defaults.
    fn derive_limits(
        &self,
        balance_below: Option<f64>,
        max_tenants: Option<usize>,
    ) -> Result<(f64, usize), ConfigError> {
        let balance_below = balance_below.unwrap_or(DEFAULT_BALANCE_BELOW);
        if !(0.0..1.0).contains(&balance_below) {
            return Err(self.invalid(
                0,
                "balance_below",
                "must be a ratio between 0 and 1 (below 1)",
            ));
        }
        let max_tenants = max_tenants.unwrap_or(DEFAULT_MAX_TENANTS);
        if !(1..=MAX_TENANTS_KEPT).contains(&max_tenants) {
            return Err(self.invalid(
                0,
                "max_tenants",
                format!("must be between 1 and {MAX_TENANTS_KEPT}"),
            ));
        }
        Ok((balance_below, max_tenants))
    }
}

/// Where a target is written: its field path (`pipelines[1].targets[0]`) and pipeline.
struct TargetAt {
    field: String,
    pipeline: usize,
}

/// Validation of one file: each error names the file, the line and the field.
struct Check<'a> {
    path: &'a str,
}

impl Check<'_> {
    fn invalid(
        &self,
        line: u64,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A pipeline's name: printable, and not another pipeline's.
    fn pipeline_name(
        &self,
        line: u64,
        field: &str,
        name: &str,
        names: &mut HashSet<String>,
    ) -> Result<(), ConfigError> {
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(self.invalid(
                line,
                format!("{field}.name"),
                "must be a non-empty printable string",
            ));
        }
        if !names.insert(name.to_owned()) {
            return Err(self.invalid(
                line,
                format!("{field}.name"),
                format!("{name:?} is used by two pipelines"),
            ));
        }
        Ok(())
    }

    /// `pipelines`: unique printable names, each with targets; its own `stages:` over the
    /// top-level thresholds.
    fn pipelines(
        &self,
        raw: Vec<RawPipeline>,
        thresholds: &BTreeMap<Stage, Thresholds>,
        poll_interval: Duration,
        window: Duration,
    ) -> Result<(Vec<Pipeline>, Vec<Target>), ConfigError> {
        if raw.is_empty() {
            return Err(self.invalid(0, "pipelines", "at least one pipeline is needed"));
        }
        let mut names = HashSet::new();
        let mut pipelines = Vec::with_capacity(raw.len());
        let mut targets = Vec::new();
        for (index, p) in raw.into_iter().enumerate() {
            let line = p.name.referenced.line();
            let name = p.name.value;
            let field = format!("pipelines[{index}]");
            self.pipeline_name(line, &field, &name, &mut names)?;
            let mut own = thresholds.clone();
            own.extend(self.thresholds(p.stages, &format!("{field}.stages"))?);
            let source = match (p.targets, p.source) {
                (Some(raw), None) => {
                    targets.extend(self.targets(
                        &format!("{field}.targets"),
                        index,
                        raw,
                        poll_interval,
                    )?);
                    None
                }
                (None, Some(raw)) => Some(std::sync::Arc::new(self.store_source(
                    line,
                    &field,
                    raw,
                    poll_interval,
                    window,
                )?)),
                (Some(_), Some(_)) => {
                    return Err(self.invalid(
                        line,
                        format!("{field}.source"),
                        "a pipeline reads either its targets or a source, not both",
                    ));
                }
                (None, None) => {
                    return Err(self.invalid(
                        line,
                        format!("{field}.targets"),
                        "at least one target (or a source) is needed",
                    ));
                }
            };
            let canary = match p.canary {
                None => None,
                Some(raw) => {
                    let start = targets.partition_point(|t: &Target| t.pipeline < index);
                    Some(std::sync::Arc::new(self.canary(
                        line,
                        &format!("{field}.canary"),
                        raw,
                        &targets[start..],
                    )?))
                }
            };
            pipelines.push(Pipeline {
                name,
                thresholds: own,
                source,
                canary,
            });
        }
        Ok((pipelines, targets))
    }

    /// One pipeline's `targets`: at least one, names unique within the pipeline.
    fn targets(
        &self,
        field: &str,
        pipeline: usize,
        raw: Vec<RawTarget>,
        poll_interval: Duration,
    ) -> Result<Vec<Target>, ConfigError> {
        if raw.is_empty() {
            return Err(self.invalid(0, field, "at least one target is needed"));
        }
        let mut names = HashSet::new();
        let mut targets = Vec::with_capacity(raw.len());
        for (i, t) in raw.into_iter().enumerate() {
            let at = TargetAt {
                field: format!("{field}[{i}]"),
                pipeline,
            };
            targets.push(self.target(at, t, poll_interval, &mut names)?);
        }
        Ok(targets)
    }

    /// `stages.<stage>` (or a pipeline's): known stages, ratios between 0 and 1, failing at
    /// or below degraded.
    fn thresholds(
        &self,
        stages: BTreeMap<String, Spanned<RawThresholds>>,
        prefix: &str,
    ) -> Result<BTreeMap<Stage, Thresholds>, ConfigError> {
        let mut thresholds = BTreeMap::new();
        for (name, spanned) in stages {
            let line = spanned.referenced.line();
            let stage = Stage::from_name(&name).ok_or_else(|| {
                let known: Vec<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                self.invalid(
                    line,
                    format!("{prefix}.{name}"),
                    format!("unknown stage; known stages: {}", known.join(", ")),
                )
            })?;
            let t = Thresholds {
                failing_below: spanned.value.failing_below.unwrap_or(DEFAULT_FAILING_BELOW),
                degraded_below: spanned
                    .value
                    .degraded_below
                    .unwrap_or(DEFAULT_DEGRADED_BELOW),
            };
            for (field, v) in [
                ("failing_below", t.failing_below),
                ("degraded_below", t.degraded_below),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(self.invalid(
                        line,
                        format!("{prefix}.{name}.{field}"),
                        format!("must be a ratio between 0 and 1, got {v}"),
                    ));
                }
            }
            if t.failing_below > t.degraded_below {
                return Err(self.invalid(
                    line,
                    format!("{prefix}.{name}"),
                    "failing_below must not be above degraded_below",
                ));
            }
            thresholds.insert(stage, t);
        }
        Ok(thresholds)
    }

    /// `targets[i]`: a unique printable name, an http(s) URL, a timeout within the poll
    /// interval, TLS files in pairs, one kind of credentials, valid headers, selectors
    /// for apps only, and a discovery block that makes sense for the URL.
    fn target(
        &self,
        at: TargetAt,
        t: RawTarget,
        poll_interval: Duration,
        names: &mut HashSet<String>,
    ) -> Result<Target, ConfigError> {
        let line = t.name.referenced.line();
        let field = |f: &str| format!("{}.{f}", at.field);
        let name = t.name.value;
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(self.invalid(line, field("name"), "must be a non-empty printable string"));
        }
        if !names.insert(name.clone()) {
            return Err(self.invalid(
                line,
                field("name"),
                format!("{name:?} is used by two targets"),
            ));
        }
        let url = self.http_url(line, &field("url"), &t.url)?;
        let timeout = self.timeout_within(line, &field("timeout"), t.timeout, poll_interval)?;
        self.tls_pairs(line, &field("tls"), &t.tls)?;
        let auth = self.auth(
            line,
            &field("basic_auth"),
            t.bearer_token_file,
            t.basic_auth,
        )?;
        self.headers(line, &field, &t.headers)?;
        let app_selectors = self.app_selectors(line, &field, t.role, t.success, t.failure)?;
        let discovery = match t.discovery {
            None => None,
            Some(raw) => Some(raw.check(&url).map_err(|(sub, message)| {
                let name = if sub.is_empty() {
                    field("discovery")
                } else {
                    field(&format!("discovery.{sub}"))
                };
                self.invalid(line, name, message)
            })?),
        };
        Ok(Target {
            pipeline: at.pipeline,
            name,
            address: address_of(&url),
            role: t.role,
            url,
            timeout,
            tls: t.tls,
            auth,
            headers: t.headers,
            app_selectors,
            discovery,
        })
    }

    /// An absolute http(s) URL with a host, shown without its credentials when refused.
    fn http_url(&self, line: u64, field: &str, text: &str) -> Result<reqwest::Url, ConfigError> {
        let shown = without_userinfo(text);
        let url = reqwest::Url::parse(text)
            .map_err(|e| self.invalid(line, field, format!("{shown:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.invalid(
                line,
                field,
                format!("{shown:?} must be an absolute http:// or https:// URL"),
            ));
        }
        Ok(url)
    }

    /// A request timeout: as written or min(10s, poll_interval), above zero and at most the
    /// poll interval.
    fn timeout_within(
        &self,
        line: u64,
        field: &str,
        timeout: Option<Duration>,
        poll_interval: Duration,
    ) -> Result<Duration, ConfigError> {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT.min(poll_interval));
        if timeout.is_zero() || timeout > poll_interval {
            return Err(self.invalid(
                line,
                field,
                format!(
                    "must be above zero and at most poll_interval ({})",
                    humantime::format_duration(poll_interval)
                ),
            ));
        }
        Ok(timeout)
    }

    /// A client certificate and its key go together.
    fn tls_pairs(&self, line: u64, field: &str, tls: &TlsSettings) -> Result<(), ConfigError> {
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(self.invalid(line, field, "cert_file and key_file go together"));
        }
        Ok(())
    }

    /// Bearer token or basic auth, not both; a password or a password file, not both.
    fn auth(
        &self,
        line: u64,
        field: &str,
        bearer_token_file: Option<PathBuf>,
        basic_auth: Option<RawBasicAuth>,
    ) -> Result<Auth, ConfigError> {
        Ok(match (bearer_token_file, basic_auth) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    line,
                    field,
                    "use either bearer_token_file or basic_auth",
                ));
            }
            (Some(token_file), None) => Auth::Bearer { token_file },
            (None, Some(b)) => {
                if b.password.is_some() && b.password_file.is_some() {
                    return Err(self.invalid(line, field, "use either password or password_file"));
                }
                Auth::Basic {
                    username: b.username,
                    password: b.password,
                    password_file: b.password_file,
                }
            }
            (None, None) => Auth::None,
        })
    }

    /// Header names and values HTTP accepts.
    fn headers(
        &self,
        line: u64,
        field: &dyn Fn(&str) -> String,
        headers: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        for header in headers.keys() {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(self.invalid(
                    line,
                    field("headers"),
                    format!("{header:?} is not a valid header name"),
                ));
            }
        }
        for (header, value) in headers {
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(self.invalid(
                    line,
                    field(&format!("headers.{header}")),
                    "is not a valid header value",
                ));
            }
        }
        Ok(())
    }

    /// An app's success and failure selectors (both, or neither: then its SDK's own
    /// self-metrics are read); none for other roles.
    fn app_selectors(
        &self,
        line: u64,
        field: &dyn Fn(&str) -> String,
        role: Role,
        success: Option<String>,
        failure: Option<String>,
    ) -> Result<Option<AppSelectors>, ConfigError> {
        match (role, success, failure) {
            (Role::App, Some(success), Some(failure)) => {
                let parse = |f: &str, s: &str| {
                    Selector::parse(s).map_err(|e| self.invalid(line, field(f), e.to_string()))
                };
                Ok(Some(AppSelectors {
                    success: parse("success", &success)?,
                    failure: parse("failure", &failure)?,
                }))
            }
            (_, None, None) => Ok(None),
            (Role::App, ..) => Err(self.invalid(
                line,
                field("success"),
                "success and failure go together (or give neither: the app's SDK self-metrics are read), e.g. 'otel_sdk_exporter_span_exported_total{error_type=\"\"}'",
            )),
            (role, ..) => Err(self.invalid(
                line,
                field("success"),
                format!(
                    "success/failure selectors are for app targets; {} counters are built in",
                    role.as_str()
                ),
            )),
        }
    }

    /// `probes`: on by default, a timeout between 10 ms and the poll interval, a readable
    /// CA file.
    fn probes(
        &self,
        probes: Option<Spanned<RawProbes>>,
        poll_interval: Duration,
    ) -> Result<Probes, ConfigError> {
        let (line, raw) = match probes {
            None => (
                0,
                RawProbes {
                    grpc_health: true,
                    ..RawProbes::default()
                },
            ),
            Some(spanned) => (spanned.referenced.line(), spanned.value),
        };
        let grpc_timeout = match raw.grpc_timeout {
            None => DEFAULT_PROBE_TIMEOUT.min(poll_interval),
            Some(t) if t < Duration::from_millis(10) || t > poll_interval => {
                return Err(self.invalid(
                    line,
                    "probes.grpc_timeout",
                    format!(
                        "must be between 10ms and poll_interval ({})",
                        humantime::format_duration(poll_interval)
                    ),
                ));
            }
            Some(t) => t,
        };
        if let Some(ca) = &raw.grpc_tls.ca_file
            && !ca.is_file()
        {
            return Err(self.invalid(
                line,
                "probes.grpc_tls.ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
        Ok(Probes {
            grpc_health: raw.grpc_health,
            grpc_timeout,
            grpc_tls: raw.grpc_tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The minimal shape of the first design, which must keep working.
    const DESIGN_EXAMPLE: &str = r#"
poll_interval: 15s
window: 5m
targets:
  - name: tempo
    role: tempo
    url: http://127.0.0.1:3200
  - name: otelcol
    role: collector
    url: http://127.0.0.1:8888/metrics
  - name: backend
    role: app
    url: http://127.0.0.1:3010/monitoring/metrics
    success: 'otel_sdk_exporter_span_exported_total{error_type=""}'
    failure: 'otel_sdk_exporter_span_exported_total{error_type!=""}'
"#;

    fn error_of(yaml: &str) -> String {
        Config::from_yaml(yaml, "spanflow.yml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_design_example_loads_with_defaults() {
        let c = Config::from_yaml(DESIGN_EXAMPLE, "x").unwrap();
        assert_eq!(
            (c.poll_interval, c.window),
            (Duration::from_secs(15), Duration::from_secs(300))
        );
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.targets[0].timeout, Duration::from_secs(10));
        assert_eq!(c.body_size_limit, 16 << 20);
        assert_eq!(
            c.targets[2].app_selectors.as_ref().unwrap().success.metric,
            "otel_sdk_exporter_span_exported_total"
        );
        assert_eq!(c.thresholds(Stage::TempoDistributor), Thresholds::default());
    }

    #[test]
    fn pipelines_have_their_own_targets_and_thresholds() {
        let c = Config::from_yaml(
            "stages: {tempo_distributor: {degraded_below: 0.9}}\npipelines:\n  - name: eu\n    stages: {tempo_distributor: {failing_below: 0.2}}\n    targets:\n      - {name: tempo, role: tempo, url: 'http://eu:3200'}\n  - name: us\n    targets:\n      - {name: tempo, role: tempo, url: 'http://us:3200'}\n      - {name: otel, role: collector, url: 'http://us:8888/metrics'}\n",
            "x",
        )
        .unwrap();
        let names: Vec<&str> = c.pipelines.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["eu", "us"]);
        let of = |i: usize| -> Vec<(&str, &str)> {
            c.targets_of(i)
                .iter()
                .map(|t| (t.name.as_str(), t.address.as_str()))
                .collect()
        };
        assert_eq!(of(0), [("tempo", "eu:3200")]);
        assert_eq!(of(1), [("tempo", "us:3200"), ("otel", "us:8888")]);
        let d = Stage::TempoDistributor;
        assert_eq!(
            c.pipelines[0].thresholds(d),
            Thresholds {
                failing_below: 0.2,
                degraded_below: DEFAULT_DEGRADED_BELOW
            }
        );
        assert_eq!(
            c.pipelines[1].thresholds(d),
            Thresholds {
                failing_below: DEFAULT_FAILING_BELOW,
                degraded_below: 0.9
            }
        );
        // A top-level targets list is the pipeline "default".
        let c = Config::from_yaml(DESIGN_EXAMPLE, "x").unwrap();
        assert_eq!(c.pipelines.len(), 1);
        assert_eq!(c.pipelines[0].name, DEFAULT_PIPELINE);
        assert_eq!(c.targets_of(0).len(), 3);
    }

    #[test]
    fn pipeline_and_discovery_errors_name_their_field() {
        let t = "targets: [{name: t, role: tempo, url: 'http://x:1'}]";
        assert_eq!(
            error_of(&format!("{t}\npipelines: [{{name: a, {t}}}]\n")),
            "spanflow.yml: line 0: pipelines: use either a top-level targets list (the pipeline \"default\") or pipelines, not both"
        );
        assert_eq!(
            error_of(&format!(
                "pipelines:\n  - {{name: a, {t}}}\n  - {{name: a, {t}}}\n"
            )),
            "spanflow.yml: line 3: pipelines[1].name: \"a\" is used by two pipelines"
        );
        assert_eq!(
            error_of(
                "pipelines:\n  - name: a\n    targets:\n      - {name: t, role: tempo, url: 'http://x:1'}\n      - {name: d, role: tempo, url: 'http://x:1', discovery: {dns: {type: SRV}}}\n"
            ),
            "spanflow.yml: line 5: pipelines[0].targets[1].discovery.dns.name: SRV discovery needs the record's name, e.g. _http-metrics._tcp.tempo-distributor.tracing.svc.cluster.local"
        );
        assert_eq!(
            error_of(
                "pipelines:\n  - name: a\n    stages: {tempo_nope: {failing_below: 0.1}}\n    targets: [{name: t, role: tempo, url: 'http://x:1'}]\n"
            ),
            "spanflow.yml: line 3: pipelines[0].stages.tempo_nope: unknown stage; known stages: app, collector_receiver, collector_exporter, tempo_distributor, tempo_kafka, tempo_ingester, tempo_live_store, tempo_storage, canary"
        );
        assert!(
            error_of("pipelines: []\n").ends_with("pipelines: at least one pipeline is needed")
        );
        // The same target name in two pipelines is two targets.
        Config::from_yaml(
            &format!("pipelines:\n  - {{name: a, {t}}}\n  - {{name: b, {t}}}\n"),
            "x",
        )
        .unwrap();
    }

    #[test]
    fn unknown_fields_are_rejected_with_file_line_and_field() {
        let e = error_of(
            "targets:\n  - name: t\n    role: tempo\n    url: http://x\n    tiemout: 5s\n",
        );
        assert!(
            e.starts_with("spanflow.yml: line 5 column 5: unknown field `tiemout`"),
            "{e}"
        );
    }

    #[test]
    fn semantic_errors_name_line_and_field() {
        let e = error_of(
            "targets:\n  - name: a\n    role: tempo\n    url: http://x\n  - name: b\n    role: app\n    url: http://y/metrics\n    success: 'm{a=b}'\n    failure: 'm'\n",
        );
        assert_eq!(
            e,
            "spanflow.yml: line 5: targets[1].success: invalid selector \"m{a=b}\": label values must be in double quotes"
        );
        let e = error_of("targets:\n  - name: a\n    role: tempo\n    url: ftp://x\n");
        assert!(
            e.starts_with("spanflow.yml: line 2: targets[0].url:"),
            "{e}"
        );
        let e = error_of(
            "targets:\n  - name: a\n    role: tempo\n    url: http://x\n  - name: a\n    role: tempo\n    url: http://y\n",
        );
        assert_eq!(
            e,
            "spanflow.yml: line 5: targets[1].name: \"a\" is used by two targets"
        );
        let e = error_of(
            "poll_interval: 15s\ntargets:\n  - name: a\n    role: tempo\n    url: http://x\n    timeout: 20s\n",
        );
        assert_eq!(
            e,
            "spanflow.yml: line 3: targets[0].timeout: must be above zero and at most poll_interval (15s)"
        );
    }

    #[test]
    fn thresholds_and_sizes_are_checked() {
        let ok = Config::from_yaml(
            "body_size_limit: 512KiB\nstages:\n  tempo_ingester: {degraded_below: 0.5}\ntargets:\n  - {name: a, role: tempo, url: 'http://x'}\n",
            "x",
        )
        .unwrap();
        assert_eq!(ok.body_size_limit, 512 * 1024);
        assert_eq!(ok.thresholds(Stage::TempoIngester).degraded_below, 0.5);
        let e = error_of(
            "stages:\n  tempo_ingestor: {}\ntargets:\n  - {name: a, role: tempo, url: 'http://x'}\n",
        );
        assert!(
            e.starts_with("spanflow.yml: line 2: stages.tempo_ingestor: unknown stage"),
            "{e}"
        );
        let e = error_of("body_size_limit: 16 parsecs\ntargets: []\n");
        assert!(e.contains("invalid size unit"), "{e}");
    }

    #[test]
    fn selectors_belong_to_app_targets_only() {
        // Neither selector: the app's SDK self-metrics are read.
        let c = Config::from_yaml("targets:\n  - {name: a, role: app, url: 'http://x'}\n", "x")
            .unwrap();
        assert!(c.targets[0].app_selectors.is_none());
        let e = error_of("targets:\n  - {name: a, role: app, url: 'http://x', success: 'm'}\n");
        assert!(
            e.contains("targets[0].success: success and failure go together"),
            "{e}"
        );
        let e = error_of("targets:\n  - {name: a, role: tempo, url: 'http://x', success: 'm'}\n");
        assert!(e.contains("selectors are for app targets"), "{e}");
    }

    #[test]
    fn passwords_never_print() {
        let c = Config::from_yaml(
            "targets:\n  - name: a\n    role: tempo\n    url: http://x\n    basic_auth: {username: u, password: hunter2}\n",
            "x",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn the_probe_timeout_defaults_to_2s_or_the_poll_interval() {
        let c = |yaml: &str| Config::from_yaml(yaml, "x").unwrap().probes.grpc_timeout;
        let target = "targets:\n  - {name: a, role: tempo, url: 'http://x', timeout: 100ms}\n";
        assert_eq!(c(target), Duration::from_secs(2));
        assert_eq!(
            c(&format!("poll_interval: 500ms\nwindow: 5s\n{target}")),
            Duration::from_millis(500)
        );
        assert_eq!(
            c(&format!(
                "poll_interval: 500ms\nwindow: 5s\nprobes: {{grpc_health: false}}\n{target}"
            )),
            Duration::from_millis(500)
        );
        let e = error_of(&format!(
            "poll_interval: 500ms\nwindow: 5s\nprobes: {{grpc_timeout: 1s}}\n{target}"
        ));
        assert!(
            e.contains("line 3: probes.grpc_timeout: must be between"),
            "{e}"
        );
    }

    #[test]
    fn url_errors_hide_user_and_password() {
        let e = error_of(
            "targets:\n  - {name: a, role: tempo, url: 'http://u:hunter2@ho st:3200/x'}\n",
        );
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("http://<hidden>@ho st:3200/x"), "{e}");
        let e = error_of("targets:\n  - {name: a, role: tempo, url: 'ftp://u:hunter2@host/x'}\n");
        assert!(
            !e.contains("hunter2") && e.contains("ftp://<hidden>@host/x"),
            "{e}"
        );
        assert_eq!(without_userinfo("http://host/a@b"), "http://host/a@b");
        assert_eq!(
            without_userinfo("http://host:host@host/"),
            "http://<hidden>@host/"
        );
    }

    #[test]
    fn yaml_errors_name_the_key_but_quote_no_value() {
        let e = error_of("targets:\n  - name: a\n    role: nope\n    url: http://x\n");
        assert!(
            e.starts_with("spanflow.yml: line 3 column 11 (role): unknown variant `nope`"),
            "{e}"
        );
        let e = error_of(
            "targets:\n  - {name: a, role: tempo, url: 'http://x', basic_auth: {username: u, password: hunter2, pasword: hunter2}}\n",
        );
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("unknown field `pasword`"), "{e}");
    }
}
