//! Deny-by-default exposure, seen through the official Rust SDK client.

use rmcp::model::PaginatedRequestParams;
use rmcp::service::ServiceError;
use serde_json::json;

use crate::harness::{Gateway, call, example_config, modern_post, text_of};

#[tokio::test]
async fn only_named_tools_are_listed_in_order_with_the_declared_hints() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "demo_cancellations",
            "demo_crash",
            "demo_echo",
            "demo_echo_count",
            "demo_environment",
            "demo_fetch_page",
            "demo_get_invoice",
            "demo_process_id",
            "demo_refund",
            "demo_running",
            "demo_slow_count",
        ]
    );
    let hints = |name: &str| {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        let a = t.annotations.as_ref().unwrap();
        (a.read_only_hint, a.destructive_hint)
    };
    assert_eq!(hints("demo_echo"), (Some(true), Some(false)));
    assert_eq!(hints("demo_refund"), (Some(false), Some(true)));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_tool_not_named_is_neither_listed_nor_callable() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.iter().any(|t| t.name.contains("delete_user")));
    for name in [
        "demo_delete_user",
        "delete_user",
        "DEMO_ECHO",
        "demo_echo ",
        "nope",
    ] {
        let err = client
            .call_tool(call(name, json!({"user_id": "u1"})))
            .await
            .unwrap_err();
        match err {
            ServiceError::McpError(e) => assert_eq!(e.code.0, -32602, "{name}: {e:?}"),
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    let ok = client
        .call_tool(call("demo_echo", json!({"text": "hello"})))
        .await
        .unwrap();
    assert_eq!(text_of(&ok), "hello");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn pagination_is_minted_by_the_gateway() {
    let gw = Gateway::start(&example_config("[gateway]\npage_size = 3\n"));
    let client = gw.rmcp_client().await;
    let mut cursor = None;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_tools(Some(
                PaginatedRequestParams::default().with_cursor(cursor.clone()),
            ))
            .await
            .unwrap();
        assert!(page.tools.len() <= 3);
        names.extend(page.tools.iter().map(|t| t.name.to_string()));
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(names.len(), 11);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let err = client
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some("forged".into())),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::McpError(e) if e.code.0 == -32602));
    client.cancel().await.unwrap();
}

/// Without `[[resources]]` or `[[prompts]]`, the gateway declares neither, and their methods
/// are "method not found".
#[tokio::test]
async fn undeclared_capabilities_get_method_not_found() {
    let gw = Gateway::start(&example_config(""));
    for method in [
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "completion/complete",
    ] {
        let (answer, _) = gw.modern(method, json!({})).await;
        assert_eq!(answer["error"]["code"], -32601, "{method}: {answer}");
    }
    let (discover, _) = gw.modern("server/discover", json!({})).await;
    let caps = &discover["result"]["capabilities"];
    assert!(caps.get("tools").is_some(), "{discover}");
    assert!(
        caps.get("resources").is_none()
            && caps.get("prompts").is_none()
            && caps.get("completions").is_none(),
        "{discover}"
    );
    // Logging is served: its level applies to this client's view of upstream log messages.
    assert!(caps.get("logging").is_some(), "{discover}");
}

#[tokio::test]
async fn mcp_method_header_must_match_the_body() {
    let gw = Gateway::start(&example_config(""));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}});
    let response = modern_post(&gw.url(), Some(&gw.bearer()), "tools/call", None)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32020, "{answer}");
}

#[tokio::test]
async fn mcp_name_header_must_match_the_tool() {
    let gw = Gateway::start(&example_config(""));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "demo_echo", "arguments": {"text": "x"}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let response = modern_post(
        &gw.url(),
        Some(&gw.bearer()),
        "tools/call",
        Some("demo_refund"),
    )
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32020, "{answer}");
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_by_default() {
    let gw = Gateway::start(&example_config(""));
    let port = gw.addr.port();
    let status = |origin: Option<String>, host: Option<String>| {
        let (url, bearer) = (gw.url(), gw.bearer());
        async move {
            let mut r = reqwest::Client::new()
                .post(url)
                .header("authorization", bearer)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#);
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            if let Some(h) = host {
                r = r.header("host", h);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status(None, None).await, 200);
    assert_eq!(
        status(Some(format!("http://127.0.0.1:{port}")), None).await,
        200
    );
    assert_eq!(
        status(Some(format!("http://localhost:{port}")), None).await,
        200
    );
    assert_eq!(
        status(Some("http://evil.example.com".into()), None).await,
        403
    );
    assert_eq!(
        status(Some(format!("http://127.0.0.1:{}", port + 1)), None).await,
        403
    );
    assert_eq!(status(Some("null".into()), None).await, 403);
    assert_eq!(
        status(None, Some(format!("evil.example.com:{port}"))).await,
        403
    );
    // The plain-call path is behind the same edge.
    let direct = reqwest::Client::new()
        .post(gw.url())
        .header("authorization", gw.bearer())
        .header("origin", "http://evil.example.com")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "demo_echo")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_echo","arguments":{"text":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 403);
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_clear_errors_and_the_gateway_keeps_serving() {
    let gw = Gateway::start(&example_config("[gateway]\nmax_body_bytes = 4096\n"));
    let post = |body: Vec<u8>, direct: bool| {
        let (url, bearer) = (gw.url(), gw.bearer());
        async move {
            let mut r = reqwest::Client::new()
                .post(url)
                .header("authorization", bearer)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28");
            if direct {
                r = r
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "demo_echo");
            }
            let response = r.body(body).send().await.unwrap();
            let closes = response
                .headers()
                .get("connection")
                .is_some_and(|c| c == "close");
            (
                response.status().as_u16(),
                response.text().await.unwrap(),
                closes,
            )
        }
    };
    for direct in [false, true] {
        let (status, body, _) = post(b"{not json".to_vec(), direct).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("-32700"), "{body}");
        let (status, body, _) = post(vec![0xff, 0xfe, b'{'], direct).await;
        assert_eq!(status, 400);
        assert!(body.contains("-32700"), "{body}");
        let (status, body, _) = post(b"[]".to_vec(), direct).await;
        assert_eq!(status, 400);
        assert!(body.contains("-32600"), "{body}");
        let mut big = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo_echo","arguments":{"text":""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', 10_000));
        big.extend(br#""}}}"#);
        let (status, _, closes) = post(big, direct).await;
        assert_eq!(status, 413);
        // Its body was not read to the end: the connection is not reused, and says so.
        assert!(closes, "a 413 without Connection: close");
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes();
        let (status, _, _) = post(deep, direct).await;
        assert!(status == 400 || status == 413, "{status}");
    }
    let (answer, _) = gw
        .modern(
            "tools/call",
            json!({"name": "demo_echo", "arguments": {"text": "alive"}}),
        )
        .await;
    assert_eq!(answer["result"]["content"][0]["text"], "alive");
}
