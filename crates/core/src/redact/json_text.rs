//! JSON held in a text block, redacted in place: only the values that redaction changed are
//! rewritten, so the text keeps its key order, spacing, indentation and number spellings.

use std::collections::HashSet;
use std::ops::Range;

use serde_json::Value;

/// Where each value of a JSON text lies.
enum Spans {
    Leaf(Range<usize>),
    Array(Range<usize>, Vec<Spans>),
    Object(Range<usize>, Vec<(String, Spans)>),
}

impl Spans {
    fn range(&self) -> &Range<usize> {
        match self {
            Spans::Leaf(r) | Spans::Array(r, _) | Spans::Object(r, _) => r,
        }
    }
}

/// `text` (valid JSON, as `original` parsed from it) with every value that differs in
/// `redacted` replaced where it stands. `None` when the text's layout cannot be followed (an
/// object with a key twice, which parsing collapsed): the caller serialises instead.
pub fn rewrite(text: &str, original: &Value, redacted: &Value) -> Option<String> {
    let mut at = 0;
    let spans = spans(text.as_bytes(), &mut at)?;
    let mut edits = Vec::new();
    diff(&spans, original, redacted, &mut edits)?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, replacement) in edits {
        out.push_str(&text[last..range.start]);
        out.push_str(&replacement);
        last = range.end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// The replacements, in document order, that turn `original` into `redacted`.
fn diff(
    spans: &Spans,
    original: &Value,
    redacted: &Value,
    edits: &mut Vec<(Range<usize>, String)>,
) -> Option<()> {
    if original == redacted {
        return Some(());
    }
    match (spans, original, redacted) {
        (Spans::Array(_, items), Value::Array(a), Value::Array(b))
            if items.len() == a.len() && a.len() == b.len() =>
        {
            for ((s, a), b) in items.iter().zip(a).zip(b) {
                diff(s, a, b, edits)?;
            }
        }
        (Spans::Object(_, members), Value::Object(a), Value::Object(b))
            if members.len() == a.len() && a.len() == b.len() =>
        {
            for (key, s) in members {
                diff(s, a.get(key)?, b.get(key)?, edits)?;
            }
        }
        _ => edits.push((spans.range().clone(), serde_json::to_string(redacted).ok()?)),
    }
    Some(())
}

fn skip_space(b: &[u8], at: &mut usize) {
    while b
        .get(*at)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        *at += 1;
    }
}

/// The spans of the value at `at` in `b`, which `serde_json` has already accepted (so its
/// depth is bounded by the parser's recursion limit).
fn spans(b: &[u8], at: &mut usize) -> Option<Spans> {
    skip_space(b, at);
    let start = *at;
    match b.get(*at)? {
        b'{' => {
            let mut members: Vec<(String, Spans)> = Vec::new();
            let mut seen = HashSet::new();
            delimited(b, at, b'}', |b, at| {
                let key_start = *at;
                string(b, at)?;
                let key: String = serde_json::from_slice(b.get(key_start..*at)?).ok()?;
                skip_space(b, at);
                (b.get(*at)? == &b':').then_some(())?;
                *at += 1;
                let value = spans(b, at)?;
                // A repeated key: parsing kept one of them, so the layout cannot be followed.
                seen.insert(key.clone()).then_some(())?;
                members.push((key, value));
                Some(())
            })?;
            Some(Spans::Object(start..*at, members))
        }
        b'[' => {
            let mut items = Vec::new();
            delimited(b, at, b']', |b, at| {
                items.push(spans(b, at)?);
                Some(())
            })?;
            Some(Spans::Array(start..*at, items))
        }
        b'"' => {
            string(b, at)?;
            Some(Spans::Leaf(start..*at))
        }
        _ => {
            while b
                .get(*at)
                .is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}'))
            {
                *at += 1;
            }
            Some(Spans::Leaf(start..*at))
        }
    }
}

/// Moves past the object or array that opens at `at` and ends with `close`, calling `item` at
/// each member or element.
fn delimited(
    b: &[u8],
    at: &mut usize,
    close: u8,
    mut item: impl FnMut(&[u8], &mut usize) -> Option<()>,
) -> Option<()> {
    *at += 1;
    loop {
        skip_space(b, at);
        match *b.get(*at)? {
            c if c == close => break,
            b',' => *at += 1,
            _ => item(b, at)?,
        }
    }
    *at += 1;
    Some(())
}

/// Moves past the string that starts at `at`.
fn string(b: &[u8], at: &mut usize) -> Option<()> {
    (b.get(*at)? == &b'"').then_some(())?;
    *at += 1;
    loop {
        match b.get(*at)? {
            b'"' => {
                *at += 1;
                return Some(());
            }
            b'\\' => *at += 2,
            _ => *at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redo(text: &str, redacted: Value) -> Option<String> {
        let original: Value = serde_json::from_str(text).unwrap();
        rewrite(text, &original, &redacted)
    }

    #[test]
    fn only_the_changed_values_are_rewritten() {
        let text =
            "{\n  \"z\": 1.50,\n  \"token\": \"abc\\\"def\",\n  \"a\": [1, {\"k\": \"v\"}]\n}";
        let out = redo(
            text,
            json!({"z": 1.5, "token": "[redacted:secret]", "a": [1, {"k": "[x]"}]}),
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n  \"z\": 1.50,\n  \"token\": \"[redacted:secret]\",\n  \"a\": [1, {\"k\": \"[x]\"}]\n}"
        );
    }

    #[test]
    fn a_subtree_masked_whole_becomes_one_string() {
        let text = r#"{"b": {"user": "u", "pass": "p"}, "a": 2}"#;
        let out = redo(text, json!({"b": "[redacted:secret]", "a": 2})).unwrap();
        assert_eq!(out, r#"{"b": "[redacted:secret]", "a": 2}"#);
    }

    #[test]
    fn keys_with_escapes_are_followed_and_a_repeated_key_is_refused() {
        let text = r#"{"to\u006ben": "s", "n": 1}"#;
        let out = redo(text, json!({"token": "[m]", "n": 1})).unwrap();
        assert_eq!(out, r#"{"to\u006ben": "[m]", "n": 1}"#);
        assert_eq!(redo(r#"{"a": 1, "a": 2}"#, json!({"a": "[m]"})), None);
    }
}
