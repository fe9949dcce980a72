//! The embedded example's hooks (examples/embedded/hooks.rs), on the example's own config,
//! driven by the official Rust SDK client: a pre-call policy, a post-call inspection, the app's
//! approval channel and its computed key for its own API — and neither the audit log, the
//! guardrail nor redaction bypassed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use portcullis::embed::Mount;
use portcullis::{Config, DataDir};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use common::{call, text};

#[path = "../../../examples/embedded/app.rs"]
mod app;
mod common;
#[path = "../../../examples/embedded/hooks.rs"]
mod hooks;

#[tokio::test]
async fn every_hook_of_the_example_acts_inside_the_pipeline() {
    let config_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/embedded/portcullis.toml"),
    )
    .unwrap();
    let config = Config::from_toml(&config_text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path().to_path_buf()).unwrap();
    let (auth, ports) = portcullis::local_state(&config, &data).unwrap();
    let tickets = Arc::new(hooks::Tickets::default());
    let ports = hooks::with_hooks(ports, tickets.clone());
    let (auth, token) = auth
        .with_dev_key(BTreeSet::from(["items:write".to_string()]))
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let (router, gateway) = Mount::new(config, auth, ports)
        .build(
            app::router(),
            app::openapi(),
            local,
            CancellationToken::new(),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{local}/mcp"))
            .auth_header(token),
    );
    let client = ().serve(transport).await.unwrap();

    // The app's key reached its own middleware (the config names no header): writes work.
    let made = call(
        &client,
        "app_create_item",
        json!({"body": {"name": "kettle (mail bob@example.com)", "price_cents": 3900}}),
    )
    .await;
    assert_ne!(made.is_error, Some(true), "{}", text(&made));
    assert!(
        tickets.opened.lock().unwrap().is_empty(),
        "cheap: no ticket"
    );

    // The pre-call policy refuses, or asks the app's approval channel.
    let refused = call(
        &client,
        "app_create_item",
        json!({"body": {"name": "test item", "price_cents": 100}}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).contains("the app does not take test items"),
        "{}",
        text(&refused)
    );
    let reviewed = call(
        &client,
        "app_create_item",
        json!({"body": {"name": "espresso machine", "price_cents": 250_000}}),
    )
    .await;
    assert_ne!(reviewed.is_error, Some(true), "{}", text(&reviewed));
    assert_eq!(tickets.opened.lock().unwrap().len(), 1);
    let too_dear = call(
        &client,
        "app_create_item",
        json!({"body": {"name": "car", "price_cents": 5_000_000}}),
    )
    .await;
    assert_eq!(too_dear.is_error, Some(true));
    assert!(
        text(&too_dear).contains("approvers refused the ticket"),
        "{}",
        text(&too_dear)
    );

    // The post-call inspection replaces a listing — and redaction still runs on the replacement.
    let listed = call(&client, "app_list_items", json!({})).await;
    let structured = serde_json::to_value(&listed.structured_content).unwrap();
    let items = structured["result"].as_array().unwrap();
    let kettle = items.iter().find(|i| i["price_cents"] == 3900).unwrap();
    assert_eq!(kettle["price"], "39.00 EUR");
    assert!(
        !structured.to_string().contains("bob@example.com"),
        "{structured}"
    );
    // It withholds what the app keeps inside.
    let note = call(&client, "app_read_note", json!({"name": "internal-plan"})).await;
    assert_eq!(note.is_error, Some(true));
    assert!(
        text(&note).contains("internal notes stay inside the app"),
        "{}",
        text(&note)
    );
    let note = call(&client, "app_read_note", json!({"name": "welcome"})).await;
    assert_eq!(text(&note), "note welcome");
    client.cancel().await.unwrap();
    gateway.shutdown().await;

    // Every decision is on the record.
    let audit = std::fs::read_to_string(data.audit_log()).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reasons: Vec<&str> = records
        .iter()
        .filter(|r| r["method"] == "tools/call")
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"hook: the app does not take test items"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"approval: the app's approvers refused the ticket"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"hook: internal notes stay inside the app"),
        "{reasons:?}"
    );
}
