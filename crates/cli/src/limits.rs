//! `portcullis limits status|reset`: what a running gateway last reported of its rate limits,
//! and letting a caller start afresh.

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
    /// Let a caller start afresh: every gateway serving from the data directory forgets its use
    /// of its own limits and budget within a second or two (shared limits stay).
    Reset {
        /// The caller: a key's id, or `anonymous@<address>`.
        principal: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(crate) fn limits_reset(dir: &DataDir, principal: &str) -> anyhow::Result<ExitCode> {
    let principal = principal.trim();
    if principal.is_empty() {
        bail!("give the caller: a key's id (`portcullis keys list`), or `anonymous@<address>`");
    }
    let by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let id = portcullis::store::LimitResets::open(&dir.database())?.request(
        principal,
        &by,
        now_secs() * 1000,
    )?;
    println!(
        "asked for reset {id}: gateways on `{}` forget `{principal}`'s use of its limits within a \
         second or two",
        dir.path().display()
    );
    Ok(ExitCode::SUCCESS)
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
        print!("{}", usage_table(&snapshot));
    }
    if age > 10 {
        eprintln!("warning: no gateway has reported for {age}s; these figures may be stale");
    }
    Ok(ExitCode::SUCCESS)
}

/// The usage as a table whose columns fit their widest cell; calls as whole numbers (a bucket
/// refills continuously, so its use is rounded to the nearest call).
fn usage_table(snapshot: &serde_json::Value) -> String {
    let whole = |v: &serde_json::Value| format!("{}", v.as_f64().unwrap_or(0.0).round() as u64);
    let mut rows = vec![[
        "LIMIT".to_string(),
        "KEY".to_string(),
        "USED".to_string(),
        "OF".to_string(),
    ]];
    for u in snapshot["usage"].as_array().into_iter().flatten() {
        rows.push([
            u["limit"].as_str().unwrap_or("").to_string(),
            u["key"].as_str().unwrap_or("").to_string(),
            whole(&u["used"]),
            whole(&u["capacity"]),
        ]);
    }
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}\n",
                r[0], r[1], r[2], r[3]
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_in_whole_calls_and_aligned_columns() {
        let snapshot = serde_json::json!({"usage": [
            {"limit": "per_caller", "key": "key_1", "used": 3.27, "capacity": 60.0},
            {"limit": "per_caller_tool", "key": "a-very-long-key-name-that-is-wider demo_echo",
             "used": 10.0, "capacity": 10.0},
        ]});
        let table = usage_table(&snapshot);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].ends_with("   3  60"), "{table}");
        assert!(
            !table.contains("3.27") && !table.contains("60.0"),
            "{table}"
        );
        let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "aligned: {table}");
        let used_at = lines[0].find("USED").unwrap();
        assert_eq!(&lines[2][used_at..used_at + 4], "  10", "{table}");
    }
}
