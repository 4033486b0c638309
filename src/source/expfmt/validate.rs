//! The family-level rules of OpenMetrics 1.0, applied on top of the line lexer.
//!
//! Per family: metadata (HELP, TYPE, UNIT) at most once each and before any sample; no two
//! families claiming the same name or sample name (`a` counter owns `a_total` and
//! `a_created`); the samples of one series group (labels without `le`/`quantile`)
//! contiguous; per type, the value rules (counters and counts neither NaN nor negative,
//! histogram buckets in `le` order and cumulative with a `+Inf` bucket equal to `_count`,
//! `_sum` only with `_count` and only without negative buckets, quantiles in [0, 1],
//! stateset values 0/1, info values 1); exemplars only on counter `_total` and histogram
//! `_bucket` samples; repeated series only with non-decreasing timestamps; and `# EOF` last.

use std::collections::{HashMap, HashSet};

use super::{
    ErrorKind, Format, Line, MetricFamily, MetricType, ParseError, RawLines, Sample, family_suffix,
    lex_line, parse_float, unescape_cow,
};

pub(super) fn parse_openmetrics(body: &str) -> Result<Vec<MetricFamily<'_>>, ParseError> {
    let mut state = Validator::default();
    let mut lines = RawLines::new(body);
    let mut last_line = 0;
    while let Some((line_no, raw)) = lines.next_line() {
        last_line = line_no;
        let line = lex_line(raw, line_no, Format::OpenMetrics).map_err(|kind| ParseError {
            line: line_no,
            kind,
        })?;
        let result = match line {
            Line::Eof => {
                if !lines.at_end() {
                    return Err(ParseError {
                        line: line_no + 1,
                        kind: ErrorKind::TextAfterEof,
                    });
                }
                state.end_family()?;
                return Ok(state.families);
            }
            Line::Skip => Ok(()),
            Line::Help { name, text } => state.metadata(name, Metadata::Help(text)),
            Line::Type { name, kind } => state.metadata(name, Metadata::Type(kind)),
            Line::Unit { name, unit } => state.metadata(name, Metadata::Unit(unit)),
            Line::Sample(sample) => state.sample(sample),
        };
        result.map_err(|message| ParseError {
            line: line_no,
            kind: ErrorKind::Semantic(message),
        })?;
    }
    Err(ParseError {
        line: last_line.max(1),
        kind: ErrorKind::MissingEof,
    })
}

enum Metadata<'a> {
    Help(&'a str),
    Type(MetricType),
    Unit(&'a str),
}

#[derive(Default)]
struct Validator<'a> {
    families: Vec<MetricFamily<'a>>,
    /// Every family name and every sample name a typed family owns.
    taken: HashSet<String>,
    current: FamilyState<'a>,
}

#[derive(Default)]
struct FamilyState<'a> {
    has_help: bool,
    has_type: bool,
    has_unit: bool,
    group_key: Option<String>,
    closed_groups: HashSet<String>,
    group: GroupState,
    /// Last timestamp per series (name + raw labels), for repeated series.
    timestamps: HashMap<(&'a str, &'a str), Option<f64>>,
}

#[derive(Default)]
struct GroupState {
    any: bool,
    last_le: Option<f64>,
    last_bucket: f64,
    inf_bucket: Option<f64>,
    negative_bucket: bool,
    count: Option<f64>,
    sum: Option<f64>,
}

type Check = Result<(), String>;

impl<'a> Validator<'a> {
    fn family(&self) -> Option<&MetricFamily<'a>> {
        self.families.last()
    }

    fn metadata(&mut self, name: &'a str, meta: Metadata<'a>) -> Check {
        let same_family = self.family().is_some_and(|f| f.name == name);
        if !same_family {
            self.start_family(name)?;
        } else if !self.family().expect("checked").samples.is_empty() {
            return Err(format!("metadata for {name} after its samples"));
        }
        let kind_now = self.family().expect("started").kind;
        match meta {
            Metadata::Help(text) => {
                if std::mem::replace(&mut self.current.has_help, true) {
                    return Err(format!("second HELP for {name}"));
                }
                self.families.last_mut().expect("started").help = Some(unescape_cow(text, false));
            }
            Metadata::Type(kind) => {
                if std::mem::replace(&mut self.current.has_type, true) {
                    return Err(format!("second TYPE for {name}"));
                }
                if self.current.has_unit && matches!(kind, MetricType::Info | MetricType::StateSet)
                {
                    return Err(format!(
                        "{name}: info and stateset families cannot have a unit"
                    ));
                }
                self.families.last_mut().expect("started").kind = kind;
                for suffix in kind.sample_suffixes(Format::OpenMetrics) {
                    if suffix.is_empty() {
                        continue;
                    }
                    let owned = format!("{name}{suffix}");
                    if !self.taken.insert(owned) {
                        return Err(format!("{name}{suffix} clashes with an earlier family"));
                    }
                }
            }
            Metadata::Unit(unit) => {
                if std::mem::replace(&mut self.current.has_unit, true) {
                    return Err(format!("second UNIT for {name}"));
                }
                if !unit.is_empty()
                    && !name
                        .strip_suffix(unit)
                        .is_some_and(|stem| stem.ends_with('_'))
                {
                    return Err(format!("family {name} does not end with its unit {unit:?}"));
                }
                if matches!(kind_now, MetricType::Info | MetricType::StateSet) {
                    return Err(format!(
                        "{name}: info and stateset families cannot have a unit"
                    ));
                }
                self.families.last_mut().expect("started").unit = Some(unit);
            }
        }
        Ok(())
    }

    fn start_family(&mut self, name: &'a str) -> Check {
        self.end_family().map_err(|e| e.kind.to_string())?;
        if !self.taken.insert(name.to_owned()) {
            return Err(format!(
                "family {name} clashes with an earlier family or appears twice"
            ));
        }
        self.families.push(MetricFamily {
            name,
            kind: MetricType::Unknown,
            help: None,
            unit: None,
            samples: Vec::new(),
        });
        self.current = FamilyState::default();
        Ok(())
    }

    fn end_family(&mut self) -> Result<(), ParseError> {
        let line = self
            .family()
            .and_then(|f| f.samples.last())
            .map_or(0, |s| s.line);
        self.end_group().map_err(|message| ParseError {
            line,
            kind: ErrorKind::Semantic(message),
        })
    }

    fn sample(&mut self, sample: Sample<'a>) -> Check {
        let suffix = self
            .family()
            .and_then(|f| family_suffix(f.name, f.kind, Format::OpenMetrics, sample.name));
        let suffix = match suffix {
            Some(s) => s,
            None => {
                self.start_family(sample.name)?;
                ""
            }
        };
        let family = self.family().expect("a family is open");
        let (family_name, kind) = (family.name, family.kind);

        let mut names: Vec<&str> = Vec::new();
        for label in sample.labels.iter() {
            if names.contains(&label.name) {
                return Err(format!("label {} appears twice", label.name));
            }
            names.push(label.name);
        }

        let exemplar_allowed = matches!(
            (kind, suffix),
            (MetricType::Counter, "_total")
                | (
                    MetricType::Histogram | MetricType::GaugeHistogram,
                    "_bucket"
                )
        );
        if sample.exemplar.is_some() && !exemplar_allowed {
            return Err(format!(
                "{}: exemplars are only allowed on counter totals and histogram buckets",
                sample.name
            ));
        }

        let grouped = matches!(
            kind,
            MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
        );
        let key = group_key(&sample, if grouped { &["le", "quantile"] } else { &[] });
        if self.current.group_key.as_deref() != Some(key.as_str()) {
            self.end_group()?;
            if self.current.closed_groups.contains(&key) {
                return Err(format!(
                    "samples of series {{{key}}} of {family_name} are not together"
                ));
            }
            self.current.group_key = Some(key);
        }

        let series = (sample.name, sample.labels.raw());
        if let Some(previous) = self.current.timestamps.get(&series) {
            match (previous, sample.timestamp) {
                (Some(prev), Some(ts)) if ts >= *prev => {}
                _ => {
                    return Err(format!(
                        "{}: repeated series need increasing timestamps",
                        sample.name
                    ));
                }
            }
        }
        self.current.timestamps.insert(series, sample.timestamp);

        self.check_value(kind, family_name, suffix, &sample)?;
        self.current.group.any = true;
        self.families.last_mut().expect("open").samples.push(sample);
        Ok(())
    }

    /// One piece on purpose: it runs for every sample of a full parse, and each family kind's
    /// value rules (counter, gauge, histogram, summary, info, stateset) read clearer side by
    /// side than spread over helpers the optimiser would inline back.
    fn check_value(
        &mut self,
        kind: MetricType,
        family: &str,
        suffix: &str,
        sample: &Sample<'a>,
    ) -> Check {
        let v = sample.value;
        let name = sample.name;
        let non_negative = |what: &str| {
            if v.is_nan() || v < 0.0 {
                Err(format!(
                    "{name}: {what} must be a non-negative number, got {v}"
                ))
            } else {
                Ok(())
            }
        };
        let group = &mut self.current.group;
        match (kind, suffix) {
            (MetricType::Counter, "_total") => non_negative("a counter")?,
            (MetricType::Summary | MetricType::Histogram, "_count") => {
                non_negative("a count")?;
                group.count = Some(v);
            }
            (MetricType::GaugeHistogram, "_gcount") => {
                non_negative("a count")?;
                group.count = Some(v);
            }
            (MetricType::Summary | MetricType::Histogram, "_sum") => {
                non_negative("a sum")?;
                group.sum = Some(v);
            }
            (MetricType::GaugeHistogram, "_gsum") => {
                if v.is_nan() {
                    return Err(format!("{name}: _gsum must not be NaN"));
                }
                group.sum = Some(v);
            }
            (MetricType::Summary, "") => {
                let quantile = sample
                    .labels
                    .get("quantile")
                    .ok_or_else(|| format!("{name}: summary quantile without a quantile label"))?;
                match parse_float(&quantile, Format::OpenMetrics) {
                    Some(q) if (0.0..=1.0).contains(&q) => {}
                    _ => return Err(format!("{name}: invalid quantile {quantile:?}")),
                }
                if v < 0.0 {
                    return Err(format!("{name}: negative quantile value"));
                }
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => {
                let le = sample
                    .labels
                    .get("le")
                    .ok_or_else(|| format!("{name}: bucket without an le label"))?;
                let bound = parse_float(&le, Format::OpenMetrics)
                    .filter(|b| !b.is_nan())
                    .ok_or_else(|| format!("{name}: invalid le {le:?}"))?;
                non_negative("a bucket count")?;
                if group.last_le.is_some_and(|last| bound <= last) {
                    return Err(format!("{name}: buckets out of le order"));
                }
                if group.last_le.is_some() && v < group.last_bucket {
                    return Err(format!("{name}: bucket counts must not decrease"));
                }
                group.last_le = Some(bound);
                group.last_bucket = v;
                if bound < 0.0 {
                    group.negative_bucket = true;
                }
                if bound == f64::INFINITY {
                    group.inf_bucket = Some(v);
                }
            }
            (MetricType::StateSet, _) => {
                if sample.labels.get(family).is_none() {
                    return Err(format!("{name}: stateset sample without a {family} label"));
                }
                if v != 0.0 && v != 1.0 {
                    return Err(format!("{name}: stateset values must be 0 or 1"));
                }
            }
            (MetricType::Info, _) if v != 1.0 => {
                return Err(format!("{name}: info values must be 1"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the series group that just ended (histogram completeness and the like).
    fn end_group(&mut self) -> Check {
        let group = std::mem::take(&mut self.current.group);
        if let Some(key) = self.current.group_key.take() {
            self.current.closed_groups.insert(key);
        }
        let Some(family) = self.families.last() else {
            return Ok(());
        };
        if !group.any {
            return Ok(());
        }
        let name = family.name;
        match family.kind {
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let Some(inf) = group.inf_bucket else {
                    return Err(format!("{name}: histogram without a +Inf bucket"));
                };
                if group.count.is_some() != group.sum.is_some() {
                    return Err(format!("{name}: count and sum must come together"));
                }
                if group.count.is_some_and(|c| c != inf) {
                    return Err(format!("{name}: count differs from the +Inf bucket"));
                }
                let histogram = family.kind == MetricType::Histogram;
                if histogram && group.negative_bucket && group.sum.is_some() {
                    return Err(format!(
                        "{name}: a histogram with negative buckets cannot have a sum"
                    ));
                }
                if !histogram && !group.negative_bucket && group.sum.is_some_and(|s| s < 0.0) {
                    return Err(format!("{name}: negative gsum without negative buckets"));
                }
            }
            MetricType::Summary if group.count.is_some() != group.sum.is_some() => {
                return Err(format!("{name}: count and sum must come together"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The labels of a sample without `ignored`, sorted, as one string: the identity of the
/// series group it belongs to.
fn group_key(sample: &Sample<'_>, ignored: &[&str]) -> String {
    let mut pairs: Vec<_> = sample
        .labels
        .iter()
        .filter(|l| !ignored.contains(&l.name))
        .collect();
    pairs.sort_by(|a, b| a.name.cmp(b.name));
    let mut key = String::new();
    for label in pairs {
        key.push_str(label.name);
        key.push('=');
        key.push_str(&label.value);
        key.push('\u{0}');
    }
    key
}
