//! `portcullis lint`: the pre-flight audit of what a config would publish, as text, JSON or
//! SARIF, with an exit code by severity.

use portcullis::core::UpstreamListing;
use portcullis::core::lint::{LintFinding, Severity, rules, unmatched_acknowledgements};
use serde_json::{Value, json};

use super::*;

/// How `lint` prints its findings.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    Sarif,
}

pub(crate) struct LintRun {
    pub config_path: PathBuf,
    pub format: Format,
    pub fail_on: Severity,
    pub live: bool,
}

/// Exit 0 when no finding at or above `fail_on` stands unacknowledged, else 1.
pub(crate) fn lint(run: LintRun, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    let config = load_config(&run.config_path)?;
    let base = base_dir(&run.config_path);
    let found = runtime.block_on(portcullis::gateway::preflight::preflight(
        &config,
        &base,
        &std::collections::HashMap::new(),
    ));
    for warning in &found.warnings {
        eprintln!("warning: {}: {warning}", run.config_path.display());
    }
    for problem in &found.problems {
        eprintln!("error: {}: {problem}", run.config_path.display());
    }
    let listings: Vec<UpstreamListing> = if run.live {
        runtime.block_on(live_listings(&config, &base))
    } else {
        let mcp: Vec<&str> = config
            .upstreams
            .iter()
            .filter(|u| !matches!(u.transport, portcullis::core::UpstreamTransport::OpenApi(_)))
            .map(|u| u.name.as_str())
            .collect();
        if !mcp.is_empty() {
            eprintln!(
                "note: the tools of MCP upstreams ({}) are audited only with --live (and by \
                 `serve` when it starts)",
                mcp.join(", ")
            );
        }
        found.listings
    };
    let findings =
        portcullis::gateway::preflight::audit(&config, &listings).map_err(anyhow::Error::msg)?;
    for id in unmatched_acknowledgements(&config.lint, &findings) {
        eprintln!(
            "warning: {}: lint.acknowledge names `{id}`, which is not a finding now; remove it",
            run.config_path.display()
        );
    }
    match run.format {
        Format::Text => print_text(&findings),
        Format::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&sarif(&findings, &run.config_path))?
        ),
    }
    // A document that cannot be read is not a clean audit.
    let failing = !found.problems.is_empty()
        || findings
            .iter()
            .any(|f| f.acknowledged.is_none() && f.severity >= run.fail_on);
    Ok(if failing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Starts the upstreams (as `serve` would, without serving) and takes what each lists.
async fn live_listings(config: &Config, base: &Path) -> Vec<UpstreamListing> {
    let gateway = start_unserved(config, base).await;
    let listings = gateway.listings();
    for upstream in &config.upstreams {
        if !listings.iter().any(|l| l.upstream == upstream.name) {
            eprintln!(
                "warning: upstream `{}` could not be listed; its tools are not audited",
                upstream.name
            );
        }
    }
    gateway.shutdown().await;
    listings
}

fn print_text(findings: &[LintFinding]) {
    for f in findings {
        println!("{:<8} {}", f.severity.as_str(), f.id);
        println!("         {}", f.message);
        println!("         fix: {}", f.fix);
        if let Some(reason) = &f.acknowledged {
            println!("         acknowledged: {reason}");
        }
    }
    let mut by_severity: Vec<String> = Vec::new();
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = findings.iter().filter(|f| f.severity == severity).count();
        if n > 0 {
            by_severity.push(format!("{n} {severity}"));
        }
    }
    let acknowledged = findings.iter().filter(|f| f.acknowledged.is_some()).count();
    println!(
        "{} finding{}{}{}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        if by_severity.is_empty() {
            String::new()
        } else {
            format!(": {}", by_severity.join(", "))
        },
        if acknowledged > 0 {
            format!(" ({acknowledged} acknowledged)")
        } else {
            String::new()
        }
    );
}

/// The findings as a SARIF 2.1.0 log, for code-scanning tools: one run, every rule in the
/// driver, a result per finding located at the config file and the tool (a logical location),
/// acknowledged findings as suppressed results with the operator's reason.
fn sarif(findings: &[LintFinding], config: &Path) -> Value {
    let all = rules();
    let level = |s: Severity| match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    };
    // The scale code-scanning tools read to rank security results.
    let score = |s: Severity| match s {
        Severity::Critical => "9.5",
        Severity::High => "7.5",
        Severity::Medium => "5.0",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    };
    let driver_rules: Vec<Value> = all
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.summary},
                "help": {"text": r.fix},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"security-severity": score(r.severity), "tags": ["security", "mcp"]},
            })
        })
        .collect();
    let uri = config.to_string_lossy().replace('\\', "/");
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": all.iter().position(|r| r.id == f.rule).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": format!("{} Fix: {}.", f.message, f.fix)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri}},
                    "logicalLocations": [{
                        "name": f.tool,
                        "fullyQualifiedName": if f.upstream.is_empty() {
                            f.tool.clone()
                        } else {
                            format!("{}/{}", f.upstream, f.tool)
                        },
                        "kind": "function",
                    }],
                }],
                "partialFingerprints": {"portcullisFindingId/v1": f.id},
                "properties": {"severity": f.severity.as_str(), "id": f.id},
            });
            if let Some(reason) = &f.acknowledged {
                result["suppressions"] = json!([{"kind": "external", "justification": reason}]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "portcullis",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": driver_rules,
            }},
            "results": results,
        }],
    })
}
