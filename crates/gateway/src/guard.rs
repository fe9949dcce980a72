//! The guardrail at work in the call pipeline: arguments are scanned before the upstream sees
//! them, results before the client does, each in the mode the tool or the gateway sets.
//!
//! Findings go into the call's audit record (rule ids and JSON paths, never text). In `block`
//! mode a call the guardrail would block is refused, or its result withheld; in `alert` mode
//! it passes with a warning in the log and, if configured, a webhook; in `log` mode it passes
//! quietly. The client's message never echoes what matched.

use std::time::Duration;

use portcullis_core::PublishedTool;
use portcullis_core::audit::AuditRecord;
use portcullis_core::config::GuardrailSettings;
use portcullis_core::guardrail::{Mode, Scan, Verdict};
use serde_json::{Value, json};

/// Findings kept in one audit record; a scan of a huge result may find more.
const MAX_RECORDED_FINDINGS: usize = 32;

/// Values holding more text than this are scanned on a blocking thread.
const INLINE_SCAN_BYTES: usize = 256 * 1024;

/// Which part of a call is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Arguments,
    Result,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Arguments => "arguments",
            Direction::Result => "result",
        }
    }
}

/// The guardrail as the gateway applies it.
pub struct Guard {
    settings: GuardrailSettings,
    webhook: Option<(reqwest::Client, String)>,
}

impl Guard {
    pub fn new(settings: GuardrailSettings) -> Guard {
        let webhook = settings.webhook.clone().and_then(|url| {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build();
            match client {
                Ok(client) => Some((client, url)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the guardrail webhook client");
                    None
                }
            }
        });
        Guard { settings, webhook }
    }

    fn mode(&self, tool: &PublishedTool, direction: Direction) -> Mode {
        match direction {
            Direction::Arguments => tool.guardrail.arguments.unwrap_or(self.settings.arguments),
            Direction::Result => tool.guardrail.results.unwrap_or(self.settings.results),
        }
    }

    /// Scans `value` (arguments, a result, or an error) of a call to `tool` and records the
    /// findings in `record`. Returns the message for the client when the value must not pass.
    pub async fn check(
        &self,
        tool: &PublishedTool,
        direction: Direction,
        value: Value,
        record: &mut AuditRecord,
    ) -> (Value, Option<String>) {
        let mode = self.mode(tool, direction);
        if mode == Mode::Off {
            return (value, None);
        }
        let root = format!("$.{}", direction.as_str());
        // Argument keys were chosen by the caller: paths name only those the tool declares
        // (asked only when a finding's path is written).
        let schema = (direction == Direction::Arguments).then(|| &tool.definition["inputSchema"]);
        let (value, scan) = if holds_more_text_than(&value, INLINE_SCAN_BYTES) {
            let engine = self.settings.engine.clone();
            let schema = schema.cloned();
            let scanned = tokio::task::spawn_blocking(move || {
                let may_name = |key: &str| may_name(schema.as_ref(), key);
                let scan = engine.scan_value(&value, &root, &may_name);
                (value, scan)
            })
            .await;
            match scanned {
                Ok(pair) => pair,
                // The scan panicked: nothing can vouch for the value.
                Err(_) => return (Value::Null, Some(refusal(direction, &[]))),
            }
        } else {
            let may_name = |key: &str| may_name(schema, key);
            let scan = self.settings.engine.scan_value(&value, &root, &may_name);
            (value, scan)
        };
        if scan.findings.is_empty() {
            return (value, None);
        }
        let verdict = scan.verdict();
        let rules = scan.rule_ids();
        record
            .guardrail
            .extend(scan.findings.iter().take(MAX_RECORDED_FINDINGS).cloned());
        if verdict != Verdict::Block {
            return (value, None);
        }
        match mode {
            Mode::Block => return (value, Some(refusal(direction, &rules))),
            Mode::Alert => {
                tracing::warn!(
                    tool = %tool.name,
                    principal = %record.principal,
                    request_id = %record.request_id,
                    direction = direction.as_str(),
                    rules = %rules.join(","),
                    "prompt injection suspected; passed on (guardrail in alert mode)"
                );
                self.alert(tool, direction, &scan, record);
            }
            Mode::Log | Mode::Off => {}
        }
        (value, None)
    }

    /// POSTs the alert to the webhook, if one is configured, without waiting for it.
    fn alert(&self, tool: &PublishedTool, direction: Direction, scan: &Scan, record: &AuditRecord) {
        let Some((client, url)) = &self.webhook else {
            return;
        };
        let body = json!({
            "event": "portcullis.guardrail.alert",
            "time": record.time,
            "request_id": record.request_id,
            "principal": record.principal,
            "tool": tool.name,
            "direction": direction.as_str(),
            "verdict": scan.verdict(),
            "findings": scan.findings.iter().take(MAX_RECORDED_FINDINGS).collect::<Vec<_>>(),
        });
        let request = client.post(url).json(&body);
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "the guardrail webhook refused an alert");
                }
                Err(e) => tracing::warn!(error = %e, "the guardrail webhook is unreachable"),
            }
        });
    }
}

/// Whether the strings of `value` (keys included) add up to more than `limit` bytes; stops
/// counting as soon as they do.
fn holds_more_text_than(value: &Value, limit: usize) -> bool {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => {
                for (k, item) in members {
                    total += k.len();
                    stack.push(item);
                }
            }
            _ => {}
        }
        if total > limit {
            return true;
        }
    }
    false
}

/// Whether a finding's path may spell out the key `name`: always in a result; in arguments, if
/// the input schema declares a property of that name, at any depth.
fn may_name(schema: Option<&Value>, name: &str) -> bool {
    let Some(schema) = schema else {
        return true;
    };
    let mut stack = vec![schema];
    while let Some(schema) = stack.pop() {
        match schema {
            Value::Object(members) => {
                if let Some(Value::Object(properties)) = members.get("properties")
                    && properties.contains_key(name)
                {
                    return true;
                }
                stack.extend(members.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

/// What the client is told: which rules, never the text that matched.
fn refusal(direction: Direction, rules: &[&str]) -> String {
    let rules = if rules.is_empty() {
        String::new()
    } else {
        format!(" (rules: {})", rules.join(", "))
    };
    match direction {
        Direction::Arguments => format!(
            "Portcullis refused this call: its arguments look like a prompt injection{rules}. \
             Nothing was sent to the tool."
        ),
        Direction::Result => format!(
            "Portcullis withheld this tool's result: it looks like a prompt injection aimed at \
             the model{rules}."
        ),
    }
}
