//! Which audit records a query or an export keeps, and the CSV form of a record. Used by
//! `portcullis audit query|export` and by the admin API alike.

use serde_json::Value;

use super::{Outcome, rfc3339};
use crate::duration::parse_duration;

/// A filter over audit records; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// The principal's id, exactly.
    pub principal: Option<String>,
    /// The published tool, prompt or URI, exactly.
    pub tool: Option<String>,
    pub outcome: Option<Outcome>,
    /// Records at or after this time, as written in the log (RFC 3339, UTC, milliseconds).
    pub since: Option<String>,
    /// Records before this time.
    pub until: Option<String>,
}

impl AuditQuery {
    /// Whether `record` (one parsed line of the log) passes.
    pub fn matches(&self, record: &Value) -> bool {
        let field = |name: &str| record.get(name).and_then(Value::as_str);
        let time = field("time").unwrap_or("");
        self.principal
            .as_deref()
            .is_none_or(|p| field("principal") == Some(p))
            && self
                .tool
                .as_deref()
                .is_none_or(|t| field("tool") == Some(t))
            && self
                .outcome
                .is_none_or(|o| field("outcome") == Some(o.as_str()))
            && self.since.as_deref().is_none_or(|s| time >= s)
            && self.until.as_deref().is_none_or(|u| time < u)
    }
}

impl Outcome {
    /// Every outcome, in the order the enum declares them.
    pub const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::ToolError,
        Outcome::UpstreamError,
        Outcome::Timeout,
        Outcome::Unavailable,
        Outcome::Cancelled,
        Outcome::UnknownTool,
        Outcome::Refused,
        Outcome::Limited,
        Outcome::Blocked,
        Outcome::Withheld,
        Outcome::Unauthenticated,
    ];

    /// The name the log writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::Cancelled => "cancelled",
            Outcome::UnknownTool => "unknown_tool",
            Outcome::Refused => "refused",
            Outcome::Limited => "limited",
            Outcome::Blocked => "blocked",
            Outcome::Withheld => "withheld",
            Outcome::Unauthenticated => "unauthenticated",
        }
    }

    pub fn parse(text: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                format!(
                    "`{text}` is not an outcome; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A time bound for a query: an RFC 3339 time (`2026-12-01T09:00:00Z`, any offset), or a
/// duration before `now_ms` (`90m`, `24h`, `7d`). Returned in the log's own form, so that it
/// compares with the records' `time` as text.
pub fn time_bound(text: &str, now_ms: u64) -> Result<String, String> {
    let text = text.trim();
    if let Ok(ago) = parse_duration(text) {
        let ago = u64::try_from(ago.as_millis()).unwrap_or(u64::MAX);
        return Ok(rfc3339(now_ms.saturating_sub(ago)));
    }
    parse_rfc3339(text).map(rfc3339).ok_or_else(|| {
        format!("`{text}` is neither a time like `2026-12-01T09:00:00Z` (since 1970) nor a duration like `24h`")
    })
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (any offset); `None` when it is not
/// one, or before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The columns of [`csv_row`], as its header line.
pub const CSV_COLUMNS: [&str; 18] = [
    "time",
    "request_id",
    "transport",
    "principal",
    "principal_kind",
    "method",
    "tool",
    "upstream",
    "group",
    "source",
    "decision",
    "outcome",
    "reason",
    "latency_ms",
    "bytes_in",
    "bytes_out",
    "findings",
    "hash",
];

/// The header line of a CSV export.
pub fn csv_header() -> String {
    let mut line = CSV_COLUMNS.join(",");
    line.push_str("\r\n");
    line
}

/// One record as a CSV line (RFC 4180, CRLF). `findings` lists the guardrail's rule ids and the
/// redaction counts (`rule;…;kind=n;…`). A cell that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or CR) is prefixed with `'`: names and reasons can
/// come from upstreams and callers.
pub fn csv_row(record: &Value) -> String {
    let mut cells = Vec::with_capacity(CSV_COLUMNS.len());
    for column in CSV_COLUMNS {
        let text = match (column, record.get(column)) {
            ("findings", _) => findings(record),
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(Value::Null) | None) => String::new(),
            (_, Some(other)) => other.to_string(),
        };
        cells.push(csv_cell(&text));
    }
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

fn findings(record: &Value) -> String {
    let mut parts: Vec<String> = record["guardrail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str().map(str::to_string))
        .collect();
    if let Some(counts) = record["redactions"].as_object() {
        parts.extend(counts.iter().map(|(kind, n)| format!("{kind}={n}")));
    }
    parts.join(";")
}

fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(principal: &str, tool: &str, outcome: &str, time: &str) -> Value {
        json!({"time": time, "principal": principal, "tool": tool, "outcome": outcome})
    }

    #[test]
    fn every_set_field_must_match() {
        let r = record("key_a", "demo_echo", "ok", "2026-12-01T10:00:00.000Z");
        assert!(AuditQuery::default().matches(&r));
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.matches(&r)
        };
        assert!(q(|q| q.principal = Some("key_a".into())));
        assert!(!q(|q| q.principal = Some("key_b".into())));
        assert!(
            !q(|q| q.principal = Some("key_".into())),
            "exact, not a prefix"
        );
        assert!(q(|q| q.tool = Some("demo_echo".into())));
        assert!(!q(|q| q.tool = Some("demo_add".into())));
        assert!(q(|q| q.outcome = Some(Outcome::Ok)));
        assert!(!q(|q| q.outcome = Some(Outcome::Blocked)));
        assert!(q(|q| q.since = Some("2026-12-01T10:00:00.000Z".into())));
        assert!(!q(|q| q.since = Some("2026-12-01T10:00:00.001Z".into())));
        assert!(!q(|q| q.until = Some("2026-12-01T10:00:00.000Z".into())));
        assert!(q(|q| q.until = Some("2026-12-01T10:00:00.001Z".into())));
        let no_tool = json!({"time": "2026-12-01T10:00:00.000Z", "principal": "key_a"});
        let by_tool = AuditQuery {
            tool: Some("demo_echo".into()),
            ..AuditQuery::default()
        };
        assert!(
            !by_tool.matches(&no_tool),
            "a record without the field does not match"
        );
    }

    #[test]
    fn outcomes_parse_by_the_names_the_log_writes() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Ok(o));
            assert_eq!(json!(o), json!(o.as_str()), "serde writes the same name");
        }
        let e = Outcome::parse("blocked!").unwrap_err();
        assert!(e.contains("withheld") && e.contains("`blocked!`"), "{e}");
    }

    #[test]
    fn a_time_bound_is_a_time_or_a_duration_ago() {
        let now = 1_764_583_200_000; // 2025-12-01T10:00:00Z
        assert_eq!(time_bound("1h", now).unwrap(), "2025-12-01T09:00:00.000Z");
        assert_eq!(
            time_bound("2025-12-01T11:30:00+02:00", now).unwrap(),
            "2025-12-01T09:30:00.000Z"
        );
        assert_eq!(
            time_bound("2025-12-01T09:30:00.250Z", now).unwrap(),
            "2025-12-01T09:30:00.250Z"
        );
        let e = time_bound("yesterday", now).unwrap_err();
        assert!(e.contains("`yesterday`") && e.contains("24h"), "{e}");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let r = json!({
            "time": "t", "principal": "=cmd|' /C calc'!A0", "tool": "a,b", "reason": "say \"hi\"\nthen",
            "latency_ms": 1.5, "guardrail": [{"rule": "override"}], "redactions": {"email": 2},
            "hash": "abc"
        });
        let row = csv_row(&r);
        assert!(row.ends_with("\r\n"));
        assert!(row.contains(",'=cmd|' /C calc'!A0,"), "{row}");
        assert!(row.contains(",\"a,b\","), "{row}");
        assert!(row.contains("\"say \"\"hi\"\"\nthen\""), "{row}");
        assert!(row.contains(",1.5,"), "{row}");
        assert!(row.contains(",override;email=2,abc\r\n"), "{row}");
        assert_eq!(
            csv_header().trim_end().split(',').count(),
            CSV_COLUMNS.len()
        );
    }
}
