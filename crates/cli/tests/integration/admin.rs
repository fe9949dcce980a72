//! The admin listener, end to end with the real binary: every endpoint refuses without an
//! admin credential (no key, a forged one, a caller's key, an approver's where admin is
//! needed), the API manages keys, the audit log, limits, approvals and pins, the console's
//! session needs its CSRF token and Origin, and the listener is off unless configured.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;

const ADMIN_LISTEN: &str = "\n[admin]\nlisten = \"127.0.0.1:0\"\n";

struct Keys {
    admin: (String, String),
    approver: (String, String),
    caller: (String, String),
}

/// The example server with the admin listener on, and an admin, an approver and a caller.
fn start(extra: &str) -> (Gateway, Keys) {
    let mut keys = None;
    let config = with_many_refusals(example_config(&format!("{extra}{ADMIN_LISTEN}")));
    let gw = Gateway::start_plain(&config, |path| keys = Some(issue(path)));
    (gw, keys.unwrap())
}

/// Tests that send many refused requests raise the per-address limit on them (the shipped
/// one is tested in `refused_credentials_draw_on_the_per_address_limit`).
fn with_many_refusals(config: String) -> String {
    config.replace(
        "per_caller_tool = \"6000/min\"",
        "per_caller_tool = \"6000/min\"\nunauthenticated = \"6000/min\"",
    )
}

fn issue(path: &Path) -> Keys {
    Keys {
        admin: create_key(path, "ops", "portcullis:admin", &[]),
        approver: create_key(path, "approver", "portcullis:approve", &[]),
        caller: create_key(path, "agent", "", &[]),
    }
}

/// One request to the admin listener with `token` as a bearer credential.
async fn send(
    admin: SocketAddr,
    method: Method,
    path: impl AsRef<str>,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let path = path.as_ref();
    let mut request = reqwest::Client::new().request(method, format!("http://{admin}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Every operation the served OpenAPI document lists, its path parameters filled in.
fn documented_operations(document: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let filled = path
                .replace("{id}", "key_0")
                .replace("{name}", "demo")
                .replace("{tool}", "demo_echo");
            out.push((method.to_uppercase().parse().unwrap(), filled));
        }
    }
    out
}

#[tokio::test]
async fn every_endpoint_refuses_without_an_admin_credential() {
    let (gw, keys) = start("");
    let admin = gw.admin.expect("the admin listener is on");
    let (status, document) = send(
        admin,
        Method::GET,
        "/api/v1/openapi.json",
        Some(&keys.admin.1),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let operations = documented_operations(&document);
    assert!(operations.len() >= 24, "{operations:?}");
    for (method, path) in &operations {
        let (status, body) = send(admin, method.clone(), path, None, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a credential: {body}"
        );
        let (status, _) = send(admin, method.clone(), path, Some("pcs_forged0000"), None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a forged key"
        );
        let (status, body) = send(admin, method.clone(), path, Some(&keys.caller.1), None).await;
        let whoami = path == "/api/v1/whoami";
        assert_eq!(
            status,
            if whoami {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            },
            "{method} {path} with a caller's key: {body}"
        );
        let approvals = path.starts_with("/api/v1/approvals");
        let (status, body) = send(admin, method.clone(), path, Some(&keys.approver.1), None).await;
        if !approvals && !whoami {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} with an approver's key: {body}"
            );
        } else {
            assert_ne!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} with an approver's key: {body}"
            );
        }
        let (status, body) = send(admin, method.clone(), path, Some(&keys.admin.1), None).await;
        assert!(
            !matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) || body["error"].as_str().is_some_and(|e| e.starts_with("no ")),
            "{method} {path} with the admin key: {status} {body}"
        );
    }
    // The caller's key opens /mcp, not the admin listener: the two are apart.
    let (status, _) = send(
        gw.addr,
        Method::GET,
        "/api/v1/keys",
        Some(&keys.admin.1),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no admin API on the MCP listener"
    );
    // Refusals are on the record, with no credential in them.
    let records = gw.audit_lines();
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r["transport"] == "admin" && r["outcome"] == "unauthenticated")
        .collect();
    assert!(refused.len() >= operations.len() * 2, "{}", refused.len());
    let log = std::fs::read_to_string(gw.data_dir.join("audit.jsonl")).unwrap();
    assert!(!log.contains(&keys.admin.1) && !log.contains("pcs_forged0000"));
}

#[tokio::test]
async fn the_host_must_be_allowed_and_another_origin_is_refused() {
    let (gw, keys) = start("");
    let admin = gw.admin.unwrap();
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("http://{admin}/api/v1/keys"))
        .bearer_auth(&keys.admin.1)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN, "DNS rebinding");
    let answer = client
        .post(format!("http://{admin}/api/v1/keys"))
        .bearer_auth(&keys.admin.1)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::FORBIDDEN,
        "a cross-origin POST"
    );
    let csp = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let (_, keys_now) = send(
        admin,
        Method::GET,
        "/api/v1/keys",
        Some(&keys.admin.1),
        None,
    )
    .await;
    assert_eq!(
        keys_now["keys"].as_array().unwrap().len(),
        3,
        "nothing was created"
    );
}

#[tokio::test]
async fn keys_made_by_the_api_work_on_mcp_until_revoked() {
    let (gw, keys) = start("");
    let admin = gw.admin.unwrap();
    let token = Some(keys.admin.1.as_str());
    let (status, body) = send(
        admin,
        Method::POST,
        "/api/v1/keys",
        token,
        Some(json!({"name": "bot", "scopes": ["demo.raed"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("`demo.raed`"),
        "{body}"
    );
    let (status, body) = send(
        admin,
        Method::POST,
        "/api/v1/keys",
        token,
        Some(json!({"name": "bot", "colour": "red"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    let (status, created) = send(
        admin,
        Method::POST,
        "/api/v1/keys",
        token,
        Some(json!({"name": "bot", "expires": "1d"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let bot = created["token"].as_str().unwrap().to_string();
    assert!(created["expires_at"].is_string());

    let client = gw.rmcp_client_with(Some(&bot)).await.unwrap();
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": "hi"})))
        .await
        .unwrap();
    assert!(text_of(&echoed).contains("hi"));
    client.cancel().await.unwrap();

    let (_, list) = send(admin, Method::GET, "/api/v1/keys", token, None).await;
    let listed = list["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .all(|k| k.get("token").is_none() && k.get("hash").is_none()),
        "{list}"
    );
    let (status, shown) = send(
        admin,
        Method::GET,
        &format!("/api/v1/keys/{id}"),
        token,
        None,
    )
    .await;
    assert_eq!(
        (status, shown["name"].as_str()),
        (StatusCode::OK, Some("bot"))
    );

    let (status, rotated) = send(
        admin,
        Method::POST,
        &format!("/api/v1/keys/{id}/rotate"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["replaces"], id);
    let new_id = rotated["id"].as_str().unwrap().to_string();
    let new_token = rotated["token"].as_str().unwrap().to_string();
    assert!(
        gw.rmcp_client_with(Some(&bot)).await.is_err(),
        "the old token stops at once"
    );
    let (status, revoked) = send(
        admin,
        Method::POST,
        &format!("/api/v1/keys/{new_id}/revoke"),
        token,
        None,
    )
    .await;
    assert_eq!(
        (status, revoked["state"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    assert!(
        gw.rmcp_client_with(Some(&new_token)).await.is_err(),
        "revoked"
    );
    let (status, _) = send(
        admin,
        Method::POST,
        &format!("/api/v1/keys/{new_id}/rotate"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(admin, Method::GET, "/api/v1/keys/key_nope", token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each change is on the record under the admin's id; tokens never are.
    let records = gw.audit_lines();
    let changes: Vec<&str> = records
        .iter()
        .filter(|r| {
            r["transport"] == "admin" && r["principal"] == keys.admin.0 && r["outcome"] == "ok"
        })
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert!(changes.contains(&"admin POST /api/v1/keys"), "{changes:?}");
    assert!(
        changes.contains(&format!("admin POST /api/v1/keys/{new_id}/revoke").as_str()),
        "{changes:?}"
    );
    let log = std::fs::read_to_string(gw.data_dir.join("audit.jsonl")).unwrap();
    assert!(!log.contains(&bot) && !log.contains(&new_token));
}

#[tokio::test]
async fn the_audit_log_is_queried_exported_and_verified() {
    let (gw, keys) = start("");
    let admin = gw.admin.unwrap();
    let token = Some(keys.admin.1.as_str());
    let dev = create_key(&gw.config_path(), "dev", "", &[]);
    let client = gw.rmcp_client_with(Some(&dev.1)).await.unwrap();
    for text in ["one", "two"] {
        client
            .call_tool(call("demo_echo", json!({"text": text})))
            .await
            .unwrap();
    }
    client
        .call_tool(call("demo_nope", json!({})))
        .await
        .unwrap_err();
    client.cancel().await.unwrap();
    gw.audit_lines();

    let query = |q: &str| {
        send(
            admin,
            Method::GET,
            format!("/api/v1/audit?{q}"),
            token,
            None,
        )
    };
    let (status, all) = query(&format!("principal={}&tool=demo_echo", dev.0)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["matched"], 2);
    let records = all["records"].as_array().unwrap();
    assert!(
        records[0]["time"].as_str() >= records[1]["time"].as_str(),
        "newest first"
    );
    assert!(
        records
            .iter()
            .all(|r| r["principal"] == dev.0 && r["tool"] == "demo_echo")
    );
    let (_, unknown) = query(&format!("principal={}&outcome=unknown_tool", dev.0)).await;
    assert_eq!(unknown["matched"], 1, "{unknown}");
    let (_, limited) = query(&format!("principal={}&limit=1", dev.0)).await;
    assert_eq!(
        (
            limited["matched"].as_u64() >= Some(3),
            limited["returned"].as_u64()
        ),
        (true, Some(1))
    );
    let (_, future) = query("since=2999-01-01T00:00:00Z").await;
    assert_eq!(future["matched"], 0);
    let (_, recent) = query(&format!("since=1h&principal={}", dev.0)).await;
    assert!(recent["matched"].as_u64() >= Some(3), "{recent}");
    for (bad, wanted) in [
        ("outcome=fine", "not an outcome"),
        ("since=yesterday", "since:"),
        ("limit=x", "limit"),
    ] {
        let (status, body) = query(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(wanted),
            "{bad}: {body}"
        );
    }

    let export = |format: &str| {
        let url = format!(
            "http://{admin}/api/v1/audit/export?format={format}&principal={}",
            dev.0
        );
        let token = keys.admin.1.clone();
        async move {
            let answer = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
            let kind = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (kind, answer.text().await.unwrap())
        }
    };
    let (kind, jsonl) = export("jsonl").await;
    assert_eq!(kind, "application/x-ndjson");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() >= 3
            && lines
                .iter()
                .all(|r| r["principal"] == dev.0 && r["hash"].is_string())
    );
    let (kind, csv) = export("csv").await;
    assert!(kind.starts_with("text/csv"), "{kind}");
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        rows[0].starts_with("time,request_id,transport,principal"),
        "{}",
        rows[0]
    );
    assert_eq!(rows.len(), lines.len() + 1);
    let (status, body) = send(
        admin,
        Method::GET,
        "/api/v1/audit/export?format=xml",
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (_, verified) = send(admin, Method::GET, "/api/v1/audit/verify", token, None).await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(verified["records"].as_u64() > Some(3));
}

#[tokio::test]
async fn limits_are_shown_and_reset_and_upstreams_and_config_are_shown() {
    let extra = r#"
[upstreams.demo.env]
DEMO_TOKEN = "s3cr3t-value-123"
"#;
    // A caller limited to two calls a minute on a tool, through the tool's own rate.
    let config = example_config(&format!("{extra}{ADMIN_LISTEN}")).replace(
        "tools = [\"refund\", \"crash\"]",
        "tools = [\"refund\", \"crash\"]\nrate = \"2/min\"",
    );
    let mut keys = None;
    let gw = Gateway::start_plain(&with_many_refusals(config), |path| keys = Some(issue(path)));
    let keys = keys.unwrap();
    let admin = gw.admin.unwrap();
    let token = Some(keys.admin.1.as_str());
    let dev = create_key(&gw.config_path(), "dev", "", &[]);
    let client = gw.rmcp_client_with(Some(&dev.1)).await.unwrap();
    let refund = || {
        call(
            "demo_refund",
            json!({"invoice_id": "INV-1", "amount_cents": 1}),
        )
    };
    for _ in 0..2 {
        client.call_tool(refund()).await.unwrap();
    }
    let limited = client.call_tool(refund()).await.unwrap();
    assert_eq!(limited.is_error, Some(true));
    assert!(text_of(&limited).contains("rate limited"), "{limited:?}");
    let (_, usage) = send(admin, Method::GET, "/api/v1/limits", token, None).await;
    let mine = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["limit"] == "per_caller_tool" && u["key"] == format!("{} demo_refund", dev.0))
        .cloned();
    assert_eq!(
        mine.map(|u| u["capacity"].clone()),
        Some(json!(2.0)),
        "{usage}"
    );
    let (status, reset) = send(
        admin,
        Method::POST,
        "/api/v1/limits/reset",
        token,
        Some(json!({"principal": dev.0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert!(reset["buckets_forgotten"].as_u64() >= Some(1));
    let after_reset = client.call_tool(refund()).await.unwrap();
    assert_ne!(after_reset.is_error, Some(true), "{after_reset:?}");
    client.cancel().await.unwrap();

    let (_, upstreams) = send(admin, Method::GET, "/api/v1/upstreams", token, None).await;
    let demo = &upstreams["upstreams"][0];
    assert_eq!(
        (
            demo["name"].as_str(),
            demo["up"].as_bool(),
            demo["kind"].as_str()
        ),
        (Some("demo"), Some(true), Some("stdio"))
    );
    assert_eq!(demo["tools_published"], 11, "{upstreams}");
    let (_, tools) = send(
        admin,
        Method::GET,
        "/api/v1/upstreams/demo/tools",
        token,
        None,
    )
    .await;
    let refund = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "demo_refund")
        .unwrap();
    assert_eq!(
        (
            refund["read_only"].as_bool(),
            refund["upstream_tool"].as_str()
        ),
        (Some(false), Some("refund"))
    );
    let (status, _) = send(
        admin,
        Method::GET,
        "/api/v1/upstreams/nope/tools",
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, shown) = send(admin, Method::GET, "/api/v1/config", token, None).await;
    assert_eq!(
        shown["config"]["upstreams"]["demo"]["command"],
        "$PORTCULLIS"
    );
    assert!(!shown.to_string().contains("s3cr3t-value-123"), "{shown}");
}

#[tokio::test]
async fn approvals_and_pins_are_decided_through_the_api() {
    let state = tempfile::tempdir().unwrap();
    let tools_file = state.path().join("tools.json");
    let lookup = |description: &str| json!([{"name": "lookup", "description": description, "inputSchema": {"type": "object"}}]);
    std::fs::write(&tools_file, lookup("Looks a word up.").to_string()).unwrap();
    let config = format!(
        "{}{ADMIN_LISTEN}\n[[expose]]\nupstream = \"mut\"\ntools = [\"lookup\"]\ndestructive = true\napproval = \"operator\"\n",
        tools_file_config(&tools_file, &["never"], "")
    );
    let mut keys = None;
    let gw = Gateway::start_plain(&config, |path| keys = Some(issue(path)));
    let keys = keys.unwrap();
    let admin = gw.admin.unwrap();
    let ops = Some(keys.admin.1.as_str());
    let approver = Some(keys.approver.1.as_str());

    // A call parks; the admin key sees it but cannot decide; the approver decides.
    let client = gw.rmcp_client_with(Some(&keys.caller.1)).await.unwrap();
    let parked = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool(call("mut_lookup", json!({}))).await }
    });
    let mut waiting = Value::Null;
    for _ in 0..200 {
        let (_, list) = send(admin, Method::GET, "/api/v1/approvals", approver, None).await;
        if list["approvals"].as_array().is_some_and(|a| !a.is_empty()) {
            waiting = list["approvals"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = waiting["id"].as_str().expect("the call parked").to_string();
    assert_eq!(waiting["principal"], keys.caller.0);
    let (status, body) = send(
        admin,
        Method::POST,
        &format!("/api/v1/approvals/{id}/approve"),
        ops,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "admin is not approve: {body}"
    );
    let (status, body) = send(
        admin,
        Method::POST,
        &format!("/api/v1/approvals/{id}/approve"),
        approver,
        Some(json!({"reason": "checked"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ran = parked.await.unwrap().unwrap();
    assert!(text_of(&ran).contains("lookup ran"), "{ran:?}");
    let (status, _) = send(
        admin,
        Method::POST,
        &format!("/api/v1/approvals/{id}/deny"),
        approver,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "decided once");

    // The upstream changes the tool's description (the call made it say its list changed):
    // the tool is quarantined, the API shows the diff, and accepting publishes it again.
    std::fs::write(
        &tools_file,
        lookup("Looks a word up, in two languages.").to_string(),
    )
    .unwrap();
    let parked = tokio::spawn({
        let client = client.clone();
        async move { client.call_tool(call("mut_lookup", json!({}))).await }
    });
    let mut pin = Value::Null;
    for _ in 0..200 {
        let (_, list) = send(admin, Method::GET, "/api/v1/approvals", approver, None).await;
        if let Some(p) = list["approvals"].as_array().and_then(|a| a.first()) {
            send(
                admin,
                Method::POST,
                &format!("/api/v1/approvals/{}/approve", p["id"].as_str().unwrap()),
                approver,
                None,
            )
            .await;
        }
        let (_, shown) = send(admin, Method::GET, "/api/v1/pins/mut_lookup", ops, None).await;
        if shown["quarantined"] == true {
            pin = shown;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    parked.await.unwrap().unwrap();
    let diff = pin["diff"].as_str().expect("a changed definition waits");
    assert!(
        diff.contains("+") && diff.contains("two languages"),
        "{diff}"
    );
    let (_, pins) = send(admin, Method::GET, "/api/v1/pins", ops, None).await;
    assert_eq!(pins["pins"][0]["quarantined"], true, "{pins}");
    let (status, accepted) = send(
        admin,
        Method::POST,
        "/api/v1/pins/mut_lookup/accept",
        ops,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["quarantined"], false);
    assert_eq!(accepted["accepted_by"], keys.admin.0);
    let (status, _) = send(
        admin,
        Method::POST,
        "/api/v1/pins/mut_lookup/accept",
        ops,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing waits any more");
    client.cancel().await.unwrap();
    let records = gw.audit_lines();
    assert!(records.iter().any(|r| r["method"] == "approval/approve"
        && r["principal"] == keys.approver.0
        && r["transport"] == "admin"));
    assert!(
        records
            .iter()
            .any(|r| r["method"] == "pins/accept" && r["principal"] == keys.admin.0)
    );
}

/// Signs in to the console as a browser would; returns the cookie header and the CSRF token.
async fn sign_in(
    admin: SocketAddr,
    key: &str,
    origin: Option<&str>,
) -> Result<(String, String), (StatusCode, Value)> {
    let mut request = reqwest::Client::new()
        .post(format!("http://{admin}/console/session"))
        .json(&json!({"key": key}));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    let cookie = answer
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = answer.json().await.unwrap();
    if status != StatusCode::OK {
        return Err((status, body));
    }
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    Ok((pair, body["csrf"].as_str().unwrap().to_string()))
}

#[tokio::test]
async fn a_console_session_needs_its_csrf_token_and_origin_and_ends_with_its_key() {
    let (gw, keys) = start("");
    let admin = gw.admin.unwrap();
    let own = format!("http://{admin}");
    let (status, body) = sign_in(admin, &keys.admin.1, None).await.unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN, "no Origin: {body}");
    let (status, _) = sign_in(admin, &keys.admin.1, Some("https://evil.example"))
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = sign_in(admin, &keys.caller.1, Some(&own))
        .await
        .unwrap_err();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a caller's key cannot sign in"
    );
    let (status, _) = sign_in(admin, "pcs_forged", Some(&own)).await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (cookie, csrf) = sign_in(admin, &keys.admin.1, Some(&own)).await.unwrap();

    let http = reqwest::Client::new();
    let get = |with_csrf: bool| {
        let mut r = http
            .get(format!("{own}/api/v1/keys"))
            .header("cookie", &cookie);
        if with_csrf {
            r = r.header("x-csrf-token", &csrf);
        }
        r
    };
    assert_eq!(
        get(false).send().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "a cookie alone opens nothing"
    );
    assert_eq!(get(true).send().await.unwrap().status(), StatusCode::OK);
    let wrong = http
        .get(format!("{own}/api/v1/keys"))
        .header("cookie", &cookie)
        .header("x-csrf-token", "0".repeat(64));
    assert_eq!(wrong.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let post = |origin: Option<&str>| {
        let mut r = http
            .post(format!("{own}/api/v1/keys"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "from-console"}));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r
    };
    assert_eq!(
        post(None).send().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "a change needs an Origin"
    );
    assert_eq!(
        post(Some("https://evil.example"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(Some(&own)).send().await.unwrap().status(),
        StatusCode::CREATED
    );

    // The session holds the key: revoking it ends the session at once.
    let (status, _) = send(
        admin,
        Method::POST,
        &format!("/api/v1/keys/{}/revoke", keys.admin.0),
        Some(&keys.admin.1),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get(true).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refused_credentials_draw_on_the_per_address_limit() {
    let gw = Gateway::start_plain(&example_config(ADMIN_LISTEN), |_| {});
    let admin = gw.admin.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let answer = reqwest::Client::new()
            .get(format!("http://{admin}/api/v1/keys"))
            .bearer_auth("pcs_guess")
            .send()
            .await
            .unwrap();
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
        }
        statuses.push(answer.status());
    }
    let first_limited = statuses
        .iter()
        .position(|s| *s == StatusCode::TOO_MANY_REQUESTS)
        .expect("the shipped 30/min limit refuses guessing");
    assert_eq!(first_limited, 30, "{statuses:?}");
    assert!(
        statuses[..30]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn the_admin_listener_is_off_unless_configured() {
    let gw = Gateway::start_plain(&example_config(""), |_| {});
    assert_eq!(gw.admin, None);
    assert!(!gw.log().contains("admin"), "{}", gw.log());
    let config = example_config("\n[admin]\nlisten = \"127.0.0.1:8080\"\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, config).unwrap();
    let (ok, _, err) = portcullis(&["check", "--config", path.to_str().unwrap()]);
    assert!(
        !ok && err.contains("admin.listen") && err.contains("its own port"),
        "{err}"
    );
}

#[tokio::test]
async fn the_cli_queries_and_exports_the_audit_log_and_resets_a_caller() {
    let config = example_config("").replace(
        "tools = [\"refund\", \"crash\"]",
        "tools = [\"refund\", \"crash\"]\nrate = \"1/min\"",
    );
    let gw = Gateway::start_plain(&config, |_| {});
    let dev = create_key(&gw.config_path(), "dev", "", &[]);
    let client = gw.rmcp_client_with(Some(&dev.1)).await.unwrap();
    client
        .call_tool(call("demo_echo", json!({"text": "a"})))
        .await
        .unwrap();
    let refund = || {
        call(
            "demo_refund",
            json!({"invoice_id": "INV-1", "amount_cents": 1}),
        )
    };
    client.call_tool(refund()).await.unwrap();
    let limited = client.call_tool(refund()).await.unwrap();
    assert_eq!(limited.is_error, Some(true));
    gw.audit_lines();
    let config_path = gw.config_path();
    let config = config_path.to_str().unwrap();

    let (ok, out, err) = portcullis(&[
        "audit",
        "query",
        "--config",
        config,
        "--principal",
        &dev.0,
        "--outcome",
        "limited",
        "--json",
    ]);
    assert!(ok, "{err}");
    let found: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["tool"], "demo_refund");
    let (ok, out, _) = portcullis(&[
        "audit",
        "query",
        "--config",
        config,
        "--principal",
        &dev.0,
        "--since",
        "1h",
    ]);
    assert!(
        ok && out.lines().count() >= 3 && out.contains("demo_echo"),
        "{out}"
    );
    let (ok, _, err) = portcullis(&["audit", "query", "--config", config, "--outcome", "fine"]);
    assert!(!ok && err.contains("not an outcome"), "{err}");
    let (ok, _, err) = portcullis(&["audit", "query", "--config", config, "--since", "last week"]);
    assert!(!ok && err.contains("--since"), "{err}");

    let csv = gw.dir.path().join("out.csv");
    let (ok, _, err) = portcullis(&[
        "audit",
        "export",
        "--config",
        config,
        "--format",
        "csv",
        "--principal",
        &dev.0,
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(rows[0].starts_with("time,"), "{text}");
    assert!(
        rows.len() >= 4 && rows[1..].iter().all(|r| r.contains(&dev.0)),
        "{text}"
    );
    let (ok, out, _) = portcullis(&["audit", "export", "--config", config, "--tool", "demo_echo"]);
    assert!(ok);
    assert!(
        out.lines()
            .all(|l| serde_json::from_str::<Value>(l).unwrap()["tool"] == "demo_echo")
    );

    // A reset asked with the CLI reaches the running gateway within a second or two.
    let (ok, out, err) = portcullis(&["limits", "reset", "--config", config, &dev.0]);
    assert!(ok && out.contains("asked for reset"), "{out}{err}");
    let mut freed = false;
    for _ in 0..100 {
        if client.call_tool(refund()).await.unwrap().is_error != Some(true) {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "the reset never reached the gateway");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_rotated_log_is_verified_queried_and_exported_across_its_files() {
    let (gw, keys) = start("\n[audit]\nmax_file_bytes = 4096\n");
    let admin = gw.admin.unwrap();
    let token = Some(keys.admin.1.as_str());
    let dev = create_key(&gw.config_path(), "dev", "", &[]);
    let client = gw.rmcp_client_with(Some(&dev.1)).await.unwrap();
    for n in 0..40 {
        let text = format!("call {n}");
        client
            .call_tool(call("demo_echo", json!({"text": text})))
            .await
            .unwrap();
    }
    client.cancel().await.unwrap();
    gw.audit_lines();
    let rotated: Vec<String> = std::fs::read_dir(&gw.data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("audit.2") && n.ends_with(".jsonl"))
        .collect();
    assert!(rotated.len() >= 2, "{rotated:?}");

    let config_path = gw.config_path();
    let (ok, out, _) = portcullis(&["audit", "verify", "--config", config_path.to_str().unwrap()]);
    assert!(
        ok && out.contains(&format!("in {} files", rotated.len() + 1)),
        "{out}"
    );
    let (_, verified) = send(admin, Method::GET, "/api/v1/audit/verify", token, None).await;
    assert_eq!(
        (verified["intact"].as_bool(), verified["files"].as_u64()),
        (Some(true), Some(rotated.len() as u64 + 1)),
        "{verified}"
    );
    let (_, found) = send(
        admin,
        Method::GET,
        format!(
            "/api/v1/audit?principal={}&tool=demo_echo&limit=1000",
            dev.0
        ),
        token,
        None,
    )
    .await;
    assert_eq!(found["matched"], 40, "every call, whichever file holds it");
    let (ok, out, _) = portcullis(&[
        "audit",
        "export",
        "--config",
        config_path.to_str().unwrap(),
        "--principal",
        &dev.0,
        "--tool",
        "demo_echo",
    ]);
    assert!(ok);
    assert_eq!(out.lines().count(), 40);

    // A record changed in a rotated file breaks the chain there.
    let mut oldest = rotated.clone();
    oldest.sort();
    let file = gw.data_dir.join(&oldest[0]);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("\"outcome\":\"ok\"", "\"outcome\":\"refused\"", 1),
    )
    .unwrap();
    let (ok, out, _) = portcullis(&["audit", "verify", "--config", config_path.to_str().unwrap()]);
    assert!(
        !ok && out.contains("BROKEN") && out.contains(&oldest[0]),
        "{out}"
    );
}
