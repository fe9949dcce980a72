//! `portcullis approvals list|show|approve|deny`: the calls parked for an operator, decided
//! through the store a running gateway watches. Every command needs an approver's API key in
//! PORTCULLIS_API_KEY (a key holding `portcullis:approve`); no one decides their own call.

use portcullis::core::approval::{APPROVE_SCOPE, ApprovalState, PendingApproval, may_decide};
use portcullis::core::audit::{AuditRecord, Decision, Outcome, shape};
use portcullis::core::keys::verify_key;
use portcullis::store::ApprovalFile;
use serde_json::json;

use super::*;

#[derive(Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// The calls waiting for a decision (with --all, decided and expired ones too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// One call: its tool, upstream, caller, redacted arguments, deadline and state.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Let the call run (once; the gateway runs it as soon as it sees the decision).
    Approve {
        id: String,
        /// Why, for the audit record.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Refuse the call; the caller is told it was denied, with the reason.
    Deny {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(crate) fn approvals(
    command: ApprovalsCommand,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let state = match &command {
        ApprovalsCommand::List { state, .. }
        | ApprovalsCommand::Show { state, .. }
        | ApprovalsCommand::Approve { state, .. }
        | ApprovalsCommand::Deny { state, .. } => state,
    };
    let dir = open_data_dir(data_dir, state.config.as_deref())?;
    let approver = approver(&dir)?;
    let store = ApprovalFile::open(&dir.database())?;
    match command {
        ApprovalsCommand::List { all, json, .. } => {
            let calls = store.list(all)?;
            if json {
                let rows: Vec<_> = calls.iter().map(|(p, s)| call_json(p, s)).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if calls.is_empty() {
                println!("no call waits for approval");
            } else {
                for (p, s) in &calls {
                    println!(
                        "{}  {:<28} {:<20} until {}  {}",
                        p.id,
                        p.tool,
                        p.principal,
                        rfc3339(p.expires_at),
                        state_text(s)
                    );
                }
            }
        }
        ApprovalsCommand::Show { id, json, .. } => {
            let (p, s) = store.find(&id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&call_json(&p, &s))?);
            } else {
                println!("id:         {}", p.id);
                println!("tool:       {} (upstream {})", p.tool, p.upstream);
                println!("caller:     {}", p.principal);
                println!("request:    {}", p.request_id);
                println!("parked:     {}", rfc3339(p.created_at));
                println!("deadline:   {}", rfc3339(p.expires_at));
                println!("state:      {}", state_text(&s));
                println!("call hash:  {}", p.call_hash);
                println!(
                    "arguments (redacted):\n{}",
                    serde_json::to_string_pretty(&p.arguments)?
                );
            }
        }
        ApprovalsCommand::Approve { id, reason, .. } => {
            decide(&store, &dir, runtime, &approver, &id, true, &reason)?;
            println!("approved {id}; the gateway runs the call");
        }
        ApprovalsCommand::Deny { id, reason, .. } => {
            decide(&store, &dir, runtime, &approver, &id, false, &reason)?;
            println!("denied {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key in PORTCULLIS_API_KEY, verified now, holding the approve scope.
fn approver(dir: &DataDir) -> anyhow::Result<KeyInfo> {
    let token = std::env::var("PORTCULLIS_API_KEY").map_err(|_| {
        anyhow::anyhow!(
            "approvals need an approver's API key in PORTCULLIS_API_KEY (a key holding \
             `{APPROVE_SCOPE}`: portcullis keys create --name ops --scopes {APPROVE_SCOPE})"
        )
    })?;
    let keys = KeyStore::open(&dir.database())?;
    let clock = portcullis::gateway::context::SystemClock::new();
    let info = verify_key(&keys, &clock, token.trim())
        .map_err(|e| anyhow::anyhow!("PORTCULLIS_API_KEY was not accepted: {e}"))?;
    if !info.scopes.iter().any(|s| s == APPROVE_SCOPE) {
        bail!(
            "the key `{}` does not hold `{APPROVE_SCOPE}`, so it cannot see or decide approvals",
            info.id
        );
    }
    Ok(info)
}

fn decide(
    store: &ApprovalFile,
    dir: &DataDir,
    runtime: &tokio::runtime::Runtime,
    approver: &KeyInfo,
    id: &str,
    approve: bool,
    reason: &str,
) -> anyhow::Result<()> {
    let (pending, _) = store.find(id)?;
    let scopes = approver.scopes.iter().cloned().collect();
    may_decide(&approver.id, &scopes, &pending.principal)
        .map_err(|e| anyhow::anyhow!("{e}: `{}` made this call", pending.principal))?;
    let decided = store.decide(id, &approver.id, approve, reason, now_secs() * 1000)?;
    let verb = if approve { "approved" } else { "denied" };
    append_audit(
        dir,
        runtime,
        AuditRecord {
            principal: approver.id.clone(),
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
                approver.id,
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
    )
}

fn state_text(state: &ApprovalState) -> String {
    match state {
        ApprovalState::Pending => "PENDING".into(),
        ApprovalState::Approved { by, .. } => format!("approved by {by}"),
        ApprovalState::Denied { by, .. } => format!("denied by {by}"),
        ApprovalState::Expired { reason } => format!("expired: {reason}"),
    }
}

fn call_json(p: &PendingApproval, s: &ApprovalState) -> serde_json::Value {
    let mut v = json!(p);
    v["created_at"] = json!(rfc3339(p.created_at));
    v["expires_at"] = json!(rfc3339(p.expires_at));
    v["decision"] = json!(s);
    v
}
