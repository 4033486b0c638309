//! PromQL-style series selectors for the `app` role: `name{label="v",other!~"re"}`.
//!
//! An app names its own span-export counters (`otel_sdk_exporter_span_exported_total`
//! with `error_type`, or a framework's counter), so the config gives a success and a
//! failure selector. Only instant-vector selectors are accepted: a metric name and the four
//! matchers `=`, `!=`, `=~`, `!~`; regexes are fully anchored as in PromQL.

use regex::Regex;
use thiserror::Error;

use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct Selector {
    pub metric: String,
    matchers: Vec<Matcher>,
    source: String,
}

#[derive(Debug, Clone)]
struct Matcher {
    label: String,
    op: MatchOp,
}

#[derive(Debug, Clone)]
enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(Regex),
    NotRegex(Regex),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid selector {selector:?}: {reason}")]
pub struct SelectorError {
    pub selector: String,
    pub reason: String,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let fail = |reason: &str| SelectorError {
            selector: text.to_owned(),
            reason: reason.to_owned(),
        };
        let s = text.trim();
        let name_end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(s.len());
        let metric = &s[..name_end];
        if metric.is_empty() || metric.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(fail("it must start with a metric name"));
        }
        let rest = s[name_end..].trim();
        let mut matchers = Vec::new();
        if !rest.is_empty() {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| fail("expected {label=\"value\", …} after the metric name"))?;
            let mut input = inner.trim();
            while !input.is_empty() {
                let label_end = input
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .ok_or_else(|| fail("a matcher needs an operator and a quoted value"))?;
                let label = &input[..label_end];
                if label.is_empty() {
                    return Err(fail("expected a label name"));
                }
                input = input[label_end..].trim_start();
                let (op, after) = ["!~", "=~", "!=", "="]
                    .iter()
                    .find_map(|op| input.strip_prefix(op).map(|a| (*op, a)))
                    .ok_or_else(|| fail("expected one of = != =~ !~ after the label name"))?;
                let (value, after) = quoted(after.trim_start())
                    .ok_or_else(|| fail("label values must be in double quotes"))?;
                let anchored = |v: &str| {
                    Regex::new(&format!("^(?:{v})$")).map_err(|e| fail(&format!("bad regex: {e}")))
                };
                let op = match op {
                    "=" => MatchOp::Equal(value),
                    "!=" => MatchOp::NotEqual(value),
                    "=~" => MatchOp::Regex(anchored(&value)?),
                    _ => MatchOp::NotRegex(anchored(&value)?),
                };
                matchers.push(Matcher {
                    label: label.to_owned(),
                    op,
                });
                input = after.trim_start();
                if let Some(next) = input.strip_prefix(',') {
                    input = next.trim_start();
                } else if !input.is_empty() {
                    return Err(fail("expected ',' between matchers"));
                }
            }
        }
        Ok(Selector {
            metric: metric.to_owned(),
            matchers,
            source: text.to_owned(),
        })
    }

    /// Whether a sample whose labels `label` looks up is selected (the name is checked by
    /// the caller). A missing label reads as the empty string, as in PromQL. Taking a
    /// look-up rather than the parser's label type keeps configuration free of the parser.
    pub fn matches_labels<'a>(&self, label: impl Fn(&str) -> Option<Cow<'a, str>>) -> bool {
        self.matchers.iter().all(|m| {
            let value = label(&m.label);
            let value = value.as_deref().unwrap_or("");
            match &m.op {
                MatchOp::Equal(v) => value == v,
                MatchOp::NotEqual(v) => value != v,
                MatchOp::Regex(re) => re.is_match(value),
                MatchOp::NotRegex(re) => !re.is_match(value),
            }
        })
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Reads a double-quoted string with `\"` and `\\` escapes; returns it and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::expfmt::{Format, scan};

    fn selected(selector: &str, page: &str) -> Vec<f64> {
        let sel = Selector::parse(selector).unwrap();
        let mut out = Vec::new();
        scan(
            page,
            Format::Text,
            |n| n == sel.metric,
            |s| {
                if sel.matches_labels(|name| s.labels.get(name)) {
                    out.push(s.value)
                }
            },
        )
        .unwrap();
        out
    }

    const PAGE: &str = "otel_sdk_exporter_span_exported_total{error_type=\"\"} 10\notel_sdk_exporter_span_exported_total{error_type=\"timeout\"} 2\notel_sdk_exporter_span_exported_total 1\n";

    #[test]
    fn empty_value_matches_a_missing_label_as_in_promql() {
        assert_eq!(
            selected(
                "otel_sdk_exporter_span_exported_total{error_type=\"\"}",
                PAGE
            ),
            [10.0, 1.0]
        );
        assert_eq!(
            selected(
                "otel_sdk_exporter_span_exported_total{error_type!=\"\"}",
                PAGE
            ),
            [2.0]
        );
    }

    #[test]
    fn regex_matchers_are_anchored() {
        assert_eq!(
            selected(
                "otel_sdk_exporter_span_exported_total{error_type=~\"time\"}",
                PAGE
            ),
            Vec::<f64>::new()
        );
        assert_eq!(
            selected(
                "otel_sdk_exporter_span_exported_total{error_type=~\"time.*\"}",
                PAGE
            ),
            [2.0]
        );
        assert_eq!(
            selected(
                "otel_sdk_exporter_span_exported_total{error_type!~\".+\"}",
                PAGE
            ),
            [10.0, 1.0]
        );
    }

    #[test]
    fn a_bare_name_selects_every_series() {
        assert_eq!(
            selected("otel_sdk_exporter_span_exported_total", PAGE),
            [10.0, 2.0, 1.0]
        );
    }

    #[test]
    fn malformed_selectors_say_what_is_wrong() {
        for (bad, reason) in [
            ("{a=\"b\"}", "it must start with a metric name"),
            ("m{a=b}", "label values must be in double quotes"),
            (
                "m{a~\"b\"}",
                "expected one of = != =~ !~ after the label name",
            ),
            ("m{a=\"b\" c=\"d\"}", "expected ',' between matchers"),
            (
                "m{a=\"b\"",
                "expected {label=\"value\", …} after the metric name",
            ),
        ] {
            assert_eq!(Selector::parse(bad).unwrap_err().reason, reason, "{bad}");
        }
        assert!(
            Selector::parse("m{a=~\"(\"}")
                .unwrap_err()
                .reason
                .starts_with("bad regex")
        );
    }
}
