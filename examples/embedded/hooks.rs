//! The example app's own code at the gateway's seams (`portcullis::Ports`): a pre-call policy,
//! a post-call inspection, its own approval channel and the app's key for its own API, computed
//! when the gateway connects. None of them can bypass the audit log, the guardrail or
//! redaction: the pipeline runs them between its own phases.

use std::sync::{Arc, Mutex};

use portcullis::core::approval::ApprovalMode;
use portcullis::core::ports::{
    AfterCall, ApprovalQueue, ApprovalRequest, BeforeCall, BoxFuture, CallHook, HookCall,
    UpstreamCredentials,
};
use serde_json::Value;

/// Prices above this (cents) need the app's approval.
pub const REVIEW_ABOVE_CENTS: u64 = 100_000;
/// The app's approvers refuse prices above this (cents).
pub const REFUSE_ABOVE_CENTS: u64 = 1_000_000;

/// The app's policy: no item may be named like a test fixture; expensive items wait for the
/// app's approvers; a note marked internal never reaches a client, and the `price_cents` of a
/// listing is shown in euros.
pub struct Policy;

fn price(call: &HookCall<'_>) -> Option<u64> {
    call.arguments?.get("body")?.get("price_cents")?.as_u64()
}

impl CallHook for Policy {
    fn before<'a>(&'a self, call: HookCall<'a>) -> BoxFuture<'a, BeforeCall> {
        let name = call
            .arguments
            .and_then(|a| a.get("body"))
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let decision = if call.tool.upstream_tool == "create_item" && name.contains("test") {
            BeforeCall::Deny("the app does not take test items".into())
        } else if price(&call).is_some_and(|p| p > REVIEW_ABOVE_CENTS) {
            BeforeCall::RequireApproval(ApprovalMode::Operator)
        } else {
            BeforeCall::Allow
        };
        Box::pin(std::future::ready(decision))
    }

    fn after<'a>(&'a self, call: HookCall<'a>, result: &'a Value) -> BoxFuture<'a, AfterCall> {
        let text = result.to_string();
        let decision = if call.tool.upstream_tool == "read_note" && text.contains("internal") {
            AfterCall::Withhold("internal notes stay inside the app".into())
        } else if call.tool.upstream_tool == "list_items" {
            let mut shown = result.clone();
            if let Some(items) = shown
                .get_mut("structuredContent")
                .and_then(|s| s.get_mut("result"))
                .and_then(Value::as_array_mut)
            {
                for item in items.iter_mut() {
                    if let Some(cents) = item.get("price_cents").and_then(Value::as_u64) {
                        item["price"] =
                            Value::String(format!("{}.{:02} EUR", cents / 100, cents % 100));
                    }
                }
            }
            AfterCall::Replace(shown)
        } else {
            AfterCall::Pass
        };
        Box::pin(std::future::ready(decision))
    }
}

/// The app's own approval channel: each call that needs approval becomes a ticket (here kept
/// in memory); the app's approvers accept tickets up to [`REFUSE_ABOVE_CENTS`].
#[derive(Default)]
pub struct Tickets {
    pub opened: Mutex<Vec<String>>,
}

impl ApprovalQueue for Tickets {
    fn decide<'a>(&'a self, request: ApprovalRequest<'a>) -> BoxFuture<'a, Result<(), String>> {
        let cents = request
            .shown_arguments
            .get("body")
            .and_then(|b| b.get("price_cents"))
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        self.opened
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(format!("{} by {}", request.tool.name, request.principal));
        let decision = if cents <= REFUSE_ABOVE_CENTS {
            Ok(())
        } else {
            Err("the app's approvers refused the ticket".to_string())
        };
        Box::pin(std::future::ready(decision))
    }
}

/// The app's key for its own API, from the app (not from the config or the environment).
pub struct AppKey;

impl UpstreamCredentials for AppKey {
    fn headers<'a>(
        &'a self,
        upstream: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, String>> {
        let headers = if upstream == "app" {
            vec![("X-App-Key".to_string(), super::app::APP_KEY.to_string())]
        } else {
            Vec::new()
        };
        Box::pin(std::future::ready(Ok(headers)))
    }
}

/// The ports with every hook of the app in place.
pub fn with_hooks(ports: portcullis::Ports, tickets: Arc<Tickets>) -> portcullis::Ports {
    portcullis::Ports {
        hooks: vec![Arc::new(Policy)],
        approval_queue: Some(tickets),
        credentials: Some(Arc::new(AppKey)),
        ..ports
    }
}
