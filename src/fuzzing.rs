//! Entry points for the fuzz targets in `fuzz/` and for the regression tests that replay
//! their corpora (`tests/fuzz_regressions.rs`): each feeds one input to every reader of one
//! kind of untrusted input. The contract under test is the same for all: any input yields a
//! value or an error, never a panic, and in bounded time and memory.

use crate::config::Config;
use crate::model::stage::Role;
use crate::source::expfmt::{self, Format};
use crate::source::scrape::Page;
use crate::source::tempo;

/// A body as a scraped page: both formats, the full parser with every label set read (the
/// fast path checked against the general rules), and the page reader of every role.
pub fn exposition(data: &[u8]) {
    if let Ok(body) = std::str::from_utf8(data) {
        for format in [Format::Text, Format::OpenMetrics] {
            let Ok(families) = expfmt::parse(body, format) else {
                continue;
            };
            for sample in families.iter().flat_map(|f| &f.samples) {
                let exemplar = sample.exemplar.as_ref().map(|e| e.labels);
                for labels in std::iter::once(sample.labels).chain(exemplar) {
                    assert_eq!(
                        labels.iter().collect::<Vec<_>>(),
                        labels.iter_general().collect::<Vec<_>>(),
                        "label set {{{}}} read two ways",
                        labels.raw()
                    );
                }
            }
        }
    }
    for (content_type, role) in [
        ("text/plain; version=0.0.4", Role::Tempo),
        (
            "application/openmetrics-text; version=1.0.0",
            Role::Collector,
        ),
        ("text/plain", Role::App),
    ] {
        let page = Page {
            status: 200,
            body: data.to_vec(),
            content_type: content_type.to_owned(),
        };
        let _ = crate::source::page::read_page(role, &page, None);
    }
}

/// A configuration file.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_yaml(text, "fuzz.yml");
    }
}

/// A body as every Tempo status endpoint.
pub fn tempo_status(data: &[u8]) {
    let _ = tempo::parse_ready(503, data);
    let _ = tempo::parse_ring(data);
    let _ = tempo::parse_partition_ring(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tempo::parse_services(text);
        let _ = tempo::parse_config(text);
    }
}

/// The canary trace the `canary_trace` target's inputs are judged against: fixed, so that
/// seeds holding it reach every branch of the judgement.
pub const FUZZ_CANARY: crate::source::canary::CanaryTrace = crate::source::canary::CanaryTrace {
    trace_id: *b"spanflow-canary!",
    span_ids: [*b"span-one", *b"span-two", *b"span-3rd"],
};

/// A body as Tempo's trace-by-ID answer (protobuf), and as an OTLP/HTTP export answer under
/// a success and an error status.
pub fn canary_trace(data: &[u8]) {
    let _ = crate::source::canary::judge_trace(&FUZZ_CANARY, data);
    for status in [200, 400, 503] {
        let _ = crate::source::canary::http_answer(status, data);
    }
}

/// A body as a Prometheus query API answer, under a success and an error status; a vector
/// read from it holds only finite values.
pub fn prometheus_answer(data: &[u8]) {
    for status in [200, 400, 422, 503] {
        if let Ok(vector) = crate::source::prometheus::read_answer(status, data) {
            assert!(vector.samples.iter().all(|s| s.value.is_finite()));
        }
    }
}

/// A body as a service-discovery answer: a DNS message (its answers made into instances,
/// bounded as a refresh bounds them) and a target file, as JSON and as YAML.
pub fn discovery(data: &[u8]) {
    use crate::source::discovery::{self, Found};
    use std::net::{IpAddr, Ipv4Addr};
    let template = discovery_template();
    if let Ok(message) = hickory_resolver::proto::op::Message::from_vec(data) {
        let instances: Vec<_> = discovery::records_found(&message.answers)
            .map(|found| match found {
                Found::Address(ip) => discovery::instance(&template, ip, 4318, "fuzz"),
                Found::Service { host, port } => discovery::instance(
                    &template,
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port,
                    host.trim_end_matches('.'),
                ),
            })
            .collect();
        let answer = discovery::bounded(instances, 3);
        assert!(answer.instances.is_some_and(|i| i.len() <= 3));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for yaml in [false, true] {
            if let Ok(found) = discovery::parse_target_file(text, yaml, "fuzz", &template) {
                assert!(found.iter().all(|t| t.discovery.is_none()));
            }
        }
    }
}

/// An https collector template, so instances exercise the TLS server-name path.
fn discovery_template() -> crate::config::Target {
    crate::config::Target::new(
        "fuzz",
        Role::Collector,
        "https://collector.example:8888/metrics"
            .parse()
            .expect("a constant URL"),
    )
}

/// A web configuration file (`--web.config.file`); certificate paths resolve under a
/// directory that does not exist, so they fail as unreadable, by name.
pub fn web_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ =
            crate::serve::webconfig::from_text(text, std::path::Path::new("/nonexistent/web.yml"));
    }
}
