//! What an operator does to a gateway's state — keys, approvals, pins — and how it is shown,
//! shared by the `portcullis` commands and the admin API so that both decide alike and
//! audit alike.

use std::collections::BTreeSet;

use portcullis_core::approval::{ApprovalState, PendingApproval, may_decide};
use portcullis_core::audit::{AuditRecord, Decision, Outcome, rfc3339, shape};
use portcullis_core::keys::KeyInfo;
use portcullis_core::pins::{Pin, canonical};
use portcullis_core::redact::{Counts, RedactionSettings, Redactor};
use portcullis_gateway::Gateway;
use portcullis_gateway::context::Recorder;
use portcullis_store::{ApprovalFile, LimitResets, PinFile, StoreError};
use serde_json::{Value, json};

/// A key as the operator sees it (never its token).
pub fn key_json(info: &KeyInfo, now: u64) -> Value {
    json!({
        "id": info.id,
        "name": info.name,
        "scopes": info.scopes,
        "state": info.state(now),
        "created_at": rfc3339(info.created_at * 1000),
        "expires_at": info.expires_at.map(|t| rfc3339(t * 1000)),
        "revoked_at": info.revoked_at.map(|t| rfc3339(t * 1000)),
        "valid_until": info.valid_until.map(|t| rfc3339(t * 1000)),
        "replaced_by": info.replaced_by,
    })
}

/// Refuses scopes for a new key that no tool, resource or prompt of the config uses (a typo
/// would issue a key that unlocks nothing). The gateway's own scopes (`portcullis:…`) unlock no
/// tool on purpose and are always accepted.
pub fn check_new_scopes(scopes: &[String], known: &BTreeSet<String>) -> Result<(), String> {
    let unknown: Vec<String> = scopes
        .iter()
        .filter(|s| !known.contains(*s) && !s.starts_with("portcullis:"))
        .map(|s| format!("`{s}`"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} not used by any tool, resource or prompt of the config (it uses: {}); a key holding \
         them would unlock nothing, so this is probably a typo",
        unknown.join(", "),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.iter().cloned().collect::<Vec<_>>().join(" ")
        }
    ))
}

/// A parked call's state in words.
pub fn approval_state_text(state: &ApprovalState) -> String {
    match state {
        ApprovalState::Pending => "PENDING".into(),
        ApprovalState::Approved { by, .. } => format!("approved by {by}"),
        ApprovalState::Denied { by, .. } => format!("denied by {by}"),
        ApprovalState::Expired { reason } => format!("expired: {reason}"),
    }
}

/// A parked call as the operator sees it: its redacted arguments, times and decision.
pub fn approval_json(p: &PendingApproval, s: &ApprovalState) -> Value {
    let mut v = json!(p);
    v["created_at"] = json!(rfc3339(p.created_at));
    v["expires_at"] = json!(rfc3339(p.expires_at));
    v["decision"] = json!(s);
    v["state"] = json!(approval_state_text(s));
    v
}

/// Why an operator's decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The decider may not decide this call (no approve scope, or their own call).
    #[error("{reason}: `{caller}` made this call")]
    NotAllowed { reason: String, caller: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who decides, and through what (`cli`, `admin`), for the audit record.
pub struct Decider<'a> {
    pub id: &'a str,
    pub scopes: &'a BTreeSet<String>,
    pub transport: &'static str,
}

/// Approves or denies the parked call `id` as `by`, now, and audits the decision through
/// `recorder`.
pub fn decide_approval(
    store: &ApprovalFile,
    recorder: &Recorder,
    by: &Decider<'_>,
    id: &str,
    approve: bool,
    reason: &str,
) -> Result<PendingApproval, DecisionError> {
    let (pending, _) = store.find(id)?;
    may_decide(by.id, by.scopes, &pending.principal).map_err(|e| DecisionError::NotAllowed {
        reason: e.to_string(),
        caller: pending.principal.clone(),
    })?;
    let now_ms = recorder.clock.unix_ms().unwrap_or(0);
    let decided = store.decide(id, by.id, approve, reason, now_ms)?;
    let verb = if approve { "approved" } else { "denied" };
    recorder.event(
        by.transport,
        AuditRecord {
            principal: by.id.to_string(),
            principal_kind: "api_key",
            method: format!("approval/{}", if approve { "approve" } else { "deny" }),
            tool: Some(decided.tool.clone()),
            upstream: Some(decided.upstream.clone()),
            arguments: Some(shape(&decided.arguments)),
            decision: if approve {
                Decision::Allowed
            } else {
                Decision::Denied
            },
            outcome: if approve {
                Outcome::Ok
            } else {
                Outcome::Refused
            },
            reason: format!(
                "approval {id} {verb} by {} for the call of {} (request {}){}",
                by.id,
                decided.principal,
                decided.request_id,
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                }
            ),
            ..AuditRecord::default()
        },
    );
    Ok(decided)
}

/// Resets of callers' limits, shared by every gateway on a data directory: a reset asked here
/// (admin API) or by `portcullis limits reset` is applied once by each gateway.
pub struct Resets {
    store: LimitResets,
    /// The newest request this gateway has applied.
    applied: std::sync::Mutex<i64>,
}

impl Resets {
    /// The requests in `store`; those made before now are not applied.
    pub fn open(store: LimitResets) -> Result<Resets, StoreError> {
        let newest = store.newest()?;
        Ok(Resets {
            store,
            applied: std::sync::Mutex::new(newest),
        })
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, i64> {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks every gateway on the data directory to reset `principal`, and resets it in
    /// `gateway` at once; returns how many of its buckets this gateway forgot.
    pub fn request(
        &self,
        gateway: &Gateway,
        principal: &str,
        by: &str,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let mut applied = self.applied();
        // Whatever others asked before this is applied first, in order.
        self.apply_locked(gateway, &mut applied);
        let id = self.store.request(principal, by, now_ms)?;
        let forgotten = gateway.reset_limits(principal);
        if id == *applied + 1 {
            *applied = id;
        }
        Ok(forgotten)
    }

    /// Applies the requests made since the last call (by `portcullis limits reset` or another
    /// gateway's admin API); call every second or so.
    pub fn poll(&self, gateway: &Gateway) {
        let mut applied = self.applied();
        self.apply_locked(gateway, &mut applied);
    }

    fn apply_locked(&self, gateway: &Gateway, applied: &mut i64) {
        let pending = match self.store.after(*applied) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the requests to reset limits");
                return;
            }
        };
        for (id, principal) in pending {
            let forgotten = gateway.reset_limits(&principal);
            tracing::info!(principal = %principal, forgotten, "limits reset on request");
            *applied = id;
        }
    }
}

/// A pin's state in words.
pub fn pin_state(pin: &Pin) -> &'static str {
    match (&pin.hash, &pin.candidate, &pin.rejected) {
        (None, _, _) => "waiting for a first acceptance (strict)",
        (Some(_), Some(_), _) => "CHANGED: quarantined, see `pins diff`",
        (Some(_), None, Some(_)) => "rejected change: quarantined while it is served",
        (Some(_), None, None) => "pinned",
    }
}

/// Whether the pin's tool is kept from clients now.
pub fn pin_quarantined(pin: &Pin) -> bool {
    pin.hash.is_none() || pin.candidate.is_some() || pin.rejected.is_some()
}

/// A pin as the operator sees it (the definitions are in [`pin_diff`]).
pub fn pin_json(pin: &Pin) -> Value {
    json!({
        "tool": pin.tool,
        "upstream": pin.upstream,
        "hash": pin.hash,
        "pinned_at": pin.pinned_at.map(rfc3339),
        "accepted_by": pin.accepted_by,
        "state": pin_state(pin),
        "quarantined": pin_quarantined(pin),
        "candidate": pin.candidate.as_ref().map(|c| json!({"hash": c.hash, "seen_at": rfc3339(c.seen_at)})),
        "rejected": pin.rejected,
    })
}

/// The unified diff between the pinned definition and the one waiting (canonical JSON, one
/// member per line); `None` when nothing waits.
pub fn pin_diff(pin: &Pin) -> Option<String> {
    let candidate = pin.candidate.as_ref()?;
    let old = pin.definition.as_ref().map(readable).unwrap_or_default();
    let new = readable(&candidate.definition);
    let diff = similar::TextDiff::from_lines(&old, &new);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(
                &format!(
                    "pinned {}",
                    pin.hash
                        .as_deref()
                        .unwrap_or("(nothing yet, pins = strict)")
                ),
                &format!("now    {}", candidate.hash),
            )
            .to_string(),
    )
}

/// The canonical form (sorted members), one member per line.
fn readable(definition: &Value) -> String {
    let sorted: Value = serde_json::from_str(&canonical(definition)).unwrap_or(Value::Null);
    let mut text = serde_json::to_string_pretty(&sorted).unwrap_or_default();
    text.push('\n');
    text
}

/// Accepts (or rejects) the definition waiting for `tool`, as `by` through `transport`, now,
/// and audits it.
pub fn decide_pin(
    store: &PinFile,
    recorder: &Recorder,
    (by, transport): (&str, &'static str),
    tool: &str,
    accept: bool,
) -> Result<Pin, StoreError> {
    let now_ms = recorder.clock.unix_ms().unwrap_or(0);
    let (pin, method, what) = if accept {
        (
            store.accept(tool, by, now_ms)?,
            "pins/accept",
            "accepted the waiting definition",
        )
    } else {
        (
            store.reject(tool)?,
            "pins/reject",
            "rejected the waiting definition",
        )
    };
    recorder.event(
        transport,
        AuditRecord {
            principal: by.to_string(),
            principal_kind: "operator",
            method: method.into(),
            tool: Some(pin.tool.clone()),
            upstream: Some(pin.upstream.clone()),
            decision: Decision::Allowed,
            outcome: Outcome::Ok,
            reason: format!(
                "{by} {what}; the pin is now {}",
                pin.hash.as_deref().unwrap_or("unchanged")
            ),
            ..AuditRecord::default()
        },
    );
    Ok(pin)
}

/// The config file's text as JSON with its secrets masked: literal secret values
/// (`value = …` of headers and credentials), the environment given to stdio upstreams, and
/// whatever the default redaction rules mask (everything under secret-named keys such as
/// `client_secret`, passwords in URLs, tokens in text). Other names of environment variables
/// and files are kept: they say where a secret is, not what it is.
pub fn masked_config(text: &str) -> Result<Value, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
    let mut value = serde_json::to_value(table).map_err(|e| e.to_string())?;
    mask_literals(&mut value, None);
    let redactor = Redactor::new(&RedactionSettings::defaults())?;
    redactor.redact_value(&mut value, &mut Counts::default());
    Ok(value)
}

const MASK: &str = "***";

fn mask_literals(value: &mut Value, key: Option<&str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (key, k.as_str()) {
                    // A secret's literal, and every variable set for a child process.
                    (_, "value") | (Some("env"), _) => *v = Value::String(MASK.into()),
                    _ => mask_literals(v, Some(k)),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_literals(v, key)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_config_are_masked_and_where_they_live_is_kept() {
        let text = r#"
[auth]
api_keys = true
[upstreams.crm]
kind = "http"
url = "https://svc:hunter2@crm.example.com/mcp?token=abc123def456"
headers = { Authorization = { value = "Bearer sk-live-abcdef0123456789" }, X-Tenant = { env = "TENANT" } }
[upstreams.crm.oauth]
token_url = "https://auth.example.com/token"
client_id = "portcullis"
client_secret = { file = "secret.txt" }
[upstreams.local]
kind = "stdio"
command = "server"
env = { DATABASE_URL = "postgres://app:pa55word@db/app", MODE = "fast" }
"#;
        let masked = masked_config(text).unwrap();
        let shown = masked.to_string();
        for secret in ["hunter2", "sk-live", "pa55word", "fast", "abc123def456"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert_eq!(
            masked["upstreams"]["crm"]["headers"]["X-Tenant"]["env"],
            "TENANT"
        );
        assert_eq!(
            masked["upstreams"]["crm"]["oauth"]["client_id"],
            "portcullis"
        );
        assert_eq!(masked["upstreams"]["local"]["command"], "server");
        assert_eq!(masked["auth"]["api_keys"], true);
        assert!(masked_config("[[nope").is_err());
    }

    #[test]
    fn new_scopes_must_be_used_by_the_config() {
        let known: BTreeSet<String> = ["demo.read".to_string()].into();
        assert!(check_new_scopes(&["demo.read".into(), "portcullis:admin".into()], &known).is_ok());
        let e = check_new_scopes(&["demo.raed".into()], &known).unwrap_err();
        assert!(e.contains("`demo.raed`") && e.contains("demo.read"), "{e}");
    }
}
