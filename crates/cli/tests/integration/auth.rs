//! Who may call what: the fail-closed matrix over HTTP and stdio, keys changing under a running
//! gateway, secure start-up, and the audit record of each refusal.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{BIN, Gateway, create_key, modern_post, portcullis};

/// `echo` is public, `get_invoice` needs `invoices:read`, `delete_user` is not exposed.
fn matrix_config() -> String {
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
tools = ["get_invoice"]
read_only = true
scopes = ["invoices:read"]
"#
    .into()
}

const PUBLIC: &str = "demo_echo";
const SCOPED: &str = "demo_get_invoice";
const HIDDEN: &str = "demo_delete_user";

fn arguments(tool: &str) -> Value {
    match tool {
        PUBLIC => json!({"text": "hi"}),
        SCOPED => json!({"invoice_id": "INV-1"}),
        _ => json!({"user_id": "u1"}),
    }
}

/// One stateless request; returns (HTTP status, WWW-Authenticate, body as JSON).
async fn request(
    gw: &Gateway,
    token: Option<&str>,
    method: &str,
    params: Value,
) -> (u16, String, Value) {
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    let mut r = modern_post(&gw.url(), None, method, None);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        r = r.header("mcp-name", name);
    }
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let response = r
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 401 with a challenge; `invalid_token` unless credentials were missing.
    Unauthenticated { missing: bool },
    /// Listed tools and callable ones: public only, or public and scoped.
    Sees { scoped: bool },
}

struct Keys {
    unknown: String,
    expired: String,
    revoked: String,
    rotated_in_grace: String,
    rotated_after_grace: String,
    rotated_in_grace_id: String,
    few: (String, String),
    all: (String, String),
}

/// Issues a key in the data directory `data` (no config, so no check of the scopes).
fn create_key_in(data: &str, name: &str, scopes: &str) -> (String, String) {
    let (ok, out, err) = portcullis(&[
        "--data-dir",
        data,
        "keys",
        "create",
        "--name",
        name,
        "--scopes",
        scopes,
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

fn issue_keys(gw: &Gateway) -> Keys {
    let config = gw.config_path();
    let (_, expired) = create_key(&config, "expired", "invoices:read", &["--expires", "1s"]);
    let (revoked_id, revoked) = create_key(&config, "revoked", "invoices:read", &[]);
    assert!(
        portcullis(&[
            "keys",
            "revoke",
            &revoked_id,
            "--config",
            config.to_str().unwrap()
        ])
        .0
    );
    let (grace_id, rotated_in_grace) = create_key(&config, "rotating", "invoices:read", &[]);
    let (ok, _, err) = portcullis(&[
        "keys",
        "rotate",
        &grace_id,
        "--grace",
        "1h",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (after_id, rotated_after_grace) = create_key(&config, "rotated", "invoices:read", &[]);
    assert!(
        portcullis(&[
            "keys",
            "rotate",
            &after_id,
            "--config",
            config.to_str().unwrap()
        ])
        .0
    );
    // Scopes no tool uses: `keys create --config` refuses them as a likely typo, so these are
    // issued in the data directory directly.
    let data = gw.data_dir.to_str().unwrap().to_string();
    let few = create_key_in(&data, "few", "other:thing");
    let all = create_key_in(&data, "all", "invoices:read,extra");
    // Let the one-second key expire.
    std::thread::sleep(Duration::from_millis(1100));
    Keys {
        unknown: format!("pcs_{}", "0".repeat(64)),
        expired,
        revoked,
        rotated_in_grace,
        rotated_after_grace,
        rotated_in_grace_id: grace_id,
        few,
        all,
    }
}

fn cells(keys: &Keys) -> Vec<(&'static str, Option<String>, Expect, &'static str)> {
    vec![
        (
            "no key",
            None,
            Expect::Unauthenticated { missing: true },
            "no credentials",
        ),
        (
            "unknown key",
            Some(keys.unknown.clone()),
            Expect::Unauthenticated { missing: false },
            "unknown token",
        ),
        (
            "malformed key",
            Some("not-a-key".into()),
            Expect::Unauthenticated { missing: false },
            "malformed token",
        ),
        (
            "expired key",
            Some(keys.expired.clone()),
            Expect::Unauthenticated { missing: false },
            "expired token",
        ),
        (
            "revoked key",
            Some(keys.revoked.clone()),
            Expect::Unauthenticated { missing: false },
            "revoked token",
        ),
        (
            "rotated key after grace",
            Some(keys.rotated_after_grace.clone()),
            Expect::Unauthenticated { missing: false },
            "token replaced by rotation",
        ),
        (
            "rotated key in grace",
            Some(keys.rotated_in_grace.clone()),
            Expect::Sees { scoped: true },
            "",
        ),
        (
            "key with too few scopes",
            Some(keys.few.1.clone()),
            Expect::Sees { scoped: false },
            "",
        ),
        (
            "key with all scopes",
            Some(keys.all.1.clone()),
            Expect::Sees { scoped: true },
            "",
        ),
    ]
}

#[tokio::test]
async fn the_fail_closed_matrix_over_http() {
    let gw = Gateway::start_plain(&matrix_config(), |_| {});
    let keys = issue_keys(&gw);
    for (cell, token, expect, reason) in cells(&keys) {
        let token = token.as_deref();
        let (status, _, list) = request(&gw, token, "tools/list", json!({})).await;
        match expect {
            Expect::Unauthenticated { missing } => {
                for tool in [PUBLIC, SCOPED, HIDDEN] {
                    let before = gw.audit_lines().len();
                    let (status, challenge, body) = request(
                        &gw,
                        token,
                        "tools/call",
                        json!({"name": tool, "arguments": arguments(tool)}),
                    )
                    .await;
                    assert_eq!(status, 401, "{cell}/{tool}");
                    assert!(
                        challenge.starts_with("Bearer realm=\"portcullis\""),
                        "{cell}: {challenge}"
                    );
                    assert_eq!(
                        challenge.contains("error=\"invalid_token\""),
                        !missing,
                        "{cell}: {challenge}"
                    );
                    assert_eq!(body["error"]["code"], -32001, "{cell}: {body}");
                    let audit = gw.audit_lines();
                    assert_eq!(
                        audit.len(),
                        before + 1,
                        "{cell}/{tool}: one record per refusal"
                    );
                    let record = audit.last().unwrap();
                    assert_eq!(record["decision"], "unauthenticated", "{cell}: {record}");
                    assert!(
                        record["reason"].as_str().unwrap().starts_with(reason),
                        "{cell}: {record}"
                    );
                    assert_eq!(record["transport"], "http");
                }
                assert_eq!(status, 401, "{cell}: tools/list");
            }
            Expect::Sees { scoped } => {
                let names: Vec<&str> = list["result"]["tools"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{cell}: {list}"))
                    .iter()
                    .map(|t| t["name"].as_str().unwrap())
                    .collect();
                let expected: Vec<&str> = if scoped {
                    vec![PUBLIC, SCOPED]
                } else {
                    vec![PUBLIC]
                };
                assert_eq!(names, expected, "{cell}");
                for tool in [PUBLIC, SCOPED, HIDDEN] {
                    let before = gw.audit_lines().len();
                    let (status, _, body) = request(
                        &gw,
                        token,
                        "tools/call",
                        json!({"name": tool, "arguments": arguments(tool)}),
                    )
                    .await;
                    assert_eq!(status, 200, "{cell}/{tool}: {body}");
                    let audit = gw.audit_lines();
                    assert_eq!(
                        audit.len(),
                        before + 1,
                        "{cell}/{tool}: one record per call"
                    );
                    let record = audit.last().unwrap();
                    assert_eq!(record["tool"], tool);
                    let allowed = tool == PUBLIC || (tool == SCOPED && scoped);
                    if allowed {
                        assert!(
                            body["result"]["content"].is_array(),
                            "{cell}/{tool}: {body}"
                        );
                        assert_eq!(record["decision"], "allowed", "{cell}/{tool}: {record}");
                        assert_eq!(record["outcome"], "ok");
                    } else {
                        // A tool the caller may not call reads exactly like one that does not exist.
                        assert_eq!(body["error"]["code"], -32602, "{cell}/{tool}: {body}");
                        assert_eq!(body["error"]["message"], format!("unknown tool: {tool}"));
                        assert_eq!(record["decision"], "denied", "{cell}/{tool}: {record}");
                        assert_eq!(record["outcome"], "unknown_tool");
                        let why = if tool == HIDDEN {
                            "not published"
                        } else {
                            "missing scopes: invoices:read"
                        };
                        assert_eq!(record["reason"], why, "{cell}/{tool}");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn the_rust_sdk_is_refused_without_a_valid_key_and_sees_only_its_tools() {
    let gw = Gateway::start_plain(&matrix_config(), |_| {});
    let keys = issue_keys(&gw);
    for token in [None, Some(keys.revoked.as_str()), Some("pcs_nope")] {
        assert!(
            gw.rmcp_client_with(token).await.is_err(),
            "{token:?} got in"
        );
    }
    let few = gw.rmcp_client_with(Some(&keys.few.1)).await.unwrap();
    let names: Vec<String> = few
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, [PUBLIC]);
    let err = few
        .call_tool(crate::harness::call(SCOPED, arguments(SCOPED)))
        .await
        .unwrap_err();
    assert!(matches!(err, rmcp::service::ServiceError::McpError(e) if e.code.0 == -32602));
    few.cancel().await.unwrap();
    let all = gw.rmcp_client_with(Some(&keys.all.1)).await.unwrap();
    let invoice = all
        .call_tool(crate::harness::call(SCOPED, arguments(SCOPED)))
        .await
        .unwrap();
    assert_eq!(invoice.structured_content.unwrap()["invoice_id"], "INV-1");
    all.cancel().await.unwrap();
}

/// `portcullis stdio` with `PORTCULLIS_API_KEY` set to `key` (or unset); returns the tools it
/// lists and the answers to calling each, or the refusal to start.
fn stdio_session(
    config: &std::path::Path,
    key: Option<&str>,
) -> Result<(Vec<String>, Vec<Value>), String> {
    let mut cmd = Command::new(BIN);
    cmd.args(["stdio", "--config"])
        .arg(config)
        .env("PORTCULLIS_LOG", "warn");
    match key {
        Some(k) => cmd.env("PORTCULLIS_API_KEY", k),
        None => cmd.env_remove("PORTCULLIS_API_KEY"),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        let _ = writeln!(stdin, "{v}").and_then(|()| stdin.flush());
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    if line.is_empty() {
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let mut read = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    };
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let list = read();
    let names = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let mut answers = Vec::new();
    for (i, tool) in [PUBLIC, SCOPED, HIDDEN].iter().enumerate() {
        send(
            json!({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments(tool)}}),
        );
        answers.push(read());
    }
    drop(stdin);
    let _ = child.wait();
    Ok((names, answers))
}

/// Where the config allows anonymous callers, stdio without a key serves them public tools only.
#[tokio::test]
async fn stdio_without_a_key_is_anonymous_only_where_the_config_allows_it() {
    let config =
        matrix_config().replace("api_keys = true", "api_keys = true\nallow_anonymous = true");
    let gw = Gateway::start_plain(&config, |_| {});
    let (names, answers) = stdio_session(&gw.config_path(), None).unwrap();
    assert_eq!(names, [PUBLIC]);
    assert!(answers[0]["result"].is_object(), "{answers:?}");
    assert_eq!(answers[1]["error"]["code"], -32602);
    assert_eq!(answers[2]["error"]["code"], -32602);
    let audit = gw.audit_lines();
    let scoped = audit.iter().rev().find(|r| r["tool"] == SCOPED).unwrap();
    assert_eq!(scoped["principal"], "anonymous");
    assert_eq!(scoped["reason"], "scoped tool and anonymous caller");
    assert_eq!(scoped["transport"], "stdio");
}

#[tokio::test]
async fn the_fail_closed_matrix_over_stdio() {
    let gw = Gateway::start_plain(&matrix_config(), |_| {});
    let keys = issue_keys(&gw);
    let config = gw.config_path();
    for (cell, token, expect, reason) in cells(&keys) {
        let outcome = stdio_session(&config, token.as_deref());
        match (expect, token) {
            // The config refuses anonymous callers, so without a key stdio does not start,
            // and says how to pass one.
            (_, None) => {
                let refusal = outcome.expect_err(cell);
                assert!(
                    refusal.contains("allow_anonymous = false")
                        && refusal.contains("PORTCULLIS_API_KEY=pcs_"),
                    "{cell}: {refusal}"
                );
            }
            (Expect::Unauthenticated { .. }, Some(_)) => {
                let refusal = outcome.expect_err(cell);
                assert!(
                    refusal.contains("PORTCULLIS_API_KEY was not accepted"),
                    "{cell}: {refusal}"
                );
                let record = gw.audit_lines().pop().unwrap();
                assert_eq!(record["decision"], "unauthenticated", "{cell}");
                assert!(
                    record["reason"].as_str().unwrap().starts_with(reason),
                    "{cell}: {record}"
                );
            }
            (Expect::Sees { scoped }, Some(_)) => {
                let (names, answers) = outcome.unwrap();
                let expected: Vec<&str> = if scoped {
                    vec![PUBLIC, SCOPED]
                } else {
                    vec![PUBLIC]
                };
                assert_eq!(names, expected, "{cell}");
                assert!(answers[0]["result"].is_object(), "{cell}");
                if scoped {
                    assert!(answers[1]["result"].is_object(), "{cell}: {:?}", answers[1]);
                } else {
                    assert_eq!(answers[1]["error"]["code"], -32602, "{cell}");
                }
                assert_eq!(answers[2]["error"]["code"], -32602, "{cell}");
            }
        }
    }
}

#[tokio::test]
async fn revocation_and_rotation_take_effect_in_a_running_server() {
    let gw = Gateway::start_plain(&matrix_config(), |_| {});
    let config = gw.config_path();
    let config_str = config.to_str().unwrap();
    let (id, token) = create_key(&config, "alice", "invoices:read", &[]);
    let call = json!({"name": SCOPED, "arguments": arguments(SCOPED)});
    assert_eq!(
        request(&gw, Some(&token), "tools/call", call.clone())
            .await
            .0,
        200
    );
    // Rotation with a grace period: both work, then only the new one.
    let (ok, out, _) = portcullis(&[
        "keys", "rotate", &id, "--grace", "2s", "--json", "--config", config_str,
    ]);
    assert!(ok);
    let rotated: Value = serde_json::from_str(&out).unwrap();
    let new_token = rotated["token"].as_str().unwrap().to_string();
    assert_eq!(rotated["scopes"], json!(["invoices:read"]));
    assert_eq!(
        request(&gw, Some(&token), "tools/call", call.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        request(&gw, Some(&new_token), "tools/call", call.clone())
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        request(&gw, Some(&token), "tools/call", call.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        request(&gw, Some(&new_token), "tools/call", call.clone())
            .await
            .0,
        200
    );
    // Revocation: at once.
    let new_id = rotated["id"].as_str().unwrap();
    assert!(portcullis(&["keys", "revoke", new_id, "--config", config_str]).0);
    assert_eq!(
        request(&gw, Some(&new_token), "tools/call", call.clone())
            .await
            .0,
        401
    );
    // An open legacy session is refused too, request by request.
    let (_, live) = create_key(&config, "bob", "invoices:read", &[]);
    let live_id = {
        let (_, out, _) = portcullis(&["keys", "list", "--json", "--config", config_str]);
        let all: Value = serde_json::from_str(&out).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "bob")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let client = gw.rmcp_client_with(Some(&live)).await.unwrap();
    assert!(
        client
            .call_tool(crate::harness::call(PUBLIC, arguments(PUBLIC)))
            .await
            .is_ok()
    );
    assert!(portcullis(&["keys", "revoke", &live_id, "--config", config_str]).0);
    assert!(
        client
            .call_tool(crate::harness::call(PUBLIC, arguments(PUBLIC)))
            .await
            .is_err()
    );
}

#[test]
fn serve_refuses_to_start_without_authentication_unless_dev() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(
        &config,
        crate::harness::example_config("").replace("api_keys = true", "api_keys = false"),
    )
    .unwrap();
    let (ok, _, err) = portcullis(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(err.contains("no authentication is configured"), "{err}");
    // --dev starts anyway, on loopback, and prints a key; it binds 127.0.0.1 even when asked
    // for every interface.
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--dev",
            "--listen",
            "0.0.0.0:0",
            "--config",
            config.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let key = lines.next().unwrap().unwrap();
    let listening = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(key.starts_with("dev key: pcs_"), "{key}");
    assert!(
        listening.starts_with("listening on 127.0.0.1:"),
        "{listening}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: development mode"));
}

#[test]
fn key_commands_speak_lines_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (ok, out, err) = portcullis(&[
        "--data-dir",
        data,
        "keys",
        "create",
        "--name",
        "alice",
        "--scopes",
        "a,b",
        "--expires",
        "30d",
    ]);
    assert!(ok, "{err}");
    let token = out.lines().find_map(|l| l.strip_prefix("token: ")).unwrap();
    let id = out.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
    assert!(token.starts_with("pcs_") && id.starts_with("key_"));
    let (ok, list, _) = portcullis(&["--data-dir", data, "keys", "list"]);
    assert!(ok);
    assert!(list.contains(id) && list.contains("active") && !list.contains(token));
    let (ok, inspect, _) = portcullis(&["--data-dir", data, "keys", "inspect", id, "--json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["scopes"], json!(["a", "b"]));
    assert!(v["expires_at"].is_string());
    let db = std::fs::read(dir.path().join("portcullis.db")).unwrap();
    assert!(
        !db.windows(20).any(|w| w == &token.as_bytes()[4..24]),
        "token stored in clear"
    );
    let (ok, _, err) = portcullis(&["--data-dir", data, "keys", "revoke", "key_missing"]);
    assert!(!ok && err.contains("no key with id"), "{err}");
    let (ok, _, err) = portcullis(&[
        "--data-dir",
        data,
        "keys",
        "create",
        "--name",
        "x",
        "--expires",
        "soon",
    ]);
    assert!(!ok && err.contains("--expires"), "{err}");
    let (ok, _, err) = portcullis(&["keys", "list"]);
    assert!(!ok && err.contains("--data-dir"), "{err}");
}

#[tokio::test]
async fn client_addresses_outside_the_ip_rules_are_refused_and_audited() {
    for rule in [
        r#"allowed_ips = ["10.0.0.0/8"]"#,
        r#"denied_ips = ["127.0.0.1"]"#,
    ] {
        let gw = Gateway::start(&crate::harness::example_config(&format!(
            "[gateway]\n{rule}\n"
        )));
        let (status, _, _) = request(&gw, gw.dev_key.as_deref(), "tools/list", json!({})).await;
        assert_eq!(status, 403, "{rule}");
        let health = reqwest::get(format!("http://{}/healthz", gw.addr))
            .await
            .unwrap();
        assert_eq!(
            health.status(),
            403,
            "{rule}: every route is behind the edge"
        );
        let record = gw.audit_lines().pop().unwrap();
        assert_eq!(record["outcome"], "refused", "{rule}");
        assert_eq!(record["reason"], "client address is not allowed");
    }
    let gw = Gateway::start(&crate::harness::example_config(
        "[gateway]\nallowed_ips = [\"127.0.0.0/8\"]\ndenied_ips = [\"10.0.0.1\"]\n",
    ));
    assert_eq!(
        request(&gw, gw.dev_key.as_deref(), "tools/list", json!({}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn rotation_keeps_the_old_keys_id_for_the_grace_period() {
    let gw = Gateway::start_plain(&matrix_config(), |_| {});
    let keys = issue_keys(&gw);
    let (_, _, body) = request(
        &gw,
        Some(&keys.rotated_in_grace),
        "tools/call",
        json!({"name": PUBLIC, "arguments": arguments(PUBLIC)}),
    )
    .await;
    assert!(body["result"].is_object());
    let record = gw.audit_lines().pop().unwrap();
    assert_eq!(record["principal"], keys.rotated_in_grace_id.as_str());
    assert_eq!(record["principal_kind"], "api_key");
    let few_record = {
        request(
            &gw,
            Some(&keys.few.1),
            "tools/call",
            json!({"name": PUBLIC, "arguments": arguments(PUBLIC)}),
        )
        .await;
        gw.audit_lines().pop().unwrap()
    };
    assert_eq!(few_record["principal"], keys.few.0.as_str());
    assert_eq!(keys.all.0.len(), "key_".len() + 12);
}

#[tokio::test]
async fn groups_and_deny_rules_narrow_what_a_caller_sees() {
    let config = crate::harness::example_config(
        r#"
[upstreams.demo.deny_placeholder]
"#,
    );
    // Deny rules live on the upstream table; groups in their own.
    let config = config
        .replace("[upstreams.demo.deny_placeholder]\n", "")
        .replace(
            "timeout = \"20s\"",
            "timeout = \"20s\"\ndeny = [\"demo_crash\", \"demo_environment\"]",
        )
        + r#"
[groups.billing]
tools = ["demo_get_invoice", "demo_refund*", "demo_crash"]
deny = ["demo_refund"]
"#;
    let gw = Gateway::start(&config);
    let names = |list: &Value| -> Vec<String> {
        list["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, _, main) = request(&gw, gw.dev_key.as_deref(), "tools/list", json!({})).await;
    let main = names(&main);
    assert!(
        !main.contains(&"demo_crash".to_string())
            && !main.contains(&"demo_environment".to_string()),
        "{main:?}"
    );
    assert!(main.contains(&"demo_refund".to_string()));
    // The group endpoint: its allow list, less its deny list, less the upstream's deny list.
    let group_url = format!("http://{}/mcp/g/billing", gw.addr);
    let post = |url: String, body: Value, name: Option<&str>| {
        let bearer = gw.bearer();
        let method = body["method"].as_str().unwrap().to_string();
        let name = name.map(str::to_string);
        async move {
            let mut r = modern_post(&url, Some(bearer.as_str()), &method, None);
            if let Some(n) = name {
                r = r.header("mcp-name", n);
            }
            let response = r.json(&body).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    let (status, list) = post(
        group_url.clone(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(names(&list), ["demo_get_invoice"]);
    let (_, refused) = post(
        group_url.clone(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "demo_refund",
            "arguments": {"invoice_id": "x", "amount_cents": 1}, "_meta": meta}}),
        Some("demo_refund"),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let record = gw.audit_lines().pop().unwrap();
    assert_eq!(record["group"], "billing");
    assert_eq!(record["reason"], "denied by an access rule");
    let (status, _) = post(
        format!("http://{}/mcp/g/nope", gw.addr),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn requests_past_the_concurrency_limit_get_503_with_retry_after() {
    let gw = Gateway::start(&crate::harness::example_config(
        "[gateway]\nmax_concurrent_requests = 1\n",
    ));
    let (url, bearer) = (gw.url(), gw.bearer());
    let slow = tokio::spawn(async move {
        modern_post(
            &url,
            Some(bearer.as_str()),
            "tools/call",
            Some("demo_slow_count"),
        )
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "demo_slow_count", "arguments": {"steps": 5, "delay_ms": 200}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .send()
        .await
        .unwrap()
        .status()
    });
    // Until the slow call holds the only slot, health checks pass; then they are refused.
    let mut busy = None;
    for _ in 0..500 {
        let r = reqwest::Client::new()
            .get(format!("http://{}/healthz", gw.addr))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            busy = Some(r);
            break;
        }
        tokio::task::yield_now().await;
    }
    let busy = busy.expect("the slow call never held the slot");
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(slow.await.unwrap(), 200);
    let after = reqwest::get(format!("http://{}/healthz", gw.addr))
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
}

#[test]
fn the_startup_log_names_the_public_tools_in_one_line() {
    let gw = Gateway::start(&matrix_config());
    let log = gw.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("public tools")).collect();
    assert_eq!(lines.len(), 1, "one summary line: {log}");
    assert!(
        lines[0].contains("demo_echo") && lines[0].contains("public=1"),
        "{log}"
    );
    assert!(!lines[0].contains("demo_get_invoice"), "{log}");
}
