//! `portcullis limits status`: what a running gateway last reported of its rate limits.

use super::*;

#[derive(Subcommand)]
pub(crate) enum LimitsCommand {
    /// Current use per caller and tool (from the data directory, which only its owner can read).
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(crate) fn limits_status(dir: &DataDir, json: bool) -> anyhow::Result<ExitCode> {
    let path = dir.limits_status();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no status at `{}`: is a gateway running with this data directory?",
            path.display()
        )
    })?;
    let snapshot: serde_json::Value = serde_json::from_str(&text)?;
    let age = now_secs().saturating_sub(snapshot["at"].as_u64().unwrap_or(0));
    if json {
        println!("{snapshot}");
    } else {
        println!(
            "as of {} ({age}s ago)",
            snapshot["time"].as_str().unwrap_or("?")
        );
        println!("{:<16} {:<40} {:>8} {:>8}", "LIMIT", "KEY", "USED", "OF");
        for u in snapshot["usage"].as_array().into_iter().flatten() {
            println!(
                "{:<16} {:<40} {:>8} {:>8}",
                u["limit"].as_str().unwrap_or(""),
                u["key"].as_str().unwrap_or(""),
                u["used"],
                u["capacity"]
            );
        }
    }
    if age > 10 {
        eprintln!("warning: no gateway has reported for {age}s; these figures may be stale");
    }
    Ok(ExitCode::SUCCESS)
}
