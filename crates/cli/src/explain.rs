//! `portcullis explain`: what the gateway would decide about one call, phase by phase, and
//! which setting or rule decided — without calling anything.

use std::collections::BTreeSet;

use portcullis::core::approval::ApprovalMode;
use portcullis::core::catalogue::{Catalogue, UpstreamListing};
use portcullis::core::policy::{PrincipalKind, authorize};
use portcullis::core::rules::{Facts, Verdict as RuleVerdict};
use portcullis::core::{Caller, Principal};
use serde_json::{Value, json};

use super::*;

pub(crate) struct ExplainRun {
    pub config_path: PathBuf,
    pub key: Option<String>,
    pub scopes: Vec<String>,
    pub tool: String,
    pub arguments: Option<String>,
    pub group: Option<String>,
    pub transport: String,
    pub live: bool,
}

/// Prints the phases; exits 0 when the call would run (or wait for approval), 1 when refused.
pub(crate) fn explain(
    run: ExplainRun,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let config = load_config(&run.config_path)?;
    let base = base_dir(&run.config_path);
    let arguments: Value = match &run.arguments {
        Some(text) => serde_json::from_str(text).context("--args is not JSON")?,
        None => json!({}),
    };
    let principal = match &run.key {
        Some(id) => {
            let dir = open_data_dir(data_dir, Some(&run.config_path))?;
            let info = KeyStore::open(&dir.database())?.get(id)?;
            Principal {
                id: info.id,
                kind: PrincipalKind::ApiKey,
                scopes: info.scopes.into_iter().collect(),
                claims: Value::Null,
            }
        }
        None => Principal {
            id: "(explain)".into(),
            kind: PrincipalKind::ApiKey,
            scopes: run.scopes.iter().cloned().collect::<BTreeSet<_>>(),
            claims: Value::Null,
        },
    };
    let caller = Caller {
        principal,
        transport: if run.transport == "stdio" {
            "stdio"
        } else {
            "http"
        },
        group: run.group.clone(),
        source: None,
    };
    let listings = if run.live {
        runtime.block_on(async {
            let gateway = start_unserved(&config, &base).await;
            let listings = gateway.listings();
            gateway.shutdown().await;
            listings
        })
    } else {
        let found = runtime.block_on(portcullis::gateway::preflight::preflight(
            &config,
            &base,
            &std::collections::HashMap::new(),
        ));
        let mut listings = found.listings;
        listings.extend(assumed_listing(&config, &run.tool, &listings));
        listings
    };
    let (catalogue, _) = Catalogue::build(&config.exposure, &listings);
    let say = |phase: &str, text: String| println!("{phase:<10} {text}");
    let Some(tool) = catalogue.get(&run.tool) else {
        say(
            "tool",
            format!(
                "`{}` is not published: no [[expose]] entry names it{}",
                run.tool,
                if run.live {
                    ", or its upstream does not list it"
                } else {
                    " (run with --live to ask the upstreams)"
                }
            ),
        );
        say("verdict", "refused: unknown tool".into());
        return Ok(ExitCode::FAILURE);
    };
    say(
        "tool",
        format!(
            "`{}` is `{}` of upstream `{}`, {}; scopes: {}",
            tool.name,
            tool.upstream_tool,
            tool.upstream,
            if tool.read_only {
                "read-only"
            } else {
                "destructive"
            },
            if tool.scopes.is_empty() {
                "none (public)".to_string()
            } else {
                tool.scopes.iter().cloned().collect::<Vec<_>>().join(" ")
            }
        ),
    );
    if let Err(denial) = authorize(
        &config.access,
        &caller.principal,
        tool,
        caller.group.as_deref(),
    ) {
        say("authorize", format!("refused: {denial}"));
        say(
            "verdict",
            "refused at authorization (the caller sees an unknown tool)".into(),
        );
        return Ok(ExitCode::FAILURE);
    }
    say(
        "authorize",
        format!("allowed for `{}`", caller.principal.id),
    );
    let now = now_secs() * 1000;
    let facts = Facts {
        caller: &caller,
        tool,
        arguments: Some(&arguments),
        now,
    };
    let asked = match config.rules.decide(&facts) {
        RuleVerdict::Pass => {
            say(
                "rules",
                if config.rules.is_empty() {
                    "none configured".into()
                } else {
                    "no rule matched".into()
                },
            );
            ApprovalMode::None
        }
        RuleVerdict::Deny { rule, reason } => {
            say("rules", format!("rule `{rule}` denies: {reason}"));
            say("verdict", format!("refused by rule `{rule}`"));
            return Ok(ExitCode::FAILURE);
        }
        RuleVerdict::Approve { rule, mode } => {
            say("rules", format!("rule `{rule}` asks for {mode} approval"));
            mode
        }
    };
    if config.rules.hides(&caller, tool, now) {
        say(
            "list",
            "hidden from this caller's tools/list by a rule".into(),
        );
    }
    let scan = config
        .guardrail
        .engine
        .scan_value(&arguments, "$.arguments", &|_| true);
    let mode = tool
        .guardrail
        .arguments
        .unwrap_or(config.guardrail.arguments);
    say(
        "guardrail",
        format!(
            "arguments: {:?} in {mode:?} mode{}",
            scan.verdict(),
            if scan.findings.is_empty() {
                String::new()
            } else {
                format!(" (rules: {})", scan.rule_ids().join(", "))
            }
        ),
    );
    if scan.verdict() == portcullis::core::guardrail::Verdict::Block
        && mode == portcullis::core::guardrail::Mode::Block
    {
        say("verdict", "refused by the guardrail".into());
        return Ok(ExitCode::FAILURE);
    }
    let approval = tool.approval.max(asked);
    say(
        "approval",
        match approval {
            ApprovalMode::None => "none needed".into(),
            mode if asked > tool.approval => format!("{mode}, asked by a rule"),
            mode => format!("{mode}, the tool's approval mode"),
        },
    );
    say(
        "verdict",
        if approval == ApprovalMode::None {
            "the call would run (rate limits permitting)".into()
        } else {
            format!("the call would wait for {approval} approval, then run")
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// Without --live, an MCP upstream's tools are unknown: the tool asked about is assumed to be
/// listed by the upstream whose prefix its name starts with (the longest such prefix).
fn assumed_listing(
    config: &Config,
    tool: &str,
    known: &[UpstreamListing],
) -> Option<UpstreamListing> {
    let upstream = config
        .upstreams
        .iter()
        .filter(|u| tool.starts_with(&u.prefix) && !known.iter().any(|l| l.upstream == u.name))
        .max_by_key(|u| u.prefix.len())?;
    let bare = &tool[upstream.prefix.len()..];
    Some(UpstreamListing {
        upstream: upstream.name.clone(),
        prefix: upstream.prefix.clone(),
        tools: vec![json!({"name": bare, "inputSchema": {"type": "object"}})],
        first_seen: [bare.to_string()].into(),
        bridged: false,
    })
}
