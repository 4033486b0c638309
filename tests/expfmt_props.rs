//! Property tests: random families encoded by prometheus-client (the official encoder) parse
//! back, through spanflow's OpenMetrics parser, to the same names, labels and values; and
//! spanflow's own text encoder round-trips through the text parser.

use prometheus_client::encoding::EncodeMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use proptest::prelude::*;
use spanflow::source::expfmt::{self, Format};

#[derive(Debug, Clone)]
struct RandomFamily {
    name: String,
    counter: bool,
    series: Vec<(Vec<(String, String)>, f64)>,
}

#[derive(Debug)]
struct Families(Vec<RandomFamily>);

impl prometheus_client::collector::Collector for Families {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        for f in &self.0 {
            let kind = if f.counter {
                prometheus_client::metrics::MetricType::Counter
            } else {
                prometheus_client::metrics::MetricType::Gauge
            };
            let mut family = encoder.encode_descriptor(&f.name, "random family", None, kind)?;
            for (labels, value) in &f.series {
                let sample = family.encode_family(labels)?;
                if f.counter {
                    ConstCounter::new(*value).encode(sample)?;
                } else {
                    ConstGauge::new(*value).encode(sample)?;
                }
            }
        }
        Ok(())
    }
}

fn label_value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9 ,{}=#\"\\\\\n\u{e9}\u{2603}]{0,12}").unwrap()
}

fn family(index: usize) -> impl Strategy<Value = RandomFamily> {
    (
        any::<bool>(),
        proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", label_value(), 0..4),
        proptest::collection::vec((label_value(), 0.0f64..1e12), 1..5),
    )
        .prop_map(move |(counter, fixed, values)| RandomFamily {
            name: format!("fam{index}_x"),
            counter,
            series: values
                .into_iter()
                .enumerate()
                .map(|(i, (v, value))| {
                    let mut labels: Vec<(String, String)> = fixed
                        .iter()
                        .map(|(k, v)| (format!("l_{k}"), v.clone()))
                        .collect();
                    labels.push(("series".into(), format!("{i}{v}")));
                    (labels, value)
                })
                .collect(),
        })
}

fn families() -> impl Strategy<Value = Vec<RandomFamily>> {
    (1usize..5).prop_flat_map(|n| (0..n).map(family).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prometheus_client_output_parses_back_exactly(fams in families()) {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Families(fams.clone())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let parsed = expfmt::parse(&text, Format::OpenMetrics).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.len(), fams.len());
        for (want, got) in fams.iter().zip(&parsed) {
            prop_assert_eq!(got.name, want.name.as_str());
            prop_assert_eq!(got.samples.len(), want.series.len());
            for ((labels, value), sample) in want.series.iter().zip(&got.samples) {
                let expected_name = if want.counter { format!("{}_total", want.name) } else { want.name.clone() };
                prop_assert_eq!(sample.name, expected_name.as_str());
                prop_assert_eq!(sample.value, *value);
                let got_labels: Vec<(String, String)> =
                    sample.labels.iter().map(|l| (l.name.to_owned(), l.value.into_owned())).collect();
                prop_assert_eq!(&got_labels, labels);
            }
        }
    }
}
