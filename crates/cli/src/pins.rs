//! `portcullis pins list|diff|accept|reject`: the pinned tool definitions in the data
//! directory, and the changed ones waiting for an operator. A running gateway on the same
//! directory publishes an accepted definition within a second or two.

use portcullis::operate::{decide_pin, pin_diff, pin_json, pin_state};
use portcullis::store::PinFile;
use serde_json::Value;

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
                        pin_state(pin)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PinsCommand::Diff { tool, .. } => {
            let pin = store
                .find(&tool)?
                .ok_or_else(|| portcullis::store::StoreError::NoPin(tool.clone()))?;
            match pin_diff(&pin) {
                Some(diff) => print!("{diff}"),
                None => println!("`{tool}` matches its pin; nothing waits"),
            }
            Ok(ExitCode::SUCCESS)
        }
        PinsCommand::Accept { tool, by, .. } => {
            let by = operator(by);
            let pin = with_audit(&dir, runtime, |recorder| {
                Ok(decide_pin(&store, recorder, (&by, "cli"), &tool, true)?)
            })?;
            println!(
                "accepted `{tool}` ({}); running gateways publish it again",
                pin.hash.as_deref().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        PinsCommand::Reject { tool, by, .. } => {
            let by = operator(by);
            with_audit(&dir, runtime, |recorder| {
                Ok(decide_pin(&store, recorder, (&by, "cli"), &tool, false)?)
            })?;
            println!("rejected the new definition of `{tool}`; it stays quarantined");
            Ok(ExitCode::SUCCESS)
        }
    }
}
