//! `portcullis pins list|diff|accept|reject`: the pinned tool definitions in the data
//! directory, and the changed ones waiting for an operator. A running gateway on the same
//! directory publishes an accepted definition within a second or two.

use portcullis::core::audit::{AuditRecord, Decision, Outcome};
use portcullis::core::pins::{Pin, canonical};
use portcullis::store::PinFile;
use serde_json::{Value, json};

use super::*;

#[derive(Subcommand)]
pub(crate) enum PinsCommand {
    /// Every pin: the tool, its upstream, its hash, when and by whom it was accepted, and
    /// whether a changed definition waits (the tool is then quarantined).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// The difference between a tool's pinned definition and the one waiting (canonical JSON,
    /// one member per line, as a unified diff).
    Diff {
        /// The published tool name.
        tool: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Accept the waiting definition: it becomes the pin and the tool is published again.
    Accept {
        tool: String,
        /// Who accepts it, for the record (default: $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Refuse the waiting definition: the pin stays, and the tool stays quarantined while its
    /// upstream sends that definition.
    Reject {
        tool: String,
        /// Who rejects it, for the record (default: $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(crate) fn pins(
    command: PinsCommand,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let state = match &command {
        PinsCommand::List { state, .. }
        | PinsCommand::Diff { state, .. }
        | PinsCommand::Accept { state, .. }
        | PinsCommand::Reject { state, .. } => state,
    };
    let dir = open_data_dir(data_dir, state.config.as_deref())?;
    let store = PinFile::open(&dir.database())?;
    match command {
        PinsCommand::List { json, .. } => {
            let all = store.all()?;
            if json {
                let rows: Vec<Value> = all.iter().map(pin_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if all.is_empty() {
                println!("no pins yet (a gateway pins each tool it publishes)");
            } else {
                for pin in &all {
                    let hash = pin.hash.as_deref().map_or("-", |h| &h[..16.min(h.len())]);
                    let since = pin.pinned_at.map_or("-".into(), rfc3339);
                    println!(
                        "{:<40} {:<12} {hash:<16} {since:<24} {:<14} {}",
                        pin.tool,
                        pin.upstream,
                        pin.accepted_by.as_deref().unwrap_or("-"),
                        state_of(pin)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PinsCommand::Diff { tool, .. } => {
            let pin = store
                .find(&tool)?
                .ok_or_else(|| portcullis::store::StoreError::NoPin(tool.clone()))?;
            let Some(candidate) = &pin.candidate else {
                println!("`{tool}` matches its pin; nothing waits");
                return Ok(ExitCode::SUCCESS);
            };
            let old = pin.definition.as_ref().map(readable).unwrap_or_default();
            let new = readable(&candidate.definition);
            let diff = similar::TextDiff::from_lines(&old, &new);
            print!(
                "{}",
                diff.unified_diff().context_radius(3).header(
                    &format!(
                        "pinned {}",
                        pin.hash
                            .as_deref()
                            .unwrap_or("(nothing yet, pins = strict)")
                    ),
                    &format!("now    {}", candidate.hash),
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        PinsCommand::Accept { tool, by, .. } => {
            let by = who(by);
            let pin = store.accept(&tool, &by, now_secs() * 1000)?;
            record(
                &dir,
                runtime,
                &pin,
                &by,
                "pins/accept",
                "accepted the waiting definition",
            )?;
            println!(
                "accepted `{tool}` ({}); running gateways publish it again",
                pin.hash.as_deref().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        PinsCommand::Reject { tool, by, .. } => {
            let by = who(by);
            let pin = store.reject(&tool)?;
            record(
                &dir,
                runtime,
                &pin,
                &by,
                "pins/reject",
                "rejected the waiting definition",
            )?;
            println!("rejected the new definition of `{tool}`; it stays quarantined");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "operator".into())
}

fn state_of(pin: &Pin) -> &'static str {
    match (&pin.hash, &pin.candidate, &pin.rejected) {
        (None, _, _) => "waiting for a first acceptance (strict)",
        (Some(_), Some(_), _) => "CHANGED: quarantined, see `pins diff`",
        (Some(_), None, Some(_)) => "rejected change: quarantined while it is served",
        (Some(_), None, None) => "pinned",
    }
}

fn pin_json(pin: &Pin) -> Value {
    json!({
        "tool": pin.tool,
        "upstream": pin.upstream,
        "hash": pin.hash,
        "pinned_at": pin.pinned_at.map(rfc3339),
        "accepted_by": pin.accepted_by,
        "state": state_of(pin),
        "candidate": pin.candidate.as_ref().map(|c| json!({"hash": c.hash, "seen_at": rfc3339(c.seen_at)})),
        "rejected": pin.rejected,
    })
}

/// The canonical form (sorted members), one member per line.
fn readable(definition: &Value) -> String {
    let sorted: Value = serde_json::from_str(&canonical(definition)).unwrap_or(Value::Null);
    let mut text = serde_json::to_string_pretty(&sorted).unwrap_or_default();
    text.push('\n');
    text
}

/// The decision, in the audit log the gateways write.
fn record(
    dir: &DataDir,
    runtime: &tokio::runtime::Runtime,
    pin: &Pin,
    by: &str,
    method: &str,
    what: &str,
) -> anyhow::Result<()> {
    append_audit(
        dir,
        runtime,
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
    )
}
