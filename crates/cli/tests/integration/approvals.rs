//! Human approval, end to end: destructive calls park by default, an approver key decides once
//! with the CLI while the gateway runs, and nothing else can decide — the caller's own key, a
//! key without the scope, no key, an HTTP request from a browser form.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

/// The example server; `refund` is destructive with no `approval` key: the shipped default.
fn config(extra: &str) -> String {
    format!(
        r#"
[auth]
api_keys = true

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[[expose]]
upstream = "demo"
tools = ["echo"]
read_only = true

[[expose]]
upstream = "demo"
tools = ["refund"]
destructive = true
scopes = ["invoices:write"]
{extra}
"#
    )
}

struct Keys {
    /// The caller; it holds the approve scope too, to show that it still cannot approve itself.
    agent: (String, String),
    ops: (String, String),
    /// Can call, cannot approve.
    other: (String, String),
}

fn start(extra: &str) -> (Gateway, Keys) {
    let mut keys = None;
    let gw = Gateway::start_plain(&config(extra), |path| {
        keys = Some(Keys {
            agent: create_key(path, "agent", "invoices:write,portcullis:approve", &[]),
            ops: create_key(path, "ops", "portcullis:approve", &[]),
            other: create_key(path, "other", "invoices:write", &[]),
        });
    });
    (gw, keys.unwrap())
}

fn approvals(gw: &Gateway, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["approvals"];
    all.extend_from_slice(args);
    let config = gw.config_path();
    all.extend(["--config", config.to_str().unwrap()]);
    let env: Vec<(&str, &str)> = token
        .map(|t| ("PORTCULLIS_API_KEY", t))
        .into_iter()
        .collect();
    portcullis_with_env(&all, &env)
}

/// The calls waiting, once there are `n` (bounded wait).
async fn pending(gw: &Gateway, ops: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let (ok, out, err) = approvals(gw, Some(ops), &["list", "--json"]);
        assert!(ok, "{err}");
        let calls: Vec<Value> = serde_json::from_str(&out).unwrap();
        if calls.len() >= n {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} parked calls never showed");
}

fn refund(invoice: &str, cents: u64) -> rmcp::model::CallToolRequestParams {
    call(
        "demo_refund",
        json!({"invoice_id": invoice, "amount_cents": cents}),
    )
}

#[tokio::test]
async fn a_destructive_call_parks_and_runs_once_an_approver_approves_it() {
    let (gw, keys) = start("");
    let client = gw.rmcp_client_with(Some(&keys.agent.1)).await.unwrap();
    let parked = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool(refund("INV-1001", 500)).await }
    });
    let calls = pending(&gw, &keys.ops.1, 1).await;
    let id = calls[0]["id"].as_str().unwrap().to_string();
    assert_eq!(calls[0]["tool"], "demo_refund");
    assert_eq!(calls[0]["principal"], keys.agent.0);
    assert_eq!(calls[0]["arguments"]["invoice_id"], "INV-1001");
    assert_eq!(calls[0]["call_hash"].as_str().unwrap().len(), 64);

    // Nobody else decides: not the caller's own key (though it holds the scope), not a key
    // without the scope, not a request without a key, not a browser form posted to the gateway.
    let (ok, _, err) = approvals(&gw, Some(&keys.agent.1), &["approve", &id]);
    assert!(
        !ok && err.contains("cannot approve their own call"),
        "{err}"
    );
    let (ok, _, err) = approvals(&gw, Some(&keys.other.1), &["approve", &id]);
    assert!(
        !ok && err.contains("does not hold `portcullis:approve`"),
        "{err}"
    );
    let (ok, _, err) = approvals(&gw, None, &["approve", &id]);
    assert!(!ok && err.contains("PORTCULLIS_API_KEY"), "{err}");
    let (ok, _, err) = approvals(&gw, Some("pcs_forged"), &["approve", &id]);
    assert!(!ok && err.contains("was not accepted"), "{err}");
    let http = reqwest::Client::new();
    for path in [
        format!("/approvals/{id}/approve"),
        format!("/mcp/approvals/{id}"),
        "/approve".to_string(),
    ] {
        let response = http
            .post(format!("http://{}{path}", gw.addr))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("id={id}&decision=approve"))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
    }
    assert_eq!(pending(&gw, &keys.ops.1, 1).await.len(), 1, "still waiting");
    assert!(!parked.is_finished());

    let (ok, out, err) = approvals(
        &gw,
        Some(&keys.ops.1),
        &["approve", &id, "--reason", "ok'd"],
    );
    assert!(ok, "{out}{err}");
    let result = parked.await.unwrap().unwrap();
    assert_eq!(text_of(&result), "refunded 500 cents on INV-1001");
    // Decided once.
    let (ok, _, err) = approvals(&gw, Some(&keys.ops.1), &["deny", &id]);
    assert!(!ok && err.contains("approved by"), "{err}");

    // The same call with other arguments is another call: it parks again.
    let again = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool(refund("INV-1001", 50_000)).await }
    });
    let calls = pending(&gw, &keys.ops.1, 1).await;
    let second = calls[0]["id"].as_str().unwrap().to_string();
    assert_ne!(second, id);
    assert_ne!(calls[0]["call_hash"], json!(null));
    let (ok, _, _) = approvals(
        &gw,
        Some(&keys.ops.1),
        &["deny", &second, "--reason", "too much"],
    );
    assert!(ok);
    let denied = again.await.unwrap().unwrap();
    assert_eq!(denied.is_error, Some(true));
    assert!(
        text_of(&denied).contains(&format!("denied by {}: too much", keys.ops.0)),
        "{}",
        text_of(&denied)
    );
    client.cancel().await.unwrap();

    let records = gw.audit_lines();
    let of = |method: &str| -> Vec<&Value> {
        records.iter().filter(|r| r["method"] == method).collect()
    };
    assert_eq!(of("approval/request").len(), 2);
    let approved = of("approval/approve");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["principal"], keys.ops.0);
    assert!(
        approved[0]["reason"]
            .as_str()
            .unwrap()
            .contains(&keys.agent.0)
    );
    assert_eq!(of("approval/deny")[0]["principal"], keys.ops.0);
    let calls: Vec<&Value> = of("tools/call")
        .into_iter()
        .filter(|r| r["tool"] == "demo_refund")
        .collect();
    let outcomes: Vec<&str> = calls
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "refused"], "ran once, then refused");
    assert!(
        calls[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("approval: denied by")
    );
    // A read-only tool never waits.
    let client = gw.rmcp_client_with(Some(&keys.agent.1)).await.unwrap();
    let echo = client
        .call_tool(call("demo_echo", json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(text_of(&echo), "hi");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn no_decision_in_time_denies_and_the_client_hears_it_waits() {
    let (gw, keys) = start("[approvals]\ntimeout = \"1s\"");
    let client = gw.rmcp_client_with(Some(&keys.agent.1)).await.unwrap();
    let result = client.call_tool(refund("INV-1002", 1)).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("no decision within 1s"),
        "{}",
        text_of(&result)
    );
    client.cancel().await.unwrap();
    let (ok, out, _) = approvals(&gw, Some(&keys.ops.1), &["list", "--all", "--json"]);
    assert!(ok);
    let calls: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(calls[0]["decision"]["state"], "expired");
    let id = calls[0]["id"].as_str().unwrap();
    let (ok, _, err) = approvals(&gw, Some(&keys.ops.1), &["approve", id]);
    assert!(!ok && err.contains("expired"), "{err}");
}

#[tokio::test]
async fn a_restart_while_a_call_is_parked_denies_it() {
    let (mut gw, keys) = start("");
    let client = gw.rmcp_client_with(Some(&keys.agent.1)).await.unwrap();
    let parked = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool(refund("INV-1003", 7)).await }
    });
    let calls = pending(&gw, &keys.ops.1, 1).await;
    let id = calls[0]["id"].as_str().unwrap().to_string();
    gw.kill();
    // The call died with the gateway; its client is let go.
    parked.abort();
    let data = gw.data_dir.clone();
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    let gw2 = Gateway::start_with_env(&config, &[("PORTCULLIS_DATA_DIR", data.to_str().unwrap())]);
    let (ok, _, err) = approvals(&gw, Some(&keys.ops.1), &["approve", &id]);
    assert!(!ok && err.contains("the gateway restarted"), "{err}");
    let expired: Vec<Value> = gw2
        .audit_lines()
        .into_iter()
        .filter(|r| r["method"] == "approval/expire")
        .collect();
    assert_eq!(expired.len(), 1);
    assert!(expired[0]["reason"].as_str().unwrap().contains(&id));
}

#[tokio::test]
async fn the_shipped_quickstart_parks_the_refund() {
    let quickstart = std::fs::read_to_string(repo_root().join("examples/quickstart.toml")).unwrap();
    let gw = Gateway::start(&quickstart);
    let config = gw.config_path();
    let (_, ops) = create_key(&config, "ops", "portcullis:approve", &[]);
    let client = gw.rmcp_client().await;
    let parked = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool(refund("INV-1001", 100)).await }
    });
    let calls = pending(&gw, &ops, 1).await;
    assert_eq!(calls[0]["tool"], "demo_refund");
    assert_eq!(calls[0]["principal"], "dev");
    let id = calls[0]["id"].as_str().unwrap();
    assert!(approvals(&gw, Some(&ops), &["approve", id]).0);
    let result = parked.await.unwrap().unwrap();
    assert_eq!(text_of(&result), "refunded 100 cents on INV-1001");
    client.cancel().await.unwrap();
}
