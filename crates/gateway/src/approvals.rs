//! Calls parked for an operator: the gateway's [`ApprovalQueue`] over the [`ApprovalStore`].
//!
//! A call that needs approval is written to the store with a random id, its call hash, the
//! redacted arguments and a deadline; the log, the audit log and the webhook (if any) say it
//! waits. The call then waits for its row to be decided — by `portcullis approvals approve|deny`
//! with an approver key — and sends "waiting for approval" progress every few seconds to a
//! client that gave a progress token. No decision by the deadline, a store that fails, or a
//! client that gives up (the call's future is dropped) ends it as expired: denied.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::approval::{ApprovalSettings, ApprovalState, PendingApproval};
use portcullis_core::audit::{AuditRecord, Decision, Outcome, rfc3339, shape};
use portcullis_core::ports::{ApprovalQueue, ApprovalRequest, ApprovalStore, BoxFuture};
use serde_json::json;

use crate::context::Recorder;
use crate::webhook::Webhook;

/// How often a parked call looks at its row.
const POLL: Duration = Duration::from_millis(200);
/// How often a parked call tells its client it still waits.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

pub struct Parking {
    store: Arc<dyn ApprovalStore>,
    settings: ApprovalSettings,
    recorder: Recorder,
    webhook: Option<Webhook>,
}

impl Parking {
    /// The queue over `store`. Calls left pending by an earlier process died with it: they are
    /// ended now, and each ending is audited.
    pub fn start(
        store: Arc<dyn ApprovalStore>,
        settings: ApprovalSettings,
        recorder: Recorder,
    ) -> Parking {
        match store.expire_all("the gateway restarted while the call waited") {
            Ok(ended) => {
                for p in ended {
                    tracing::warn!(approval = %p.id, tool = %p.tool, "a call parked before the restart is denied");
                    record(
                        &recorder,
                        "approval/expire",
                        &p,
                        "the gateway restarted while the call waited".into(),
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot end the calls parked before the restart"),
        }
        let webhook = settings
            .webhook
            .clone()
            .and_then(|url| Webhook::new(url, "the approvals webhook"));
        Parking {
            store,
            settings,
            recorder,
            webhook,
        }
    }

    fn announce(&self, p: &PendingApproval) {
        tracing::warn!(
            approval = %p.id, tool = %p.tool, principal = %p.principal,
            "a call waits for approval: `portcullis approvals show {0}`, then `portcullis approvals approve {0}` or `deny {0}`",
            p.id
        );
        record(
            &self.recorder,
            "approval/request",
            p,
            format!(
                "waiting for an operator until {} (call hash {})",
                rfc3339(p.expires_at),
                p.call_hash
            ),
        );
        if let Some(webhook) = &self.webhook {
            let arguments = if self.settings.webhook_arguments {
                p.arguments.clone()
            } else {
                shape(&p.arguments)
            };
            webhook.post(&json!({
                "event": "portcullis.approval.parked",
                "id": p.id,
                "tool": p.tool,
                "upstream": p.upstream,
                "principal": p.principal,
                "request_id": p.request_id,
                "expires_at": rfc3339(p.expires_at),
                "arguments": arguments,
            }));
        }
    }
}

/// An audit record of what happened to a parked call, made by the gateway.
fn record(recorder: &Recorder, method: &str, p: &PendingApproval, reason: String) {
    recorder.event(
        "gateway",
        AuditRecord {
            principal: p.principal.clone(),
            principal_kind: "caller",
            method: method.into(),
            tool: Some(p.tool.clone()),
            upstream: Some(p.upstream.clone()),
            arguments: Some(shape(&p.arguments)),
            decision: Decision::Denied,
            outcome: Outcome::Refused,
            reason: format!("approval {}: {reason}", p.id),
            ..AuditRecord::default()
        },
    );
}

/// Ends the parked call when its wait ends without a decision (the future dropped included).
struct Expire<'a> {
    store: &'a dyn ApprovalStore,
    id: &'a str,
    reason: &'static str,
}

impl Drop for Expire<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.store.expire(self.id, self.reason) {
            tracing::error!(approval = %self.id, error = %e, "cannot end a parked call");
        }
    }
}

impl ApprovalQueue for Parking {
    fn decide<'a>(&'a self, request: ApprovalRequest<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let now = self
                .recorder
                .clock
                .unix_ms()
                .map_err(|e| format!("cannot park the call: {e}"))?;
            let mut bytes = [0u8; 12];
            getrandom::fill(&mut bytes).map_err(|e| format!("cannot park the call: {e}"))?;
            let timeout = self.settings.timeout;
            let pending = PendingApproval {
                id: format!("apr_{}", portcullis_core::hex(&bytes)),
                call_hash: request.call_hash.to_string(),
                tool: request.tool.name.clone(),
                upstream: request.tool.upstream.clone(),
                principal: request.principal.to_string(),
                request_id: request.request_id.to_string(),
                arguments: request.shown_arguments.clone(),
                created_at: now,
                expires_at: now + timeout.as_millis() as u64,
            };
            self.store
                .park(&pending)
                .map_err(|e| format!("cannot park the call: {e}"))?;
            let _expire = Expire {
                store: self.store.as_ref(),
                id: &pending.id,
                reason: "no decision: the call ended first",
            };
            self.announce(&pending);
            let deadline = tokio::time::Instant::now() + timeout;
            let mut next_progress = tokio::time::Instant::now();
            let mut told = 0u64;
            loop {
                if let Some(progress) = request.progress
                    && tokio::time::Instant::now() >= next_progress
                {
                    told += 1;
                    progress
                        .send(json!({
                            "progress": told,
                            "message": format!("waiting for approval ({})", pending.id),
                        }))
                        .await;
                    next_progress += PROGRESS_EVERY;
                }
                match self.store.state(&pending.id) {
                    Ok(Some(ApprovalState::Pending)) => {}
                    Ok(Some(ApprovalState::Approved { .. })) => return Ok(()),
                    Ok(Some(ApprovalState::Denied { by, reason })) => {
                        return Err(if reason.is_empty() {
                            format!("denied by {by}")
                        } else {
                            format!("denied by {by}: {reason}")
                        });
                    }
                    Ok(Some(ApprovalState::Expired { reason })) => return Err(reason),
                    Ok(None) => return Err("the parked call disappeared from the store".into()),
                    Err(e) => return Err(format!("the approval store failed: {e}")),
                }
                if tokio::time::Instant::now() >= deadline {
                    let reason = format!("no decision within {}s", timeout.as_secs());
                    return match self.store.expire(&pending.id, &reason) {
                        Ok(true) => Err(reason),
                        // Decided just now: the decision stands (the next look reads it).
                        Ok(false) => match self.store.state(&pending.id) {
                            Ok(Some(ApprovalState::Approved { .. })) => Ok(()),
                            _ => Err(reason),
                        },
                        Err(e) => Err(format!("the approval store failed: {e}")),
                    };
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }
}
