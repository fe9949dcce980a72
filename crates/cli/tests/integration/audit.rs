//! The audit log: one record per call, no secrets in it or in the logs, and tampering shows.

use serde_json::json;

use crate::harness::{Gateway, call, example_config, portcullis, text_of};

const SENTINELS: &[&str] = &[
    "SENTINEL-VALUE-7f3a",
    "SENTINEL-KEY-91bc",
    "SENTINEL-DEEP-4d2e",
    "sk_live_SENTINEL0000",
];

#[tokio::test]
async fn secrets_in_arguments_and_credentials_reach_neither_the_audit_log_nor_the_logs() {
    let gw = Gateway::start_with_env(&example_config(""), &[("PORTCULLIS_LOG", "debug")]);
    let client = gw.rmcp_client().await;
    let mut deep = json!("SENTINEL-DEEP-4d2e");
    for _ in 0..20 {
        deep = json!({"SENTINEL-KEY-91bc": [deep]});
    }
    let arguments = json!({
        "text": "SENTINEL-VALUE-7f3a",
        "SENTINEL-KEY-91bc": {"password": "sk_live_SENTINEL0000", "nested": deep},
    });
    let echoed = client
        .call_tool(call("demo_echo", arguments.clone()))
        .await
        .unwrap();
    assert_eq!(
        text_of(&echoed),
        "SENTINEL-VALUE-7f3a",
        "the call itself works"
    );
    let (direct, _) = gw
        .modern(
            "tools/call",
            json!({"name": "demo_echo", "arguments": arguments}),
        )
        .await;
    assert_eq!(
        direct["result"]["content"][0]["text"],
        "SENTINEL-VALUE-7f3a"
    );
    // A refused credential, too.
    let refused = reqwest::Client::new()
        .post(gw.url())
        .header("authorization", "Bearer pcs_SENTINEL-TOKEN-not-valid")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    client.cancel().await.unwrap();
    let audit_lines = gw.audit_lines();
    let calls: Vec<_> = audit_lines
        .iter()
        .filter(|r| r["tool"] == "demo_echo")
        .collect();
    assert_eq!(calls.len(), 2, "one record per call: {audit_lines:?}");
    assert_eq!(calls[0]["arguments"]["object"]["len"], 2);
    let audit = std::fs::read_to_string(gw.dir.path().join(".portcullis/audit.jsonl")).unwrap();
    let log = gw.log();
    let dev_key = gw.dev_key.clone().unwrap();
    for secret in SENTINELS
        .iter()
        .copied()
        .chain(["SENTINEL-TOKEN", dev_key.as_str()])
    {
        assert!(!audit.contains(secret), "{secret} is in the audit log");
        assert!(!log.contains(secret), "{secret} is in the gateway's log");
    }
    assert!(log.contains("DEBUG"), "the log ran at debug level");
}

#[tokio::test]
async fn every_exit_path_leaves_exactly_one_record() {
    let gw = Gateway::start(&example_config("").replace("timeout = \"20s\"", "timeout = \"1s\""));
    let client = gw.rmcp_client().await;
    let ok = client
        .call_tool(call("demo_echo", json!({"text": "x"})))
        .await
        .unwrap();
    assert_eq!(ok.is_error, Some(false));
    let _ = client
        .call_tool(call("demo_nope", json!({})))
        .await
        .unwrap_err();
    let _ = client
        .call_tool(call("demo_slow_count", json!({"steps": 0, "delay_ms": 1})))
        .await
        .unwrap_err();
    let timed_out = client
        .call_tool(call(
            "demo_slow_count",
            json!({"steps": 10, "delay_ms": 500}),
        ))
        .await
        .unwrap();
    assert_eq!(timed_out.is_error, Some(true));
    client.cancel().await.unwrap();
    let outcomes: Vec<(String, String)> = gw
        .audit_lines()
        .iter()
        .filter(|r| r["method"] == "tools/call")
        .map(|r| {
            (
                r["tool"].as_str().unwrap_or("").to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("demo_echo".to_string(), "ok".to_string()),
            ("demo_nope".into(), "unknown_tool".into()),
            ("demo_slow_count".into(), "upstream_error".into()),
            ("demo_slow_count".into(), "timeout".into()),
        ]
    );
    for r in gw.audit_lines() {
        for field in [
            "time",
            "request_id",
            "principal",
            "principal_kind",
            "transport",
            "decision",
            "reason",
            "latency_ms",
            "bytes_in",
            "bytes_out",
            "prev",
            "hash",
        ] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
    }
}

#[tokio::test]
async fn audit_verify_finds_the_tampered_record() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    for i in 0..5 {
        client
            .call_tool(call("demo_echo", json!({"text": format!("m{i}")})))
            .await
            .unwrap();
    }
    client.cancel().await.unwrap();
    let records = gw.audit_lines();
    let calls = records.iter().filter(|r| r["method"] == "tools/call");
    assert_eq!(calls.count(), 5);
    let log = gw.dir.path().join(".portcullis/audit.jsonl");
    let (ok, out, _) = portcullis(&["audit", "verify", log.to_str().unwrap()]);
    assert!(ok, "{out}");
    // Every request is on the record (the session's other requests and the barrier too).
    assert!(
        out.contains(&format!("ok, {} records", records.len() + 1)),
        "{out}"
    );
    let tampered = gw.dir.path().join("tampered.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let third_call = lines
        .iter()
        .position(|l| l.contains("\"method\":\"tools/call\""))
        .unwrap()
        + 2;
    lines[third_call] =
        lines[third_call].replace("\"decision\":\"allowed\"", "\"decision\":\"denied\"");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let (ok, out, _) = portcullis(&["audit", "verify", tampered.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains(&format!("BROKEN at record {}", third_call + 1)),
        "{out}"
    );
    let (ok, tail, _) = portcullis(&["audit", "tail", "-n", "2", log.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(tail.lines().count(), 2);
    assert_eq!(tail.lines().last(), text.lines().last());
}

#[tokio::test]
async fn the_chain_continues_across_restarts() {
    let mut gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let a = client.call_tool(call("demo_echo", json!({"text": "a"})));
    a.await.unwrap();
    client.cancel().await.unwrap();
    let data = gw.dir.path().join(".portcullis");
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(gw.terminate());
    // A second gateway on the same data directory (gw's, kept alive) appends to the same chain.
    let gw2 = Gateway::start_with_env(&config, &[("PORTCULLIS_DATA_DIR", data.to_str().unwrap())]);
    let client = gw2.rmcp_client().await;
    let b = client.call_tool(call("demo_echo", json!({"text": "b"})));
    b.await.unwrap();
    client.cancel().await.unwrap();
    let records = gw2.audit_lines();
    let calls: Vec<_> = records
        .iter()
        .filter(|r| r["method"] == "tools/call")
        .collect();
    assert_eq!(calls.len(), 2, "{records:?}");
    let log = data.join("audit.jsonl");
    let (ok, out, _) = portcullis(&["audit", "verify", log.to_str().unwrap()]);
    let whole = format!("ok, {} records", records.len() + 1);
    assert!(ok && out.contains(&whole), "{out}");
}
