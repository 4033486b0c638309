use super::*;

fn samples(body: &str, format: Format) -> Vec<Sample<'_>> {
    parse(body, format)
        .unwrap()
        .into_iter()
        .flat_map(|f| f.samples)
        .collect()
}

#[test]
fn label_values_with_braces_commas_and_escapes_stay_whole() {
    let body = "weird_gauge{msg=\"quote \\\" backslash \\\\ newline \\n brace } comma , eq =\",b=\"x\"} -Inf 1395066363000\n";
    let s = &samples(body, Format::Text)[0];
    let labels: Vec<_> = s.labels.iter().collect();
    assert_eq!(labels.len(), 2);
    assert_eq!(
        labels[0].value,
        "quote \" backslash \\ newline \n brace } comma , eq ="
    );
    assert!(matches!(labels[1].value, Cow::Borrowed("x")));
    assert_eq!(s.value, f64::NEG_INFINITY);
    assert_eq!(s.timestamp, Some(1_395_066_363.0));
}

#[test]
fn text_families_group_histogram_and_summary_samples() {
    let body = "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 1\ns_count 1\nuntyped_a 1\nuntyped_b 2\n";
    let families = parse(body, Format::Text).unwrap();
    let shape: Vec<_> = families
        .iter()
        .map(|f| (f.name, f.kind, f.samples.len()))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("h", MetricType::Histogram, 4),
            ("s", MetricType::Summary, 3),
            ("untyped_a", MetricType::Unknown, 1),
            ("untyped_b", MetricType::Unknown, 1)
        ]
    );
    assert_eq!(families[0].help.as_deref(), Some("Latency."));
}

#[test]
fn text_mode_is_lenient_where_prometheus_is() {
    let body = "\n# a free comment\nm{a=\"1\",} \t 2\t1000\n  indented 3\n# TYPE u untyped\nu 4\n";
    let s = samples(body, Format::Text);
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].value, s[0].timestamp), (2.0, Some(1.0)));
    assert_eq!(s[1].name, "indented");
}

#[test]
fn errors_name_the_line() {
    let err = parse("ok 1\nbad{a=1} 2\n", Format::Text).unwrap_err();
    assert_eq!(err.line, 2);
    assert_eq!(
        err.to_string(),
        "line 2: invalid label set: label value must be in double quotes"
    );
    let err = parse("ok 1\n<html>\n", Format::Text).unwrap_err();
    assert_eq!((err.line, err.kind), (2, ErrorKind::InvalidMetricName));
}

#[test]
fn scan_skips_unwanted_lines_without_reading_them() {
    // The unwanted line has a value no parser would accept; scan must not look at it.
    let body = "wanted_total{a=\"x\"} 5\nunwanted_total{a=\"y\"} not-a-number\nwanted_total 7\n";
    let mut seen = Vec::new();
    let summary = scan(
        body,
        Format::Text,
        |n| n == "wanted_total",
        |s| seen.push(s.value),
    )
    .unwrap();
    assert_eq!(seen, vec![5.0, 7.0]);
    assert_eq!(summary.sample_lines, 3);
}

#[test]
fn scan_rejects_a_page_that_is_not_an_exposition() {
    let err = scan(
        "<!DOCTYPE html>\n<p>502</p>\n",
        Format::Text,
        |_| true,
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err.line, 1);
}

#[test]
fn values_follow_go_parse_float_in_text_and_the_spec_in_openmetrics() {
    assert_eq!(parse_float("12", Format::Text), Some(12.0));
    assert_eq!(parse_float("1.5e3", Format::OpenMetrics), Some(1500.0));
    assert_eq!(
        parse_float("+Inf", Format::OpenMetrics),
        Some(f64::INFINITY)
    );
    assert!(parse_float("NaN", Format::OpenMetrics).unwrap().is_nan());
    assert_eq!(parse_float("-inf", Format::Text), Some(f64::NEG_INFINITY));
    assert_eq!(parse_float("-inf", Format::OpenMetrics), None);
    assert_eq!(parse_float("0x1p-3", Format::Text), None);
    assert_eq!(parse_float("1_000", Format::Text), None);
    assert_eq!(parse_float("", Format::Text), None);
    assert_eq!(
        parse_float("9223372036854775808", Format::OpenMetrics),
        Some(9_223_372_036_854_775_808_u64 as f64)
    );
}

#[test]
fn content_type_selects_the_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4; charset=utf-8; escaping=underscores"),
        Format::Text
    );
    assert_eq!(Format::from_content_type(""), Format::Text);
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let err = body_as_str(b"a 1\nb\xff 2\n").unwrap_err();
    assert_eq!((err.line, err.kind), (2, ErrorKind::NotUtf8));
}

#[test]
fn openmetrics_counters_keep_their_family_name_without_total() {
    let body = "# TYPE tempo_distributor_ingester_append_failures counter\ntempo_distributor_ingester_append_failures_total{ingester=\"a\"} 13.0\n# EOF\n";
    let families = parse(body, Format::OpenMetrics).unwrap();
    assert_eq!(
        families[0].name,
        "tempo_distributor_ingester_append_failures"
    );
    assert_eq!(
        families[0].samples[0].name,
        "tempo_distributor_ingester_append_failures_total"
    );
}

/// The fast path must read every plain set exactly as the general iterator does, and a set
/// with blanks, a trailing comma or escapes past the kept pairs must not take it.
#[test]
fn plain_label_sets_split_on_quotes_like_the_general_iterator() {
    let cases = [
        ("{}", true),
        ("{a=\"\"}", true),
        ("{a=\"1\",b_2=\"x,y=z}\",le=\"+Inf\"}", true),
        ("{a=\"é ünïcode\"}", true),
        ("{a=\"1\",}", false),
        ("{a =\"1\"}", false),
        ("{a=\"1\", b=\"2\"}", false),
        ("{a=\"q\\\"\",b=\"2\"}", true),
        ("{ a=\"1\"}", false),
        (
            "{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\"}",
            true,
        ),
        (
            "{a=\"1\",b=\"2\",c=\"3\",d=\"\\n\",e=\"5\",f=\"6\",g=\"7\"}",
            true,
        ),
        (
            "{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"\\n\",f=\"6\",g=\"7\"}",
            false,
        ),
    ];
    for (set, plain) in cases {
        let body = format!("m{set} 1\n");
        let s = &samples(&body, Format::Text)[0];
        assert_eq!(matches!(s.labels.shape, Shape::Plain(_)), plain, "{set}");
        let general = s.labels.iter_general();
        assert_eq!(
            s.labels.iter().collect::<Vec<_>>(),
            general.collect::<Vec<_>>(),
            "{set}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn any_label_set_iterates_the_same_either_way(
        // Up to nine pairs and values past 255 bytes: more than the kept lengths cover.
        pairs in proptest::collection::vec(
            ("[a-zA-Z_][a-zA-Z0-9_]{0,6}", proptest::prop_oneof!["[ -~é]{0,8}", "[a-z]{250,300}"]),
            0..9,
        ),
        blanks in proptest::bool::ANY,
    ) {
        let sep = if blanks { ", " } else { "," };
        let set = pairs
            .iter()
            .map(|(n, v)| format!("{n}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(sep);
        let body = format!("m{{{set}}} 1\n");
        let s = &samples(&body, Format::Text)[0];
        let general = s.labels.iter_general();
        let fast: Vec<_> = s.labels.iter().collect();
        proptest::prop_assert_eq!(&fast, &general.collect::<Vec<_>>());
        let expected: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let got: Vec<(&str, &str)> = fast.iter().map(|l| (l.name, l.value.as_ref())).collect();
        proptest::prop_assert_eq!(got, expected);
    }
}

#[test]
fn unescape_decodes_only_the_three_escapes_and_keeps_the_rest_as_written() {
    assert_eq!(unescape(r#"a\\b\nc\"d"#, true), "a\\b\nc\"d");
    assert_eq!(unescape(r#"help \"q\""#, false), r#"help \"q\""#);
    assert_eq!(unescape(r"tab\t é\é", true), r"tab\t é\é");
    assert_eq!(unescape(r"ends\", true), r"ends\");
    assert_eq!(unescape(r"\\\\", true), r"\\");
    assert_eq!(unescape("no escapes", true), "no escapes");
}

proptest::proptest! {
    /// The fast decimal path must give the very bits the standard library's correctly
    /// rounded parser gives, or step aside.
    #[test]
    fn short_decimals_parse_to_the_same_bits_as_the_standard_library(
        text in "[+-]?[0-9]{1,20}(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?",
    ) {
        let expected: f64 = text.parse().unwrap();
        let got = parse_float(&text, Format::Text).unwrap();
        proptest::prop_assert_eq!(got.to_bits(), expected.to_bits(), "{}", text);
        if let Some(fast) = parse_short_decimal(text.as_bytes()) {
            proptest::prop_assert_eq!(fast.to_bits(), expected.to_bits(), "{}", text);
        }
    }
}

#[test]
fn the_fast_decimal_path_takes_the_common_values_and_leaves_the_rest() {
    for (text, value) in [
        ("0", 0.0),
        ("12", 12.0),
        ("0.000102", 0.000102),
        ("2.1e-05", 2.1e-05),
        ("-3.5", -3.5),
        ("1.7976931348623e+22", 1.7976931348623e22),
        ("9007199254740991", 9_007_199_254_740_991.0),
    ] {
        assert_eq!(parse_short_decimal(text.as_bytes()), Some(value), "{text}");
    }
    assert_eq!(
        parse_short_decimal(b"-0").map(f64::to_bits),
        Some((-0.0f64).to_bits())
    );
    for text in [
        "",
        "-",
        ".5",
        "1.",
        "1e",
        "1e+",
        "9007199254740993",
        "1e23",
        "1e-2000",
        "NaN",
        "1_0",
    ] {
        assert_eq!(parse_short_decimal(text.as_bytes()), None, "{text}");
    }
}
