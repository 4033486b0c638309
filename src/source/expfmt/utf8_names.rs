//! Quoted UTF-8 metric and label names, as a server writes them under Prometheus 3's
//! `escaping=allow-utf-8` (`{"otelcol.receiver.produced.items","otelcol.signal"="traces"} 5`),
//! rewritten to the classic names the same server writes under `escaping=underscores`
//! (`otelcol_receiver_produced_items{otelcol_signal="traces"} 5`).
//!
//! Input: a page body. Output: the body with every quoted name outside label values replaced
//! by its underscore-escaped form (every character that may not appear in a classic name
//! becomes `_`, Prometheus' `UnderscoreEscaping`), or the body itself, borrowed, when it has
//! no quoted name — the common case costs one search. spanflow asks for
//! `escaping=underscores` (`scrape::METRICS_ACCEPT`), so a rewrite happens only when a server
//! sends UTF-8 names anyway. A malformed line is left as it is, for the scanner to reject with
//! its line number; this never fails.

use std::borrow::Cow;

/// The body with quoted names rewritten, borrowed when there are none.
pub fn escape_quoted_names(body: &str) -> Cow<'_, str> {
    if !has_quoted_name(body) {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        rewrite_line(line, &mut out);
    }
    Cow::Owned(out)
}

/// A quoted name opens a sample line or a label set (`{"`), follows a comma in one (`,"`), or
/// a metadata keyword (`# TYPE "`). A label value can hold these too; a line rewritten for
/// nothing reads the same.
fn has_quoted_name(body: &str) -> bool {
    ["{\"", ",\"", "# TYPE \"", "# HELP \"", "# UNIT \""]
        .iter()
        .any(|p| body.contains(p))
}

/// Rewrites one line (with its newline, if any) into `out`.
fn rewrite_line(line: &str, out: &mut String) {
    for prefix in ["# TYPE ", "# HELP ", "# UNIT "] {
        if let Some(rest) = line.strip_prefix(prefix)
            && rest.starts_with('"')
        {
            match quoted(rest, 0) {
                Some((name, end)) => {
                    out.push_str(prefix);
                    push_escaped(&name, out);
                    out.push_str(&rest[end..]);
                }
                None => out.push_str(line),
            }
            return;
        }
    }
    if line.starts_with('#') {
        out.push_str(line);
        return;
    }
    match rewrite_sample(line) {
        Some(rewritten) => out.push_str(&rewritten),
        None => out.push_str(line),
    }
}

/// `{"name",labels…} v` → `name{labels…} v`, and quoted label names unquoted; `None` when the
/// line is not well formed (left for the scanner to reject).
fn rewrite_sample(line: &str) -> Option<String> {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i;
    let mut labels = Vec::new();
    if line.starts_with("{\"") {
        let (name, end) = quoted(line, 1)?;
        push_escaped(&name, &mut out);
        i = end;
        match b.get(i)? {
            b'}' => {
                out.push_str(&line[i + 1..]);
                return Some(out);
            }
            b',' => i += 1,
            _ => return None,
        }
    } else {
        let open = line.find('{')?;
        out.push_str(&line[..open]);
        i = open + 1;
    }
    // The label pairs, up to the closing brace.
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if b.get(i)? == &b'}' {
            break;
        }
        let (name, after_name) = if b[i] == b'"' {
            let (name, end) = quoted(line, i)?;
            let mut escaped = String::new();
            push_escaped(&name, &mut escaped);
            (escaped, end)
        } else {
            let end = i + line[i..].find('=')?;
            (line[i..end].trim().to_owned(), end)
        };
        i = after_name;
        if b.get(i)? != &b'=' || b.get(i + 1)? != &b'"' {
            return None;
        }
        let (_, value_end) = quoted(line, i + 1)?;
        labels.push(format!("{name}={}", &line[i + 1..value_end]));
        i = value_end;
        match b.get(i)? {
            b',' => i += 1,
            b'}' => break,
            _ => return None,
        }
    }
    if !labels.is_empty() {
        out.push('{');
        out.push_str(&labels.join(","));
        out.push('}');
    }
    out.push_str(&line[i + 1..]);
    Some(out)
}

/// The string quoted at `start` (a `"`), unescaped, and the index after its closing quote.
fn quoted(text: &str, start: usize) -> Option<(String, usize)> {
    let b = text.as_bytes();
    if b.get(start) != Some(&b'"') {
        return None;
    }
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '"' => return Some((value, start + 1 + offset + 1)),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            '\n' => return None,
            other => value.push(other),
        }
    }
    None
}

/// Prometheus' underscore escaping: a character that may not appear in a classic name
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`) becomes `_`; a leading digit gets a `_` before it.
fn push_escaped(name: &str, out: &mut String) {
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_read_as_their_underscore_forms() {
        let utf8 = "# HELP \"otelcol.receiver.produced.items\" Items produced.\n# TYPE \"otelcol.receiver.produced.items\" counter\n{\"otelcol.receiver.produced.items\",\"otelcol.component.outcome\"=\"success\",\"otelcol.signal\"=\"traces\"} 5\n{\"otelcol.exporter.consumed.items\"} 7\notelcol_exporter_sent_spans{exporter=\"otlp\",\"error.type\"=\"x{\\\"y\\\"}\"} 3\nplain{a=\"{\\\"b\\\"\"} 1\n";
        assert_eq!(
            escape_quoted_names(utf8),
            "# HELP otelcol_receiver_produced_items Items produced.\n# TYPE otelcol_receiver_produced_items counter\notelcol_receiver_produced_items{otelcol_component_outcome=\"success\",otelcol_signal=\"traces\"} 5\notelcol_exporter_consumed_items 7\notelcol_exporter_sent_spans{exporter=\"otlp\",error_type=\"x{\\\"y\\\"}\"} 3\nplain{a=\"{\\\"b\\\"\"} 1\n"
        );
    }

    #[test]
    fn a_page_without_quoted_names_is_borrowed_untouched() {
        let classic = "otelcol_exporter_sent_spans{exporter=\"otlp\"} 3\n";
        assert!(matches!(escape_quoted_names(classic), Cow::Borrowed(_)));
    }

    #[test]
    fn a_malformed_quoted_line_is_left_for_the_scanner() {
        let broken = "{\"otelcol.unterminated 5\n";
        assert_eq!(escape_quoted_names(broken), broken);
    }
}
