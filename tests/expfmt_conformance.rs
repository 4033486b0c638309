//! The exposition parser against the OpenMetrics parser test suite and the benchmark
//! corpora of `testdata/`.

mod common;

use spanflow::source::expfmt::{self, Format, MetricType};

struct Case {
    name: String,
    body: Vec<u8>,
    should_parse: bool,
}

fn cases() -> Vec<Case> {
    let dir = common::testdata("conformance/openmetrics");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let test_json = path.join("test.json");
        if !test_json.is_file() {
            continue;
        }
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&test_json).unwrap()).unwrap();
        let file = meta["file"].as_str().unwrap();
        cases.push(Case {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            body: std::fs::read(path.join(file)).unwrap(),
            should_parse: meta["shouldParse"].as_bool().unwrap(),
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        cases.len() > 200,
        "expected the whole suite, found {} cases",
        cases.len()
    );
    cases
}

fn parse_case(
    case: &Case,
    format: Format,
) -> Result<Vec<expfmt::MetricFamily<'_>>, expfmt::ParseError> {
    expfmt::parse(expfmt::body_as_str(&case.body)?, format)
}

#[test]
fn openmetrics_mode_agrees_with_every_conformance_case() {
    let mut disagreements = Vec::new();
    for case in cases() {
        match (parse_case(&case, Format::OpenMetrics), case.should_parse) {
            (Ok(_), true) | (Err(_), false) => {}
            (Ok(_), false) => disagreements.push(format!("{}: accepted, should fail", case.name)),
            (Err(e), true) => {
                disagreements.push(format!("{}: rejected ({e}), should parse", case.name))
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn invalid_cases_fail_with_a_line_number_inside_the_body() {
    for case in cases().into_iter().filter(|c| !c.should_parse) {
        let err = parse_case(&case, Format::OpenMetrics).unwrap_err();
        let lines = case.body.split(|&b| b == b'\n').count().max(1);
        assert!(
            err.line >= 1 && err.line <= lines,
            "{}: line {} outside 1..={lines} ({err})",
            case.name,
            err.line
        );
    }
}

/// (case, families, samples) for every valid case, counted by hand from the files.
const VALID_SHAPES: &[(&str, usize, usize)] = &[
    ("counter_exemplars", 1, 1),
    ("counter_exemplars_empty_brackets", 1, 1),
    ("counter_unit", 1, 2),
    ("duplicate_timestamps_0", 1, 5),
    ("duplicate_timestamps_1", 1, 5),
    ("empty_brackets", 1, 1),
    ("empty_help", 1, 1),
    ("empty_label", 1, 2),
    ("empty_metadata", 1, 0),
    ("escaping", 1, 4),
    ("exemplars_wide_chars", 1, 1),
    ("exemplars_with_hash_in_label_values", 1, 3),
    ("float_gauge", 1, 1),
    ("gaugehistogram_exemplars", 1, 3),
    ("hash_in_label_value", 1, 2),
    ("help_escaping", 10, 10),
    ("histogram_exemplars", 1, 3),
    ("histogram_noncanonical", 1, 14),
    ("info_timestamps", 1, 2),
    ("label_escaping", 10, 10),
    ("labels_and_infinite", 1, 2),
    ("labels_with_curly_braces", 1, 1),
    ("leading_zeros_float_gauge", 1, 1),
    ("leading_zeros_simple_gauge", 1, 1),
    ("nan", 1, 1),
    ("nan_gauge", 1, 1),
    ("negative_bucket_gaugehistogram", 1, 5),
    ("negative_bucket_histogram", 1, 3),
    ("no_metadata", 1, 1),
    ("no_newline_after_eof", 1, 1),
    ("null_byte", 1, 0),
    ("simple_counter", 1, 1),
    ("simple_gauge", 1, 1),
    ("simple_gaugehistogram", 1, 4),
    ("simple_histogram", 1, 4),
    ("simple_stateset", 1, 2),
    ("simple_summary", 1, 2),
    ("summary_quantiles", 1, 4),
    ("timestamps", 2, 6),
    ("type_help_switched", 1, 1),
    ("uint64_counter", 1, 1),
    ("unit_gauge", 1, 1),
    ("untyped", 1, 2),
];

#[test]
fn valid_cases_yield_the_right_families_and_samples() {
    let all = cases();
    let mut checked = 0;
    for case in all.iter().filter(|c| c.should_parse) {
        let families = parse_case(case, Format::OpenMetrics).unwrap();
        let shape = (
            families.len(),
            families.iter().map(|f| f.samples.len()).sum::<usize>(),
        );
        if case.name == "roundtrip" {
            // The big real page: every sample line is a sample.
            let text = String::from_utf8_lossy(&case.body);
            let lines = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .count();
            assert_eq!(shape.1, lines);
            checked += 1;
            continue;
        }
        let expected = VALID_SHAPES
            .iter()
            .find(|(n, ..)| *n == case.name)
            .unwrap_or_else(|| panic!("no expected shape for valid case {}", case.name));
        assert_eq!(shape, (expected.1, expected.2), "{}", case.name);
        checked += 1;
    }
    assert_eq!(checked, VALID_SHAPES.len() + 1);
}

#[test]
fn valid_cases_decode_escapes_values_and_timestamps() {
    let all = cases();
    let get = |name: &str| all.iter().find(|c| c.name == name).unwrap();

    let escaping = get("escaping");
    let families = parse_case(escaping, Format::OpenMetrics).unwrap();
    let values: Vec<String> = families[0]
        .samples
        .iter()
        .map(|s| s.labels.get("foo").unwrap().into_owned())
        .collect();
    assert_eq!(values, ["b\"a\nr", "b\\a\\z", "b\"a\nr # ", "b\\a\\z # "]);
    assert_eq!(families[0].help.as_deref(), Some("he\n\\l\\tp"));

    let curly = parse_case(get("labels_with_curly_braces"), Format::OpenMetrics).unwrap();
    assert_eq!(
        curly[0].samples[0].labels.get("bar").as_deref(),
        Some("b{a}z")
    );

    let ts = parse_case(get("timestamps"), Format::OpenMetrics).unwrap();
    let stamps: Vec<_> = ts[0].samples.iter().map(|s| s.timestamp.unwrap()).collect();
    assert_eq!(
        stamps,
        [0.0, 0.0, 1.1, 12345678901234567890.123456789, 1500.0]
    );

    let ex = parse_case(get("histogram_exemplars"), Format::OpenMetrics).unwrap();
    let exemplar = ex[0].samples[2].exemplar.as_ref().unwrap();
    assert_eq!((exemplar.value, exemplar.timestamp), (4.0, Some(123.0)));

    let unit = parse_case(get("unit_gauge"), Format::OpenMetrics).unwrap();
    assert_eq!(
        (unit[0].kind, unit[0].unit),
        (MetricType::Gauge, Some("seconds"))
    );
    let info = parse_case(get("untyped"), Format::OpenMetrics).unwrap();
    assert_eq!(info[0].samples[1].value, 12.0);
}

/// The OpenMetrics-invalid cases that text 0.0.4 mode accepts on purpose; each reason is
/// written up in docs/expfmt.md.
fn documented_text_mode_acceptances() -> Vec<String> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/expfmt.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `bad_"))
        .map(|rest| format!("bad_{}", rest.split('`').next().unwrap()))
        .collect()
}

#[test]
fn text_mode_accepts_exactly_the_documented_openmetrics_invalid_cases() {
    let accepted: Vec<String> = cases()
        .iter()
        .filter(|c| !c.should_parse && parse_case(c, Format::Text).is_ok())
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(accepted, documented_text_mode_acceptances());
}
