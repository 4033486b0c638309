//! The metric contract of `docs/architecture.md` (and the README's metrics table) against
//! real `/metrics` output: every family in one is in the other, with the same type and the
//! same labels. The output is the golden exposition of the real TLS-mismatch capture (every
//! family but the Collector's) and a real Collector page polled through spanflow.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{PageServer, Poller};
use spanflow::serve::metrics::{self, BuildInfo};
use spanflow::serve::reload::ReloadStatus;

/// family → (type, label names), as documented in a markdown table whose first column is
/// the metric and whose `labels` column lists the label names in backticks.
fn documented(
    doc: &str,
    labels_column: usize,
    type_column: Option<usize>,
) -> BTreeMap<String, (Option<String>, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `spanflow_")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        let labels = cells[labels_column]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        let kind = type_column.map(|c| cells[c].to_owned());
        assert!(
            out.insert(name.clone(), (kind, labels)).is_none(),
            "{name} documented twice"
        );
    }
    out
}

/// family → (type, label names seen on any sample).
fn observed(pages: &[String]) -> BTreeMap<String, (Option<String>, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (Option<String>, BTreeSet<String>)> = BTreeMap::new();
    for page in pages {
        let families =
            spanflow::source::expfmt::parse(page, spanflow::source::expfmt::Format::Text).unwrap();
        for family in families {
            let entry = out.entry(family.name.to_string()).or_default();
            let kind = format!("{:?}", family.kind).to_lowercase();
            // A histogram's `le` is the format's, not the contract's.
            let histogram = kind == "histogram";
            entry.0 = Some(kind);
            for sample in &family.samples {
                entry.1.extend(
                    sample
                        .labels
                        .iter()
                        .filter(|l| !(histogram && l.name == "le"))
                        .map(|l| l.name.to_string()),
                );
            }
        }
    }
    out
}

async fn real_output() -> Vec<String> {
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/tls-mismatch.metrics"
    ))
    .unwrap();
    // A real Collector page with exporter queues, polled twice through spanflow.
    let server = PageServer::start().await;
    server.set(
        // Published with CRLF line ends (copied from a web page); a Collector writes LF.
        common::read_testdata("fixtures/otelcol/pr9029-0.90.0-dev-opencensus/metrics.txt")
            .replace("\r\n", "\n"),
        "text/plain; version=0.0.4",
    );
    let mut poller = Poller::new(&format!(
        "poll_interval: 2s\nwindow: 1m\ntargets:\n  - {{name: otelcol, role: collector, url: '{}/metrics', timeout: 1s}}\n",
        server.base
    ));
    poller.poll().await;
    let snapshot = poller.poll().await;
    assert!(
        snapshot.pipelines[0].targets[0].up,
        "{:?}",
        snapshot.pipelines[0].targets[0]
    );
    let build = BuildInfo {
        version: "0",
        revision: "0",
        rustversion: "0",
    };
    let reload = ReloadStatus {
        successful: true,
        last_success_unix: 0.0,
    };
    let collector = metrics::encode_text(&metrics::families(&snapshot, 0.0, &build, &reload));

    // Discovery's families come only with a discovering target: the same Collector page
    // behind a file_sd file, through a real engine.
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("collectors.json");
    let address = server.base.trim_start_matches("http://");
    std::fs::write(&sd, format!(r#"[{{"targets": ["{address}"]}}]"#)).unwrap();
    // The source's families come only with a store-sourced pipeline: a query API
    // answering every query with one sample.
    let (store, _) = common::query_api(
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}"#,
        std::time::Duration::ZERO,
    )
    .await;
    let config = spanflow::config::Config::from_yaml(
        &format!(
            "poll_interval: 1s\nwindow: 10s\npipelines:\n  - name: fleet\n    targets:\n      - name: collectors\n        role: collector\n        url: http://placeholder:1/metrics\n        discovery: {{file: {{path: '{}', refresh_interval: 1s}}}}\n  - name: store\n    source:\n      prometheus: {{url: '{store}', timeout: 1s, scrape_interval: 1s, roles: {{tempo: '{{job=\"tempo\"}}'}}}}\n",
            sd.display()
        ),
        "fleet.yml",
    )
    .unwrap();
    let engine = spanflow::engine::start(std::sync::Arc::new(config)).unwrap();
    let mut discovered = None;
    for _ in 0..100 {
        let s = engine.snapshot.load_full();
        if s.pipelines[0].targets.first().is_some_and(|t| t.up)
            && s.sources.first().is_some_and(|s| s.up == Some(true))
        {
            discovered = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let discovered = discovered.expect("the discovered Collector is polled within 10 s");
    let fleet = metrics::encode_text(&metrics::families(&discovered, 0.0, &build, &reload));

    // The canary's, the hop balance's and the tenants' families come with the demo's
    // lossy-hop scenario: its canary traces are found, its Collector → Tempo hop loses 30 %,
    // its Tempo counts per tenant (while the distributor can be judged).
    let ingesters = spanflow::demo::DemoIngesters::start().await.unwrap();
    let (simulator, _control) =
        spanflow::demo::simulator(spanflow::demo::Scenario::LossyHop, &ingesters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, simulator).await.unwrap() });
    let mut config = spanflow::demo::config(&base);
    config.poll_interval = std::time::Duration::from_millis(500);
    let engine = spanflow::engine::start(std::sync::Arc::new(config)).unwrap();
    let mut demo = None;
    for _ in 0..150 {
        let s = engine.snapshot.load_full();
        let p = &s.pipelines[0];
        if p.canary
            .as_ref()
            .is_some_and(|c| c.last_found_unix.is_some())
            && !p.hop_balance.is_empty()
            && !p.tenants.is_empty()
        {
            demo = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let demo = demo.expect("the demo's canary found a trace and weighed a hop within 15 s");
    let demo = metrics::encode_text(&metrics::families(&demo, 0.0, &build, &reload));
    vec![golden, collector, fleet, demo]
}

#[tokio::test]
async fn the_architecture_metric_table_matches_real_output() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md"))
        .unwrap();
    let documented = documented(&doc, 2, Some(1));
    let observed = observed(&real_output().await);
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        observed.keys().collect::<Vec<_>>(),
        "families in docs/architecture.md vs /metrics"
    );
    for (name, (kind, labels)) in &documented {
        let (seen_kind, seen_labels) = &observed[name];
        assert_eq!(kind, seen_kind, "{name}: type");
        assert_eq!(labels, seen_labels, "{name}: labels");
    }
}

#[tokio::test]
async fn the_readme_metric_table_matches_real_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let documented = documented(&readme, 1, None);
    let observed = observed(&real_output().await);
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        observed.keys().collect::<Vec<_>>(),
        "families in README.md vs /metrics"
    );
    for (name, (_, labels)) in &documented {
        assert_eq!(labels, &observed[name].1, "{name}: labels");
    }
}

/// docs/query-plan.md lists exactly the queries spanflow runs for examples/spanflow-store.yml.
#[test]
fn the_query_plan_doc_lists_the_queries_spanflow_runs() {
    use spanflow::source::query_plan::{Range, Reads, poll_queries};
    let root = env!("CARGO_MANIFEST_DIR");
    let config = spanflow::config::Config::load(std::path::Path::new(&format!(
        "{root}/examples/spanflow-store.yml"
    )))
    .unwrap();
    let source = config.pipelines[0].source.as_ref().unwrap();
    let mut listed = String::new();
    for q in poll_queries(source) {
        let range = match q.range {
            Range::Window => format!(
                "over window ({})",
                humantime::format_duration(source.window)
            ),
            Range::Status => format!(
                "over status_window ({})",
                humantime::format_duration(source.status_window)
            ),
            Range::Now => "now".to_owned(),
        };
        let reads = match &q.query.reads {
            Reads::Counter(c) => format!("{c:?}"),
            Reads::TenantCounter(c) => format!("{c:?} by tenant"),
            Reads::ByValue {
                label,
                cases,
                spans_only,
            } => {
                let cases: Vec<String> = cases
                    .iter()
                    .map(|(v, c)| format!("{v:?} → {c:?}"))
                    .collect();
                format!(
                    "by {label:?}: {}{}",
                    cases.join(", "),
                    if *spans_only { ", spans only" } else { "" }
                )
            }
            Reads::InFlight => "export requests in flight".to_owned(),
            Reads::CounterByReason(c) => format!("{c:?} by reason"),
            Reads::PartitionLag => "Kafka consumer lag".to_owned(),
            Reads::DiscardedByReason => "discarded spans by reason and tenant".to_owned(),
            Reads::Version { label } => format!("version ({label})"),
            Reads::RingGauge => "ring states".to_owned(),
            Reads::QueueFill => "fullest queue".to_owned(),
        };
        listed.push_str(&format!(
            "# {}: {reads}, {range}\n{}\n",
            source.roles[q.role].role.as_str(),
            q.query.promql
        ));
    }
    let path = format!("{root}/docs/query-plan.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let marker = "<!-- queries: examples/spanflow-store.yml -->\n```promql\n";
    let start = doc.find(marker).expect("the marker in docs/query-plan.md") + marker.len();
    let end = start + doc[start..].find("```").unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{}{listed}{}", &doc[..start], &doc[end..])).unwrap();
        return;
    }
    assert_eq!(
        doc[start..end],
        listed,
        "docs/query-plan.md is out of date (UPDATE_GOLDEN=1)"
    );
}
