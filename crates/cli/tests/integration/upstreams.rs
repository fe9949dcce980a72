//! Upstream processes and HTTP upstreams: sharing, restarts, environment, credentials, and
//! catalogues that change under the gateway.

use std::time::Duration;

use rmcp::service::ServiceError;
use serde_json::{Value, json};

use crate::harness::{
    Gateway, HttpUpstream, call, example_config, modern_post, raw_upstream_config, text_of,
    told_client, tool_names_of, until_tools,
};

#[tokio::test]
async fn one_child_process_serves_every_client() {
    let gw = Gateway::start(&example_config(""));
    let a = gw.rmcp_client().await;
    let b = gw.rmcp_client().await;
    let pid_a = text_of(
        &a.call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap(),
    );
    let pid_b = text_of(
        &b.call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap(),
    );
    assert_eq!(pid_a, pid_b);
    assert_eq!(
        gw.log().matches("connected upstream=demo").count(),
        1,
        "{}",
        gw.log()
    );
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

#[tokio::test]
async fn a_crashed_upstream_is_restarted() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let before = text_of(
        &client
            .call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap(),
    );
    match client.call_tool(call("demo_crash", json!({}))).await {
        Ok(r) => assert_eq!(r.is_error, Some(true), "{r:?}"),
        Err(ServiceError::McpError(_)) => {}
        Err(other) => panic!("the gateway itself failed: {other:?}"),
    }
    let mut after = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = client
            .call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap();
        if r.is_error != Some(true) {
            after = Some(text_of(&r));
            break;
        }
        assert!(text_of(&r).contains("unavailable right now"), "{r:?}");
    }
    let after = after.expect("the upstream came back within 10 s");
    assert_ne!(before, after);
    assert!(gw.log().contains("upstream process exited"), "{}", gw.log());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stopping_the_gateway_stops_its_upstream_processes() {
    let mut gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let pid = text_of(
        &client
            .call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap(),
    );
    client.cancel().await.unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    assert!(
        gw.terminate(),
        "the gateway did not exit cleanly:\n{}",
        gw.log()
    );
    let mut gone = false;
    for _ in 0..50 {
        // A zombie still has a /proc entry; its state line says so.
        let state = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
        if state.is_empty() || state.contains("State:\tZ") {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone, "upstream process {pid} outlived the gateway");
}

#[tokio::test]
async fn the_child_environment_holds_only_what_the_config_passes() {
    let config = example_config("").replace(
        "timeout = \"20s\"",
        "timeout = \"20s\"\nenv = { GREETING = \"hi\" }\ninherit_env = [\"PORTCULLIS_TEST_PASSED\", \"PORTCULLIS_TEST_UNSET\"]",
    );
    let gw = Gateway::start_with_env(
        &config,
        &[
            ("PORTCULLIS_TEST_PASSED", "yes"),
            ("PORTCULLIS_TEST_SECRET", "s3cret"),
        ],
    );
    let client = gw.rmcp_client().await;
    let env = text_of(
        &client
            .call_tool(call("demo_environment", json!({})))
            .await
            .unwrap(),
    );
    assert_eq!(env, "GREETING\nPORTCULLIS_TEST_PASSED");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn upstream_stderr_goes_to_the_gateway_log() {
    let gw = Gateway::start_with_env(&example_config(""), &[("PORTCULLIS_LOG", "info")]);
    let client = gw.rmcp_client().await;
    client.cancel().await.unwrap();
    let log = gw.log();
    assert!(
        log.lines()
            .any(|l| l.contains("portcullis::upstream_stderr") && l.contains("upstream=demo")),
        "{log}"
    );
}

#[tokio::test]
async fn a_listing_that_failed_is_tried_again() {
    let prompts = "\n[[prompts]]\nupstream = \"raw\"\nprompts = [\"brief\"]\n";
    let config = raw_upstream_config(&["plain"], prompts)
        .replace("raw_upstream.py\"]", "raw_upstream.py\", \"--flaky-list\"]");
    assert!(config.contains("--flaky-list"), "{config}");
    let gw = Gateway::start(&config);
    let (client, mut told, _) = told_client(&gw).await;
    let mut names = tool_names_of(&client).await;
    if names.is_empty() {
        names = until_tools(&client, &mut told, "the listing tried again", |n| {
            !n.is_empty()
        })
        .await;
    }
    assert_eq!(names, ["raw_plain"]);
    assert!(gw.log().contains("cannot list tools"), "{}", gw.log());
    // The tools came with the second listing, whose prompts/list failed: the prompt read by
    // the first stays published.
    assert!(gw.log().contains("cannot list prompts"), "{}", gw.log());
    let prompts: Vec<_> = client
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(prompts, ["raw_brief"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_tool_that_appears_later_stays_hidden_unless_named() {
    let config = raw_upstream_config(
        &["*"],
        "\n[[expose]]\nupstream = \"raw\"\ntools = [\"late_exact\"]\nread_only = true\n",
    );
    let gw = Gateway::start(&config);
    let client = gw.rmcp_client().await;
    let names = |tools: Vec<rmcp::model::Tool>| -> Vec<String> {
        tools.into_iter().map(|t| t.name.to_string()).collect()
    };
    let before = names(client.list_all_tools().await.unwrap());
    assert_eq!(
        before,
        [
            "raw_grow",
            "raw_plain",
            "raw_regional",
            "raw_seen_headers",
            "raw_tasky"
        ]
    );
    client.call_tool(call("raw_grow", json!({}))).await.unwrap();
    let mut after = before.clone();
    for _ in 0..100 {
        after = names(client.list_all_tools().await.unwrap());
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        after,
        [
            "raw_grow",
            "raw_late_exact",
            "raw_plain",
            "raw_regional",
            "raw_seen_headers",
            "raw_tasky"
        ]
    );
    let err = client
        .call_tool(call("raw_late_glob", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::McpError(e) if e.code.0 == -32602));
    assert!(gw.log().contains("only a glob matches"), "{}", gw.log());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn http_upstreams_get_the_gateways_credentials_never_the_clients() {
    let upstream = HttpUpstream::start();
    let config = format!(
        r#"
[auth]
api_keys = true

[upstreams.web]
kind = "http"
url = "{}"
headers.Authorization = {{ env = "WEB_TOKEN" }}
headers.X-Api-Key = {{ file = "web-key.txt" }}
headers.X-Team = {{ value = "payments" }}

[[expose]]
upstream = "web"
tools = ["plain", "seen_headers", "tasky"]
read_only = true

# The upstream echoes the headers it was sent, which the test reads through the gateway:
# secrets under sensitive names are not masked here.
[redaction]
default_keys = false
disable = ["secret"]
"#,
        upstream.url
    );
    let gw = Gateway::start_with(
        &config,
        &[("WEB_TOKEN", "Bearer gateway-own-token")],
        &[("web-key.txt", "k-123\n")],
    );
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "web_seen_headers", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}});
    let answer: Value = modern_post(
        &gw.url(),
        Some(&gw.bearer()),
        "tools/call",
        Some("web_seen_headers"),
    )
    .header("x-api-key", "client-key")
    .json(&body)
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    let seen: Value = serde_json::from_str(text).unwrap();
    assert_eq!(seen["authorization"], "Bearer gateway-own-token", "{seen}");
    assert_eq!(seen["x-api-key"], "k-123", "{seen}");
    assert_eq!(seen["x-team"], "payments", "{seen}");
    assert!(
        !text.contains("client-token") && !text.contains("client-key"),
        "{text}"
    );
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    // Fields rmcp does not model survive from HTTP upstreams too.
    let (list, _) = gw.modern("tools/list", json!({})).await;
    let tasky = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "web_tasky")
        .unwrap();
    assert_eq!(
        tasky["execution"],
        json!({"taskSupport": "optional"}),
        "{tasky}"
    );
}
