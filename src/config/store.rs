//! `pipelines[].source.prometheus`: a pipeline whose counters are read from a
//! Prometheus-compatible query API (Prometheus, Mimir, Thanos, VictoriaMetrics) instead of
//! from each pod's page.
//!
//! Input: the block as written. Output: a checked [`StoreSource`] — the API as a target
//! (URL, TLS, credentials, headers such as Mimir's `X-Scope-OrgID`, timeout), the query
//! parameters passed through, the labels the pipeline is split by, the store's scrape
//! interval and the two windows, the selector of each role's series, and where Tempo's own
//! HTTP API is (for evidence only it has). It never runs a query: that is
//! `source::store`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::selector::Selector;
use super::{AppSelectors, Check, RawBasicAuth, Target, TlsSettings};
use crate::model::stage::Role;

/// Prometheus' default `scrape_interval` is 1m; what most Kubernetes setups use is 15s or
/// 30s. spanflow assumes 15s unless told.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(15);

/// A status window holds this many scrapes by default: `increase` needs two samples in its
/// range, and four leave room for a missed scrape — the rule of thumb Prometheus' own docs
/// give for `rate` ranges.
pub const STATUS_WINDOW_SCRAPES: u32 = 4;

/// Where a store-sourced pipeline reads from, and what.
#[derive(Debug, Clone)]
pub struct StoreSource {
    /// The API: URL (its base: `http://prometheus:9090`, `http://mimir:8080/prometheus`),
    /// TLS, credentials, headers, timeout. Its name is `prometheus`, its role unused.
    pub api: Target,
    /// Query parameters added to every query (Thanos' `dedup`, `partial_response`).
    pub params: Vec<(String, String)>,
    /// One pipeline per combination of these labels' values, named `<name>/<v1>/<v2>`.
    pub split_by: Vec<String>,
    pub scrape_interval: Duration,
    /// The range of the increases stage status is judged on.
    pub status_window: Duration,
    /// The range of the increases ratios and rates are computed over: the configuration's
    /// `window` (kept here so `spanflow diagnose`, which shortens the window for targets
    /// it must poll twice, reads the store over the window configured).
    pub window: Duration,
    /// In role order (app, collector, tempo).
    pub roles: Vec<RoleSeries>,
    pub tempo_api: Option<TempoApi>,
    /// The most series one answer may hold; a larger answer fails the poll, named, rather
    /// than be read (a selector matching far more than meant, a `split_by` label with a
    /// value per pod).
    pub max_series: usize,
}

/// Series one answer may hold unless `max_series` says otherwise: the plan's answers hold
/// one sample per split value (and reason, tenant, component), so a few thousand at most.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// The series of one role in the store.
#[derive(Debug, Clone)]
pub struct RoleSeries {
    pub role: Role,
    /// The inside of the role's selector (`job=~".+/ingester", cluster!=""`), possibly empty.
    pub matchers: String,
    /// For the app role: which series count exported and failed spans.
    pub app: Option<AppSelectors>,
}

/// Tempo's HTTP API for a store-sourced pipeline: a URL, or a template whose `{label}`
/// places take the values of the pipeline's `split_by` labels.
#[derive(Debug, Clone)]
pub struct TempoApi {
    pub url_template: String,
    /// TLS, credentials, headers and timeout of every Tempo the template names; its URL is
    /// the template with every place filled with `x` (checked to be a URL).
    pub target: Target,
}

impl TempoApi {
    /// The URL for one split value (`labels` in `split_by` order), or why there is none.
    pub fn url_for(&self, split_by: &[String], values: &[String]) -> Result<reqwest::Url, String> {
        let mut url = self.url_template.clone();
        for (label, value) in split_by.iter().zip(values) {
            url = url.replace(&format!("{{{label}}}"), value);
        }
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if parsed.host().is_none() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(parsed)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    prometheus: Option<RawPrometheus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrometheus {
    url: String,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default)]
    tls: TlsSettings,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    split_by: Vec<String>,
    #[serde(default, with = "humantime_serde")]
    scrape_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    status_window: Option<Duration>,
    roles: Option<RawRoles>,
    tempo_api: Option<RawTempoApi>,
    max_series: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    tempo: Option<String>,
    collector: Option<String>,
    app: Option<RawAppRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppRole {
    #[serde(default)]
    selector: String,
    success: String,
    failure: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTempoApi {
    url: String,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default)]
    tls: TlsSettings,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// What the target-like parts of `prometheus:` and `tempo_api:` have in common.
struct Endpoint {
    name: &'static str,
    role: Role,
    url: String,
    timeout: Option<Duration>,
    tls: TlsSettings,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<RawBasicAuth>,
    headers: BTreeMap<String, String>,
}

/// A label name as Prometheus allows it.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl Check<'_> {
    /// `pipelines[i].source`: a `prometheus` block with a URL, a timeout within the poll
    /// interval, windows that hold two scrapes and fit in the window, at least one role
    /// with a selector that parses, split labels that are label names, and a
    /// `tempo_api` template that places only split labels.
    pub(super) fn store_source(
        &self,
        line: u64,
        field: &str,
        raw: RawSource,
        poll_interval: Duration,
        window: Duration,
    ) -> Result<StoreSource, super::ConfigError> {
        let field = format!("{field}.source");
        let Some(p) = raw.prometheus else {
            return Err(self.invalid(line, field, "needs a prometheus block"));
        };
        let field = format!("{field}.prometheus");
        let at = |f: &str| format!("{field}.{f}");
        let api = self.endpoint(
            line,
            &field,
            Endpoint {
                name: "prometheus",
                role: Role::Tempo,
                url: p.url,
                timeout: p.timeout,
                tls: p.tls,
                bearer_token_file: p.bearer_token_file,
                basic_auth: p.basic_auth,
                headers: p.headers,
            },
            poll_interval,
        )?;
        let split_by = self.split_labels(line, &at("split_by"), p.split_by)?;
        let scrape_interval = p.scrape_interval.unwrap_or(DEFAULT_SCRAPE_INTERVAL);
        if scrape_interval.is_zero() {
            return Err(self.invalid(line, at("scrape_interval"), "must be above zero"));
        }
        let status_window = p
            .status_window
            .unwrap_or(scrape_interval * STATUS_WINDOW_SCRAPES);
        if status_window < scrape_interval * 2 {
            return Err(self.invalid(
                line,
                at("status_window"),
                format!(
                    "must hold at least two scrapes ({}): increase needs two samples",
                    humantime::format_duration(scrape_interval * 2)
                ),
            ));
        }
        if status_window > window {
            return Err(self.invalid(
                line,
                at("status_window"),
                format!(
                    "must not be longer than window ({})",
                    humantime::format_duration(window)
                ),
            ));
        }
        let max_series = p.max_series.unwrap_or(DEFAULT_MAX_SERIES);
        if max_series == 0 {
            return Err(self.invalid(line, at("max_series"), "must be at least 1"));
        }
        let roles = self.role_series(line, &at("roles"), p.roles)?;
        let tempo_api = match p.tempo_api {
            None => None,
            Some(t) => Some(self.tempo_api(line, &at("tempo_api"), t, &split_by, poll_interval)?),
        };
        Ok(StoreSource {
            api,
            params: p.params.into_iter().collect(),
            split_by,
            scrape_interval,
            status_window,
            window,
            roles,
            tempo_api,
            max_series,
        })
    }

    /// `split_by`: label names, each once.
    fn split_labels(
        &self,
        line: u64,
        field: &str,
        labels: Vec<String>,
    ) -> Result<Vec<String>, super::ConfigError> {
        let mut split_by = Vec::new();
        for label in labels {
            if !is_label_name(&label) {
                return Err(self.invalid(line, field, format!("{label:?} is not a label name")));
            }
            if split_by.contains(&label) {
                return Err(self.invalid(line, field, format!("{label:?} is listed twice")));
            }
            split_by.push(label);
        }
        Ok(split_by)
    }

    /// `roles`: at least one; each a `{…}` selector (the app's also its success and
    /// failure selectors).
    fn role_series(
        &self,
        line: u64,
        field: &str,
        raw: Option<RawRoles>,
    ) -> Result<Vec<RoleSeries>, super::ConfigError> {
        let Some(raw) = raw else {
            return Err(self.invalid(
                line,
                field,
                "name the series of at least one role, e.g. tempo: '{job=~\".+/distributor\"}'",
            ));
        };
        let matchers = |role: &str, selector: &str| {
            matchers_of(selector).map_err(|m| self.invalid(line, format!("{field}.{role}"), m))
        };
        let mut roles = Vec::new();
        if let Some(app) = raw.app {
            let parse = |f: &str, s: &str| {
                Selector::parse(s)
                    .map_err(|e| self.invalid(line, format!("{field}.app.{f}"), e.to_string()))
            };
            roles.push(RoleSeries {
                role: Role::App,
                matchers: matchers("app.selector", &app.selector)?,
                app: Some(AppSelectors {
                    success: parse("success", &app.success)?,
                    failure: parse("failure", &app.failure)?,
                }),
            });
        }
        for (role, selector) in [(Role::Collector, raw.collector), (Role::Tempo, raw.tempo)] {
            if let Some(selector) = selector {
                roles.push(RoleSeries {
                    role,
                    matchers: matchers(role.as_str(), &selector)?,
                    app: None,
                });
            }
        }
        if roles.is_empty() {
            return Err(self.invalid(line, field, "name the series of at least one role"));
        }
        Ok(roles)
    }

    fn tempo_api(
        &self,
        line: u64,
        field: &str,
        t: RawTempoApi,
        split_by: &[String],
        poll_interval: Duration,
    ) -> Result<TempoApi, super::ConfigError> {
        // Every `{place}` must be a split label: the URL differs per split value.
        let mut rest = t.url.as_str();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(self.invalid(line, format!("{field}.url"), "a '{' without '}'"));
            };
            let place = &rest[open + 1..open + close];
            if !split_by.iter().any(|l| l == place) {
                return Err(self.invalid(
                    line,
                    format!("{field}.url"),
                    format!(
                        "{{{place}}} is not a label of split_by ({})",
                        split_by.join(", ")
                    ),
                ));
            }
            rest = &rest[open + close + 1..];
        }
        let mut filled = t.url.clone();
        for label in split_by {
            filled = filled.replace(&format!("{{{label}}}"), "x");
        }
        let target = self.endpoint(
            line,
            field,
            Endpoint {
                name: "tempo_api",
                role: Role::Tempo,
                url: filled,
                timeout: t.timeout,
                tls: t.tls,
                bearer_token_file: t.bearer_token_file,
                basic_auth: t.basic_auth,
                headers: t.headers,
            },
            poll_interval,
        )?;
        Ok(TempoApi {
            url_template: t.url,
            target,
        })
    }

    /// The target-like part of `prometheus:` or `tempo_api:`: checked as a target's.
    fn endpoint(
        &self,
        line: u64,
        field: &str,
        e: Endpoint,
        poll_interval: Duration,
    ) -> Result<Target, super::ConfigError> {
        let at = |f: &str| format!("{field}.{f}");
        let url = self.http_url(line, &at("url"), &e.url)?;
        let timeout = self.timeout_within(line, &at("timeout"), e.timeout, poll_interval)?;
        self.tls_pairs(line, &at("tls"), &e.tls)?;
        let auth = self.auth(line, &at("basic_auth"), e.bearer_token_file, e.basic_auth)?;
        self.headers(line, &at, &e.headers)?;
        let mut target = Target::new(e.name, e.role, url);
        target.timeout = timeout;
        target.tls = e.tls;
        target.auth = auth;
        target.headers = e.headers;
        Ok(target)
    }
}

/// The inside of a `{…}` selector, checked with the selector parser; `""` for none.
fn matchers_of(selector: &str) -> Result<String, String> {
    let s = selector.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| {
            format!("{s:?} must be a label selector in braces, e.g. {{job=\"tempo\"}}")
        })?;
    // The parser wants a metric name before the braces; the matchers are what is checked.
    Selector::parse(&format!("x{s}")).map_err(|e| e.reason)?;
    Ok(inner.trim().trim_end_matches(',').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const FULL: &str = r#"
poll_interval: 15s
window: 5m
pipelines:
  - name: fleet
    source:
      prometheus:
        url: http://mimir:8080/prometheus
        headers: {X-Scope-OrgID: ops}
        params: {dedup: "true"}
        timeout: 10s
        split_by: [cluster]
        roles:
          tempo: '{job=~".+/(distributor|ingester)"}'
          collector: '{job=~".+/otel-collector"}'
          app: {selector: '{job="backend"}', success: 'otel_sdk_exporter_span_exported_total{error_type=""}', failure: 'otel_sdk_exporter_span_exported_total{error_type!=""}'}
        tempo_api: {url: 'https://tempo.{cluster}.example:3200'}
"#;

    fn error_of(source: &str) -> String {
        let yaml = format!("pipelines:\n  - name: fleet\n    source:\n      prometheus:\n{source}");
        Config::from_yaml(&yaml, "s.yml").unwrap_err().to_string()
    }

    #[test]
    fn the_issue_example_loads_with_its_defaults() {
        let c = Config::from_yaml(FULL, "s.yml").unwrap();
        assert!(c.targets.is_empty());
        let s = c.pipelines[0].source.as_ref().unwrap();
        assert_eq!(s.api.url.as_str(), "http://mimir:8080/prometheus");
        assert_eq!(s.api.headers["X-Scope-OrgID"], "ops");
        assert_eq!(s.params, [("dedup".to_owned(), "true".to_owned())]);
        assert_eq!(s.split_by, ["cluster"]);
        assert_eq!(s.scrape_interval, DEFAULT_SCRAPE_INTERVAL);
        assert_eq!(s.status_window, Duration::from_secs(60));
        assert_eq!(s.window, Duration::from_secs(300));
        let roles: Vec<(Role, &str)> = s
            .roles
            .iter()
            .map(|r| (r.role, r.matchers.as_str()))
            .collect();
        assert_eq!(
            roles,
            [
                (Role::App, r#"job="backend""#),
                (Role::Collector, r#"job=~".+/otel-collector""#),
                (Role::Tempo, r#"job=~".+/(distributor|ingester)""#),
            ]
        );
        assert_eq!(
            s.tempo_api.as_ref().unwrap().url_template,
            "https://tempo.{cluster}.example:3200"
        );
    }

    #[test]
    fn every_mistake_names_its_field() {
        let url = "        url: http://p:9090\n";
        let roles = "        roles: {tempo: '{job=\"t\"}'}\n";
        for (block, want) in [
            (
                url.to_string(),
                "pipelines[0].source.prometheus.roles: name the series of at least one role",
            ),
            (
                format!("{url}        roles: {{tempo: 'job=\"t\"'}}\n"),
                "pipelines[0].source.prometheus.roles.tempo: \"job=\\\"t\\\"\" must be a label selector in braces",
            ),
            (
                format!("{url}        roles: {{tempo: '{{job=t}}'}}\n"),
                "roles.tempo: label values must be in double quotes",
            ),
            (
                format!("        url: ftp://p\n{roles}"),
                "pipelines[0].source.prometheus.url: \"ftp://p\" must be an absolute http:// or https:// URL",
            ),
            (
                format!("{url}{roles}        split_by: [cluster, cluster]\n"),
                "split_by: \"cluster\" is listed twice",
            ),
            (
                format!("{url}{roles}        split_by: ['a-b']\n"),
                "split_by: \"a-b\" is not a label name",
            ),
            (
                format!("{url}{roles}        scrape_interval: 30s\n        status_window: 45s\n"),
                "status_window: must hold at least two scrapes (1m)",
            ),
            (
                format!("{url}{roles}        status_window: 10m\n"),
                "status_window: must not be longer than window (5m)",
            ),
            (
                format!("{url}{roles}        max_series: 0\n"),
                "max_series: must be at least 1",
            ),
            (
                format!("{url}{roles}        timeout: 1m\n"),
                "timeout: must be above zero and at most poll_interval (15s)",
            ),
            (
                format!("{url}{roles}        tempo_api: {{url: 'http://tempo.{{region}}:3200'}}\n"),
                "tempo_api.url: {region} is not a label of split_by ()",
            ),
            (
                format!(
                    "{url}{roles}        bearer_token_file: /t\n        basic_auth: {{username: u}}\n"
                ),
                "basic_auth: use either bearer_token_file or basic_auth",
            ),
        ] {
            let e = error_of(&block);
            assert!(e.contains(want), "{block}\n→ {e}\nwants {want}");
        }
        let both = "pipelines:\n  - name: f\n    targets: [{name: t, role: tempo, url: 'http://x:1'}]\n    source: {prometheus: {url: 'http://p:9090', roles: {tempo: '{}'}}}\n";
        assert!(
            Config::from_yaml(both, "s.yml")
                .unwrap_err()
                .to_string()
                .contains("a pipeline reads either its targets or a source, not both")
        );
        let neither = "pipelines:\n  - name: f\n";
        assert!(
            Config::from_yaml(neither, "s.yml")
                .unwrap_err()
                .to_string()
                .contains("pipelines[0].targets: at least one target (or a source) is needed")
        );
        let empty = "pipelines:\n  - name: f\n    source: {}\n";
        assert!(
            Config::from_yaml(empty, "s.yml")
                .unwrap_err()
                .to_string()
                .contains("pipelines[0].source: needs a prometheus block")
        );
    }

    #[test]
    fn role_selectors_keep_their_matchers_and_refuse_what_is_not_a_selector() {
        assert_eq!(
            matchers_of(r#"{job=~".+/ingester"}"#).unwrap(),
            r#"job=~".+/ingester""#
        );
        assert_eq!(matchers_of("").unwrap(), "");
        assert!(matchers_of(r#"job="x""#).unwrap_err().contains("in braces"));
        assert!(
            matchers_of(r#"{job=x}"#)
                .unwrap_err()
                .contains("double quotes")
        );
    }

    #[test]
    fn a_tempo_api_template_is_filled_per_split_value() {
        let api = TempoApi {
            url_template: "https://tempo.{cluster}.example:3200".into(),
            target: Target::new(
                "tempo_api",
                Role::Tempo,
                reqwest::Url::parse("https://tempo.x.example:3200").unwrap(),
            ),
        };
        let url = api.url_for(&["cluster".into()], &["eu-1".into()]).unwrap();
        assert_eq!(url.as_str(), "https://tempo.eu-1.example:3200/");
        assert!(api.url_for(&["cluster".into()], &["a b/".into()]).is_err());
    }
}
