use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::catalogue::{Catalogue, UpstreamListing};
use crate::config::Config;
use crate::policy::{Principal, PrincipalKind};

const CASES: &str = include_str!("../../../../tests/rules/cases.json");

/// 2026-12-02, a Wednesday, 12:00 UTC.
const WEDNESDAY: u64 = 1_764_676_800_000;

fn catalogue(config: &Config) -> Catalogue {
    let tool = |name: &str| json!({"name": name, "inputSchema": {"type": "object"}});
    let listing = UpstreamListing {
        upstream: "demo".into(),
        prefix: "demo_".into(),
        tools: vec![tool("refund"), tool("query"), tool("echo")],
        first_seen: ["refund", "query", "echo"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        bridged: false,
    };
    Catalogue::build(&config.exposure, &[listing]).0
}

#[test]
fn the_case_file_decides_as_written() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let config = Config::from_toml(file["config"].as_str().unwrap()).unwrap();
    let tools = catalogue(&config);
    for case in file["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let scopes: BTreeSet<String> = case["scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let caller = Caller {
            principal: Principal {
                id: case["principal"].as_str().unwrap().into(),
                kind: PrincipalKind::ApiKey,
                scopes,
                claims: case.get("claims").cloned().unwrap_or(Value::Null),
            },
            transport: if case["transport"] == "stdio" {
                "stdio"
            } else {
                "http"
            },
            group: None,
            source: None,
        };
        let tool = tools.get(case["tool"].as_str().unwrap()).unwrap();
        let now = case["time_ms"].as_u64().unwrap_or(WEDNESDAY);
        let facts = Facts {
            caller: &caller,
            tool,
            arguments: Some(&case["args"]),
            now,
        };
        let got = match config.rules.decide(&facts) {
            Verdict::Pass => "pass".to_string(),
            Verdict::Deny { .. } => "deny".to_string(),
            Verdict::Approve { mode, .. } => format!("approve:{mode}"),
        };
        assert_eq!(
            got,
            case["expect"].as_str().unwrap(),
            "{name}: {:?}",
            config.rules.decide(&facts)
        );
        if let Some(listed) = case["listed"].as_bool() {
            assert_eq!(!config.rules.hides(&caller, tool, now), listed, "{name}");
        }
    }
}

#[test]
fn a_rule_that_errors_says_why() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let config = Config::from_toml(file["config"].as_str().unwrap()).unwrap();
    let tools = catalogue(&config);
    let caller = Caller {
        principal: Principal::anonymous(),
        transport: "http",
        group: None,
        source: None,
    };
    let facts = Facts {
        caller: &caller,
        tool: tools.get("demo_echo").unwrap(),
        arguments: Some(&json!({})),
        now: WEDNESDAY,
    };
    let Verdict::Deny { rule, reason } = config.rules.decide(&facts) else {
        panic!("denied");
    };
    assert_eq!(rule, "broken");
    assert!(reason.starts_with(UNEVALUATED), "{reason}");
}

#[test]
fn bad_rules_are_config_problems_with_their_path() {
    let problems = Config::from_toml(
        r#"
[[rules]]
when = "args.x >"
effect = "deny"
[[rules]]
when = "secrets.key == 'x'"
effect = "deny"
[[rules]]
when = "true"
effect = "allow"
[[rules]]
when = "true"
effect = "approve"
approval = "none"
[[rules]]
when = "true"
effect = "deny"
approval = "user"
"#,
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "rules[0].when: the condition does not compile",
        "rules[1].when: the condition reads `secrets`, which does not exist",
        "rules[2].effect: `allow` is not an effect",
        "rules[3].approval: an approve rule needs",
        "rules[4].approval: only an `effect = \"approve\"` rule",
    ] {
        assert!(problems.contains(needle), "{needle}\n{problems}");
    }
}
