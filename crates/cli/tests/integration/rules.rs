//! `[[rules]]` with a real client: a rule on arguments refuses a call, a rule without
//! arguments hides a tool from `tools/list`, a rule makes a read-only call wait for approval;
//! `portcullis explain` says which rule decided.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

const RULES: &str = r#"
[[rules]]
name = "no DROP"
tools = ["demo_echo"]
when = "args.text.upperAscii().contains('DROP')"
effect = "deny"
reason = "`text` may not contain DROP"

[[rules]]
name = "invoices over stdio only"
tools = ["demo_get_invoice"]
when = "request.transport == 'http'"
effect = "deny"
reason = "invoices are read over stdio only"

[[rules]]
name = "counting needs a nod"
tools = ["demo_slow_count"]
when = "args.steps > 3"
effect = "approve"
reason = "long counts"
"#;

#[tokio::test]
async fn rules_refuse_hide_and_park_calls_and_explain_says_which() {
    let gw = Gateway::start(&example_config(RULES));
    let config = gw.config_path();
    let (_, ops) = create_key(&config, "ops", "portcullis:approve", &[]);
    let client = gw.rmcp_client().await;

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        !names.contains(&"demo_get_invoice"),
        "hidden by a rule: {names:?}"
    );
    assert!(names.contains(&"demo_echo"));
    let hidden = client
        .call_tool(call("demo_get_invoice", json!({"invoice_id": "INV-1001"})))
        .await
        .unwrap();
    assert_eq!(hidden.is_error, Some(true));

    let refused = client
        .call_tool(call(
            "demo_echo",
            json!({"text": "please drop table users"}),
        ))
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text_of(&refused).contains("`text` may not contain DROP"),
        "{}",
        text_of(&refused)
    );
    let fine = client
        .call_tool(call("demo_echo", json!({"text": "hello"})))
        .await
        .unwrap();
    assert_eq!(text_of(&fine), "hello");

    // A read-only tool, parked because a rule asks.
    let parked = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call_tool(call("demo_slow_count", json!({"steps": 5, "delay_ms": 0})))
                .await
        }
    });
    let mut id = None;
    for _ in 0..200 {
        let (ok, out, err) = portcullis_with_env(
            &[
                "approvals",
                "list",
                "--json",
                "--config",
                config.to_str().unwrap(),
            ],
            &[("PORTCULLIS_API_KEY", ops.as_str())],
        );
        assert!(ok, "{err}");
        let calls: Vec<Value> = serde_json::from_str(&out).unwrap();
        if let Some(c) = calls.first() {
            id = Some(c["id"].as_str().unwrap().to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = id.expect("the call parked");
    let (ok, _, err) = portcullis_with_env(
        &[
            "approvals",
            "approve",
            &id,
            "--config",
            config.to_str().unwrap(),
        ],
        &[("PORTCULLIS_API_KEY", ops.as_str())],
    );
    assert!(ok, "{err}");
    assert!(!parked.await.unwrap().unwrap().is_error.unwrap_or(false));
    client.cancel().await.unwrap();

    let records = gw.audit_lines();
    let refusal = records
        .iter()
        .find(|r| r["tool"] == "demo_echo" && r["outcome"] == "refused")
        .unwrap();
    assert_eq!(
        refusal["reason"],
        "rule `no DROP`: `text` may not contain DROP"
    );

    // `explain` names the deciding rule, and its exit code says refused or not.
    let explain = |tool: &str, args: Value, transport: &str| {
        portcullis(&[
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--tool",
            tool,
            "--args",
            &args.to_string(),
            "--transport",
            transport,
        ])
    };
    let (ok, out, _) = explain("demo_echo", json!({"text": "DROP"}), "http");
    assert!(!ok && out.contains("rule `no DROP` denies"), "{out}");
    let (ok, out, _) = explain("demo_get_invoice", json!({"invoice_id": "x"}), "stdio");
    assert!(ok && out.contains("no rule matched"), "{out}");
    let (ok, out, _) = explain(
        "demo_slow_count",
        json!({"steps": 9, "delay_ms": 0}),
        "http",
    );
    assert!(
        ok && out.contains("rule `counting needs a nod` asks for operator approval"),
        "{out}"
    );
    assert!(out.contains("would wait for operator approval"), "{out}");
    let (ok, out, _) = explain(
        "demo_refund",
        json!({"invoice_id": "INV-1", "amount_cents": 1}),
        "http",
    );
    assert!(ok && out.contains("approval   none needed"), "{out}");
}
