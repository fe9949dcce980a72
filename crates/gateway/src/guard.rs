//! The guardrail at work in the call pipeline: arguments are scanned before the upstream sees
//! them, results before the client does, each in the mode the tool or the gateway sets.
//!
//! Findings go into the call's audit record (rule ids and JSON paths, never text). In `block`
//! mode a call the guardrail would block is refused, or its result withheld; in `alert` mode
//! it passes with a warning in the log and, if configured, a webhook; in `log` mode it passes
//! quietly. The client's message never echoes what matched.

use portcullis_core::PublishedTool;
use portcullis_core::config::GuardrailSettings;
use portcullis_core::exchange::MAX_RECORDED_FINDINGS;
use portcullis_core::guardrail::{Mode, Scan, Verdict};
use portcullis_core::ports::{BoxFuture, Checked, ContentGuard, Direction, ScanContext};
use serde_json::{Value, json};

use crate::webhook::Webhook;

/// Values holding more text than this are scanned on a blocking thread.
const INLINE_SCAN_BYTES: usize = 256 * 1024;

/// The guardrail as the gateway applies it.
pub struct Guard {
    settings: GuardrailSettings,
    webhook: Option<Webhook>,
}

impl Guard {
    pub fn new(settings: GuardrailSettings) -> Guard {
        let webhook = settings
            .webhook
            .clone()
            .and_then(|url| Webhook::new(url, "the guardrail webhook"));
        Guard { settings, webhook }
    }

    fn mode(&self, tool: &PublishedTool, direction: Direction) -> Mode {
        match direction {
            Direction::Arguments => tool.guardrail.arguments.unwrap_or(self.settings.arguments),
            Direction::Result => tool.guardrail.results.unwrap_or(self.settings.results),
        }
    }

    /// Scans `value` (arguments, a result, an error or a progress message) of a call to
    /// `tool`. The refusal is the message for the client when the value must not pass.
    pub async fn scan(
        &self,
        tool: &PublishedTool,
        direction: Direction,
        value: Value,
        context: ScanContext<'_>,
    ) -> Checked {
        let pass = |value, findings| Checked {
            value,
            findings,
            refusal: None,
        };
        let mode = self.mode(tool, direction);
        if mode == Mode::Off {
            return pass(value, Vec::new());
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
                Err(_) => {
                    return Checked {
                        value: Value::Null,
                        findings: Vec::new(),
                        refusal: Some(refusal(direction, &[])),
                    };
                }
            }
        } else {
            let may_name = |key: &str| may_name(schema, key);
            let scan = self.settings.engine.scan_value(&value, &root, &may_name);
            (value, scan)
        };
        if scan.findings.is_empty() {
            return pass(value, Vec::new());
        }
        let verdict = scan.verdict();
        let rules: Vec<String> = scan.rule_ids().into_iter().map(str::to_string).collect();
        let findings: Vec<_> = scan
            .findings
            .iter()
            .take(MAX_RECORDED_FINDINGS)
            .cloned()
            .collect();
        if verdict != Verdict::Block {
            return pass(value, findings);
        }
        match mode {
            Mode::Block => {
                return Checked {
                    value,
                    findings,
                    refusal: Some(refusal(direction, &rules)),
                };
            }
            Mode::Alert => {
                tracing::warn!(
                    tool = %tool.name,
                    principal = %context.principal,
                    request_id = %context.request_id,
                    direction = direction.as_str(),
                    rules = %rules.join(","),
                    "prompt injection suspected; passed on (guardrail in alert mode)"
                );
                self.alert(tool, direction, &scan, context);
            }
            Mode::Log | Mode::Off => {}
        }
        pass(value, findings)
    }

    /// POSTs the alert to the webhook, if one is configured, without waiting for it.
    fn alert(
        &self,
        tool: &PublishedTool,
        direction: Direction,
        scan: &Scan,
        context: ScanContext<'_>,
    ) {
        let Some(webhook) = &self.webhook else {
            return;
        };
        let body = json!({
            "event": "portcullis.guardrail.alert",
            "time": context.time,
            "request_id": context.request_id,
            "principal": context.principal,
            "tool": tool.name,
            "direction": direction.as_str(),
            "verdict": scan.verdict(),
            "findings": scan.findings.iter().take(MAX_RECORDED_FINDINGS).collect::<Vec<_>>(),
        });
        webhook.post(&body);
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

impl ContentGuard for Guard {
    fn check<'a>(
        &'a self,
        tool: &'a PublishedTool,
        direction: Direction,
        value: Value,
        context: ScanContext<'a>,
    ) -> BoxFuture<'a, Checked> {
        Box::pin(self.scan(tool, direction, value, context))
    }
}

/// What the client is told: which rules, never the text that matched.
fn refusal(direction: Direction, rules: &[String]) -> String {
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
