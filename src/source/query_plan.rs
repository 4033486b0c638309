//! The PromQL that reads a role's counters from a metrics store, from the counter catalogue.
//!
//! Input: a role, the label matchers that pick its series in the store (`job=~".+/ingester"`),
//! the labels a pipeline is split by (`cluster`) and a window. Output: one query per counter
//! (and one for Tempo's discards by reason) — `sum by (cluster) (increase({__name__=~"a|a_total",
//! job=~"…"}[5m]))` — every spelling of a family the catalogue knows in one selector, so no
//! name is written twice and a store holding two Collector releases sums both. The number of
//! queries is fixed by the catalogue, never by the series in the store. Counter resets are
//! `increase`'s; a family with no series answers nothing, which reads as zero. It never runs a
//! query.

use std::time::Duration;

use crate::model::catalogue::{CATALOGUE, COMPONENT_LABELS, Feeds, PER_COMPONENT, SIGNAL_LABELS};
use crate::model::counter::Counter;
use crate::model::stage::Role;

/// What a planned query's samples are.
#[derive(Debug, Clone, PartialEq)]
pub enum Reads {
    Counter(Counter),
    /// A counter per `reason`: each sample is also that reason's.
    CounterByReason(Counter),
    /// A counter per `tenant` (Tempo's distributor): each sample is also that tenant's.
    TenantCounter(Counter),
    /// Series split by a label's value into counters (and, with `spans_only`, kept only when
    /// a signal label says `traces`), as the catalogue's [`Feeds::ByValue`].
    ByValue {
        label: &'static str,
        cases: &'static [(&'static str, Counter)],
        spans_only: bool,
    },
    /// Tempo's discards, per `reason` and `tenant`.
    DiscardedByReason,
    /// The software's version, in this label (one sample per split value and version).
    Version {
        label: &'static str,
    },
    /// Ring-state gauges per `__name__`, `name` (the ring) and `state`: the most any
    /// instance reports, as every instance reports the same ring.
    RingGauge,
    /// The fullest exporter queue, size / capacity.
    QueueFill,
    /// Export requests in flight, summed.
    InFlight,
    /// The most a Kafka consumer lags, in seconds.
    PartitionLag,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedQuery {
    pub reads: Reads,
    pub promql: String,
}

/// Which of a poll's two ranges a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The long window: ratios and rates.
    Window,
    /// The status window: what is happening now.
    Status,
    /// A gauge or label read at the evaluation time.
    Now,
}

/// One query of a store-sourced pipeline's poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PollQuery {
    /// Index into the source's roles.
    pub role: usize,
    pub range: Range,
    pub query: PlannedQuery,
}

/// Every query of one poll of a store-sourced pipeline: per role, its counters over the
/// window and over the status window, and the gauges and labels that tell its software,
/// rings and queues. The count depends on the catalogue and the roles, never on the store.
pub fn poll_queries(source: &crate::config::store::StoreSource) -> Vec<PollQuery> {
    let mut all = Vec::new();
    for (index, role) in source.roles.iter().enumerate() {
        let mut push = |range: Range, queries: Vec<PlannedQuery>| {
            all.extend(queries.into_iter().map(|query| PollQuery {
                role: index,
                range,
                query,
            }))
        };
        for (range, length) in [
            (Range::Window, source.window),
            (Range::Status, source.status_window),
        ] {
            let queries = match &role.app {
                Some(app) => app_queries(app, &role.matchers, &source.split_by, length),
                None => counter_queries(role.role, &role.matchers, &source.split_by, length),
            };
            push(range, queries);
        }
        push(
            Range::Now,
            evidence_queries(role.role, &role.matchers, &source.split_by),
        );
    }
    all
}

/// An app's success and failure selectors, each with the role's matchers added.
fn app_queries(
    app: &crate::config::AppSelectors,
    matchers: &str,
    split_by: &[String],
    window: Duration,
) -> Vec<PlannedQuery> {
    let range = promql_duration(window);
    [
        (Counter::AppSuccess, &app.success),
        (Counter::AppFailure, &app.failure),
    ]
    .into_iter()
    .map(|(counter, selector)| {
        let text = selector.to_string();
        let text = text.trim();
        // The selector parsed as `name{…}` or `name`: the role's matchers join its own.
        let (name, own) = match text.split_once('{') {
            Some((name, rest)) => (name.trim(), rest.trim_end_matches('}').trim()),
            None => (text, ""),
        };
        let inside: Vec<&str> = [own.trim_end_matches(','), matchers.trim()]
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect();
        PlannedQuery {
            reads: Reads::Counter(counter),
            promql: format!(
                "sum by ({}) (increase({name}{{{}}}[{range}]))",
                split_by.join(", "),
                inside.join(",")
            ),
        }
    })
    .collect()
}

/// A gauge query: which rows, read as what, aggregated how, with which labels kept.
type GaugeQuery = (
    fn(&Feeds) -> bool,
    Reads,
    &'static str,
    &'static [&'static str],
);

/// The gauges read at the evaluation time. Every instance reports the same ring, so the most
/// any reports is the ring's; the lag is the worst consumer's; requests in flight add up.
const GAUGE_QUERIES: [GaugeQuery; 3] = [
    (
        |f| matches!(f, Feeds::RingGauge),
        Reads::RingGauge,
        "max",
        &["__name__", "name", "state"],
    ),
    (
        |f| matches!(f, Feeds::PartitionLag),
        Reads::PartitionLag,
        "max",
        &[],
    ),
    (
        |f| matches!(f, Feeds::InFlight),
        Reads::InFlight,
        "sum",
        &[],
    ),
];

/// The version, ring-state and queue queries of a role, from the catalogue's rows.
pub fn evidence_queries(role: Role, matchers: &str, split_by: &[String]) -> Vec<PlannedQuery> {
    let rows = |pick: fn(&Feeds) -> bool| -> Vec<&'static str> {
        CATALOGUE
            .iter()
            .filter(|e| e.role == role && pick(&e.feeds))
            .map(|e| e.family)
            .collect()
    };
    let selector = |names: &[&str]| {
        let mut inside = name_matcher(names);
        if !matchers.trim().is_empty() {
            inside.push(',');
            inside.push_str(matchers.trim().trim_matches(','));
        }
        format!("{{{inside}}}")
    };
    let by = |more: &[&str]| -> String {
        split_by
            .iter()
            .map(String::as_str)
            .chain(more.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut queries = Vec::new();
    // One query per version label, in catalogue order.
    let mut labels: Vec<&'static str> = Vec::new();
    for e in CATALOGUE.iter().filter(|e| e.role == role) {
        if let Feeds::Version { label } = e.feeds
            && !labels.contains(&label)
        {
            labels.push(label);
        }
    }
    for label in labels {
        let names: Vec<&str> = CATALOGUE
            .iter()
            .filter(|e| e.role == role && e.feeds == Feeds::Version { label })
            .map(|e| e.family)
            .collect();
        queries.push(PlannedQuery {
            reads: Reads::Version { label },
            promql: format!("group by ({}) ({})", by(&[label]), selector(&names)),
        });
    }
    for (pick, reads, aggregate, more) in GAUGE_QUERIES {
        let names = rows(pick);
        if !names.is_empty() {
            queries.push(PlannedQuery {
                reads,
                promql: format!("{aggregate} by ({}) ({})", by(more), selector(&names)),
            });
        }
    }
    let sizes = rows(|f| matches!(f, Feeds::QueueSize));
    let capacities = rows(|f| matches!(f, Feeds::QueueCapacity));
    if !sizes.is_empty() && !capacities.is_empty() {
        queries.push(PlannedQuery {
            reads: Reads::QueueFill,
            promql: format!(
                "max by ({}) ({} / {})",
                by(&[]),
                selector(&sizes),
                selector(&capacities)
            ),
        });
    }
    queries
}

/// How a catalogue row is queried: what the samples are read as, a label filter on the
/// series (`label=~"prefix.*"`), and the labels kept beside the split ones.
type Shape = (
    Reads,
    Option<(&'static str, &'static str)>,
    Vec<&'static str>,
);

/// The queries a row of the catalogue needs (none for the gauges and labels
/// [`evidence_queries`] reads; two for a counter with a part told apart by a label).
fn shapes(feeds: Feeds) -> Vec<Shape> {
    // The Collector's span counters per component too: which receiver or exporter of
    // several fails.
    let counter = |c: Counter| {
        let more = if PER_COMPONENT.contains(&c) {
            COMPONENT_LABELS.to_vec()
        } else {
            Vec::new()
        };
        (Reads::Counter(c), None, more)
    };
    match feeds {
        Feeds::Counter(c) => vec![counter(c)],
        Feeds::CounterWhere {
            counter: c,
            label,
            prefix,
        } => vec![(Reads::Counter(c), Some((label, prefix)), Vec::new())],
        Feeds::CounterWithPart {
            counter: c,
            label,
            prefix,
            part,
        } => vec![
            counter(c),
            (Reads::Counter(part), Some((label, prefix)), Vec::new()),
        ],
        Feeds::CounterByReason(c) => vec![(Reads::CounterByReason(c), None, vec!["reason"])],
        Feeds::ByTenant(c) => vec![(Reads::TenantCounter(c), None, vec!["tenant"])],
        Feeds::DiscardedByReason => {
            vec![(Reads::DiscardedByReason, None, vec!["reason", "tenant"])]
        }
        Feeds::ByValue {
            label,
            cases,
            spans_only,
        } => {
            let mut more: Vec<&str> = Vec::new();
            if !label.is_empty() {
                more.push(label);
            }
            if spans_only {
                more.extend(SIGNAL_LABELS);
            }
            let reads = Reads::ByValue {
                label,
                cases,
                spans_only,
            };
            vec![(reads, None, more)]
        }
        _ => Vec::new(),
    }
}

/// The queries for `role`'s counters over `window`, one per shape of the catalogue's rows
/// (every spelling of a family in one selector), in catalogue order. `matchers` is the
/// inside of a selector (`job=~"…", namespace="tracing"`), possibly empty.
pub fn counter_queries(
    role: Role,
    matchers: &str,
    split_by: &[String],
    window: Duration,
) -> Vec<PlannedQuery> {
    let mut grouped: Vec<(Shape, Vec<&str>)> = Vec::new();
    for entry in CATALOGUE.iter().filter(|e| e.role == role) {
        for shape in shapes(entry.feeds) {
            match grouped.iter_mut().find(|(s, _)| *s == shape) {
                Some((_, names)) => names.push(entry.family),
                None => grouped.push((shape, vec![entry.family])),
            }
        }
    }
    let range = promql_duration(window);
    grouped
        .into_iter()
        .map(|((reads, filter, more), names)| {
            let mut selector = vec![name_matcher(&names)];
            if let Some((label, prefix)) = filter {
                selector.push(format!("{label}=~\"{}.*\"", regex_escape(prefix)));
            }
            PlannedQuery {
                reads,
                promql: increase(&selector, matchers, split_by, &more, &range),
            }
        })
        .collect()
}

/// `sum by (split…, more…) (increase({selector, matchers}[range]))`.
fn increase(
    selector: &[String],
    matchers: &str,
    split_by: &[String],
    more: &[&str],
    range: &str,
) -> String {
    let mut inside = selector.join(",");
    let matchers = matchers.trim().trim_matches(',');
    if !matchers.is_empty() {
        inside.push(',');
        inside.push_str(matchers);
    }
    let by: Vec<&str> = split_by
        .iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect();
    format!(
        "sum by ({}) (increase({{{inside}}}[{range}]))",
        by.join(", ")
    )
}

/// `__name__=~"a|b"` for the family names given.
fn name_matcher(names: &[&str]) -> String {
    let escaped: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
    format!("__name__=~\"{}\"", escaped.join("|"))
}

/// Metric names are `[a-zA-Z_:][a-zA-Z0-9_:]*`: nothing to escape but for safety's sake
/// anything else is escaped as RE2 wants it.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            out.push('\\');
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A PromQL duration: whole seconds as `300s`, else milliseconds.
pub fn promql_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(role: Role) -> Vec<PlannedQuery> {
        counter_queries(
            role,
            r#"job=~".+/otel-collector""#,
            &["cluster".to_owned()],
            Duration::from_secs(300),
        )
    }

    #[test]
    fn every_spelling_of_a_counter_is_one_selector() {
        let queries = plan(Role::Collector);
        let accepted = queries
            .iter()
            .find(|q| q.reads == Reads::Counter(Counter::CollectorAccepted))
            .unwrap();
        assert_eq!(
            accepted.promql,
            // Per component too: which receiver or exporter of several fails.
            r#"sum by (cluster, component_id, receiver, exporter) (increase({__name__=~"otelcol_receiver_accepted_spans|otelcol_receiver_accepted_spans_total|otelcol_receiver_accepted_spans__spans__total",job=~".+/otel-collector"}[300s]))"#
        );
        // One query per counter and label filter, never per family spelling: a counter fed
        // by two differently filtered families (the memory limiter's, renamed in v0.155) is
        // two queries, summed.
        let names: Vec<&str> = CATALOGUE
            .iter()
            .filter(|e| e.role == Role::Collector)
            .filter(|e| matches!(e.feeds, Feeds::Counter(_) | Feeds::CounterWhere { .. }))
            .map(|e| e.family)
            .collect();
        for name in names {
            let quoted = |q: &PlannedQuery| {
                q.promql.contains(&format!("\"{name}|"))
                    || q.promql.contains(&format!("|{name}|"))
                    || q.promql.contains(&format!("|{name}\""))
                    || q.promql.contains(&format!("\"{name}\""))
            };
            assert_eq!(queries.iter().filter(|q| quoted(q)).count(), 1, "{name}");
        }
        let limited = queries
            .iter()
            .filter(|q| q.reads == Reads::Counter(Counter::CollectorMemoryLimited))
            .count();
        assert_eq!(limited, 2);
    }

    #[test]
    fn a_label_filtered_counter_and_the_discards_keep_their_filter_and_reason() {
        let limited = plan(Role::Collector)
            .into_iter()
            .find(|q| {
                q.reads == Reads::Counter(Counter::CollectorMemoryLimited)
                    && q.promql.contains("otelcol_processor_refused_spans")
            })
            .unwrap();
        assert!(
            limited
                .promql
                .contains(r#",processor=~"memory_limiter.*","#),
            "{}",
            limited.promql
        );
        let discards = counter_queries(Role::Tempo, "", &[], Duration::from_millis(60_500))
            .into_iter()
            .find(|q| q.reads == Reads::DiscardedByReason)
            .unwrap();
        assert_eq!(
            discards.promql,
            r#"sum by (reason, tenant) (increase({__name__=~"tempo_discarded_spans_total"}[60500ms]))"#
        );
        // Spans received per tenant: each tenant judged on its own.
        let received = counter_queries(
            Role::Tempo,
            "",
            &["cluster".to_owned()],
            Duration::from_secs(60),
        )
        .into_iter()
        .find(|q| q.reads == Reads::TenantCounter(Counter::TempoSpansReceived))
        .unwrap();
        assert_eq!(
            received.promql,
            r#"sum by (cluster, tenant) (increase({__name__=~"tempo_distributor_spans_received_total"}[60s]))"#
        );
    }

    #[test]
    fn every_query_parses_as_promql() {
        for role in [Role::Tempo, Role::Collector] {
            for q in plan(role) {
                promql_parser::parser::parse(&q.promql)
                    .unwrap_or_else(|e| panic!("{}: {e}", q.promql));
            }
        }
    }

    #[test]
    fn a_poll_is_a_fixed_number_of_queries_that_all_parse() {
        let config = crate::config::Config::from_yaml(
            r#"
pipelines:
  - name: fleet
    source:
      prometheus:
        url: http://p:9090
        split_by: [cluster, namespace]
        roles:
          tempo: '{job=~".+/(distributor|ingester)"}'
          collector: '{job=~".+/otel-collector"}'
          app: {selector: '{job="backend"}', success: 'otel_sdk_exporter_span_exported_total{error_type=""}', failure: 'otel_sdk_exporter_span_exported_total'}
"#,
            "x",
        )
        .unwrap();
        let source = config.pipelines[0].source.as_ref().unwrap();
        let queries = poll_queries(source);
        for q in &queries {
            promql_parser::parser::parse(&q.query.promql)
                .unwrap_or_else(|e| panic!("{}: {e}", q.query.promql));
            assert!(
                q.query.promql.contains("cluster, namespace"),
                "{}",
                q.query.promql
            );
        }
        let count = |role: Role| {
            queries
                .iter()
                .filter(|q| source.roles[q.role].role == role)
                .count()
        };
        // Per role: its counters (and discards) twice, plus its version, ring and queue reads.
        let tempo_counters = counter_queries(Role::Tempo, "", &[], Duration::from_secs(1)).len();
        let collector_counters =
            counter_queries(Role::Collector, "", &[], Duration::from_secs(1)).len();
        let evidence = |role: Role| evidence_queries(role, "", &[]).len();
        assert_eq!(
            count(Role::Tempo),
            tempo_counters * 2 + evidence(Role::Tempo)
        );
        assert_eq!(
            count(Role::Collector),
            collector_counters * 2 + evidence(Role::Collector)
        );
        // An app: its two selectors twice, and its SDK queue gauges.
        assert_eq!(count(Role::App), 2 * 2 + evidence(Role::App));
        eprintln!(
            "queries per poll: {} (tempo {}, collector {}, app {})",
            queries.len(),
            count(Role::Tempo),
            count(Role::Collector),
            count(Role::App)
        );
        let app = queries
            .iter()
            .find(|q| {
                q.query.reads == Reads::Counter(Counter::AppSuccess) && q.range == Range::Window
            })
            .unwrap();
        assert_eq!(
            app.query.promql,
            r#"sum by (cluster, namespace) (increase(otel_sdk_exporter_span_exported_total{error_type="",job="backend"}[300s]))"#
        );
        let failure = queries
            .iter()
            .find(|q| {
                q.query.reads == Reads::Counter(Counter::AppFailure) && q.range == Range::Status
            })
            .unwrap();
        assert_eq!(
            failure.query.promql,
            r#"sum by (cluster, namespace) (increase(otel_sdk_exporter_span_exported_total{job="backend"}[60s]))"#
        );
    }
}
