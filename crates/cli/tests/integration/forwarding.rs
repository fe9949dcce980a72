//! Lossless forwarding: the rmcp traps a gateway falls into, each pinned by a test.

use std::time::Duration;

use rmcp::model::{CallToolRequest, ClientRequest, ServerResult};
use rmcp::service::{PeerRequestOptions, ServiceError};
use serde_json::{Value, json};

use crate::harness::{self, Gateway, call, example_config, modern_post, text_of};

fn raw_upstream_config(extra: &str) -> String {
    harness::raw_upstream_config(&["tasky", "plain"], extra)
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[tokio::test]
async fn results_from_legacy_upstreams_get_result_type_for_modern_clients() {
    let gw = Gateway::start(&raw_upstream_config(""));
    let (answer, _) = gw.modern("tools/call", json!({"name": "raw_plain"})).await;
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "plain answer");
}

#[tokio::test]
async fn fields_rmcp_does_not_model_survive_for_modern_clients() {
    let gw = Gateway::start(&raw_upstream_config(""));
    let (list, _) = gw.modern("tools/list", json!({})).await;
    let tasky = tool(&list, "raw_tasky");
    assert_eq!(
        tasky["execution"],
        json!({"taskSupport": "optional"}),
        "{tasky}"
    );
    assert_eq!(tasky["x-vendor-field"], json!({"kept": true}), "{tasky}");
    assert!(!list.to_string().contains("dev.portcullis"), "{list}");
    // Upstream hints are replaced by the operator's declaration, not merged.
    assert_eq!(
        tool(&list, "raw_plain")["annotations"],
        json!({"readOnlyHint": true, "destructiveHint": false})
    );
}

/// A legacy session: initialize, then tools/list in the same session (answered as an event
/// stream), checked on the wire.
#[tokio::test]
async fn fields_rmcp_does_not_model_survive_in_legacy_sessions() {
    let gw = Gateway::start(&raw_upstream_config(""));
    let http = reqwest::Client::new();
    let post = |body: Value, session: Option<String>| {
        let mut r = http
            .post(gw.url())
            .header("authorization", gw.bearer())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        r.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        None,
    )
    .await
    .unwrap();
    assert!(init.status().is_success());
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = init.text().await.unwrap();
    let ack = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(session.clone()),
    )
    .await
    .unwrap();
    assert_eq!(ack.status(), 202);
    let list = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        Some(session),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let data = list
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.contains("\"tools\""))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .or_else(|| serde_json::from_str::<Value>(&list).ok())
        .unwrap_or_else(|| panic!("no tools/list answer in {list}"));
    assert_eq!(
        tool(&data, "raw_tasky")["execution"],
        json!({"taskSupport": "optional"})
    );
    assert!(!list.contains("dev.portcullis"), "{list}");
    assert!(
        data["result"].get("resultType").is_none(),
        "legacy clients get no resultType: {data}"
    );
}

#[tokio::test]
async fn progress_is_relayed_with_the_clients_own_token() {
    let gw = Gateway::start(&example_config(""));
    let (answer, notes) = gw
        .modern(
            "tools/call",
            json!({"name": "demo_slow_count", "arguments": {"steps": 3, "delay_ms": 20},
                   "_meta": {"progressToken": "client-tok-7"}}),
        )
        .await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "counted to 3",
        "{answer}"
    );
    let progress: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{notes:?}");
    for (i, n) in progress.iter().enumerate() {
        assert_eq!(n["params"]["progressToken"], "client-tok-7", "{n}");
        assert_eq!(n["params"]["progress"], json!(i as f64 + 1.0));
        assert_eq!(n["params"]["total"], json!(3.0));
    }
}

/// Waits until the example server's counter tool `tool` reads `expected`: `demo_running` for
/// the calls under way (the call to cancel has arrived), `demo_cancellations` for the ones
/// cancelled.
async fn wait_for(gw: &Gateway, tool: &str, expected: &str) {
    let client = gw.rmcp_client().await;
    let mut seen = String::new();
    for _ in 0..200 {
        let r = client.call_tool(call(tool, json!({}))).await.unwrap();
        seen = text_of(&r);
        if seen == expected {
            client.cancel().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{tool} reads {seen}, expected {expected}");
}

#[tokio::test]
async fn a_cancelled_call_is_cancelled_upstream() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(call(
        "demo_slow_count",
        json!({"steps": 100, "delay_ms": 100}),
    )));
    let handle = client
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    wait_for(&gw, "demo_running", "1").await;
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    wait_for(&gw, "demo_cancellations", "1").await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_call_upstream() {
    let gw = Gateway::start(&example_config(""));
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "demo_slow_count", "arguments": {"steps": 100, "delay_ms": 100},
        "_meta": {"progressToken": 1,
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}});
    let mut response = modern_post(
        &gw.url(),
        Some(&gw.bearer()),
        "tools/call",
        Some("demo_slow_count"),
    )
    .json(&body)
    .send()
    .await
    .unwrap();
    // Wait for the first progress event, so the call is surely running upstream, then hang up.
    let first = response.chunk().await.unwrap();
    assert!(first.is_some());
    drop(response);
    wait_for(&gw, "demo_cancellations", "1").await;
}

#[tokio::test]
async fn upstream_errors_reach_the_client_as_errors() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let err = client
        .call_tool(call("demo_slow_count", json!({"steps": 0, "delay_ms": 1})))
        .await
        .unwrap_err();
    match err {
        ServiceError::McpError(e) => {
            assert_eq!(e.code.0, -32602);
            assert!(e.message.contains("steps must be"), "{e:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_hanging_upstream_times_out_and_the_gateway_keeps_serving() {
    let gw = Gateway::start(&example_config("").replace("timeout = \"20s\"", "timeout = \"1s\""));
    let client = gw.rmcp_client().await;
    let started = std::time::Instant::now();
    let result = client
        .call_tool(call(
            "demo_slow_count",
            json!({"steps": 20, "delay_ms": 500}),
        ))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("did not answer within 1s"),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(9));
    let ok = client
        .call_tool(call("demo_echo", json!({"text": "still here"})))
        .await
        .unwrap();
    assert_eq!(text_of(&ok), "still here");
    wait_for(&gw, "demo_cancellations", "1").await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_typed_call_through_rmcp_returns_structured_content() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let response = client
        .peer()
        .send_request(ClientRequest::CallToolRequest(CallToolRequest::new(call(
            "demo_get_invoice",
            json!({"invoice_id": "INV-1"}),
        ))))
        .await
        .unwrap();
    let ServerResult::CallToolResult(result) = response else {
        panic!("not a tool result: {response:?}");
    };
    assert_eq!(result.structured_content.unwrap()["invoice_id"], "INV-1");
    client.cancel().await.unwrap();
}

/// The direct path (a plain stateless `tools/call`) and rmcp's path (the same call with a log
/// level in `_meta`, which the direct path leaves to rmcp) give the same answer.
#[tokio::test]
async fn both_http_paths_answer_alike() {
    let gw = Gateway::start(&example_config(""));
    let args = json!({"invoice_id": "INV-9"});
    let (direct, _) = gw
        .modern(
            "tools/call",
            json!({"name": "demo_get_invoice", "arguments": args}),
        )
        .await;
    let (via_rmcp, _) = gw
        .modern(
            "tools/call",
            json!({"name": "demo_get_invoice", "arguments": args,
                   "_meta": {"io.modelcontextprotocol/logLevel": "error"}}),
        )
        .await;
    assert_eq!(direct["result"]["structuredContent"]["invoice_id"], "INV-9");
    assert_eq!(direct, via_rmcp);
    let bad = json!({"name": "demo_slow_count", "arguments": {"steps": 0, "delay_ms": 1}});
    let (direct, _) = gw.modern("tools/call", bad.clone()).await;
    let mut logged = bad;
    logged["_meta"] = json!({"io.modelcontextprotocol/logLevel": "error"});
    let (via_rmcp, _) = gw.modern("tools/call", logged).await;
    assert_eq!(direct["error"]["code"], -32602, "{direct}");
    assert_eq!(direct, via_rmcp);
}

#[tokio::test]
async fn a_client_that_disconnects_from_a_plain_call_cancels_it_upstream() {
    let gw = Gateway::start(&example_config(""));
    let (url, bearer) = (gw.url(), gw.bearer());
    let call = tokio::spawn(async move {
        gw_post(
            &url,
            &bearer,
            "demo_slow_count",
            json!({"steps": 100, "delay_ms": 100}),
        )
        .await
    });
    wait_for(&gw, "demo_running", "1").await;
    call.abort();
    let _ = call.await;
    wait_for(&gw, "demo_cancellations", "1").await;
}

async fn gw_post(
    url: &str,
    bearer: &str,
    tool: &str,
    arguments: Value,
) -> reqwest::Result<reqwest::Response> {
    modern_post(url, Some(bearer), "tools/call", Some(tool))
        .json(
            &json!({"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {
            "name": tool, "arguments": arguments, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .send()
        .await
}

/// A call that keeps reporting progress lives past `timeout`, each message starting it again,
/// up to `max_timeout` in all; without progress, or past that total, it times out.
#[tokio::test]
async fn progress_extends_a_calls_timeout_up_to_the_maximum() {
    let config = |max: &str| {
        example_config("").replace(
            "timeout = \"20s\"",
            &format!("timeout = \"2s\"\nmax_timeout = \"{max}\""),
        )
    };
    // Ten steps of 300 ms: 3 s in all, never 2 s without progress.
    let steady = json!({"steps": 10, "delay_ms": 300});
    let gw = Gateway::start(&config("30s"));
    let client = gw.rmcp_client().await;
    let done = client
        .call_tool(call("demo_slow_count", steady.clone()))
        .await
        .unwrap();
    assert_eq!(text_of(&done), "counted to 10", "{done:?}");
    // No progress for longer than `timeout`.
    let silent = client
        .call_tool(call(
            "demo_slow_count",
            json!({"steps": 1, "delay_ms": 3000}),
        ))
        .await
        .unwrap();
    assert_eq!(silent.is_error, Some(true));
    assert!(
        text_of(&silent).contains("did not answer within 2s"),
        "{silent:?}"
    );
    client.cancel().await.unwrap();

    // Progress all along, but longer than `max_timeout` in all.
    let gw = Gateway::start(&config("2500ms"));
    let client = gw.rmcp_client().await;
    let capped = client
        .call_tool(call("demo_slow_count", steady))
        .await
        .unwrap();
    assert_eq!(capped.is_error, Some(true), "{capped:?}");
    assert!(text_of(&capped).contains("within 2.5s"), "{capped:?}");
    client.cancel().await.unwrap();
}
