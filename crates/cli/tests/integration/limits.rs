//! Rate limits and budgets, end to end: the shipped defaults, a client hammering a tool, budgets,
//! refused credentials, and `portcullis limits status`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Gateway, call, modern_post, portcullis, text_of};

fn config(limits: &str, expose_extra: &str) -> String {
    format!(
        r#"
[auth]
api_keys = true

{limits}

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[[expose]]
upstream = "demo"
tools = ["echo", "get_invoice"]
read_only = true
{expose_extra}
"#
    )
}

/// Seconds the limited message says to wait.
fn advertised_wait(text: &str) -> u64 {
    let tail = text
        .split("retry in ")
        .nth(1)
        .unwrap_or_else(|| panic!("no wait in {text}"));
    tail.trim_end_matches('s').parse().unwrap()
}

#[tokio::test]
async fn the_shipped_defaults_stop_a_runaway_loop() {
    // No [limits] at all: 10 calls a minute per caller and tool.
    let gw = Gateway::start(&config("", ""));
    let client = gw.rmcp_client().await;
    for i in 0..10 {
        let r = client
            .call_tool(call("demo_echo", json!({"text": "x"})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(false), "call {i}: {r:?}");
    }
    let limited = client
        .call_tool(call("demo_echo", json!({"text": "x"})))
        .await
        .unwrap();
    assert_eq!(limited.is_error, Some(true));
    let text = text_of(&limited);
    assert!(
        text.starts_with("rate limited (per_caller_tool); retry in "),
        "{text}"
    );
    assert!((1..=6).contains(&advertised_wait(&text)), "{text}");
    // Another tool still has its own allowance.
    let other = client
        .call_tool(call("demo_get_invoice", json!({"invoice_id": "1"})))
        .await
        .unwrap();
    assert_ne!(other.is_error, Some(true), "{other:?}");
    assert!(other.structured_content.is_some());
    let record = gw
        .audit_lines()
        .into_iter()
        .find(|r| r["outcome"] == "limited")
        .unwrap();
    assert_eq!(record["reason"], text);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_client_hammering_a_tool_is_limited_then_served_after_the_advertised_wait() {
    let gw = Gateway::start(&config("[limits]\nper_caller_tool = \"2/s\"", ""));
    let client = gw.rmcp_client().await;
    let mut limited = None;
    for _ in 0..20 {
        let r = client
            .call_tool(call("demo_echo", json!({"text": "x"})))
            .await
            .unwrap();
        if r.is_error == Some(true) {
            limited = Some(text_of(&r));
            break;
        }
    }
    let text = limited.expect("20 calls at once were never limited");
    let wait = advertised_wait(&text);
    assert_eq!(wait, 1, "{text}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let after = client
        .call_tool(call("demo_echo", json!({"text": "again"})))
        .await
        .unwrap();
    assert_eq!(text_of(&after), "again");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn budgets_charge_each_tools_cost() {
    let gw = Gateway::start(&config(
        "[limits]\nbudget = \"5/hour\"",
        "\n[[expose]]\nupstream = \"demo\"\ntools = [\"get_invoice\"]\nread_only = true\ncost = 3\n",
    ));
    let client = gw.rmcp_client().await;
    let first = client
        .call_tool(call("demo_get_invoice", json!({"invoice_id": "1"})))
        .await
        .unwrap();
    assert!(first.structured_content.is_some());
    let second = client
        .call_tool(call("demo_get_invoice", json!({"invoice_id": "2"})))
        .await
        .unwrap();
    assert_eq!(second.is_error, Some(true));
    assert!(
        text_of(&second).starts_with("rate limited (budget)"),
        "{}",
        text_of(&second)
    );
    // Two units are left: a cheap tool still fits, twice.
    for _ in 0..2 {
        let r = client
            .call_tool(call("demo_echo", json!({"text": "x"})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(false));
    }
    let broke = client
        .call_tool(call("demo_echo", json!({"text": "x"})))
        .await
        .unwrap();
    assert!(text_of(&broke).starts_with("rate limited (budget)"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn refused_calls_count_too() {
    let gw = Gateway::start(&config("[limits]\nper_caller = \"3/min\"", ""));
    let client = gw.rmcp_client().await;
    for _ in 0..3 {
        let err = client
            .call_tool(call("demo_nope", json!({})))
            .await
            .unwrap_err();
        assert!(matches!(err, rmcp::service::ServiceError::McpError(e) if e.code.0 == -32602));
    }
    let limited = client
        .call_tool(call("demo_nope", json!({})))
        .await
        .unwrap();
    assert!(
        text_of(&limited).starts_with("rate limited (per_caller)"),
        "{limited:?}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_flood_of_bad_keys_gets_429_with_retry_after() {
    let gw = Gateway::start(&config("[limits]\nunauthenticated = \"3/min\"", ""));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = modern_post(&gw.url(), Some("Bearer pcs_bad"), "tools/list", None)
            .body("{}")
            .send()
            .await
            .unwrap();
        statuses.push((
            r.status().as_u16(),
            r.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
        ));
    }
    assert_eq!(statuses[..3], [(401, None), (401, None), (401, None)]);
    assert_eq!(statuses[3].0, 429);
    let retry: u64 = statuses[3].1.as_deref().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    // The dev key still works: the limit is on refused credentials, per address.
    let (ok, _) = gw.modern("tools/list", json!({})).await;
    assert!(ok["result"]["tools"].is_array());
    let limited = gw
        .audit_lines()
        .into_iter()
        .filter(|r| r["outcome"] == "limited")
        .count();
    assert_eq!(limited, 2);
}

#[tokio::test]
async fn limits_status_shows_use_per_caller_and_tool() {
    let gw = Gateway::start(&config("", ""));
    let client = gw.rmcp_client().await;
    for _ in 0..3 {
        client
            .call_tool(call("demo_echo", json!({"text": "x"})))
            .await
            .unwrap();
    }
    client.cancel().await.unwrap();
    let config = gw.config_path();
    let started = Instant::now();
    let snapshot = loop {
        let (ok, out, err) = portcullis(&[
            "limits",
            "status",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ]);
        if ok {
            let v: Value = serde_json::from_str(&out).unwrap();
            if v["usage"].as_array().is_some_and(|u| !u.is_empty()) {
                break v;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no status: {err}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let usage = snapshot["usage"].as_array().unwrap();
    let find = |limit: &str, key: &str| {
        usage
            .iter()
            .find(|u| u["limit"] == limit && u["key"] == key)
            .cloned()
    };
    let per_tool = find("per_caller_tool", "dev demo_echo").unwrap_or_else(|| panic!("{snapshot}"));
    assert_eq!(per_tool["capacity"], 10.0);
    assert!(per_tool["used"].as_f64().unwrap() > 2.5);
    assert!(find("per_caller", "dev").is_some());
    let (ok, table, _) = portcullis(&["limits", "status", "--config", config.to_str().unwrap()]);
    assert!(
        ok && table.contains("per_caller_tool") && table.contains("dev demo_echo"),
        "{table}"
    );
}
