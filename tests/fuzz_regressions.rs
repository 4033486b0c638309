//! The fuzz targets (`fuzz/`) as regression tests: every input they were seeded with — the
//! OpenMetrics conformance suite, real Tempo and Collector captures, configs, status pages,
//! read from `testdata/`, the constructed seeds (`seed-*`) of the targets whose inputs no
//! capture holds — and every crash saved under `fuzz/regressions/<target>/` goes
//! through the same entry points, which must return (no panic).

mod common;

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

fn replay(target: &str, seeds: Vec<PathBuf>, run: fn(&[u8])) {
    replay_at_least(target, seeds, 6, run);
}

/// As [`replay`], for a target whose only seeds are its constructed ones (`seed-*`).
fn replay_at_least(target: &str, seeds: Vec<PathBuf>, least: usize, run: fn(&[u8])) {
    let mut inputs = seeds;
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(target),
        &|p| !p.ends_with(".keep"),
        &mut inputs,
    );
    assert!(
        inputs.len() >= least,
        "{target}: only {} inputs",
        inputs.len()
    );
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        run(&data);
        // Truncations are the likeliest damage a page suffers on the wire.
        for cut in [1, data.len() / 2, data.len().saturating_sub(1)] {
            run(&data[..cut.min(data.len())]);
        }
    }
}

/// Every fixture file `keep` takes, the packed series' files included.
fn fixture_files(keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    files_under(&common::testdata("fixtures"), keep, &mut out);
    for (_, unpacked) in common::packed_series() {
        files_under(&unpacked, keep, &mut out);
    }
    out
}

#[test]
fn exposition_inputs() {
    let mut seeds = Vec::new();
    files_under(
        &common::testdata("conformance/openmetrics"),
        &|_| true,
        &mut seeds,
    );
    seeds.extend(fixture_files(&|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("metrics")
            && p.extension().is_some_and(|e| e == "txt")
            && std::fs::metadata(p).unwrap().len() < 200_000
    }));
    replay("expfmt", seeds, spanflow::fuzzing::exposition);
}

#[test]
fn config_inputs() {
    let mut seeds = fixture_files(&|p| p.file_name().is_some_and(|n| n == "config.yaml"));
    seeds.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spanflow.yml"));
    replay("config", seeds, spanflow::fuzzing::config);
}

#[test]
fn tempo_status_inputs() {
    let seeds = fixture_files(&|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        !name.ends_with(".headers")
            && (name.starts_with("status_") || name.contains("ring") || name == "ready.txt")
    });
    replay("tempo_status", seeds, spanflow::fuzzing::tempo_status);
}

#[test]
fn discovery_inputs() {
    replay_at_least("discovery", Vec::new(), 5, spanflow::fuzzing::discovery);
}

#[test]
fn prometheus_answer_inputs() {
    replay_at_least(
        "prometheus_answer",
        Vec::new(),
        3,
        spanflow::fuzzing::prometheus_answer,
    );
}

#[test]
fn canary_trace_inputs() {
    replay_at_least(
        "canary_trace",
        Vec::new(),
        3,
        spanflow::fuzzing::canary_trace,
    );
}

#[test]
fn web_config_inputs() {
    replay_at_least("web_config", Vec::new(), 2, spanflow::fuzzing::web_config);
}
