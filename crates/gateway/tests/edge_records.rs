//! The HTTP router in-process (`tower::ServiceExt::oneshot`), over an in-memory audit sink, a
//! fake key store and tokio's paused clock: every refusal at the edge answers as the spec asks
//! and leaves exactly one record, with the principal once it is known.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::Config;
use portcullis_core::audit::AuditRecord;
use portcullis_core::keys::{KeyInfo, token_hash};
use portcullis_core::ports::{ApiKeyStore, AuditSink, BoxFuture, Clock, ClockError, StoreFailure};
use portcullis_gateway::auth::Authenticator;
use portcullis_gateway::{Gateway, Ports};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "pcs_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[derive(Default)]
struct Sink(Mutex<Vec<AuditRecord>>);

impl AuditSink for Sink {
    fn record(&self, record: AuditRecord) {
        self.0.lock().unwrap().push(record);
    }
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

struct OneKey;

impl ApiKeyStore for OneKey {
    fn find(&self, hash: &[u8; 32]) -> Result<Option<KeyInfo>, StoreFailure> {
        Ok((*hash == token_hash(TOKEN)).then(|| KeyInfo {
            id: "key_1".into(),
            name: "tester".into(),
            scopes: vec![],
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            valid_until: None,
            replaced_by: None,
        }))
    }
}

struct PausedClock(tokio::time::Instant);

impl Clock for PausedClock {
    fn unix_ms(&self) -> Result<u64, ClockError> {
        Ok(1_800_000_000_000 + self.0.elapsed().as_millis() as u64)
    }
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

struct Edge {
    router: axum::Router,
    sink: Arc<Sink>,
    gateway: Arc<Gateway>,
}

fn edge(extra: &str) -> Edge {
    edge_with(extra, "")
}

/// `gateway` goes in the `[gateway]` table, `rest` after it.
fn edge_with(gateway: &str, rest: &str) -> Edge {
    let config = Config::from_toml(&format!(
        "[auth]\napi_keys = true\n[gateway]\nmax_body_bytes = 2048\nrequest_timeout = \"5s\"\n{gateway}\n{rest}"
    ))
    .unwrap();
    let sink = Arc::new(Sink::default());
    let clock: Arc<dyn Clock> = Arc::new(PausedClock(tokio::time::Instant::now()));
    let auth = Authenticator::new(Some(Arc::new(OneKey)), clock.clone(), false);
    let ports = Ports::new(sink.clone(), clock);
    let shutdown = CancellationToken::new();
    let gateway = Gateway::start(config, ".".into(), auth, ports, shutdown.clone());
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let router = portcullis_gateway::http::router(gateway.clone(), shutdown, addr);
    Edge {
        router,
        sink,
        gateway,
    }
}

fn post(path: &str, key: Option<&str>, body: Body) -> Request<Body> {
    let mut request = Request::post(path)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request.body(body).unwrap()
}

impl Edge {
    async fn send(&self, request: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    }

    /// The records so far (the in-memory sink has them as soon as each request is done).
    async fn records(&self) -> Vec<AuditRecord> {
        self.sink.0.lock().unwrap().clone()
    }

    /// Sends `request`; asserts it left exactly one record, and returns it.
    async fn one_record(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, http::HeaderMap, Bytes, AuditRecord) {
        let before = self.records().await.len();
        let (status, headers, body) = self.send(request).await;
        let records = self.records().await;
        assert_eq!(records.len(), before + 1, "one record: {records:?}");
        let record = records[before].clone();
        assert_eq!(
            headers["x-request-id"].to_str().unwrap(),
            record.request_id,
            "the answer names the record"
        );
        (status, headers, body, record)
    }
}

fn json_of(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test(start_paused = true)]
async fn refused_credentials_are_one_record_without_a_principal() {
    let e = edge("");
    for key in [None, Some("pcs_not-a-key"), Some("Basic abc")] {
        let (status, headers, body, record) =
            e.one_record(post("/mcp", key, Body::from("{}"))).await;
        assert_eq!(status, 401, "{key:?}");
        assert!(headers.contains_key("www-authenticate"));
        assert_eq!(json_of(&body)["error"]["code"], -32001);
        assert_eq!(record.principal, "unauthenticated");
        assert_eq!(
            serde_json::to_value(record.outcome).unwrap(),
            "unauthenticated"
        );
        assert_eq!(record.method, "POST /mcp");
    }
}

#[tokio::test(start_paused = true)]
async fn bad_bodies_are_one_record_each_with_the_caller_known() {
    let e = edge("");
    let cases: Vec<(&str, Body, StatusCode, Option<i64>)> = vec![
        (
            "parse error",
            Body::from("{not json"),
            StatusCode::BAD_REQUEST,
            Some(-32700),
        ),
        (
            "invalid UTF-8",
            Body::from(&b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}"[..]),
            StatusCode::BAD_REQUEST,
            Some(-32700),
        ),
        (
            "batch",
            Body::from("[{}]"),
            StatusCode::BAD_REQUEST,
            Some(-32600),
        ),
        (
            "too large",
            Body::from(vec![b' '; 4096]),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    for (case, body, status, code) in cases {
        let (got, _, answer, record) = e.one_record(post("/mcp", Some(TOKEN), body)).await;
        assert_eq!(got, status, "{case}");
        if let Some(code) = code {
            assert_eq!(json_of(&answer)["error"]["code"], code, "{case}");
            assert!(
                json_of(&answer).get("id").is_none(),
                "{case}: no id to answer"
            );
        }
        assert_eq!(record.principal, "key_1", "{case}");
        assert_eq!(
            serde_json::to_value(record.outcome).unwrap(),
            "refused",
            "{case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_body_is_refused_when_the_request_timeout_passes() {
    let e = edge("");
    let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
    let (status, _, _, record) = e
        .one_record(post("/mcp", Some(TOKEN), Body::from_stream(never)))
        .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(record.reason, "request body too slow");
    assert_eq!(record.latency_ms, 5000.0, "timed on the paused clock");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_group_is_one_record() {
    let e = edge("");
    let (status, _, _, record) = e
        .one_record(post("/mcp/g/nope", Some(TOKEN), Body::from("{}")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(record.reason, "no such group");
    assert_eq!(record.principal, "key_1");
}

#[tokio::test(start_paused = true)]
async fn past_the_concurrency_limit_a_request_is_refused_and_recorded() {
    let e = edge("max_concurrent_requests = 1");
    // The first request holds the only slot while its body is pending.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let polled = Arc::new(tokio::sync::Notify::new());
    let signal = polled.clone();
    let body = futures::stream::once(async move {
        signal.notify_one();
        let _ = rx.await;
        Ok::<_, std::io::Error>(Bytes::from_static(b"{"))
    });
    let first = tokio::spawn(e.router.clone().oneshot(post(
        "/mcp",
        Some(TOKEN),
        Body::from_stream(body),
    )));
    polled.notified().await;
    let (status, headers, _, record) = e
        .one_record(post("/mcp", Some(TOKEN), Body::from("{}")))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(record.reason, "too many requests at once");
    tx.send(()).unwrap();
    assert_eq!(
        first.await.unwrap().unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        e.records().await.len(),
        2,
        "the first request has its own record"
    );
}

#[tokio::test(start_paused = true)]
async fn refusals_at_the_host_and_origin_checks_are_recorded() {
    let e = edge("");
    let mut request = post("/mcp", Some(TOKEN), Body::from("{}"));
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let (status, _, _, record) = e.one_record(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(record.reason, "Origin header is not allowed");
    let mut request = post("/mcp", Some(TOKEN), Body::from("{}"));
    request
        .headers_mut()
        .insert("host", "rebound.example".parse().unwrap());
    let (status, _, _, _) = e.one_record(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// An OpenAPI document on disk: one operation, never called (its API is not running).
const SHOP: &str = r#"{"openapi": "3.1.0", "info": {"title": "shop", "version": "1"},
  "paths": {"/items": {"get": {"operationId": "list_items", "summary": "List the items.",
  "responses": {"200": {"description": "ok"}}}}}}"#;

#[tokio::test(start_paused = true)]
async fn a_hidden_tool_and_an_unknown_one_answer_byte_for_byte_alike_on_both_paths() {
    let dir = std::env::temp_dir().join(format!("pc-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("shop.json");
    std::fs::write(&spec, SHOP).unwrap();
    let e = edge_with(
        "",
        &format!(
            "[upstreams.shop]\nkind = \"openapi\"\nspec = {:?}\nbase_url = \"http://127.0.0.1:9\"\n\
             [[expose]]\nupstream = \"shop\"\ntools = [\"list_items\"]\nread_only = true\n\
             scopes = [\"items:read\"]\n",
            spec.to_str().unwrap()
        ),
    );
    e.gateway.wait_ready(Duration::from_secs(5)).await;
    assert_eq!(e.gateway.published().len(), 1, "the tool is published");
    // The key holds no scope: `shop_list_items` is hidden from it. The hidden tool goes the
    // direct path; the unknown one goes to rmcp. Same name length, so same bytes.
    let (hidden_status, hidden_headers, hidden) = e.send(modern_call("shop_list_items")).await;
    let (unknown_status, unknown_headers, unknown) = e.send(modern_call("shop_list_itemz")).await;
    assert_eq!(hidden_status, unknown_status);
    assert_eq!(
        String::from_utf8_lossy(&hidden).replace("itemz", "items"),
        String::from_utf8_lossy(&unknown).replace("itemz", "items")
    );
    let names = |h: &http::HeaderMap| {
        let mut n: Vec<String> = h
            .iter()
            .filter(|(k, _)| *k != "x-request-id")
            .map(|(k, v)| format!("{k}: {v:?}"))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&hidden_headers), names(&unknown_headers));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 2026-07-28 `tools/call` the direct path takes when the tool is published.
fn modern_call(name: &str) -> Request<Body> {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": name, "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let mut request = post("/mcp", Some(TOKEN), Body::from(body.to_string()));
    let headers = request.headers_mut();
    headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    headers.insert("mcp-method", "tools/call".parse().unwrap());
    headers.insert("mcp-name", name.parse().unwrap());
    request
}

#[tokio::test(start_paused = true)]
async fn an_unknown_tool_is_one_record_and_reads_like_rmcps_answer() {
    let e = edge("");
    let (status, _, body, record) = e.one_record(modern_call("demo_nope")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"unknown tool: demo_nope"}}"#,
        "field order as rmcp writes it"
    );
    assert_eq!(record.tool.as_deref(), Some("demo_nope"));
    assert_eq!(record.principal, "key_1");
    assert_eq!(
        serde_json::to_value(record.outcome).unwrap(),
        "unknown_tool"
    );
    e.gateway.shutdown().await;
}
