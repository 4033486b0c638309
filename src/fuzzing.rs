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
