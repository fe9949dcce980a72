//! Asking the user through their client: MCP elicitation, for `approval = "user"`.
//!
//! The question goes to the client application as a protocol request, not to the model as
//! text: a client that implements elicitation shows it to its user and returns the user's
//! answer. The model does not see the request and cannot answer it — unless the client itself
//! routes elicitation to the model, which the gateway cannot see; for clients the operator does
//! not trust to ask their user, use `approval = "operator"`. Only an explicit yes (`accept`
//! with `approve: true`) allows the call; decline, cancel, a timeout or an error refuses.
//!
//! Offered only on sessions whose client declared the `elicitation` capability. Stateless
//! 2026-07-28 requests cannot carry a request from the server (that revision replaces them
//! with input-required results, not supported yet), so those calls go to an operator.

use std::time::Duration;

use portcullis_core::ports::{BoxFuture, UserPrompt};
use rmcp::model::{ElicitRequestParams, ElicitationAction};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Value, json};

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
    fn confirm<'a>(&'a self, message: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            let schema = serde_json::from_value(json!({
                "type": "object",
                "properties": {"approve": {
                    "type": "boolean",
                    "title": "Allow this call",
                    "default": false,
                }},
                "required": ["approve"],
            }))
            .map_err(|e| e.to_string())?;
            let params = ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: message.to_string(),
                requested_schema: schema,
            };
            let answer = self
                .peer
                .create_elicitation_with_timeout(params, Some(self.timeout))
                .await
                .map_err(|e| e.to_string())?;
            Ok(answer.action == ElicitationAction::Accept
                && answer.content.as_ref().and_then(|c| c.get("approve"))
                    == Some(&Value::Bool(true)))
        })
    }
}
