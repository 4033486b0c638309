//! Parser throughput on the corpora made from `testdata/bench/` (run with `scripts/bench.sh`).
//!
//! * `full`: every family with every sample, label values unescaped (`expfmt::parse`).
//! * `scan_tempo_stages`: only the families Tempo's stages need, the rest skipped unread
//!   (`expfmt::scan`, as polling does).
//! * `prometheus_parse`: the `prometheus-parse` crate (0.2.5) on the same body, its samples'
//!   labels visited likewise — the reference the ratio in `docs/benchmarks.md` is taken
//!   from, measured in the same run rather than remembered. It is not a correctness
//!   reference: it mis-reads escapes and drops lines it cannot parse.
//!
//! With `SPANFLOW_CALLGRIND_CORPUS=<file>` the binary runs `full` three times over that file
//! and exits instead, for `valgrind --tool=callgrind` (`scripts/bench.sh --callgrind`):
//! instruction counts repeat where times on this machine do not.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group};
use spanflow::source::expfmt::{self, Format};

fn corpora() -> Vec<(String, String)> {
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/bench");
    let dir = std::env::var("SPANFLOW_BENCH_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| shipped.clone());
    let mut out = Vec::new();
    for name in [
        "synth-1m.prom",
        "synth-10m.prom",
        "real-110x.prom",
        "tempo-2.7.2-metrics.txt",
    ] {
        let path = if dir.join(name).is_file() {
            dir.join(name)
        } else {
            shipped.join(name)
        };
        if let Ok(body) = std::fs::read_to_string(&path) {
            out.push((name.to_owned(), body));
        }
    }
    assert!(
        !out.is_empty(),
        "no corpus found in testdata/bench or target/bench-corpora (scripts/bench.sh makes them)"
    );
    out
}

fn wanted(name: &str) -> bool {
    matches!(
        name,
        "tempo_receiver_accepted_spans"
            | "tempo_receiver_refused_spans"
            | "tempo_distributor_spans_received_total"
            | "tempo_distributor_ingester_appends_total"
            | "tempo_distributor_ingester_append_failures_total"
            | "tempo_ingester_blocks_flushed_total"
            | "tempo_ingester_failed_flushes_total"
            | "tempo_discarded_spans_total"
            | "tempo_build_info"
    )
}

/// Parses every family and visits every label with its value unescaped.
fn full(body: &str) -> usize {
    let families = expfmt::parse(body, Format::Text).unwrap();
    let mut labels = 0usize;
    for f in &families {
        for s in &f.samples {
            labels += s.labels.iter().map(|l| l.value.len()).sum::<usize>();
        }
    }
    labels
}

fn parse(c: &mut Criterion) {
    for (name, body) in corpora() {
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.sample_size(20);
        group.bench_function("full", |b| b.iter(|| full(&body)));
        group.bench_function("scan_tempo_stages", |b| {
            b.iter(|| {
                let mut sum = 0.0;
                expfmt::scan(&body, Format::Text, wanted, |s| sum += s.value).unwrap();
                sum
            })
        });
        group.bench_function("prometheus_parse", |b| {
            b.iter(|| {
                let scrape =
                    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
                        .unwrap();
                let mut labels = 0usize;
                for s in &scrape.samples {
                    labels += s.labels.values().map(String::len).sum::<usize>();
                }
                labels
            })
        });
        group.finish();
    }
}

criterion_group!(benches, parse);

fn main() {
    if let Some(path) = std::env::var_os("SPANFLOW_CALLGRIND_CORPUS") {
        let body = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", std::path::Path::new(&path).display()));
        let labels: usize = (0..3).map(|_| full(std::hint::black_box(&body))).sum();
        println!("{labels} label bytes");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
