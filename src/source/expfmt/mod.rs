//! Parses the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0.
//!
//! Two entry points share one line lexer:
//!
//! * [`scan`] walks a page and hands every sample whose *name* a filter wants to a callback.
//!   Lines the filter rejects are skipped after reading the name: no labels, no value, no
//!   allocation. This is what polling uses — a stage needs a handful of families out of a
//!   100 KB Tempo page.
//! * [`parse`] builds every family with its samples. In [`Format::OpenMetrics`] it also
//!   enforces the OpenMetrics semantics (metadata placement, family clashes, counter and
//!   histogram value rules, `# EOF`, exemplar placement, timestamp order); it agrees with
//!   every case of the OpenMetrics parser test suite.
//!
//! Everything borrows from the body. A label value or HELP text is unescaped (into an owned
//! string) only when it contains a backslash. Errors carry the 1-based line number.
//!
//! Text 0.0.4 mode is deliberately lenient where real exporters are sloppy and Prometheus
//! itself accepts the page: blank lines, free comments, `untyped`, tabs and repeated spaces
//! between tokens, a trailing comma in a label set, integer millisecond timestamps, exemplars
//! (tolerated and parsed), and no family-level checks at all. See `docs/expfmt.md` for the
//! list of OpenMetrics-invalid cases this mode accepts, which a test keeps in step.

mod utf8_names;
mod validate;

pub use utf8_names::escape_quoted_names;

use std::borrow::Cow;

use thiserror::Error;

/// Which exposition format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, the classic Prometheus text format.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header announces; anything that is not OpenMetrics is
    /// read as text 0.0.4, as Prometheus does.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// The type a `# TYPE` line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    StateSet,
    Info,
    /// `unknown` in OpenMetrics, `untyped` in text 0.0.4, and any family without `# TYPE`.
    Unknown,
}

impl MetricType {
    fn from_keyword(word: &str, format: Format) -> Option<MetricType> {
        Some(match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "stateset" => MetricType::StateSet,
            "info" => MetricType::Info,
            "unknown" => MetricType::Unknown,
            "untyped" if format == Format::Text => MetricType::Unknown,
            _ => return None,
        })
    }

    /// The suffixes a sample name may carry after the family name, for this type.
    fn sample_suffixes(self, format: Format) -> &'static [&'static str] {
        match (self, format) {
            (MetricType::Counter, Format::OpenMetrics) => &["_total", "_created"],
            // Text 0.0.4 counters are named with their `_total`, and the family is that name.
            (MetricType::Counter, Format::Text) => &["", "_created"],
            (MetricType::Histogram, _) => &["_bucket", "_count", "_sum", "_created"],
            (MetricType::GaugeHistogram, _) => &["_bucket", "_gcount", "_gsum"],
            (MetricType::Summary, _) => &["", "_count", "_sum", "_created"],
            (MetricType::Info, _) => &["_info"],
            (MetricType::Gauge | MetricType::StateSet | MetricType::Unknown, _) => &[""],
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub labels: Labels<'a>,
    pub value: f64,
    /// Seconds since the epoch (text 0.0.4 milliseconds are converted).
    pub timestamp: Option<f64>,
    /// Boxed: exemplars are rare, and a smaller sample makes a full parse faster.
    pub exemplar: Option<Box<Exemplar<'a>>>,
    /// 1-based line number in the body.
    pub line: usize,
}

/// An exemplar attached to a sample (`# {trace_id="…"} 0.5 123.4`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    pub labels: Labels<'a>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

/// A validated label set, kept as the raw text between the braces and decoded on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Labels<'a> {
    raw: &'a str,
    shape: Shape,
}

/// What validation learnt about a label set's layout, so that iterating it need not search
/// the text again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Shape {
    /// Blanks between tokens or a trailing comma: read by the general rules.
    #[default]
    General,
    /// Written the way exporters write it: `name="value"` pairs joined by single commas, no
    /// blanks. The lengths of the first pairs are kept, with which of their values hold
    /// escapes; later pairs (or long ones) have none and split on their quotes alone.
    Plain(PairLengths),
}

/// How many pairs of a plain set have their lengths kept: most series have no more labels,
/// and more would make every [`Sample`] bigger.
const KEPT_PAIRS: usize = 4;

/// Name and (raw) value lengths of the first `known` pairs of a plain set, a byte each,
/// packed into one word (pair `k` in bits `16k..16k+16`, name length low), and a bit per
/// pair for a value with escapes. One word rather than byte arrays, because it is built
/// in a register: byte stores read back as a word stalled the validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct PairLengths {
    known: u8,
    escaped: u8,
    packed: u64,
}

impl PairLengths {
    /// Keeps one more pair's lengths if there is room and they fit a byte; once one does
    /// not, later pairs are not kept either (they are found by their quotes). Returns false
    /// for a pair that is not kept but has escapes: quotes alone cannot split it, so the
    /// set is not plain.
    #[inline]
    fn keep(&mut self, name_len: usize, value_len: usize, escaped: bool, full: &mut bool) -> bool {
        let k = usize::from(self.known);
        if *full || k == KEPT_PAIRS || name_len > 255 || value_len > 255 {
            *full = true;
            return !escaped;
        }
        self.packed |= (name_len as u64 | (value_len as u64) << 8) << (16 * k);
        self.escaped |= u8::from(escaped) << k;
        self.known += 1;
        true
    }
}

/// One label pair; the value is borrowed unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

impl<'a> Labels<'a> {
    /// The label set exactly as written between `{` and `}`.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter {
            src: self.raw,
            offset: 0,
            shape: self.shape,
            pair: 0,
        }
    }

    /// The pairs read by the general rules alone, ignoring what validation learnt about the
    /// set's shape: what the fast path is checked against (tests, the fuzz entry points).
    pub(crate) fn iter_general(&self) -> LabelIter<'a> {
        LabelIter {
            src: self.raw,
            offset: 0,
            shape: Shape::General,
            pair: 0,
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }
}

/// Iterates the pairs of a [`Labels`]. The set was validated when the line was read, so
/// iteration cannot fail.
pub struct LabelIter<'a> {
    src: &'a str,
    offset: usize,
    shape: Shape,
    /// Index of the next pair.
    pair: usize,
}

impl<'a> LabelIter<'a> {
    /// The next pair of a plain set: from the kept lengths while there are some, then by
    /// the quotes (the name runs to the `="` before the first, the value to the next).
    #[inline]
    fn next_plain(&mut self, lengths: &PairLengths) -> Option<Label<'a>> {
        let start = self.offset;
        let pair = self.pair;
        self.pair += 1;
        if pair < usize::from(lengths.known) {
            let entry = (lengths.packed >> (16 * pair)) as u16;
            let name_end = start + usize::from(entry as u8);
            let value_start = name_end + 2;
            let value_end = value_start + usize::from(entry >> 8);
            self.offset = value_end + 2;
            let raw_value = &self.src[value_start..value_end];
            return Some(Label {
                name: &self.src[start..name_end],
                value: if lengths.escaped >> pair & 1 != 0 {
                    Cow::Owned(unescape(raw_value, true))
                } else {
                    Cow::Borrowed(raw_value)
                },
            });
        }
        let b = self.src.as_bytes();
        let open = next_of_two(b, start, b'"', b'"')?;
        let close = next_of_two(b, open + 1, b'"', b'"').expect("validated label set");
        self.offset = close + 2;
        Some(Label {
            name: &self.src[start..open - 1],
            value: Cow::Borrowed(&self.src[open + 1..close]),
        })
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = Label<'a>;

    #[inline]
    fn next(&mut self) -> Option<Label<'a>> {
        if let Shape::Plain(lengths) = self.shape {
            if self.offset >= self.src.len() {
                return None;
            }
            return self.next_plain(&lengths);
        }
        let b = self.src.as_bytes();
        let mut i = self.offset;
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let name_start = i;
        while i < b.len() && !matches!(b[i], b'=' | b' ' | b'\t') {
            i += 1;
        }
        let name = &self.src[name_start..i];
        while b[i] != b'"' {
            i += 1;
        }
        let value_start = i + 1;
        let (value_end, escaped) = find_closing_quote(b, value_start).expect("validated label set");
        let raw_value = &self.src[value_start..value_end];
        self.offset = value_end + 1;
        let value = if escaped {
            Cow::Owned(unescape(raw_value, true))
        } else {
            Cow::Borrowed(raw_value)
        };
        Some(Label { name, value })
    }
}

/// One family as [`parse`] builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily<'a> {
    pub name: &'a str,
    pub kind: MetricType,
    pub help: Option<Cow<'a, str>>,
    pub unit: Option<&'a str>,
    pub samples: Vec<Sample<'a>>,
}

/// Why a body could not be read, with the 1-based line it happened on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    #[error("invalid metric name")]
    InvalidMetricName,
    #[error("invalid label set: {0}")]
    InvalidLabels(&'static str),
    #[error("invalid sample value {0:?}")]
    InvalidValue(String),
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    #[error("invalid exemplar: {0}")]
    InvalidExemplar(&'static str),
    #[error("unexpected whitespace or text after the sample")]
    TrailingText,
    #[error("malformed {0} line")]
    MalformedMetadata(&'static str),
    #[error("unknown metric type {0:?}")]
    UnknownType(String),
    #[error("comment lines other than HELP, TYPE, UNIT and EOF are not allowed in OpenMetrics")]
    UnknownComment,
    #[error("blank line")]
    BlankLine,
    #[error("body is not valid UTF-8")]
    NotUtf8,
    #[error("missing \"# EOF\" at the end")]
    MissingEof,
    #[error("text after \"# EOF\"")]
    TextAfterEof,
    #[error("{0}")]
    Semantic(String),
}

/// A line of the exposition, as the lexer sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line<'a> {
    Help {
        name: &'a str,
        text: &'a str,
    },
    Type {
        name: &'a str,
        kind: MetricType,
    },
    Unit {
        name: &'a str,
        unit: &'a str,
    },
    Sample(Sample<'a>),
    Eof,
    /// A free comment or a blank line in text mode.
    Skip,
}

/// Reads `bytes` as UTF-8, the encoding both formats require.
pub fn body_as_str(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|e| ParseError {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&c| c == b'\n')
            .count(),
        kind: ErrorKind::NotUtf8,
    })
}

/// What [`scan`] saw besides the samples it handed over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Sample lines in the body, wanted or not.
    pub sample_lines: usize,
}

/// Hands every sample whose name `wanted` accepts to `on_sample`, skipping the others
/// after reading only their name. Syntax errors in *wanted* lines, and invalid names
/// anywhere, fail the scan: a page that is not an exposition (an HTML error page, garbage)
/// is rejected rather than read as empty. Family-level OpenMetrics rules are not checked.
pub fn scan<'a>(
    body: &'a str,
    format: Format,
    mut wanted: impl FnMut(&str) -> bool,
    mut on_sample: impl FnMut(Sample<'a>),
) -> Result<ScanSummary, ParseError> {
    let mut summary = ScanSummary::default();
    let mut lines = RawLines::new(body);
    while let Some((line_no, line)) = lines.next_line() {
        let err = |kind| ParseError {
            line: line_no,
            kind,
        };
        let first = match line.as_bytes().first() {
            None => continue,
            Some(&c) => c,
        };
        if first == b'#' || first == b' ' || first == b'\t' {
            continue;
        }
        let name_end = metric_name_end(line.as_bytes()).ok_or(err(ErrorKind::InvalidMetricName))?;
        summary.sample_lines += 1;
        if !wanted(&line[..name_end]) {
            continue;
        }
        let sample = parse_sample(line, name_end, line_no, format).map_err(err)?;
        on_sample(sample);
    }
    Ok(summary)
}

/// Parses a whole body into families. In OpenMetrics mode every rule of the specification
/// that the conformance suite exercises is enforced.
pub fn parse(body: &str, format: Format) -> Result<Vec<MetricFamily<'_>>, ParseError> {
    match format {
        Format::OpenMetrics => validate::parse_openmetrics(body),
        Format::Text => parse_text(body),
    }
}

fn parse_text(body: &str) -> Result<Vec<MetricFamily<'_>>, ParseError> {
    let mut families: Vec<MetricFamily<'_>> = Vec::new();
    let mut lines = RawLines::new(body);
    while let Some((line_no, raw)) = lines.next_line() {
        let line = lex_line(raw, line_no, Format::Text).map_err(|kind| ParseError {
            line: line_no,
            kind,
        })?;
        match line {
            Line::Skip | Line::Eof => {}
            Line::Help { name, text } => {
                let family = text_family_for_metadata(&mut families, name);
                family.help = Some(unescape_cow(text, false));
            }
            Line::Type { name, kind } => text_family_for_metadata(&mut families, name).kind = kind,
            Line::Unit { name, unit } => {
                text_family_for_metadata(&mut families, name).unit = Some(unit)
            }
            Line::Sample(sample) => {
                let belongs = families.last().is_some_and(|f| {
                    family_suffix(f.name, f.kind, Format::Text, sample.name).is_some()
                });
                if !belongs {
                    families.push(MetricFamily {
                        name: sample.name,
                        kind: MetricType::Unknown,
                        help: None,
                        unit: None,
                        samples: Vec::new(),
                    });
                }
                families
                    .last_mut()
                    .expect("pushed above")
                    .samples
                    .push(sample);
            }
        }
    }
    Ok(families)
}

/// The family a HELP/TYPE line describes: the current one if it has that name and no
/// samples yet, else a new one.
fn text_family_for_metadata<'a, 'f>(
    families: &'f mut Vec<MetricFamily<'a>>,
    name: &'a str,
) -> &'f mut MetricFamily<'a> {
    let reuse = families
        .last()
        .is_some_and(|f| f.name == name && f.samples.is_empty());
    if !reuse {
        families.push(MetricFamily {
            name,
            kind: MetricType::Unknown,
            help: None,
            unit: None,
            samples: Vec::new(),
        });
    }
    families.last_mut().expect("pushed above")
}

/// The suffix `sample_name` carries if it belongs to family `family` of type `kind`.
pub(crate) fn family_suffix(
    family: &str,
    kind: MetricType,
    format: Format,
    sample_name: &str,
) -> Option<&'static str> {
    let rest = sample_name.get(family.len()..)?;
    let suffix = kind
        .sample_suffixes(format)
        .iter()
        .copied()
        .find(|s| same_bytes(s.as_bytes(), rest.as_bytes()))?;
    same_bytes(&sample_name.as_bytes()[..family.len()], family.as_bytes()).then_some(suffix)
}

/// Byte equality without a call into libc: a full parse compares every sample's name with
/// its family's, and for names this short `memcmp`'s call and dispatch cost more than
/// comparing a word at a time here (it was a tenth of a full parse's time).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("eight bytes"));
    let (mut words_a, mut words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    if (&mut words_a)
        .zip(&mut words_b)
        .any(|(x, y)| word(x) != word(y))
    {
        return false;
    }
    words_a
        .remainder()
        .iter()
        .zip(words_b.remainder())
        .all(|(x, y)| x == y)
}

/// Splits a body into lines, tracking 1-based line numbers. A final line without `\n`
/// is still a line; the empty remainder after a final `\n` is not.
pub(crate) struct RawLines<'a> {
    body: &'a str,
    pos: usize,
    line_no: usize,
}

impl<'a> RawLines<'a> {
    pub(crate) fn new(body: &'a str) -> Self {
        RawLines {
            body,
            pos: 0,
            line_no: 0,
        }
    }

    pub(crate) fn next_line(&mut self) -> Option<(usize, &'a str)> {
        if self.pos >= self.body.len() {
            return None;
        }
        let rest = &self.body.as_bytes()[self.pos..];
        let end = memchr::memchr(b'\n', rest).map_or(self.body.len(), |i| self.pos + i);
        let line = &self.body[self.pos..end];
        self.pos = end + 1;
        self.line_no += 1;
        Some((self.line_no, line))
    }

    /// True when no bytes are left after the line last returned.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.body.len()
    }
}

/// Classifies one line.
pub(crate) fn lex_line(line: &str, line_no: usize, format: Format) -> Result<Line<'_>, ErrorKind> {
    let om = format == Format::OpenMetrics;
    let bytes = line.as_bytes();
    match bytes.first() {
        None => {
            return if om {
                Err(ErrorKind::BlankLine)
            } else {
                Ok(Line::Skip)
            };
        }
        Some(b'#') => return lex_comment(line, format),
        Some(b' ' | b'\t') => {
            if om {
                return Err(ErrorKind::InvalidMetricName);
            }
            let trimmed = line.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() {
                return Ok(Line::Skip);
            }
            return lex_line(trimmed, line_no, format);
        }
        Some(_) => {}
    }
    let name_end = metric_name_end(bytes).ok_or(ErrorKind::InvalidMetricName)?;
    parse_sample(line, name_end, line_no, format).map(Line::Sample)
}

/// One piece on purpose: every `#` line of both formats is sorted here — HELP, TYPE,
/// UNIT, EOF, plain comments — and each branch shares the same cursor over the line.
fn lex_comment(line: &str, format: Format) -> Result<Line<'_>, ErrorKind> {
    let om = format == Format::OpenMetrics;
    if line == "# EOF" {
        return Ok(Line::Eof);
    }
    let (keyword, rest) = if let Some(rest) = line.strip_prefix("# HELP") {
        ("HELP", rest)
    } else if let Some(rest) = line.strip_prefix("# TYPE") {
        ("TYPE", rest)
    } else if let Some(rest) = line.strip_prefix("# UNIT") {
        ("UNIT", rest)
    } else if om {
        return Err(ErrorKind::UnknownComment);
    } else {
        return Ok(Line::Skip);
    };
    // Text mode: `# HELPER …` is a free comment, and extra blanks separate tokens.
    let Some(rest) = rest.strip_prefix(' ') else {
        return if om {
            Err(ErrorKind::MalformedMetadata(keyword))
        } else {
            Ok(Line::Skip)
        };
    };
    let rest = if om {
        rest
    } else {
        rest.trim_start_matches([' ', '\t'])
    };
    let name_end = metric_name_end(rest.as_bytes()).ok_or(ErrorKind::MalformedMetadata(keyword))?;
    let name = &rest[..name_end];
    let after = &rest[name_end..];
    match keyword {
        "HELP" => {
            let text = if om {
                after
                    .strip_prefix(' ')
                    .ok_or(ErrorKind::MalformedMetadata("HELP"))?
            } else if after.is_empty() {
                ""
            } else {
                after
                    .strip_prefix([' ', '\t'])
                    .ok_or(ErrorKind::MalformedMetadata("HELP"))?
                    .trim_start_matches([' ', '\t'])
            };
            Ok(Line::Help { name, text })
        }
        "TYPE" => {
            let word = if om {
                after
                    .strip_prefix(' ')
                    .ok_or(ErrorKind::MalformedMetadata("TYPE"))?
            } else {
                after.trim_matches([' ', '\t'])
            };
            let kind = MetricType::from_keyword(word, format)
                .ok_or_else(|| ErrorKind::UnknownType(word.to_owned()))?;
            Ok(Line::Type { name, kind })
        }
        _ => {
            let unit = if om {
                after
                    .strip_prefix(' ')
                    .ok_or(ErrorKind::MalformedMetadata("UNIT"))?
            } else {
                after.trim_matches([' ', '\t'])
            };
            if unit
                .bytes()
                .any(|c| !c.is_ascii_alphanumeric() && c != b'_' && c != b':')
            {
                return Err(ErrorKind::MalformedMetadata("UNIT"));
            }
            Ok(Line::Unit { name, unit })
        }
    }
}

/// Byte classes for names: bit 0 a metric-name character (`[a-zA-Z0-9_:]`), bit 1 a
/// label-name character (`[a-zA-Z0-9_]`), bit 2 a character that may start either
/// (`[a-zA-Z_]`; `:` may start a metric name only, checked apart). A table lookup per
/// byte instead of three range tests: names are most of a page's bytes.
const NAME_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        if alpha || b.is_ascii_digit() {
            table[c] |= METRIC_CHAR | LABEL_CHAR;
        }
        if b == b':' {
            table[c] |= METRIC_CHAR;
        }
        if alpha {
            table[c] |= NAME_START;
        }
        c += 1;
    }
    table
};
const METRIC_CHAR: u8 = 1;
const LABEL_CHAR: u8 = 2;
const NAME_START: u8 = 4;

/// Length of the metric name at the start of `b`, or `None` when it does not start with one
/// or the name runs into a character that cannot follow it.
#[inline]
fn metric_name_end(b: &[u8]) -> Option<usize> {
    let first = *b.first()?;
    if NAME_CLASS[first as usize] & NAME_START == 0 && first != b':' {
        return None;
    }
    let i = class_run_end(b, 1, METRIC_CHAR);
    match b.get(i) {
        None | Some(b'{' | b' ' | b'\t') => Some(i),
        _ => None,
    }
}

/// The first index at or after `i` whose byte is not of `class`. Four bytes are classified
/// per step with their class bits ANDed, so a long name costs one branch per four bytes
/// rather than one per byte.
#[inline]
fn class_run_end(b: &[u8], mut i: usize, class: u8) -> usize {
    let of = |c: u8| NAME_CLASS[c as usize];
    while let Some(&[c0, c1, c2, c3]) = b.get(i..i + 4) {
        if of(c0) & of(c1) & of(c2) & of(c3) & class == 0 {
            break;
        }
        i += 4;
    }
    while i < b.len() && of(b[i]) & class != 0 {
        i += 1;
    }
    i
}

fn parse_sample(
    line: &str,
    name_end: usize,
    line_no: usize,
    format: Format,
) -> Result<Sample<'_>, ErrorKind> {
    let om = format == Format::OpenMetrics;
    let b = line.as_bytes();
    let name = &line[..name_end];
    let mut i = name_end;
    let mut labels = Labels::default();
    if b.get(i) == Some(&b'{') {
        let (end, shape) = scan_label_set(b, i + 1, format)?;
        labels = Labels {
            raw: &line[i + 1..end],
            shape,
        };
        i = end + 1;
    }
    i = skip_separator(b, i, om).ok_or_else(|| {
        if i >= b.len() {
            ErrorKind::InvalidValue(String::new())
        } else {
            ErrorKind::InvalidValue(line[i..].to_owned())
        }
    })?;
    let value_end = token_end(b, i);
    let value_text = &line[i..value_end];
    let value = parse_float(value_text, format)
        .ok_or_else(|| ErrorKind::InvalidValue(value_text.to_owned()))?;
    i = value_end;

    let mut timestamp = None;
    let mut exemplar = None;
    if i < b.len() {
        i = skip_separator(b, i, om).ok_or(ErrorKind::TrailingText)?;
        if b[i] != b'#' {
            let ts_end = token_end(b, i);
            let ts_text = &line[i..ts_end];
            timestamp = Some(
                parse_timestamp(ts_text, format)
                    .ok_or_else(|| ErrorKind::InvalidTimestamp(ts_text.to_owned()))?,
            );
            i = ts_end;
            if i < b.len() {
                i = skip_separator(b, i, om).ok_or(ErrorKind::TrailingText)?;
            }
        }
        if i < b.len() {
            if b[i] != b'#' {
                return Err(ErrorKind::TrailingText);
            }
            exemplar = Some(Box::new(parse_exemplar(line, i + 1, format)?));
        }
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
        exemplar,
        line: line_no,
    })
}

/// After `#` of an exemplar: ` {labels} value [timestamp]`.
fn parse_exemplar(line: &str, mut i: usize, format: Format) -> Result<Exemplar<'_>, ErrorKind> {
    let om = format == Format::OpenMetrics;
    let b = line.as_bytes();
    if b.get(i) != Some(&b' ') {
        return Err(ErrorKind::InvalidExemplar("expected \" {\" after \"#\""));
    }
    i += 1;
    if b.get(i) != Some(&b'{') {
        return Err(ErrorKind::InvalidExemplar("expected a label set"));
    }
    let (end, shape) = scan_label_set(b, i + 1, format)
        .map_err(|_| ErrorKind::InvalidExemplar("malformed label set"))?;
    let labels = Labels {
        raw: &line[i + 1..end],
        shape,
    };
    let label_chars: usize = labels
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    if label_chars > 128 {
        return Err(ErrorKind::InvalidExemplar(
            "label set longer than 128 characters",
        ));
    }
    i = end + 1;
    i = skip_separator(b, i, om).ok_or(ErrorKind::InvalidExemplar("missing value"))?;
    let value_end = token_end(b, i);
    let value = parse_float(&line[i..value_end], format)
        .ok_or(ErrorKind::InvalidExemplar("invalid value"))?;
    i = value_end;
    let mut timestamp = None;
    if i < b.len() {
        i = skip_separator(b, i, om).ok_or(ErrorKind::InvalidExemplar("trailing whitespace"))?;
        let ts_end = token_end(b, i);
        // Exemplar timestamps are float seconds in both formats.
        timestamp = Some(
            parse_timestamp(&line[i..ts_end], Format::OpenMetrics)
                .ok_or(ErrorKind::InvalidExemplar("invalid timestamp"))?,
        );
        if ts_end != b.len() {
            return Err(ErrorKind::InvalidExemplar("trailing text"));
        }
    }
    Ok(Exemplar {
        labels,
        value,
        timestamp,
    })
}

/// Skips the blank between two tokens: exactly one space in OpenMetrics, one or more
/// spaces or tabs in text. Returns the start of the next token, or `None` when the
/// separator is wrong or nothing follows it.
#[inline]
fn skip_separator(b: &[u8], i: usize, om: bool) -> Option<usize> {
    if om {
        if b.get(i) == Some(&b' ') && b.get(i + 1).is_some_and(|&c| c != b' ' && c != b'\t') {
            Some(i + 1)
        } else {
            None
        }
    } else {
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        (j > i && j < b.len()).then_some(j)
    }
}

#[inline]
fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    i
}

/// Validates a label set starting after `{`; returns the index of the closing `}` and the
/// set's [`Shape`]. Plain sets — nearly all of them — are checked by a tight loop that
/// notes their pairs' lengths; anything else falls back to the general validator from the
/// start.
fn scan_label_set(b: &[u8], i: usize, format: Format) -> Result<(usize, Shape), ErrorKind> {
    match scan_plain_label_set(b, i) {
        Some((end, lengths)) => Ok((end, Shape::Plain(lengths))),
        None => scan_any_label_set(b, i, format).map(|end| (end, Shape::General)),
    }
}

/// The closing `}` of a plain label set starting at `i` and its pairs' lengths, or `None`
/// when the set is not plain (or not valid: the general validator then says why).
#[inline]
fn scan_plain_label_set(b: &[u8], mut i: usize) -> Option<(usize, PairLengths)> {
    let mut lengths = PairLengths::default();
    if b.get(i) == Some(&b'}') {
        return Some((i, lengths));
    }
    let mut full = false;
    loop {
        let name_start = i;
        if NAME_CLASS[*b.get(i)? as usize] & NAME_START == 0 {
            return None;
        }
        i = class_run_end(b, i + 1, LABEL_CHAR);
        if b.get(i..i + 2)? != b"=\"" {
            return None;
        }
        let (close, escaped) = find_closing_quote(b, i + 2)?;
        if !lengths.keep(i - name_start, close - (i + 2), escaped, &mut full) {
            return None;
        }
        i = close + 1;
        match b.get(i)? {
            b',' => i += 1,
            b'}' => return Some((i, lengths)),
            _ => return None,
        }
    }
}

/// Validates any label set the format allows, starting after `{`; returns the index of the
/// closing `}`.
fn scan_any_label_set(b: &[u8], mut i: usize, format: Format) -> Result<usize, ErrorKind> {
    let om = format == Format::OpenMetrics;
    let skip_blanks = |i: &mut usize| {
        if !om {
            while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
                *i += 1;
            }
        }
    };
    let mut first = true;
    loop {
        skip_blanks(&mut i);
        match b.get(i) {
            None => return Err(ErrorKind::InvalidLabels("unterminated label set")),
            Some(b'}') if first || !om => return Ok(i),
            Some(b'}') => return Err(ErrorKind::InvalidLabels("trailing comma")),
            _ => {}
        }
        // label name
        let start = i;
        match b.get(i) {
            Some(&c) if NAME_CLASS[c as usize] & NAME_START != 0 => i += 1,
            _ => return Err(ErrorKind::InvalidLabels("invalid label name")),
        }
        i = class_run_end(b, i, LABEL_CHAR);
        debug_assert!(i > start);
        skip_blanks(&mut i);
        if b.get(i) != Some(&b'=') {
            return Err(ErrorKind::InvalidLabels(
                "expected '=' after the label name",
            ));
        }
        i += 1;
        skip_blanks(&mut i);
        if b.get(i) != Some(&b'"') {
            return Err(ErrorKind::InvalidLabels(
                "label value must be in double quotes",
            ));
        }
        let (end, _) = find_closing_quote(b, i + 1)
            .ok_or(ErrorKind::InvalidLabels("unterminated label value"))?;
        i = end + 1;
        skip_blanks(&mut i);
        match b.get(i) {
            Some(b',') => {
                i += 1;
                first = false;
            }
            Some(b'}') => return Ok(i),
            _ => {
                return Err(ErrorKind::InvalidLabels(
                    "expected ',' or '}' after a label value",
                ));
            }
        }
    }
}

/// Finds the `"` closing a quoted value that starts at `i`; returns its index and whether
/// a backslash escape occurred.
#[inline]
fn find_closing_quote(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = next_quote_or_backslash(b, i)?;
        if b[i] == b'"' {
            return Some((i, escaped));
        }
        escaped = true;
        i += 2;
        if i > b.len() {
            return None;
        }
    }
}

/// The first `"` or `\` at or after `i`.
#[inline]
fn next_quote_or_backslash(b: &[u8], i: usize) -> Option<usize> {
    next_of_two(b, i, b'"', b'\\')
}

/// The first `x` or `y` at or after `i`. Label names and values are mostly short, where
/// memchr's set-up costs more than the search, so eight bytes are tested at a time in a
/// `u64` (the "has a zero byte" bit trick on the word XOR the wanted byte).
#[inline]
fn next_of_two(b: &[u8], mut i: usize, x: u8, y: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    while let Some(chunk) = b.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let hits =
            zero_bytes(word ^ (ONES * u64::from(x))) | zero_bytes(word ^ (ONES * u64::from(y)));
        if hits != 0 {
            // The lowest flagged byte is always a true match (borrows only run upwards).
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == x || c == y)
        .map(|p| i + p)
}

fn unescape_cow(s: &str, quotes: bool) -> Cow<'_, str> {
    if s.contains('\\') {
        Cow::Owned(unescape(s, quotes))
    } else {
        Cow::Borrowed(s)
    }
}

/// Decodes `\\`, `\n` and (in label values) `\"`. Any other escape is kept as written, as
/// Prometheus and the OpenMetrics reference parser do. The text between escapes is copied
/// a run at a time.
fn unescape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        let escaped = rest[at + 1..].chars().next();
        match escaped {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
        rest = &rest[at + 1 + escaped.map_or(0, char::len_utf8)..];
    }
    out.push_str(rest);
    out
}

/// Parses a sample value. Both formats take decimal and scientific notation, `NaN`,
/// `+Inf`, `-Inf` and `Inf`; text 0.0.4 also takes any letter case of those words, as
/// Go's `strconv.ParseFloat` does. Hexadecimal floats, underscores and the like are refused.
#[inline]
pub(crate) fn parse_float(s: &str, format: Format) -> Option<f64> {
    if let Some(v) = parse_short_decimal(s.as_bytes()) {
        return Some(v);
    }
    let b = s.as_bytes();
    match s {
        "NaN" => return Some(f64::NAN),
        "+Inf" | "Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if b.iter()
        .any(|c| c.is_ascii_alphabetic() && *c != b'e' && *c != b'E')
    {
        if format == Format::Text {
            let unsigned = s.trim_start_matches(['+', '-']);
            let negative = s.starts_with('-');
            if unsigned.len() + 1 >= s.len() {
                if unsigned.eq_ignore_ascii_case("nan") {
                    return Some(f64::NAN);
                }
                if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity")
                {
                    return Some(if negative {
                        f64::NEG_INFINITY
                    } else {
                        f64::INFINITY
                    });
                }
            }
        }
        return None;
    }
    if b.is_empty() || !b.iter().any(u8::is_ascii_digit) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Exact powers of ten as `f64`: every one up to 10^22 is representable.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The fast path for the values most pages hold — `[+-]digits[.digits][e[+-]digits]` with
/// a mantissa below 2^53 and a decimal exponent within ±22 — or `None` for anything else,
/// which the caller reads the slow way. Clinger's observation makes it exact: mantissa and
/// power of ten are both exact doubles, so one correctly rounded multiply or divide gives
/// the correctly rounded value, the same bits `str::parse` returns.
#[inline]
fn parse_short_decimal(b: &[u8]) -> Option<f64> {
    let (negative, mut i) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    // Appends the digits at `i` to the mantissa; how many there were.
    let take_digits = |i: &mut usize, mantissa: &mut u64| {
        let start = *i;
        while let Some(&c) = b.get(*i).filter(|c| c.is_ascii_digit()) {
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            *i += 1;
        }
        *i - start
    };
    let mut mantissa: u64 = 0;
    let mut scale: i32 = 0;
    let mut digits = take_digits(&mut i, &mut mantissa);
    if digits == 0 {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let fraction = take_digits(&mut i, &mut mantissa);
        if fraction == 0 {
            return None;
        }
        digits += fraction;
        scale = -(fraction as i32);
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let exponent_negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exponent_start = i;
        let mut exponent: i32 = 0;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            exponent = exponent * 10 + i32::from(c - b'0');
            i += 1;
            if i - exponent_start > 3 {
                return None;
            }
        }
        if i == exponent_start {
            return None;
        }
        scale += if exponent_negative {
            -exponent
        } else {
            exponent
        };
    }
    // 19 digits cannot overflow a u64; below 2^53 the mantissa is an exact double.
    if i != b.len() || digits > 19 || mantissa >= 1 << 53 || scale.unsigned_abs() > 22 {
        return None;
    }
    let power = EXACT_POWERS_OF_TEN[scale.unsigned_abs() as usize];
    let magnitude = if scale < 0 {
        mantissa as f64 / power
    } else {
        mantissa as f64 * power
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Parses a timestamp: integer milliseconds in text 0.0.4, float seconds in OpenMetrics.
/// Returns seconds; NaN and infinities are refused.
fn parse_timestamp(s: &str, format: Format) -> Option<f64> {
    match format {
        Format::Text => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse::<i64>().ok().map(|ms| ms as f64 / 1000.0)
        }
        Format::OpenMetrics => parse_float(s, format).filter(|v| v.is_finite()),
    }
}

#[cfg(test)]
mod tests;
