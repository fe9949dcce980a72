//! The audit record — one per call, on every exit path — and the hash chain that makes
//! tampering show.
//!
//! A record says who called what and what happened, never with what: arguments appear only as
//! their [`shape`] (types, lengths, counts), with neither values nor the caller's key names.
//! Each line of the log is the record's JSON with two fields appended: `prev`, the hash of the
//! line before (64 zeros for the first), and `hash`, the SHA-256 of the line up to and
//! including `prev`. Changing, inserting or removing a line breaks the chain at that line;
//! [`verify_chain`] finds the first break. (Cutting lines off the end leaves a shorter valid
//! chain; keep a copy of the last hash elsewhere to detect that.)

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::guardrail::Finding;

mod query;
pub use query::{AuditQuery, CSV_COLUMNS, csv_header, csv_row, parse_rfc3339, time_bound};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What the gateway decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    #[default]
    Denied,
    Unauthenticated,
}

/// How the call ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The upstream returned a result.
    Ok,
    /// The upstream returned a result with `isError: true`.
    ToolError,
    /// The upstream answered with a JSON-RPC error.
    UpstreamError,
    Timeout,
    /// The upstream was down or failed.
    Unavailable,
    /// The request ended before it was answered.
    #[default]
    Cancelled,
    /// Not published, or not for this caller (they read alike).
    UnknownTool,
    /// Refused at the edge or by policy.
    Refused,
    /// Refused by a rate limit or budget.
    Limited,
    /// Refused by the guardrail before reaching the upstream.
    Blocked,
    /// The upstream answered, but the guardrail withheld the answer.
    Withheld,
    /// Credentials missing or not accepted.
    Unauthenticated,
}

/// One audit record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub request_id: String,
    /// `http` or `stdio`.
    pub transport: &'static str,
    /// The principal's id; `unauthenticated` when credentials were refused.
    pub principal: String,
    pub principal_kind: &'static str,
    /// The MCP method, or `METHOD /path` for a refusal before any MCP message was read.
    pub method: String,
    /// The published tool or prompt, or the resource's URI (its template's, for a read through
    /// a template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The client's address, when the transport has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The [`shape`] of the arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    pub decision: Decision,
    pub outcome: Outcome,
    /// Why, in words for the operator; never the caller's input.
    pub reason: String,
    pub latency_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Values masked in what went back to the client, by kind.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub redactions: BTreeMap<String, u64>,
    /// What the prompt-injection guardrail found: rule ids and JSON paths, never text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guardrail: Vec<Finding>,
}

const MAX_SHAPE_DEPTH: usize = 8;
const MAX_SHAPE_ITEMS: usize = 32;

/// Describes a JSON value by types, lengths and counts only: no value, and no object key, of
/// the input appears in the output.
pub fn shape(value: &Value) -> Value {
    shape_at(value, 0)
}

fn shape_at(value: &Value, depth: usize) -> Value {
    let nested = |items: &mut dyn Iterator<Item = &Value>, len: usize| -> Value {
        if depth >= MAX_SHAPE_DEPTH {
            return json!("…");
        }
        let shapes: Vec<Value> = items
            .take(MAX_SHAPE_ITEMS)
            .map(|v| shape_at(v, depth + 1))
            .collect();
        let mut out = Map::new();
        out.insert("len".into(), len.into());
        out.insert("items".into(), Value::Array(shapes));
        Value::Object(out)
    };
    match value {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(s) => json!({"string": s.chars().count()}),
        Value::Array(a) => json!({"array": nested(&mut a.iter(), a.len())}),
        Value::Object(o) => json!({"object": nested(&mut o.values(), o.len())}),
    }
}

/// The hash of a record: SHA-256, in hex, of its line up to `"prev":"…"` and a closing brace.
fn record_hash(unsealed: &str) -> String {
    let digest = Sha256::new()
        .chain_update(unsealed)
        .chain_update("}")
        .finalize();
    crate::hex(&digest)
}

/// The log line for `record` following a line whose hash is `prev`, and its own hash.
pub fn seal(record: &AuditRecord, prev: &str) -> (String, String) {
    let mut line = serde_json::to_string(record).unwrap_or_else(|_| "{}".into());
    // INVARIANT: a serialized struct is a JSON object, so it ends with `}`.
    line.pop();
    if line.len() > 1 {
        line.push(',');
    }
    line.push_str("\"prev\":\"");
    line.push_str(prev);
    line.push('"');
    let hash = record_hash(&line);
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}");
    (line, hash)
}

/// The hash a sealed line carries, if it is sealed.
pub fn line_hash(line: &str) -> Option<&str> {
    let open = line.strip_suffix("\"}")?;
    let (_, hash) = open.rsplit_once(",\"hash\":\"")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// Where the chain breaks: the 1-based record number and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub record: usize,
    pub reason: String,
}

/// Checks every line of a log; returns the number of records.
pub fn verify_chain<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<usize, ChainBreak> {
    let mut chain = Chain::default();
    for line in lines {
        chain.push(line)?;
    }
    Ok(chain.records())
}

/// A hash chain checked one line at a time, across as many files as it spans.
#[derive(Debug, Clone)]
pub struct Chain {
    prev: String,
    records: usize,
}

impl Default for Chain {
    /// A chain that starts at the first record ever written.
    fn default() -> Chain {
        Chain {
            prev: GENESIS.to_string(),
            records: 0,
        }
    }
}

impl Chain {
    /// Checks the next line: sealed, unchanged, and following the one before.
    pub fn push(&mut self, line: &str) -> Result<(), ChainBreak> {
        let record = self.records + 1;
        let broken = |reason: &str| ChainBreak {
            record,
            reason: reason.into(),
        };
        let hash = line_hash(line).ok_or_else(|| broken("the line carries no hash"))?;
        let unsealed = &line[..line.len() - ",\"hash\":\"\"}".len() - 64];
        if record_hash(unsealed) != hash {
            return Err(broken(
                "the record does not match its hash (it was changed)",
            ));
        }
        let parsed: Value = serde_json::from_str(&format!("{unsealed}}}"))
            .map_err(|_| broken("the record is not JSON"))?;
        if parsed.get("prev").and_then(Value::as_str) != Some(self.prev.as_str()) {
            return Err(broken(
                "the record does not follow the one before it (a record was removed, inserted or reordered)",
            ));
        }
        self.prev = hash.to_string();
        self.records = record;
        Ok(())
    }

    /// Records checked so far.
    pub fn records(&self) -> usize {
        self.records
    }
}

/// What [`verify_log`] found in a whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheck {
    /// Records whose chain is intact.
    pub records: usize,
    /// Bytes of an unfinished last line (a writer stopped mid-write), ignored; the next writer
    /// cuts them off and records that it did.
    pub unfinished: usize,
}

/// Checks a whole log file's text: every line must be a sealed record chained to the one
/// before it, except an unfinished last line (no newline, not a whole record), which is
/// reported and ignored.
pub fn verify_log(text: &str) -> Result<LogCheck, ChainBreak> {
    let mut chain = Chain::default();
    let unfinished = verify_text(text, &mut chain)?;
    Ok(LogCheck {
        records: chain.records(),
        unfinished,
    })
}

/// Checks one file's text as the continuation of `chain`; returns the bytes of an unfinished
/// last line (ignored: see [`verify_log`]).
pub fn verify_text(text: &str, chain: &mut Chain) -> Result<usize, ChainBreak> {
    let (complete, unfinished) = match text.rfind('\n') {
        Some(end) if end + 1 < text.len() => text.split_at(end + 1),
        None if !text.is_empty() => ("", text),
        _ => (text, ""),
    };
    for line in complete.lines() {
        chain.push(line)?;
    }
    if unfinished.is_empty() {
        return Ok(0);
    }
    if line_hash(unfinished).is_some() {
        chain.push(unfinished)?;
        return Ok(0);
    }
    Ok(unfinished.len())
}

/// Formats milliseconds since the Unix epoch as RFC 3339 in UTC, e.g.
/// `2026-11-22T03:08:00.123Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tool: &str) -> AuditRecord {
        AuditRecord {
            time: rfc3339(0),
            request_id: "r1".into(),
            transport: "http",
            principal: "key_1".into(),
            principal_kind: "api_key",
            method: "tools/call".into(),
            tool: Some(tool.into()),
            upstream: Some("demo".into()),
            group: None,
            source: None,
            arguments: Some(shape(&json!({"a": 1}))),
            decision: Decision::Allowed,
            outcome: Outcome::Ok,
            reason: "ok".into(),
            latency_ms: 1.5,
            bytes_in: 10,
            bytes_out: 20,
            redactions: BTreeMap::new(),
            guardrail: Vec::new(),
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_316_880_123), "2026-11-22T03:08:00.123Z");
    }

    #[test]
    fn shapes_hide_values_and_keys() {
        let secret =
            json!({"sk-live-KEY-NAME": {"password": "hunter2", "list": [1, "two", null, true]}});
        let s = shape(&secret).to_string();
        for leak in ["sk-live", "KEY-NAME", "password", "hunter2", "two"] {
            assert!(!s.contains(leak), "{leak} leaked into {s}");
        }
        assert_eq!(
            shape(&json!({"x": "abc", "y": [1, 2]})),
            json!({"object": {"len": 2, "items": [{"string": 3}, {"array": {"len": 2, "items": ["number", "number"]}}]}})
        );
    }

    #[test]
    fn shapes_are_bounded() {
        let mut deep = json!("leaf");
        for _ in 0..100 {
            deep = json!([deep]);
        }
        assert!(shape(&deep).to_string().len() < 400);
        let wide = Value::Array((0..10_000).map(|i| json!(i)).collect());
        let s = shape(&wide);
        assert_eq!(s["array"]["len"], 10_000);
        assert_eq!(
            s["array"]["items"].as_array().unwrap().len(),
            MAX_SHAPE_ITEMS
        );
    }

    fn chain(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|i| {
                let (line, hash) = seal(&record(&format!("t{i}")), &prev);
                prev = hash;
                line
            })
            .collect()
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let lines = chain(5);
        assert_eq!(verify_chain(lines.iter().map(String::as_str)), Ok(5));
        let parsed: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(parsed["prev"], line_hash(&lines[0]).unwrap());
        assert_eq!(verify_chain([]), Ok(0));
    }

    #[test]
    fn tampering_breaks_the_chain_where_it_happened() {
        let lines = chain(5);
        let mut edited = lines.clone();
        edited[2] = edited[2].replace("\"t2\"", "\"t9\"");
        assert_eq!(
            verify_chain(edited.iter().map(String::as_str))
                .unwrap_err()
                .record,
            3
        );
        let mut removed = lines.clone();
        removed.remove(1);
        assert_eq!(
            verify_chain(removed.iter().map(String::as_str))
                .unwrap_err()
                .record,
            2
        );
        let mut swapped = lines.clone();
        swapped.swap(3, 4);
        assert_eq!(
            verify_chain(swapped.iter().map(String::as_str))
                .unwrap_err()
                .record,
            4
        );
        let mut rehashed = lines;
        // Changing a record and fixing its own hash still breaks the next link.
        let tampered = rehashed[1].replace("\"t1\"", "\"tX\"");
        let prev: Value = serde_json::from_str(&tampered).unwrap();
        let (resealed, _) = seal(&record("tX"), prev["prev"].as_str().unwrap());
        rehashed[1] = resealed;
        assert_eq!(
            verify_chain(rehashed.iter().map(String::as_str))
                .unwrap_err()
                .record,
            3
        );
        assert_eq!(verify_chain(["garbage"]).unwrap_err().record, 1);
    }

    #[test]
    fn an_unfinished_last_line_is_reported_and_ignored_but_nothing_else_is() {
        let lines = chain(3);
        let whole = format!("{}\n", lines.join("\n"));
        assert_eq!(
            verify_log(&whole),
            Ok(LogCheck {
                records: 3,
                unfinished: 0
            })
        );
        let cut = &whole[..whole.len() - 20];
        assert_eq!(
            verify_log(cut),
            Ok(LogCheck {
                records: 2,
                unfinished: lines[2].len() - 19
            })
        );
        assert_eq!(
            verify_log(whole.trim_end()).map(|c| c.records),
            Ok(3),
            "a whole record lacking only its newline counts"
        );
        let mid = whole.replacen("\n", "\n{\"torn\n", 1);
        assert_eq!(verify_log(&mid).unwrap_err().record, 2);
        assert_eq!(
            verify_log(""),
            Ok(LogCheck {
                records: 0,
                unfinished: 0
            })
        );
    }
}
