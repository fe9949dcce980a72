//! Portcullis embedded in the example axum app (examples/embedded): the app's operations as
//! tools, dispatched in-process, driven by the official Rust SDK client over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::{self, Next};
use portcullis::Config;
use portcullis::DataDir;
use portcullis::embed::Mount;
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use common::{call, text};

#[path = "../../../examples/embedded/app.rs"]
mod app;
mod common;

const CONFIG: &str = r#"
[auth]
api_keys = true

[upstreams.app]
kind = "openapi"
embedded = true
headers.X-App-Key = { value = "KEY" }

[[expose]]
upstream = "app"
tools = ["list_items", "GET /items/{id}", "read_note"]
read_only = true

[[expose]]
upstream = "app"
tools = ["create_item"]
destructive = true
approval = "none"
scopes = ["items:write"]
"#;

/// The example app with `/mcp` mounted, on a free loopback port, and every request the app
/// itself handled.
struct Served {
    url: String,
    token: String,
    seen: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

async fn serve(config: &str) -> Result<Served, String> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let app = app::router().layer(middleware::from_fn(move |request: Request, next: Next| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push(format!("{} {}", request.method(), request.uri().path()));
            next.run(request).await
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml(config).map_err(|e| e.to_string())?;
    let data = DataDir::open(dir.path().to_path_buf()).unwrap();
    let (auth, ports) = portcullis::local_state(&config, &data).unwrap();
    let (auth, token) = auth
        .with_dev_key(BTreeSet::from(["items:write".to_string()]))
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let (router, _gateway) = Mount::new(config, auth, ports)
        .build(app, app::openapi(), local, CancellationToken::new())
        .await?;
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Ok(Served {
        url: format!("http://{local}/mcp"),
        token,
        seen,
        _dir: dir,
    })
}

impl Served {
    async fn client(&self) -> common::Client {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.clone())
            .auth_header(self.token.clone());
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .unwrap()
    }

    /// Requests the app handled, other than through `/mcp`.
    fn app_requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.ends_with(" /mcp"))
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn only_named_operations_are_tools_and_calls_run_through_the_app() {
    let served = serve(&CONFIG.replace("KEY", app::APP_KEY)).await.unwrap();
    let client = served.client().await;
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app_create_item",
            "app_get_item",
            "app_list_items",
            "app_read_note"
        ]
    );
    let item = call(&client, "app_get_item", json!({"id": 2})).await;
    assert_eq!(item.structured_content.unwrap()["name"], "Blender");
    let created = call(
        &client,
        "app_create_item",
        json!({"body": {"name": "Mug", "price_cents": 500}}),
    )
    .await;
    assert_ne!(created.is_error, Some(true), "{}", text(&created));
    assert_eq!(created.structured_content.unwrap()["id"], 3);
    assert_eq!(served.app_requests(), ["GET /items/2", "POST /items"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_apps_own_auth_refuses_a_call_without_its_key() {
    let served = serve(&CONFIG.replace("KEY", "wrong-key")).await.unwrap();
    let client = served.client().await;
    let refused = call(
        &client,
        "app_create_item",
        json!({"body": {"name": "Mug", "price_cents": 500}}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    assert!(text(&refused).contains("HTTP 401"), "{}", text(&refused));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn path_parameters_cannot_climb_and_invalid_arguments_never_reach_the_app() {
    let served = serve(&CONFIG.replace("KEY", app::APP_KEY)).await.unwrap();
    let client = served.client().await;
    let note = call(&client, "app_read_note", json!({"name": "../admin/stats"})).await;
    assert_eq!(text(&note), "note ../admin/stats");
    for name in ["..", ".", ""] {
        let refused = call(&client, "app_read_note", json!({ "name": name })).await;
        assert_eq!(refused.is_error, Some(true));
        assert!(
            text(&refused).contains("nothing was sent"),
            "{}",
            text(&refused)
        );
    }
    for (tool, arguments) in [
        (
            "app_create_item",
            json!({"body": {"name": "", "price_cents": 5}}),
        ),
        (
            "app_create_item",
            json!({"body": {"name": "Mug", "price_cents": 0}}),
        ),
        ("app_create_item", json!({})),
        ("app_get_item", json!({"id": "1/../../admin/stats"})),
        ("app_list_items", json!({"limit": 3, "extra": true})),
    ] {
        let refused = call(&client, tool, arguments.clone()).await;
        assert_eq!(refused.is_error, Some(true), "{arguments}");
        assert!(
            text(&refused).contains("invalid arguments, nothing was sent"),
            "{}",
            text(&refused)
        );
    }
    assert_eq!(served.app_requests(), ["GET /notes/..%2Fadmin%2Fstats"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn exposing_a_write_operation_read_only_is_refused() {
    let config = CONFIG
        .replace("KEY", app::APP_KEY)
        .replace(r#""read_note"]"#, r#""read_note", "POST /items"]"#)
        .replace(
            r#"tools = ["create_item"]"#,
            r#"tools = ["no_such_operation"]"#,
        );
    let err = serve(&config).await.err().expect("refused");
    assert!(
        err.contains("`create_item` of upstream `app` changes state"),
        "{err}"
    );
}

#[tokio::test]
async fn answers_larger_than_the_cap_are_refused() {
    let config = CONFIG.replace("KEY", app::APP_KEY).replace(
        "embedded = true",
        "embedded = true\nmax_response_bytes = 20",
    );
    let served = serve(&config).await.unwrap();
    let client = served.client().await;
    let refused = call(&client, "app_list_items", json!({})).await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).contains("larger than 20 bytes"),
        "{}",
        text(&refused)
    );
    let small = call(&client, "app_read_note", json!({"name": "a"})).await;
    assert_eq!(text(&small), "note a");
    client.cancel().await.unwrap();
}
