//! The audit log: one record per call, no secrets in it or in the logs, and tampering shows.

use std::time::Duration;

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
    // Its body was never read, so the connection is not reused, and the client is told.
    assert_eq!(refused.headers()["connection"], "close");
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

/// `portcullis stdio` on `data`, with `key`, making `calls` calls to `demo_echo`; returns how
/// many were answered.
fn stdio_calls(config: &std::path::Path, data: &std::path::Path, key: &str, calls: usize) -> usize {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::harness::BIN)
        .arg("--data-dir")
        .arg(data)
        .args(["stdio", "--config"])
        .arg(config)
        .env("PORTCULLIS_API_KEY", key)
        .env("PORTCULLIS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: serde_json::Value| writeln!(stdin, "{v}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}),
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    for i in 1..=calls {
        send(json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "demo_echo", "arguments": {"text": format!("stdio {i}")}}}));
    }
    let mut answered = 0;
    let mut line = String::new();
    while answered <= calls && stdout.read_line(&mut line).unwrap() > 0 {
        answered += 1;
        line.clear();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    answered - 1
}

/// `portcullis audit verify` on `log`: the records it counted, and its whole output.
fn verify(log: &std::path::Path) -> (usize, String) {
    let (ok, out, err) = portcullis(&["audit", "verify", log.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let count = out
        .split("ok, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    (count, out)
}

#[tokio::test]
async fn two_serves_and_a_stdio_gateway_on_one_data_directory_keep_one_chain() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_string();
    let env = [("PORTCULLIS_DATA_DIR", data_dir.as_str())];
    let a = Gateway::start_with_env(&example_config(""), &env);
    let b = Gateway::start_with_env(&example_config(""), &env);
    let (_, key) =
        crate::harness::create_key(&a.config_path(), "stdio", "", &["--data-dir", &data_dir]);
    const CALLS: usize = 60;
    let config = a.config_path();
    let stdio = {
        let data = data.path().to_path_buf();
        std::thread::spawn(move || stdio_calls(&config, &data, &key, CALLS))
    };
    fn load(
        gw: &Gateway,
    ) -> impl Future<Output = Vec<(serde_json::Value, Vec<serde_json::Value>)>> + '_ {
        let calls = (0..CALLS).map(move |i| {
            gw.modern(
                "tools/call",
                json!({"name": "demo_echo", "arguments": {"text": format!("http {i}")}}),
            )
        });
        futures::future::join_all(calls)
    }
    let (from_a, from_b) = tokio::join!(load(&a), load(&b));
    for (answer, _) in from_a.iter().chain(&from_b) {
        assert_eq!(answer["result"]["isError"], false, "{answer}");
    }
    assert_eq!(stdio.join().unwrap(), CALLS);
    // Each gateway writes its records in its own time: a barrier through each.
    b.audit_lines();
    let lines = a.audit_lines();
    let by_transport = |t: &str| {
        lines
            .iter()
            .filter(|r| r["method"] == "tools/call" && r["transport"] == t)
            .count()
    };
    assert_eq!(
        by_transport("http"),
        2 * CALLS,
        "every call is on the record"
    );
    assert_eq!(by_transport("stdio"), CALLS);
    let (records, _) = verify(&data.path().join("audit.jsonl"));
    assert_eq!(
        records,
        std::fs::read_to_string(data.path().join("audit.jsonl"))
            .unwrap()
            .lines()
            .count()
    );
}

#[tokio::test]
async fn a_writer_killed_under_load_leaves_a_log_that_verifies_and_the_next_start_continues_it() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_string();
    let env = [("PORTCULLIS_DATA_DIR", data_dir.as_str())];
    let log = data.path().join("audit.jsonl");
    let mut gw = Gateway::start_with_env(&example_config(""), &env);
    // Load from several clients at once; the gateway is killed while it is under way.
    let load = futures::future::join_all((0..4).map(|c| {
        let gw = &gw;
        async move {
            for i in 0..25 {
                gw.modern(
                    "tools/call",
                    json!({"name": "demo_echo", "arguments": {"text": format!("{c}/{i}")}}),
                )
                .await;
            }
        }
    }));
    tokio::time::timeout(Duration::from_secs(60), load)
        .await
        .unwrap();
    let first = verify(&log).0;
    // More calls, and SIGKILL while they are in flight (their answers may never come).
    let url = gw.url();
    let bearer = gw.bearer();
    let more = futures::future::join_all((0..8).map(|i| {
        let request =
            crate::harness::modern_post(&url, Some(&bearer), "tools/call", Some("demo_echo")).json(
                &json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
                "name": "demo_echo", "arguments": {"text": format!("late {i}")},
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {}}}}),
            );
        async move {
            let _ = request.send().await;
        }
    }));
    let pid = gw.pid().to_string();
    let kill = async {
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        assert!(killed.unwrap().success());
    };
    let _ = tokio::join!(tokio::time::timeout(Duration::from_secs(5), more), kill);
    gw.kill();
    let (after_kill, _) = verify(&log);
    assert!(
        after_kill >= first,
        "nothing written before the kill is lost"
    );
    // A writer that died in the middle of a record leaves its last line unfinished.
    let text = std::fs::read_to_string(&log).unwrap();
    let whole = &text[..text.rfind('\n').unwrap() + 1];
    std::fs::write(&log, &whole[..whole.len() - 30]).unwrap();
    let (torn, out) = verify(&log);
    assert_eq!(torn, whole.lines().count() - 1, "{out}");
    assert!(out.contains("unfinished record"), "{out}");
    // The next start cuts the unfinished line off, says so in the chain, and continues it.
    let gw2 = Gateway::start_with_env(&example_config(""), &env);
    let (answer, _) = gw2
        .modern(
            "tools/call",
            json!({"name": "demo_echo", "arguments": {"text": "after"}}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let lines = gw2.audit_lines();
    let repair: Vec<_> = lines
        .iter()
        .filter(|r| r["method"] == "audit/repair")
        .collect();
    assert_eq!(repair.len(), 1, "{lines:?}");
    assert!(
        repair[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unfinished record")
    );
    let (records, out) = verify(&log);
    assert!(!out.contains("unfinished"), "{out}");
    assert!(records > torn + 1, "{out}");
}
