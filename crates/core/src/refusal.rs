//! The one refusal type. Whatever turns a request away — the edge, authentication, policy, a
//! rate limit, the guardrail, an upstream that failed — says so with a [`Refusal`]: a short,
//! safe [`Answer`] for the client and an operator-only `detail` for the log and the audit
//! record. The gateway maps an answer to the wire in one function (`portcullis_gateway::wire`).

use std::time::Duration;

use serde_json::Value;

use crate::audit::{Decision, Outcome};
use crate::limits::Limited;

/// JSON-RPC error code for a request whose caller is not authenticated (stdio; over HTTP the
/// edge answers 401 first).
pub const UNAUTHENTICATED: i64 = -32001;

/// What the client is told. Nothing in it comes from an upstream's transport, a URL, or the
/// caller's own input, except where a variant says so.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The tool does not exist for this caller — hidden and unknown read alike: JSON-RPC
    /// `-32602`. Holds the name when it is a valid tool name (else the message omits it).
    UnknownTool(Option<String>),
    /// A tool result with `isError: true` and this text.
    ToolError(String),
    /// The 2026-07-28 input-required result: the client asks its user, then sends the call
    /// again with the answer.
    InputRequired(Value),
    /// A rate limit or budget refused the call: a tool result with `isError: true` saying when
    /// to retry.
    Limited(Limited),
    /// A JSON-RPC error the upstream sent, scanned and redacted.
    Upstream {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// A message that is not a JSON-RPC request the gateway takes (parse error, batch): HTTP 400
    /// with a JSON-RPC error and `id: null`.
    BadMessage { code: i64, message: &'static str },
    /// Credentials missing or not accepted: 401 with a `WWW-Authenticate` challenge (400 for a
    /// token in the query string); over stdio a JSON-RPC error.
    Unauthenticated {
        /// The OAuth error code (`invalid_token`, `invalid_request`), when credentials were
        /// presented.
        error: Option<&'static str>,
        message: &'static str,
    },
    /// An OAuth caller under step-up lacks scopes for the tool: 403 `insufficient_scope`
    /// naming every scope it needs.
    InsufficientScope(Vec<String>),
    /// Turned away at the HTTP edge before any MCP message was read.
    Http {
        status: u16,
        text: &'static str,
        /// Seconds, for `Retry-After`.
        retry_after: Option<u64>,
    },
}

/// A request turned away, or a call that produced no result.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub answer: Answer,
    pub decision: Decision,
    pub outcome: Outcome,
    /// For the operator: the log and the audit record. Never the caller's input.
    pub detail: String,
}

impl Refusal {
    pub fn new(answer: Answer, decision: Decision, outcome: Outcome, detail: String) -> Refusal {
        Refusal {
            answer,
            decision,
            outcome,
            detail,
        }
    }

    /// A tool the caller may not call, or that does not exist.
    pub fn unknown_tool(name: &str, detail: impl Into<String>) -> Refusal {
        let name = crate::catalogue::is_tool_name(name).then(|| name.to_string());
        Refusal::new(
            Answer::UnknownTool(name),
            Decision::Denied,
            Outcome::UnknownTool,
            detail.into(),
        )
    }

    pub fn limited(limited: Limited, decision: Decision, detail: impl Into<String>) -> Refusal {
        let detail = detail.into();
        let detail = if detail.is_empty() {
            limited.to_string()
        } else {
            format!("{detail}; {limited}")
        };
        Refusal::new(Answer::Limited(limited), decision, Outcome::Limited, detail)
    }

    /// Refused at the HTTP edge.
    pub fn edge(status: u16, text: &'static str, retry_after: Option<Duration>) -> Refusal {
        Refusal::new(
            Answer::Http {
                status,
                text,
                retry_after: retry_after.map(|d| d.as_secs_f64().ceil().max(1.0) as u64),
            },
            Decision::Denied,
            Outcome::Refused,
            text.to_string(),
        )
    }

    /// A body that is not a JSON-RPC request the gateway takes.
    pub fn bad_message(code: i64, message: &'static str, detail: String) -> Refusal {
        Refusal::new(
            Answer::BadMessage { code, message },
            Decision::Denied,
            Outcome::Refused,
            detail,
        )
    }
}
