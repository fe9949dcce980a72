//! Human approval of a call: which calls need it, what an approval is bound to, and who may
//! give it.
//!
//! A tool's `approval` mode comes from its `[[expose]]` entries: `"operator"`, `"user"` or
//! `"none"`; a destructive tool defaults to `"operator"`, a read-only one to `"none"`. A call
//! that needs approval parks until a decision, a timeout or a failure — the last two deny.
//!
//! An approval is bound to one call: the hash of (published tool, canonical arguments,
//! principal, request id) in [`call_hash`]. A decision on one call cannot be replayed for
//! another, and a call with other arguments needs its own. The decision is made once, by a
//! principal holding [`APPROVE_SCOPE`] that is not the caller ([`may_decide`]): no one
//! approves their own call.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::pins::fingerprint;

/// The scope an approver's key or token must hold.
pub const APPROVE_SCOPE: &str = "portcullis:approve";

/// Who approves a call to a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ApprovalMode {
    /// No one: the call runs.
    #[default]
    None,
    /// The user, asked through MCP elicitation by a client that can ask; otherwise an operator.
    User,
    /// An operator holding `portcullis:approve`.
    Operator,
}

impl ApprovalMode {
    pub fn parse(text: &str) -> Result<ApprovalMode, String> {
        match text {
            "none" => Ok(ApprovalMode::None),
            "user" => Ok(ApprovalMode::User),
            "operator" => Ok(ApprovalMode::Operator),
            other => Err(format!(
                "`{}` is not an approval mode; use \"operator\" (an approver key decides), \
                 \"user\" (the user is asked, else an operator) or \"none\"",
                other.escape_debug()
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::None => "none",
            ApprovalMode::User => "user",
            ApprovalMode::Operator => "operator",
        }
    }

    /// The mode of a tool no entry gives one: destructive tools wait for an operator.
    pub fn default_for(read_only: bool) -> ApprovalMode {
        if read_only {
            ApprovalMode::None
        } else {
            ApprovalMode::Operator
        }
    }
}

impl fmt::Display for ApprovalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[approvals]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// How long a call waits for a decision before it is denied. Default 5 minutes.
    pub timeout: Duration,
    /// Told (a JSON POST) when a call parks, so that a chat channel can show it.
    pub webhook: Option<String>,
    /// Whether the webhook is sent the (redacted) arguments. Default: no, only their shape.
    pub webhook_arguments: bool,
}

impl Default for ApprovalSettings {
    fn default() -> ApprovalSettings {
        ApprovalSettings {
            timeout: Duration::from_secs(300),
            webhook: None,
            webhook_arguments: false,
        }
    }
}

/// A call waiting for an operator, as the approval store keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PendingApproval {
    /// Random, unguessable; what `portcullis approvals approve` takes.
    pub id: String,
    /// What the decision is bound to ([`call_hash`]).
    pub call_hash: String,
    pub tool: String,
    pub upstream: String,
    /// Who is calling.
    pub principal: String,
    pub request_id: String,
    /// The arguments, redacted.
    pub arguments: Value,
    /// Unix milliseconds.
    pub created_at: u64,
    pub expires_at: u64,
}

/// Where a parked call stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved {
        by: String,
        reason: String,
    },
    Denied {
        by: String,
        reason: String,
    },
    /// Ended without a decision: timed out, or the gateway restarted.
    Expired {
        reason: String,
    },
}

/// What an approval applies to: exactly this call.
pub fn call_hash(
    tool: &str,
    arguments: Option<&Value>,
    principal: &str,
    request_id: &str,
) -> String {
    fingerprint(&json!({
        "tool": tool,
        "arguments": arguments.cloned().unwrap_or(Value::Null),
        "principal": principal,
        "request_id": request_id,
    }))
}

/// Why a would-be approver may not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnApprover {
    #[error("the credential does not hold the `{APPROVE_SCOPE}` scope")]
    MissingScope,
    #[error("a caller cannot approve their own call")]
    OwnCall,
}

/// Whether `approver` (holding `scopes`) may decide a call made by `caller`.
pub fn may_decide(
    approver: &str,
    scopes: &std::collections::BTreeSet<String>,
    caller: &str,
) -> Result<(), NotAnApprover> {
    if !scopes.contains(APPROVE_SCOPE) {
        return Err(NotAnApprover::MissingScope);
    }
    if approver == caller {
        return Err(NotAnApprover::OwnCall);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_is_bound_to_tool_arguments_caller_and_request() {
        let a = call_hash("t", Some(&json!({"amount": 10})), "k1", "r1");
        assert_eq!(a, call_hash("t", Some(&json!({"amount": 10})), "k1", "r1"));
        for other in [
            call_hash("u", Some(&json!({"amount": 10})), "k1", "r1"),
            call_hash("t", Some(&json!({"amount": 11})), "k1", "r1"),
            call_hash("t", Some(&json!({"amount": 10})), "k2", "r1"),
            call_hash("t", Some(&json!({"amount": 10})), "k1", "r2"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn approvers_need_the_scope_and_another_principal() {
        let holds: std::collections::BTreeSet<String> = [APPROVE_SCOPE.to_string()].into();
        assert_eq!(may_decide("ops", &holds, "agent"), Ok(()));
        assert_eq!(
            may_decide("agent", &holds, "agent"),
            Err(NotAnApprover::OwnCall)
        );
        assert_eq!(
            may_decide("ops", &Default::default(), "agent"),
            Err(NotAnApprover::MissingScope)
        );
    }

    #[test]
    fn destructive_tools_wait_for_an_operator_by_default() {
        assert_eq!(ApprovalMode::default_for(false), ApprovalMode::Operator);
        assert_eq!(ApprovalMode::default_for(true), ApprovalMode::None);
        assert!(ApprovalMode::Operator > ApprovalMode::User);
        assert!(ApprovalMode::parse("maybe").is_err());
    }
}
