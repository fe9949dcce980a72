//! Holes found from outside, each pinned by a test that failed before the fix: an upstream
//! smuggling the gateway's own fields, a session used by another principal, a hidden tool told
//! apart from an unknown one, and OAuth probes against a gateway that takes API keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Gateway, claude, create_key, fixture, modern_post};

/// The raw upstream in hostile mode, with `plain`, `grow` and `late_exact` exposed read-only
/// and public, and `regional` (which has an `x-mcp-header` parameter) needing `geo`.
fn hostile_config() -> String {
    format!(
        r#"
[auth]
api_keys = true

[upstreams.raw]
kind = "stdio"
command = "python3"
args = ["{}", "--hostile"]
inherit_env = ["PATH"]

[[expose]]
upstream = "raw"
tools = ["plain", "grow", "late_exact"]
read_only = true

[[expose]]
upstream = "raw"
tools = ["regional"]
read_only = true
scopes = ["geo"]
"#,
        fixture("raw_upstream.py")
    )
}

async fn modern(gw: &Gateway, key: &str, method: &str, params: Value) -> Value {
    let (status, body) = modern_raw(gw, key, method, params, &[]).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: {body}: {e}"))
}

/// A 2026-07-28 request with `extra` headers; the status and the body as sent.
async fn modern_raw(
    gw: &Gateway,
    key: &str,
    method: &str,
    mut params: Value,
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut request = modern_post(
        &gw.url(),
        Some(&format!("Bearer {key}")),
        method,
        name.as_deref(),
    )
    .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn tool_names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_upstream_cannot_publish_a_tool_under_another_tools_entry() {
    let gw = Gateway::start(&hostile_config());
    let key = gw.dev_key.clone().unwrap();
    let names = tool_names(&modern(&gw, &key, "tools/list", json!({})).await);
    assert_eq!(names, ["raw_grow", "raw_plain", "raw_regional"]);
    // A tool that appears later with the same trick stays out too; `late_exact`, named in the
    // config, shows that the new listing was taken in.
    let grown = modern(
        &gw,
        &key,
        "tools/call",
        json!({"name": "raw_grow", "arguments": {}}),
    )
    .await;
    assert_eq!(grown["result"]["content"][0]["text"], "grown", "{grown}");
    let mut names = Vec::new();
    for _ in 0..200 {
        names = tool_names(&modern(&gw, &key, "tools/list", json!({})).await);
        if names.iter().any(|n| n == "raw_late_exact") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        names,
        ["raw_grow", "raw_late_exact", "raw_plain", "raw_regional"]
    );
    let smuggled = modern(
        &gw,
        &key,
        "tools/call",
        json!({"name": "raw_drop_tables", "arguments": {}}),
    )
    .await;
    assert_eq!(smuggled["error"]["code"], -32602, "{smuggled}");
}

/// Opens a legacy session with `key`; returns its id.
async fn open_session(gw: &Gateway, key: &str) -> String {
    let response = legacy(gw, key, None)
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.text().await.unwrap();
    let initialized = legacy(gw, key, Some(&id))
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert!(initialized.status().is_success());
    id
}

fn legacy(gw: &Gateway, key: &str, session: Option<&str>) -> reqwest::RequestBuilder {
    let mut r = reqwest::Client::new()
        .post(gw.url())
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(id) = session {
        r = r.header("mcp-session-id", id);
    }
    r
}

/// Status and body of a request on session `id` with `key`, by HTTP method.
async fn on_session(
    gw: &Gateway,
    key: &str,
    id: &str,
    method: reqwest::Method,
) -> (StatusCode, String) {
    let client = reqwest::Client::new();
    let is_get = method == reqwest::Method::GET;
    let request = match method {
        reqwest::Method::POST => legacy(gw, key, Some(id))
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})),
        m => client
            .request(m, gw.url())
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("mcp-session-id", id),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    if status == 200 && is_get {
        // An event stream that stays open: its head is enough.
        return (status, String::new());
    }
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_session_belongs_to_the_principal_that_opened_it() {
    let gw = Gateway::start(&hostile_config());
    let alice = gw.dev_key.clone().unwrap();
    let (_, mallory) = create_key(&gw.config_path(), "mallory", "", &[]);
    let session = open_session(&gw, &alice).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::DELETE,
    ] {
        let theirs = on_session(&gw, &mallory, &session, method.clone()).await;
        let nobodys = on_session(&gw, &mallory, unknown, method.clone()).await;
        assert_eq!(
            theirs, nobodys,
            "{method}: someone else's session reads as unknown"
        );
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{method}: {theirs:?}");
    }
    // The owner's session is untouched by all that, and ends when the owner ends it.
    let (status, body) = on_session(&gw, &alice, &session, reqwest::Method::POST).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("raw_plain"), "{body}");
    let (status, _) = on_session(&gw, &alice, &session, reqwest::Method::DELETE).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a status the Python SDK accepts"
    );
    let (status, _) = on_session(&gw, &alice, &session, reqwest::Method::POST).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted session is gone");
    let refused = gw
        .audit_lines()
        .into_iter()
        .filter(|r| r["principal"] != "dev" && r["outcome"] == "refused")
        .count();
    assert_eq!(refused, 6, "each refused request is on the record");
}

#[tokio::test]
async fn a_hidden_tool_reads_byte_for_byte_like_an_unknown_one_whatever_the_headers() {
    let gw = Gateway::start(&hostile_config());
    let (_, nobody) = create_key(&gw.config_path(), "no-scopes", "", &[]);
    let geo = gw.dev_key.clone().unwrap();
    for headers in [&[][..], &[("mcp-param-region", "elsewhere")][..]] {
        let call = |name: &str| json!({"name": name, "arguments": {"region": "eu"}});
        let hidden = modern_raw(&gw, &nobody, "tools/call", call("raw_regional"), headers).await;
        let unknown = modern_raw(&gw, &nobody, "tools/call", call("raw_regionaX"), headers).await;
        assert_eq!(hidden.0, unknown.0, "{headers:?}: {hidden:?} / {unknown:?}");
        assert_eq!(
            hidden.1.replace("raw_regional", "raw_regionaX"),
            unknown.1,
            "{headers:?}"
        );
        assert!(unknown.1.contains("-32602"), "{unknown:?}");
    }
    // For a caller who may call the tool, the header check still holds.
    let (status, body) = modern_raw(
        &gw,
        &geo,
        "tools/call",
        json!({"name": "raw_regional", "arguments": {"region": "eu"}}),
        &[("mcp-param-region", "elsewhere")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("-32020") || body.contains("-3202"), "{body}");
    // And in a legacy session the two answers match too.
    let session = open_session(&gw, &nobody).await;
    let answer = |name: &'static str| {
        legacy(&gw, &nobody, Some(&session)).json(&json!({"jsonrpc": "2.0", "id": 9,
            "method": "tools/call", "params": {"name": name, "arguments": {}}}))
    };
    let hidden = answer("raw_regional")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let unknown = answer("raw_regionaX")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let strip = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("data:") && l.len() > 6)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&hidden).replace("raw_regional", "raw_regionaX"),
        strip(&unknown)
    );
    assert!(strip(&unknown).contains("-32602"), "{unknown}");
}

#[tokio::test]
async fn paths_the_gateway_does_not_serve_answer_404_not_a_credentials_challenge() {
    let gw = Gateway::start(&hostile_config());
    let client = reqwest::Client::new();
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/.well-known/oauth-authorization-server",
        ),
        (
            reqwest::Method::GET,
            "/.well-known/oauth-protected-resource",
        ),
        (reqwest::Method::GET, "/.well-known/openid-configuration"),
        (reqwest::Method::POST, "/register"),
        (reqwest::Method::GET, "/authorize"),
        (reqwest::Method::POST, "/token"),
    ] {
        let response = client
            .request(method.clone(), format!("http://{}{path}", gw.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert!(
            !response.headers().contains_key("www-authenticate"),
            "{path}"
        );
    }
}

/// An HTTP MCP upstream, in this process, that answers `tools/call` with one server-sent event
/// of `event_bytes` bytes, streamed in 64 KiB chunks.
async fn flooding_upstream(event_bytes: usize) -> String {
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: axum::Json<Value>| async move {
            let id = body.get("id").cloned();
            let result = match body["method"].as_str().unwrap_or("") {
                "initialize" => {
                    json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                    "serverInfo": {"name": "flood", "version": "1"}})
                }
                "tools/list" => {
                    json!({"tools": [{"name": "flood", "inputSchema": {"type": "object"}}]})
                }
                "tools/call" => {
                    let chunk = bytes::Bytes::from(vec![b'a'; 64 * 1024]);
                    let stream = futures::stream::iter(
                        std::iter::once(bytes::Bytes::from_static(b"data: "))
                            .chain(std::iter::repeat_n(chunk, event_bytes / (64 * 1024)))
                            .chain(std::iter::once(bytes::Bytes::from_static(b"\n\n")))
                            .map(Ok::<_, std::io::Error>),
                    );
                    return (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(stream),
                    )
                        .into_response();
                }
                _ => return axum::http::StatusCode::ACCEPTED.into_response(),
            };
            axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The gateway's peak resident memory so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_event_from_an_upstream_fails_the_call_at_once_and_costs_at_most_the_cap() {
    let url = flooding_upstream(200 << 20).await;
    let config = format!(
        "[auth]\napi_keys = true\n[upstreams.flood]\nkind = \"http\"\nurl = \"{url}\"\ntimeout = \"60s\"\n\
         [[expose]]\nupstream = \"flood\"\ntools = [\"flood\"]\nread_only = true\n"
    );
    let gw = Gateway::start(&config);
    let key = gw.dev_key.clone().unwrap();
    let before = peak_rss_kib(gw.pid());
    let answer = modern(
        &gw,
        &key,
        "tools/call",
        json!({"name": "flood_flood", "arguments": {}}),
    )
    .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(
        answer["result"]["content"][0]["text"], "the tool failed",
        "failed at the cap, not at the timeout: {answer}"
    );
    let grown = peak_rss_kib(gw.pid()) - before;
    assert!(
        grown < 64 * 1024,
        "peak memory grew by {grown} KiB for a 16 MiB cap"
    );
    let record = gw
        .audit_lines()
        .into_iter()
        .rfind(|r| r["tool"] == "flood_flood")
        .unwrap();
    assert!(
        record["reason"].as_str().unwrap().contains("larger than"),
        "{record}"
    );
}

/// The reference TypeScript server (`@modelcontextprotocol/server-everything`, installed by
/// `scripts/install-test-tools`) in Streamable HTTP mode on 127.0.0.1, stopped (by PID) when
/// dropped.
struct Everything {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Everything {
    /// On `port` (0: any free one).
    fn start(port: u16) -> Everything {
        let root = crate::harness::repo_root();
        let node = root.join(".tools/node22");
        let server = root.join(
            ".tools/everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
        );
        assert!(
            node.exists() && server.exists(),
            "run scripts/install-test-tools: it installs Node 22 and server-everything"
        );
        let dir = tempfile::tempdir().unwrap();
        let portfile = dir.path().join("port");
        let mut child = std::process::Command::new(node)
            .arg("-r")
            .arg(root.join("tests/fixtures/loopback.cjs"))
            .arg(server)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .env("PORTFILE", &portfile)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let port = crate::harness::wait_for_port(&mut child, &portfile, "server-everything");
        Everything {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_upstream_that_restarts_is_found_again_and_calls_meanwhile_fail_fast() {
    let first = Everything::start(0);
    let port = first.port;
    let config = format!(
        "[auth]\napi_keys = true\n[upstreams.everything]\nkind = \"http\"\n\
         url = \"http://127.0.0.1:{port}/mcp\"\ntimeout = \"30s\"\n\
         [[expose]]\nupstream = \"everything\"\ntools = [\"echo\"]\nread_only = true\n"
    );
    let gw = Gateway::start(&config);
    let key = gw.dev_key.clone().unwrap();
    let echo = |text: &str| json!({"name": "everything_echo", "arguments": {"message": text}});
    let ok = |answer: &Value| answer["result"].is_object() && answer["result"]["isError"] != true;
    let answer = modern(&gw, &key, "tools/call", echo("before")).await;
    assert!(ok(&answer), "{answer}");
    drop(first);
    // The same server again, on the same port, with no memory of the gateway's session: it
    // answers the old session id with HTTP 400 and an error that answers no request.
    let _second = Everything::start(port);
    let mut failures = Vec::new();
    let mut recovered = None;
    for _ in 0..100 {
        let answer = modern(&gw, &key, "tools/call", echo("after")).await;
        if ok(&answer) {
            recovered = Some(answer);
            break;
        }
        failures.push(answer.clone());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let recovered = recovered.unwrap_or_else(|| panic!("never recovered: {failures:?}"));
    assert!(recovered.to_string().contains("after"), "{recovered}");
    for text in &failures {
        assert!(
            !text
                .as_str()
                .unwrap_or("")
                .contains("did not answer within"),
            "a call waited for the timeout: {failures:?}"
        );
    }
    assert!(
        gw.log().matches("connected").count() >= 2,
        "the gateway initialized again: {}",
        gw.log()
    );
}

#[test]
fn claude_code_connects_with_a_key_and_gets_no_oauth_runaround_without_one() {
    let gw = Gateway::start_plain(&hostile_config(), |_| {});
    let (_, key) = create_key(&gw.config_path(), "claude", "", &[]);
    let home = tempfile::tempdir().unwrap();
    let url = gw.url();
    let bearer = format!("Authorization: Bearer {key}");
    claude(
        home.path(),
        &[
            "mcp",
            "add",
            "--transport",
            "http",
            "with-key",
            &url,
            "--header",
            &bearer,
        ],
    );
    claude(
        home.path(),
        &["mcp", "add", "--transport", "http", "without-key", &url],
    );
    let listed = claude(home.path(), &["mcp", "list"]);
    let line = |name: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{listed}"))
            .to_string()
    };
    assert!(line("with-key").contains("✔ Connected"), "{listed}");
    let without = line("without-key");
    assert!(
        !without.contains("Connected") || without.contains("✘"),
        "{listed}"
    );
    assert!(!listed.contains("Dynamic Client Registration"), "{listed}");
    // What it tried without a key was told 404 (no OAuth here) or 401 (a key is expected).
    let probes: Vec<_> = gw
        .audit_lines()
        .into_iter()
        .filter(|r| r["principal"] == "unauthenticated")
        .collect();
    assert!(
        !probes.is_empty(),
        "the keyless client's requests are on the record"
    );
    // Its OAuth discovery and registration probes were told "not here" (404), not 401, so it
    // does not go on to report a rejected dynamic client registration.
    let oauth_probes: Vec<_> = probes
        .iter()
        .filter(|r| r["method"] != "POST /mcp")
        .collect();
    assert!(!oauth_probes.is_empty(), "{probes:?}");
    for r in oauth_probes {
        assert_eq!(r["reason"], "answered with HTTP 404", "{r}");
    }
}
