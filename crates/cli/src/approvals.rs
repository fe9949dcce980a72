//! `portcullis approvals list|show|approve|deny`: the calls parked for an operator, decided
//! through the store a running gateway watches. Every command needs an approver's API key in
//! PORTCULLIS_API_KEY (a key holding `portcullis:approve`); no one decides their own call.

use portcullis::core::approval::APPROVE_SCOPE;
use portcullis::core::keys::verify_key;
use portcullis::operate::{Decider, approval_json, approval_state_text, decide_approval};
use portcullis::store::ApprovalFile;

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
                let rows: Vec<_> = calls.iter().map(|(p, s)| approval_json(p, s)).collect();
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
                        approval_state_text(s)
                    );
                }
            }
        }
        ApprovalsCommand::Show { id, json, .. } => {
            let (p, s) = store.find(&id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approval_json(&p, &s))?);
            } else {
                println!("id:         {}", p.id);
                println!("tool:       {} (upstream {})", p.tool, p.upstream);
                println!("caller:     {}", p.principal);
                println!("request:    {}", p.request_id);
                println!("parked:     {}", rfc3339(p.created_at));
                println!("deadline:   {}", rfc3339(p.expires_at));
                println!("state:      {}", approval_state_text(&s));
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
    let scopes = approver.scopes.iter().cloned().collect();
    let by = Decider {
        id: &approver.id,
        scopes: &scopes,
        transport: "cli",
    };
    with_audit(dir, runtime, |recorder| {
        decide_approval(store, recorder, &by, id, approve, reason)?;
        Ok(())
    })
}
