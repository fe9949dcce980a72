//! Pins against rug pulls: a reviewed tool may not change what it says or does unnoticed.
//!
//! The first time the gateway publishes a tool it records a SHA-256 of the tool's whole
//! definition as the upstream sent it — name, title, description, input and output schema,
//! annotations, every field — in canonical JSON (RFC 8785, so key order and number spelling do
//! not matter). From then on, a listing whose definition hashes differently puts the tool in
//! quarantine: it is hidden from `tools/list` and refused as unknown, and the new definition is
//! kept beside the pinned one until an operator looks at the difference (`portcullis pins
//! diff`) and accepts or rejects it. With `pins = "strict"`, even the first sight waits for an
//! operator.
//!
//! The pins live behind the [`PinStore`](crate::ports::PinStore) port (SQLite in the data
//! directory), so they hold across restarts and are shared by every gateway on that directory.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Who accepted a tool pinned as first seen.
pub const FIRST_SIGHT: &str = "first sight";

/// When a tool seen for the first time is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PinMode {
    /// Pinned as first seen (trust on first use).
    #[default]
    FirstSight,
    /// Not published until an operator accepts it.
    Strict,
}

impl PinMode {
    pub fn parse(text: &str) -> Result<PinMode, String> {
        match text {
            "first-sight" => Ok(PinMode::FirstSight),
            "strict" => Ok(PinMode::Strict),
            other => Err(format!(
                "`{}` is not a pin mode; use \"first-sight\" (pin a tool as first seen) or \
                 \"strict\" (publish a new tool only once an operator accepts it)",
                other.escape_debug()
            )),
        }
    }
}

/// A definition waiting for an operator: one that differs from the pin, or a first sight
/// under `strict`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub hash: String,
    pub definition: Value,
    /// Unix milliseconds.
    pub seen_at: u64,
}

/// What the store holds for one published tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pin {
    /// The published name.
    pub tool: String,
    pub upstream: String,
    /// The accepted definition and its hash; `None` while a first sight waits (`strict`).
    pub hash: Option<String>,
    pub definition: Option<Value>,
    /// Unix milliseconds.
    pub pinned_at: Option<u64>,
    /// `first sight`, or who accepted it.
    pub accepted_by: Option<String>,
    pub candidate: Option<Candidate>,
    /// The hash an operator rejected: the tool stays quarantined while the upstream sends it.
    pub rejected: Option<String>,
}

/// What to do with a listed tool, given its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// The pin matches.
    Publish,
    /// Never seen: pin it now and publish.
    PinNow,
    /// Never seen, `strict`: keep it as a candidate and withhold it.
    AwaitApproval,
    /// It differs from the pin: keep it as a candidate (unless rejected) and withhold it.
    Quarantine { pinned: String },
}

/// Decides for a tool whose definition hashes to `hash`.
pub fn check(mode: PinMode, pin: Option<&Pin>, hash: &str) -> PinCheck {
    match pin.and_then(|p| p.hash.as_deref()) {
        Some(pinned) if pinned == hash => PinCheck::Publish,
        Some(pinned) => PinCheck::Quarantine {
            pinned: pinned.to_string(),
        },
        None if mode == PinMode::Strict => PinCheck::AwaitApproval,
        None if pin.is_some_and(|p| p.candidate.is_some()) => PinCheck::AwaitApproval,
        None => PinCheck::PinNow,
    }
}

/// The definition in canonical JSON (RFC 8785).
pub fn canonical(definition: &Value) -> String {
    // Serialising a `Value` cannot fail: its keys are strings and its numbers finite.
    serde_json_canonicalizer::to_string(definition).unwrap_or_default()
}

/// The SHA-256 of the canonical JSON, in hex: what a pin holds.
pub fn fingerprint(definition: &Value) -> String {
    crate::hex(&Sha256::digest(canonical(definition).as_bytes()))
}

/// The fingerprint of the definition without its name: the same tool renamed keeps it.
pub fn shape_fingerprint(definition: &Value) -> String {
    let mut unnamed = definition.clone();
    if let Some(members) = unnamed.as_object_mut() {
        members.remove("name");
    }
    fingerprint(&unnamed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_and_number_spelling_do_not_change_the_fingerprint() {
        let a: Value = serde_json::from_str(
            r#"{"name":"t","inputSchema":{"type":"object","properties":{"n":{"maximum":1e2}}}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"inputSchema":{"properties":{"n":{"maximum":100}},"type":"object"},"name":"t"}"#,
        )
        .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 64);
        let c = json!({"name": "t", "inputSchema": {"type": "object", "properties": {"n": {"maximum": 101}}}});
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn a_rename_keeps_the_shape() {
        let a = json!({"name": "read", "description": "Reads"});
        let b = json!({"name": "read_v2", "description": "Reads"});
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(shape_fingerprint(&a), shape_fingerprint(&b));
    }

    #[test]
    fn checks() {
        let pin = Pin {
            tool: "t".into(),
            upstream: "u".into(),
            hash: Some("aa".into()),
            definition: Some(json!({})),
            pinned_at: Some(1),
            accepted_by: Some("first sight".into()),
            candidate: None,
            rejected: None,
        };
        assert_eq!(
            check(PinMode::FirstSight, Some(&pin), "aa"),
            PinCheck::Publish
        );
        assert_eq!(
            check(PinMode::FirstSight, Some(&pin), "bb"),
            PinCheck::Quarantine {
                pinned: "aa".into()
            }
        );
        assert_eq!(check(PinMode::FirstSight, None, "bb"), PinCheck::PinNow);
        assert_eq!(check(PinMode::Strict, None, "bb"), PinCheck::AwaitApproval);
        assert_eq!(check(PinMode::Strict, Some(&pin), "aa"), PinCheck::Publish);
    }
}
