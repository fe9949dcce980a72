//! Asking the user through their client: MCP elicitation, for `approval = "user"`.
//!
//! The question goes to the client application as a protocol message, not to the model as
//! text: a client that implements elicitation shows it to its user and returns the user's
//! answer. The model does not see the question and cannot answer it — unless the client itself
//! routes elicitation to the model, which the gateway cannot see; for clients the operator does
//! not trust to ask their user, use `approval = "operator"`. Only an explicit yes (`accept`
//! with `approve: true`) allows the call; decline, cancel, a timeout or an error refuses.
//!
//! Two forms, for the two eras:
//! - a legacy session whose client declared `elicitation`: an `elicitation/create` request on
//!   the session, awaited ([`ElicitingClient`]);
//! - a stateless 2026-07-28 request whose `_meta` declares `elicitation`: the call answers with
//!   an input-required result carrying the question and a request state signed by this
//!   gateway, and the client sends the call again with the user's answer ([`AskingInResult`]).
//!   The state binds the answer to the call (tool, arguments, caller) and expires with
//!   `approvals.timeout`; an answer with a state this gateway did not sign, for another call,
//!   or too late, is refused.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use portcullis_core::ports::{BoxFuture, UserAnswer, UserPrompt};
use rmcp::model::{ElicitRequestParams, InputResponses};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Value, json};
use sha2::Sha256;

/// The key of the approval question among a 2026-07-28 call's input requests.
pub const APPROVAL_INPUT: &str = "portcullis_approval";

/// The schema of the answer: one boolean.
fn approval_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"approve": {
            "type": "boolean",
            "title": "Allow this call",
            "default": false,
        }},
        "required": ["approve"],
    })
}

/// Whether an elicitation answer (`{action, content}`) is an explicit yes.
fn is_yes(answer: &Value) -> bool {
    answer.get("action").and_then(Value::as_str) == Some("accept")
        && answer.get("content").and_then(|c| c.get("approve")) == Some(&Value::Bool(true))
}

/// The user of one legacy session, asked with `elicitation/create`.
pub struct ElicitingClient {
    pub peer: Peer<RoleServer>,
    /// How long the user has to answer.
    pub timeout: Duration,
}

impl ElicitingClient {
    /// The client of `peer`, when it declared that it can ask its user.
    pub fn of(peer: &Peer<RoleServer>, timeout: Duration) -> Option<ElicitingClient> {
        let declared = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.elicitation.is_some());
        declared.then(|| ElicitingClient {
            peer: peer.clone(),
            timeout,
        })
    }
}

impl UserPrompt for ElicitingClient {
    fn confirm<'a>(
        &'a self,
        message: &'a str,
        _binding: &'a str,
    ) -> BoxFuture<'a, Result<UserAnswer, String>> {
        Box::pin(async move {
            let params = ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: message.to_string(),
                requested_schema: serde_json::from_value(approval_schema())
                    .map_err(|e| e.to_string())?,
            };
            let answer = self
                .peer
                .create_elicitation_with_timeout(params, Some(self.timeout))
                .await
                .map_err(|e| e.to_string())?;
            // The answer read as it would arrive in a 2026-07-28 retry: one test of a yes.
            let yes = serde_json::to_value(&answer).is_ok_and(|answer| is_yes(&answer));
            Ok(if yes { UserAnswer::Yes } else { UserAnswer::No })
        })
    }
}

/// The user of a stateless 2026-07-28 call, asked through an input-required result.
pub struct AskingInResult<'a> {
    /// This gateway's key for request states.
    pub key: &'a [u8; 64],
    /// What the client sent back, on a retry.
    pub responses: Option<&'a InputResponses>,
    pub state: Option<&'a str>,
    /// Unix milliseconds now, and how long a question stays open.
    pub now: u64,
    pub timeout: Duration,
}

/// Request states the gateway hands a 2026-07-28 client to echo on its retry, sealed with a
/// key of its own: `<kind>.<expiry>.<payload, base64url>.<HMAC over kind, binding, expiry and
/// payload>`. A state opens only for the call it was sealed for (`binding`), before it
/// expires, at the gateway that sealed it.
pub struct StateSeal<'a> {
    pub key: &'a [u8; 64],
}

impl StateSeal<'_> {
    fn mac(&self, kind: &str, binding: &str, expires: u64, payload: &str) -> String {
        // A key of HMAC-SHA256's block size: no error case.
        let mut mac = Hmac::<Sha256>::new(self.key.into());
        mac.update(format!("{kind}.{binding}.{expires}.{payload}").as_bytes());
        portcullis_core::hex(&mac.finalize().into_bytes())
    }

    pub fn seal(&self, kind: &str, binding: &str, expires: u64, payload: &[u8]) -> String {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        let mac = self.mac(kind, binding, expires, &payload);
        format!("{kind}.{expires}.{payload}.{mac}")
    }

    /// The payload of `state`, when it was sealed as `kind` for `binding` and is still open
    /// at `now`.
    pub fn open(&self, kind: &str, state: &str, binding: &str, now: u64) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let mut parts = state.strip_prefix(kind)?.strip_prefix('.')?.splitn(3, '.');
        let (expires, payload, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let expires_at = expires.parse::<u64>().ok()?;
        let expected = self.mac(kind, binding, expires_at, payload);
        let same = expected.len() == mac.len()
            && expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        (same && expires_at >= now)
            .then(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
            })
            .flatten()
    }
}

/// The kind of state of a gateway's approval question.
const APPROVAL_STATE: &str = "pa1";

impl AskingInResult<'_> {
    fn sign(&self, binding: &str, expires: u64) -> String {
        StateSeal { key: self.key }.seal(APPROVAL_STATE, binding, expires, b"")
    }

    /// Whether `state` is one this gateway signed for `binding`, still open.
    fn verified(&self, state: &str, binding: &str) -> bool {
        StateSeal { key: self.key }
            .open(APPROVAL_STATE, state, binding, self.now)
            .is_some()
    }

    /// Whether `state` is an approval question's (and not another kind of request state).
    pub fn is_approval_state(state: &str) -> bool {
        state
            .strip_prefix(APPROVAL_STATE)
            .is_some_and(|rest| rest.starts_with('.'))
    }
}

impl UserPrompt for AskingInResult<'_> {
    fn confirm<'a>(
        &'a self,
        message: &'a str,
        binding: &'a str,
    ) -> BoxFuture<'a, Result<UserAnswer, String>> {
        let answer = match (
            self.responses.and_then(|r| r.get(APPROVAL_INPUT)),
            self.state,
        ) {
            (Some(response), Some(state)) => {
                if !self.verified(state, binding) {
                    Err("the answer does not belong to this call, or came too late".to_string())
                } else if is_yes(response) {
                    Ok(UserAnswer::Yes)
                } else {
                    Ok(UserAnswer::No)
                }
            }
            (Some(_), None) => Err("an answer without its request state".to_string()),
            (None, _) => {
                let expires = self.now + self.timeout.as_millis() as u64;
                Ok(UserAnswer::AskFirst(json!({
                    "resultType": "input_required",
                    "inputRequests": {APPROVAL_INPUT: {
                        "method": "elicitation/create",
                        "params": {
                            "mode": "form",
                            "message": message,
                            "requestedSchema": approval_schema(),
                        },
                    }},
                    "requestState": self.sign(binding, expires),
                })))
            }
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking<'a>(
        key: &'a [u8; 64],
        responses: Option<&'a InputResponses>,
        state: Option<&'a str>,
        now: u64,
    ) -> AskingInResult<'a> {
        AskingInResult {
            key,
            responses,
            state,
            now,
            timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn an_answer_counts_only_with_a_state_signed_for_this_call_and_still_open() {
        let key = [7u8; 64];
        let UserAnswer::AskFirst(first) = asking(&key, None, None, 1000)
            .confirm("Allow?", "call-1")
            .await
            .unwrap()
        else {
            panic!("asks first");
        };
        assert_eq!(first["resultType"], "input_required");
        assert_eq!(
            first["inputRequests"][APPROVAL_INPUT]["method"],
            "elicitation/create"
        );
        let state = first["requestState"].as_str().unwrap().to_string();
        let yes: InputResponses = [(
            APPROVAL_INPUT.to_string(),
            json!({"action": "accept", "content": {"approve": true}}),
        )]
        .into();
        let no: InputResponses = [(
            APPROVAL_INPUT.to_string(),
            json!({"action": "accept", "content": {"approve": false}}),
        )]
        .into();
        let answer = |responses, state: &str, binding: &'static str, now| {
            let state = state.to_string();
            async move {
                asking(&key, Some(&responses), Some(&state), now)
                    .confirm("Allow?", binding)
                    .await
            }
        };
        assert_eq!(
            answer(yes.clone(), &state, "call-1", 2000).await,
            Ok(UserAnswer::Yes)
        );
        assert_eq!(answer(no, &state, "call-1", 2000).await, Ok(UserAnswer::No));
        // Another call, a forged state, or too late: refused.
        assert!(answer(yes.clone(), &state, "call-2", 2000).await.is_err());
        assert!(
            answer(yes.clone(), "pa1.99999999.00", "call-1", 2000)
                .await
                .is_err()
        );
        assert!(
            answer(yes.clone(), &state, "call-1", 1000 + 61_000)
                .await
                .is_err()
        );
        let other_key = [8u8; 64];
        let theirs = asking(&other_key, Some(&yes), Some(&state), 2000)
            .confirm("Allow?", "call-1")
            .await;
        assert!(theirs.is_err(), "another gateway's key");
    }
}
