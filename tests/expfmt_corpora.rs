//! The parser is exact on the benchmark corpora of `testdata/bench/`: every count in
//! their `.truth.json` (samples, families, histogram series and buckets, quantiles,
//! NaN/±Inf, escaped label values, label pairs, the sum of the small finite values).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use spanflow::source::expfmt::{self, Format, MetricType};

#[derive(Debug, Default, PartialEq)]
struct Counts {
    samples: u64,
    families: u64,
    hist_series: u64,
    hist_buckets: u64,
    summary_series: u64,
    quantiles: u64,
    nan: u64,
    pinf: u64,
    ninf: u64,
    esc_quote: u64,
    esc_backslash: u64,
    esc_newline: u64,
    label_pairs: u64,
    lines: u64,
}

fn count(body: &str) -> (Counts, f64) {
    let families = expfmt::parse(body, Format::Text).expect("corpus parses");
    let mut c = Counts {
        lines: body.bytes().filter(|&b| b == b'\n').count() as u64,
        ..Counts::default()
    };
    let mut small = NeumaierSum::default();
    for family in &families {
        if family.samples.is_empty() {
            continue;
        }
        c.families += 1;
        for s in &family.samples {
            c.samples += 1;
            let suffix = &s.name[family.name.len()..];
            match (family.kind, suffix) {
                (MetricType::Histogram, "_bucket") => c.hist_buckets += 1,
                (MetricType::Histogram, "_count") => c.hist_series += 1,
                (MetricType::Summary, "_count") => c.summary_series += 1,
                (MetricType::Summary, "") => c.quantiles += 1,
                _ => {}
            }
            if s.value.is_nan() {
                c.nan += 1;
            } else if s.value == f64::INFINITY {
                c.pinf += 1;
            } else if s.value == f64::NEG_INFINITY {
                c.ninf += 1;
            } else if s.value.abs() < 1e15 {
                small.add(s.value);
            }
            for label in s.labels.iter() {
                if label.name != "le" && label.name != "quantile" {
                    c.label_pairs += 1;
                }
                c.esc_quote += u64::from(label.value.contains('"'));
                c.esc_backslash += u64::from(label.value.contains('\\'));
                c.esc_newline += u64::from(label.value.contains('\n'));
            }
        }
    }
    (c, small.total())
}

/// Compensated summation, close enough to Python's `math.fsum` for a 1e-9 comparison.
#[derive(Default)]
struct NeumaierSum {
    sum: f64,
    compensation: f64,
}

impl NeumaierSum {
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.compensation += (self.sum - t) + v;
        } else {
            self.compensation += (v - t) + self.sum;
        }
        self.sum = t;
    }
    fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

fn truth(path: &Path) -> (Counts, f64) {
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.truth.json", path.display())).unwrap(),
    )
    .unwrap();
    let n = |k: &str| {
        json[k]
            .as_u64()
            .unwrap_or_else(|| panic!("truth has no {k}"))
    };
    (
        Counts {
            samples: n("samples"),
            families: n("families"),
            hist_series: n("hist_series"),
            hist_buckets: n("hist_buckets"),
            summary_series: n("summary_series"),
            quantiles: n("quantiles"),
            nan: n("nan"),
            pinf: n("pinf"),
            ninf: n("ninf"),
            esc_quote: n("esc_quote"),
            esc_backslash: n("esc_backslash"),
            esc_newline: n("esc_newline"),
            label_pairs: n("label_pairs"),
            lines: n("lines"),
        },
        json["fsum_small"].as_f64().unwrap(),
    )
}

fn assert_exact(path: &Path) {
    let body = std::fs::read_to_string(path).unwrap();
    let (got, got_sum) = count(&body);
    let (want, want_sum) = truth(path);
    assert_eq!(got, want, "{}", path.display());
    let rel = ((got_sum - want_sum) / want_sum).abs();
    assert!(
        rel < 1e-9,
        "{}: sum {got_sum} vs {want_sum}",
        path.display()
    );
}

fn python(args: &[&str], cwd: &Path) {
    let status = Command::new("python3")
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 is needed to generate the 10 MB corpora (.ci/run installs it)");
    assert!(status.success(), "python3 {args:?} failed");
}

#[test]
fn exact_on_the_shipped_1mb_synthetic_corpus() {
    assert_exact(&common::testdata("bench/synth-1m.prom"));
}

#[test]
fn exact_on_the_real_tempo_page() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("real-1x.prom");
    let bench = common::testdata("bench");
    python(
        &[
            "scale_real.py",
            "tempo-2.7.2-metrics.txt",
            out.to_str().unwrap(),
            "1",
            "--keep-original",
        ],
        &bench,
    );
    assert_exact(&out);
}

#[test]
fn exact_on_the_10mb_corpora() {
    let dir = tempfile::tempdir().unwrap();
    let bench = common::testdata("bench");
    let synth = dir.path().join("synth-10m.prom");
    let real = dir.path().join("real-110x.prom");
    python(
        &[
            "gen_corpus.py",
            "--target-bytes",
            "10000000",
            "--out",
            synth.to_str().unwrap(),
        ],
        &bench,
    );
    python(
        &[
            "scale_real.py",
            "tempo-2.7.2-metrics.txt",
            real.to_str().unwrap(),
            "110",
        ],
        &bench,
    );
    assert_exact(&synth);
    assert_exact(&real);
}
