//! The shipped dashboards and rules, checked as code:
//! - `promtool check rules` / `promtool test rules` over `alerts/`, `promtool check config` over
//!   `examples/prometheus.yml`, `amtool check-config` over `examples/alertmanager.yml`;
//! - the dashboard-linter and mixtool rules of `testdata/research/rust-choices.md` §5
//!   (reimplemented: those Go tools cannot be installed here);
//! - every expression parsed with `promql-parser` (dashboards after Grafana macro
//!   substitution), every `spanflow_*` name present in spanflow's real `/metrics` output, every
//!   Tempo/Collector name of the recording rules present in real captures;
//! - the recording rules' ratios equal to what spanflow computes from the same counters.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo(rel)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo("dashboards/spanflow-pipeline.json")).unwrap(),
    )
    .unwrap()
}

// ---- promtool and amtool -------------------------------------------------------------------

#[test]
fn promtool_checks_and_unit_tests_pass() {
    let checked = common::run_tool(
        "promtool",
        &[
            "check",
            "rules",
            "alerts/spanflow-alerts.yaml",
            "alerts/spanflow-recording.yaml",
        ],
    );
    assert!(
        checked.contains("SUCCESS: 12 rules found") && checked.contains("SUCCESS: 15 rules found"),
        "{checked}"
    );
    let tested = common::run_tool(
        "promtool",
        &[
            "test",
            "rules",
            "alerts/tests/spanflow-alerts-test.yaml",
            "alerts/tests/spanflow-recording-test.yaml",
        ],
    );
    assert_eq!(tested.matches("SUCCESS").count(), 2, "{tested}");
}

#[test]
fn example_prometheus_and_alertmanager_configs_are_valid() {
    let prometheus = common::run_tool("promtool", &["check", "config", "examples/prometheus.yml"]);
    assert!(
        prometheus.contains("SUCCESS: 2 rule files found"),
        "{prometheus}"
    );
    let alertmanager = common::run_tool("amtool", &["check-config", "examples/alertmanager.yml"]);
    assert!(alertmanager.contains("SUCCESS"), "{alertmanager}");
    // The critical route pages, the others make tickets.
    let am = yaml("examples/alertmanager.yml");
    let routes = am["route"]["routes"].as_array().unwrap();
    assert_eq!(routes[0]["receiver"], "pager");
    assert!(
        routes[0]["matchers"]
            .to_string()
            .contains("severity=\\\"critical\\\"")
    );
    assert_eq!(am["route"]["receiver"], "ticket");
}

#[test]
fn grafana_provisioning_points_at_the_dashboard_and_a_prometheus() {
    let ds = yaml("examples/grafana/provisioning/datasources/spanflow.yml");
    assert_eq!(ds["datasources"][0]["type"], "prometheus");
    let dash = yaml("examples/grafana/provisioning/dashboards/spanflow.yml");
    let provider = &dash["providers"][0];
    assert_eq!(provider["type"], "file");
    assert!(
        provider["options"]["path"]
            .as_str()
            .unwrap()
            .starts_with('/')
    );
    assert_eq!(provider["allowUiUpdates"], false);
}

// ---- PromQL helpers ------------------------------------------------------------------------

/// Every vector selector in an expression (matrix selectors' included).
fn selectors(e: &Expr, out: &mut Vec<promql_parser::parser::VectorSelector>) {
    match e {
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::VectorSelector(v) => out.push(v.clone()),
        Expr::MatrixSelector(m) => out.push(m.vs.clone()),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

/// The range of every matrix selector passed to a rate-like function.
fn rate_ranges(e: &Expr, out: &mut Vec<(String, Duration)>) {
    match e {
        Expr::Aggregate(a) => rate_ranges(&a.expr, out),
        Expr::Unary(u) => rate_ranges(&u.expr, out),
        Expr::Binary(b) => {
            rate_ranges(&b.lhs, out);
            rate_ranges(&b.rhs, out);
        }
        Expr::Paren(p) => rate_ranges(&p.expr, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                if let Expr::MatrixSelector(m) = a.as_ref()
                    && ["rate", "irate", "increase", "delta", "idelta", "deriv"]
                        .contains(&c.func.name)
                {
                    out.push((c.func.name.to_owned(), m.range));
                }
                rate_ranges(a, out);
            }
        }
        _ => {}
    }
}

/// Metric names an expression reads: selector names and `__name__` matchers (as regexes).
fn names(e: &Expr) -> Vec<String> {
    let mut found = Vec::new();
    selectors(e, &mut found);
    let mut out = Vec::new();
    for v in found {
        if let Some(n) = v.name {
            out.push(n);
        }
        for m in &v.matchers.matchers {
            if m.name == "__name__" {
                out.push(format!("~{}", m.value));
            }
        }
    }
    out
}

fn parse(expr: &str, whence: &str) -> Expr {
    parser::parse(expr).unwrap_or_else(|e| panic!("{whence}: {e}\n{expr}"))
}

/// Rules of a rule file, with their group.
fn rules(rel: &str) -> Vec<(String, Value)> {
    let doc = yaml(rel);
    let mut out = Vec::new();
    for group in doc["groups"].as_array().unwrap() {
        let name = group["name"].as_str().unwrap().to_owned();
        for rule in group["rules"].as_array().unwrap() {
            out.push((name.clone(), rule.clone()));
        }
    }
    out
}

// ---- mixtool's rules over the alerts --------------------------------------------------------

#[test]
fn alerts_follow_the_mixin_conventions() {
    let runbook = std::fs::read_to_string(repo("docs/runbook.md")).unwrap();
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| {
            h.trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .collect::<String>()
                .replace(' ', "-")
        })
        .collect();
    let doc = yaml("alerts/spanflow-alerts.yaml");
    for group in doc["groups"].as_array().unwrap() {
        let name = group["name"].as_str().unwrap();
        assert!(name.len() <= 40, "group {name}: longer than 40 characters");
        assert!(
            group["rules"].as_array().unwrap().len() <= 20,
            "group {name}: more than 20 rules"
        );
    }
    let mut severities = BTreeSet::new();
    for (_, rule) in rules("alerts/spanflow-alerts.yaml") {
        let alert = rule["alert"]
            .as_str()
            .expect("only alerts in spanflow-alerts.yaml");
        assert!(alert.len() <= 40, "{alert}: longer than 40 characters");
        assert!(
            alert.starts_with("Spanflow") && alert.chars().all(|c| c.is_ascii_alphanumeric()),
            "{alert}: CamelCase with the Spanflow prefix"
        );
        assert!(rule["for"].as_str().is_some(), "{alert}: no `for:`");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{alert}: severity {severity:?}"
        );
        severities.insert(severity.to_owned());
        for (label, value) in rule["labels"].as_object().unwrap() {
            let value = value.as_str().unwrap();
            assert!(
                !value.contains("{{") && !value.contains("$value"),
                "{alert}: templated label {label}"
            );
        }
        let a = &rule["annotations"];
        let summary = a["summary"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert}: no summary"));
        assert!(!summary.contains("{{"), "{alert}: summary must be static");
        assert!(
            summary.starts_with(|c: char| c.is_uppercase()) && summary.ends_with('.'),
            "{alert}: summary {summary:?}"
        );
        let description = a["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert}: no description"));
        assert!(
            description.contains("{{"),
            "{alert}: description must be templated"
        );
        let runbook_url = a["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert}: no runbook_url"));
        let anchor = runbook_url
            .strip_prefix("docs/runbook.md#")
            .unwrap_or_else(|| {
                panic!("{alert}: runbook_url {runbook_url} not into docs/runbook.md")
            });
        assert!(
            anchors.contains(anchor),
            "{alert}: docs/runbook.md has no section #{anchor}"
        );
        assert_eq!(
            anchor,
            alert.to_lowercase(),
            "{alert}: one runbook section per alert"
        );
        // Parses, and keeps job and instance: one Prometheus may watch many spanflows; and
        // the pipeline, which every alert but spanflow's own names in its description.
        let text = rule["expr"].as_str().unwrap();
        parse(text, alert);
        assert!(
            text.contains("job") && text.contains("instance"),
            "{alert}: expression drops job/instance"
        );
        if alert != "SpanflowSnapshotStale" {
            assert!(
                text.contains("pipeline") && description.contains("$labels.pipeline"),
                "{alert}: expression or description drops the pipeline"
            );
        }
    }
    assert_eq!(
        severities.len(),
        3,
        "critical, warning and info are all used"
    );
}

#[test]
fn recording_rules_follow_level_metric_operations() {
    for (group, rule) in rules("alerts/spanflow-recording.yaml") {
        assert!(group.len() <= 40);
        let record = rule["record"].as_str().expect("only recording rules");
        let parts: Vec<&str> = record.split(':').collect();
        assert_eq!(parts.len(), 3, "{record}: level:metric:operations");
        assert!(
            parts.iter().all(|p| !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')),
            "{record}"
        );
        parse(rule["expr"].as_str().unwrap(), record);
    }
}

// ---- dashboard-linter's rules over the dashboard ---------------------------------------------

const RATE_INTERVAL: &str = "4m57s"; // an unusual value, to recognise the macro after substitution
const JOB: &str = "__job_variable__";
const INSTANCE: &str = "__instance_variable__";
const PIPELINE: &str = "__pipeline_variable__";

fn substitute_macros(expr: &str) -> String {
    expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$job", JOB)
        .replace("$instance", INSTANCE)
        .replace("$pipeline", PIPELINE)
}

/// Units Grafana knows (the ones a pipeline dashboard may need).
const UNITS: [&str; 12] = [
    "none",
    "short",
    "percent",
    "percentunit",
    "s",
    "ms",
    "bytes",
    "cps",
    "reqps",
    "ops",
    "bool_yes_no",
    "bool",
];

#[test]
fn dashboard_follows_the_dashboard_linter_rules() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"], 42);
    assert_eq!(d["uid"], "spanflow-pipeline");
    assert!(d["id"].is_null());
    assert_eq!(d["editable"], false);
    assert_eq!(d["graphTooltip"], 1);
    assert!(!d["title"].as_str().unwrap().is_empty() && !d["tags"].as_array().unwrap().is_empty());

    let vars = d["templating"]["list"].as_array().unwrap();
    let datasources: Vec<&Value> = vars.iter().filter(|v| v["type"] == "datasource").collect();
    assert_eq!(datasources.len(), 1, "exactly one data-source variable");
    assert_eq!(datasources[0]["name"], "datasource");
    assert_eq!(datasources[0]["query"], "prometheus");
    for name in ["job", "instance"] {
        let v = vars
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name} variable"));
        assert_eq!(v["type"], "query");
        assert_eq!(v["label"], name);
        assert_eq!(v["datasource"]["uid"], "${datasource}");
        assert_eq!(v["multi"], true);
        assert_eq!(v["includeAll"], true);
        assert_eq!(v["allValue"], ".+");
        assert_eq!(v["refresh"], 2, "{name}: refresh on time-range change");
    }

    let mut ids = BTreeSet::new();
    let mut rows = 0;
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        let grid = &p["gridPos"];
        assert!(grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24);
        let kind = p["type"].as_str().unwrap();
        if kind == "row" {
            rows += 1;
            continue;
        }
        let title = p["title"].as_str().unwrap();
        assert!(!title.is_empty());
        assert!(
            [
                "timeseries",
                "stat",
                "state-timeline",
                "table",
                "bargauge",
                "gauge",
                "text",
                "status-history",
                "heatmap"
            ]
            .contains(&kind),
            "{title}: panel type {kind} is deprecated or unexpected"
        );
        assert!(
            p["description"].as_str().is_some_and(|s| s.len() > 20),
            "{title}: no description"
        );
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "{title}: panel data source"
        );
        assert_eq!(p["datasource"]["type"], "prometheus");
        let unit = p["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .unwrap_or_else(|| panic!("{title}: no unit"));
        assert!(UNITS.contains(&unit), "{title}: unit {unit}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "{title}: target data source"
            );
            let raw = t["expr"].as_str().unwrap();
            let expr = parse(&substitute_macros(raw), title);
            let mut found = Vec::new();
            selectors(&expr, &mut found);
            for v in &found {
                let has = |label: &str, value: &str| {
                    v.matchers.matchers.iter().any(|m| {
                        m.name == label && m.value == value && matches!(m.op, MatchOp::Re(_))
                    })
                };
                assert!(has("job", JOB), "{title}: {v} lacks job=~\"$job\"");
                assert!(
                    has("instance", INSTANCE),
                    "{title}: {v} lacks instance=~\"$instance\""
                );
                // Every family with a pipeline label is read for the chosen pipelines.
                let name = v.name.as_deref().unwrap_or_default();
                let per_process = [
                    "spanflow_snapshot_age_seconds",
                    "spanflow_window_seconds",
                    "spanflow_build_info",
                ];
                assert!(
                    per_process.contains(&name) || has("pipeline", PIPELINE),
                    "{title}: {v} lacks pipeline=~\"$pipeline\""
                );
            }
            let mut ranges = Vec::new();
            rate_ranges(&expr, &mut ranges);
            for (func, range) in ranges {
                assert_eq!(
                    range,
                    Duration::from_secs(4 * 60 + 57),
                    "{title}: {func} without [$__rate_interval]"
                );
            }
            assert!(
                !raw.contains("[5m]") && !raw.contains("[1m]"),
                "{title}: fixed range"
            );
        }
    }
    assert_eq!(rows, 4);
    // The dashboard shows the stages in pipeline order, one query per stage.
    let status = &d["panels"][1];
    let order: Vec<&str> = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["legendFormat"].as_str().unwrap())
        .collect();
    let pipeline: Vec<&str> = spanflow::model::stage::Stage::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(order, pipeline);
}

// ---- names against real output ---------------------------------------------------------------

/// Family names in spanflow's real `/metrics`, from a running engine polling the demo in the
/// TLS-mismatch scenario (so diagnoses, discards and queue fill all have samples), its
/// Collector also found through a file_sd file (so discovery's families have samples too).
async fn real_family_names() -> BTreeSet<String> {
    let ingesters = spanflow::demo::DemoIngesters::start().await.unwrap();
    let (simulator, control) =
        spanflow::demo::simulator(spanflow::demo::Scenario::TlsMismatch, &ingesters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, simulator).await.unwrap() });
    let mut config = spanflow::demo::config(&base);
    config.poll_interval = Duration::from_millis(250);
    config.window = Duration::from_secs(3);
    config.probes.grpc_timeout = Duration::from_millis(200);
    for t in &mut config.targets {
        t.timeout = Duration::from_millis(200);
    }
    let sd_dir = tempfile::tempdir().unwrap();
    let sd = sd_dir.path().join("collectors.json");
    let address = base.trim_start_matches("http://");
    std::fs::write(&sd, format!(r#"[{{"targets": ["{address}"]}}]"#)).unwrap();
    let mut fleet = config.targets[1].clone();
    fleet.name = "otelcol-fleet".into();
    fleet.discovery = Some(spanflow::config::discovery::Discovery {
        mechanism: spanflow::config::discovery::Mechanism::File { path: sd },
        refresh_interval: Duration::from_secs(1),
        max_instances: 8,
    });
    config.targets.push(fleet);
    // And a pipeline read from a query API (so the source's families have samples).
    let (store, _) = common::query_api(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}"#,
        Duration::ZERO,
    )
    .await;
    let sourced = spanflow::config::Config::from_yaml(
        &format!(
            "poll_interval: 250ms\nwindow: 3s\npipelines:\n  - name: store\n    source:\n      prometheus: {{url: '{store}', timeout: 200ms, scrape_interval: 1s, status_window: 2s, roles: {{tempo: '{{job=\"tempo\"}}'}}}}\n"
        ),
        "store.yml",
    )
    .unwrap();
    config.pipelines.extend(sourced.pipelines);
    let engine = spanflow::engine::start(Arc::new(config)).unwrap();
    for _ in 0..100 {
        let s = engine.snapshot.load();
        if !s.pipelines[0].causes.is_empty()
            && !s.pipelines[0].discarded_per_second.is_empty()
            && s.discovery.first().is_some_and(|d| d.instances == 1)
            && s.sources.first().is_some_and(|s| s.up == Some(true))
            && s.pipelines[0]
                .canary
                .as_ref()
                .is_some_and(|c| c.last_found_unix.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snapshot = engine.snapshot.load_full();
    assert!(
        !snapshot.pipelines[0].causes.is_empty(),
        "the demo never diagnosed the incident"
    );
    let mut names = exposed_names(&snapshot);
    // The hop balance needs both hops healthy and one losing: the lossy-hop scenario.
    control.switch(spanflow::demo::Scenario::LossyHop);
    for _ in 0..100 {
        if !engine.snapshot.load().pipelines[0].hop_balance.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    names.extend(exposed_names(&engine.snapshot.load_full()));
    names
}

/// The families of a snapshot's `/metrics` that have samples.
fn exposed_names(snapshot: &spanflow::snapshot::Snapshot) -> BTreeSet<String> {
    let (body, _) = spanflow::serve::metrics::render(
        snapshot,
        0.1,
        &spanflow::serve::reload::ReloadStatus::loaded_now(),
        None,
    );
    let families =
        spanflow::source::expfmt::parse(&body, spanflow::source::expfmt::Format::Text).unwrap();
    families
        .iter()
        .filter(|f| !f.samples.is_empty())
        .map(|f| f.name.to_owned())
        .collect()
}

#[tokio::test]
async fn every_spanflow_name_in_dashboards_and_alerts_is_in_the_real_metrics_output() {
    let exposed = real_family_names().await;
    let mut used = BTreeMap::new();
    for (_, rule) in rules("alerts/spanflow-alerts.yaml") {
        let alert = rule["alert"].as_str().unwrap().to_owned();
        for n in names(&parse(rule["expr"].as_str().unwrap(), &alert)) {
            used.insert(n, alert.clone());
        }
        // Template queries in the description name metrics too.
        let description = rule["annotations"]["description"].as_str().unwrap();
        for word in description.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("spanflow_") {
                used.insert(word.to_owned(), format!("{alert} description"));
            }
        }
    }
    let d = dashboard();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap().to_owned();
            for n in names(&parse(
                &substitute_macros(t["expr"].as_str().unwrap()),
                &title,
            )) {
                used.insert(n, title.clone());
            }
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            let name = q
                .trim_start_matches("label_values(")
                .split([',', '{'])
                .next()
                .unwrap();
            used.insert(name.to_owned(), format!("variable {}", v["name"]));
        }
    }
    assert!(used.len() > 10);
    for (name, whence) in &used {
        assert!(
            name.starts_with("spanflow_"),
            "{whence}: {name} is not spanflow's"
        );
        // A histogram's series are its family's name with a suffix.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|f| exposed.contains(*f))
            .unwrap_or(name);
        assert!(
            exposed.contains(family),
            "{whence}: {name} is not in spanflow's /metrics ({exposed:?})"
        );
    }
}

#[test]
fn recording_rules_read_names_real_tempo_and_collectors_expose() {
    let mut real = BTreeSet::new();
    let mut pages = vec![common::read_testdata(
        "fixtures/tempo-2.7.2/tls-mismatch/metrics.txt",
    )];
    for dir in std::fs::read_dir(common::testdata("fixtures/otelcol")).unwrap() {
        let page = dir.unwrap().path().join("metrics.txt");
        if page.is_file() {
            pages.push(std::fs::read_to_string(page).unwrap());
        }
    }
    for page in &pages {
        for line in page
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            real.insert(line.split(['{', ' ']).next().unwrap().to_owned());
        }
    }
    let recorded: BTreeSet<String> = rules("alerts/spanflow-recording.yaml")
        .iter()
        .map(|(_, r)| r["record"].as_str().unwrap().to_owned())
        .collect();
    for (_, rule) in rules("alerts/spanflow-recording.yaml") {
        let record = rule["record"].as_str().unwrap();
        for name in names(&parse(rule["expr"].as_str().unwrap(), record)) {
            if recorded.contains(&name) {
                continue;
            }
            let found = match name.strip_prefix('~') {
                Some(pattern) => {
                    let re = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
                    real.iter().any(|n| re.is_match(n))
                }
                None => real.contains(&name),
            };
            assert!(
                found,
                "{record}: {name} is in no real Tempo/Collector capture"
            );
        }
    }
}

// ---- recording rules = spanflow ---------------------------------------------------------------

/// promtool's expanding notation: `a+bxN`, `a-bxN`, `axN`.
fn expand(values: &str) -> impl Fn(usize) -> f64 {
    let (start, step) = if let Some((head, _n)) = values.split_once('x') {
        match head.rfind(['+', '-']).filter(|&i| i > 0) {
            Some(i) => (
                head[..i].parse::<f64>().unwrap(),
                head[i..].parse::<f64>().unwrap(),
            ),
            None => (head.parse::<f64>().unwrap(), 0.0),
        }
    } else {
        (values.trim().parse::<f64>().unwrap(), 0.0)
    };
    move |i| start + step * i as f64
}

/// The recording-rule unit test's input series per job (`(series, values)`), and the
/// ratios promtool checks per (record, job).
type RuleCase = (
    BTreeMap<String, Vec<(String, String)>>,
    BTreeMap<(String, String), f64>,
);

fn recording_rule_case() -> RuleCase {
    let test = yaml("alerts/tests/spanflow-recording-test.yaml");
    let case = &test["tests"][0];
    // Series per job.
    let mut jobs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for s in case["input_series"].as_array().unwrap() {
        let series = s["series"].as_str().unwrap().to_owned();
        let job = series
            .split("job=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        jobs.entry(job)
            .or_default()
            .push((series, s["values"].as_str().unwrap().to_owned()));
    }
    // Expected ratios per (record, job), rounded as in the test.
    let mut expected: BTreeMap<(String, String), f64> = BTreeMap::new();
    for t in case["promql_expr_test"].as_array().unwrap() {
        let record = t["expr"]
            .as_str()
            .unwrap()
            .trim_start_matches("round(")
            .split(',')
            .next()
            .unwrap()
            .to_owned();
        for s in t["exp_samples"].as_array().unwrap() {
            let labels = s["labels"].as_str().unwrap();
            let job = labels
                .split("job=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            expected.insert((record.clone(), job), s["value"].as_f64().unwrap());
        }
    }
    (jobs, expected)
}

/// The stage a recording rule's ratio is of.
fn stage_of(record: &str) -> Option<spanflow::model::stage::Stage> {
    match record {
        "cluster_namespace_job:tempo_distributor_success:ratio_rate5m" => {
            Some(spanflow::model::stage::Stage::TempoDistributor)
        }
        "cluster_namespace_job:tempo_ingester_success:ratio_rate5m" => {
            Some(spanflow::model::stage::Stage::TempoIngester)
        }
        "cluster_namespace_job:collector_receiver_success:ratio_rate5m" => {
            Some(spanflow::model::stage::Stage::CollectorReceiver)
        }
        "cluster_namespace_job:collector_exporter_success:ratio_rate5m" => {
            Some(spanflow::model::stage::Stage::CollectorExporter)
        }
        _ => None,
    }
}

#[tokio::test]
async fn recording_rules_give_the_ratios_spanflow_computes_from_the_same_counters() {
    let (jobs, expected) = recording_rule_case();
    let mut compared = 0;
    for (job, series) in &jobs {
        let role = if job.starts_with("tempo") {
            "tempo"
        } else {
            "collector"
        };
        let server = common::PageServer::start().await;
        let url = if role == "tempo" {
            server.base.clone()
        } else {
            format!("{}/metrics", server.base)
        };
        let mut poller = common::Poller::new(&format!(
            "poll_interval: 15s\nwindow: 5m\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: {job}, role: {role}, url: '{url}', timeout: 1s}}\n"
        ));
        let mut snapshot = None;
        for step in 0..=40 {
            let mut page = String::new();
            for (s, values) in series {
                let value = expand(values)(step);
                page.push_str(&format!(
                    "{} {value}\n",
                    s.replace(&format!("job=\"{job}\","), "")
                        .replace(&format!(",job=\"{job}\""), "")
                ));
            }
            server.set(page, "text/plain; version=0.0.4");
            snapshot = Some(poller.poll().await);
        }
        let snapshot = snapshot.unwrap();
        for ((record, j), want) in &expected {
            if j != job {
                continue;
            }
            if record == "cluster_namespace_job:otelcol_exporter_queue_fill:ratio" {
                assert_eq!(
                    snapshot.pipelines[0].targets[0].queue_fill_ratio,
                    Some(*want),
                    "{job}: queue fill"
                );
                compared += 1;
                continue;
            }
            let stage = stage_of(record).unwrap_or_else(|| panic!("no stage for {record}"));
            let got = snapshot.pipelines[0]
                .stages
                .iter()
                .find(|s| s.stage == stage)
                .and_then(|s| s.success_ratio)
                .unwrap_or_else(|| panic!("{job}: spanflow has no ratio for {}", stage.as_str()));
            assert!(
                (got - want).abs() < 1e-4,
                "{job} {}: spanflow {got}, recording rule {want}",
                stage.as_str()
            );
            compared += 1;
        }
    }
    assert_eq!(compared, expected.len());
    assert!(compared >= 10, "only {compared} ratios compared");
}

/// The same input series, backfilled into a real Prometheus with `promtool tsdb
/// create-blocks-from openmetrics` (15 s apart, the last one a few seconds ago), read by
/// spanflow's Prometheus source split by job: the recording rules' ratios again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_rules_give_the_ratios_spanflow_reads_from_prometheus() {
    let (jobs, expected) = recording_rule_case();
    let steps = 40usize;
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2;
    // OpenMetrics wants each family's samples together: series sorted by name.
    let mut series: Vec<&(String, String)> = jobs.values().flatten().collect();
    series.sort();
    let mut om = String::new();
    for (s, values) in series {
        let value = expand(values);
        for step in 0..=steps {
            let at = end - ((steps - step) * 15) as u64;
            om.push_str(&format!("{s} {} {at}\n", value(step)));
        }
    }
    om.push_str("# EOF\n");
    let prometheus = common::Prometheus::backfilled(&om).await;
    let config = spanflow::config::Config::from_yaml(
        &format!(
            "poll_interval: 1s\nwindow: 5m\nprobes: {{grpc_health: false}}\npipelines:\n  - name: rules\n    source:\n      prometheus:\n        url: '{}'\n        timeout: 1s\n        split_by: [job]\n        roles:\n          tempo: '{{job=~\"tempo-.+\"}}'\n          collector: '{{job=~\"otelcol-.+\"}}'\n",
            prometheus.url
        ),
        "rules.yml",
    )
    .unwrap();
    let engine = spanflow::engine::start(std::sync::Arc::new(config)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let snapshot = loop {
        let s = engine.snapshot.load_full();
        if s.sources.first().is_some_and(|s| s.up == Some(true)) && s.pipelines.len() == jobs.len()
        {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer from the backfilled Prometheus: {:?}",
            s.sources
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let mut compared = 0;
    for ((record, job), want) in &expected {
        let pipeline = snapshot
            .pipeline(&format!("rules/{job}"))
            .unwrap_or_else(|| panic!("no pipeline rules/{job}"));
        let got = if record == "cluster_namespace_job:otelcol_exporter_queue_fill:ratio" {
            pipeline
                .targets
                .iter()
                .find_map(|t| t.queue_fill_ratio)
                .unwrap_or_else(|| panic!("{job}: no queue fill from Prometheus"))
        } else {
            let stage = stage_of(record).unwrap_or_else(|| panic!("no stage for {record}"));
            pipeline
                .stages
                .iter()
                .find(|s| s.stage == stage)
                .and_then(|s| s.success_ratio)
                .unwrap_or_else(|| panic!("{job}: no ratio for {} from Prometheus", stage.as_str()))
        };
        assert!(
            (got - want).abs() < 1e-4,
            "{job} {record}: spanflow through Prometheus {got}, recording rule {want}"
        );
        compared += 1;
    }
    assert_eq!(compared, expected.len());
    assert!(compared >= 10, "only {compared} ratios compared");
    eprintln!("{compared} recording-rule ratios agree through Prometheus");
}
