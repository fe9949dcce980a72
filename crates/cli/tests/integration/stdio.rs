//! `portcullis stdio`: one client on stdin/stdout, seen on the wire.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{BIN, create_key, raw_upstream_config};

#[test]
fn stdio_serves_a_legacy_session_with_every_tool_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("p.toml");
    std::fs::write(&config, raw_upstream_config(&["tasky", "plain"], "")).unwrap();
    let (_, key) = create_key(&config, "stdio", "", &[]);
    let mut child = Command::new(BIN)
        .args(["stdio", "--config"])
        .arg(&config)
        .env("PORTCULLIS_LOG", "warn")
        .env("PORTCULLIS_API_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    };
    let mut read = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let init = read();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert!(init["result"]["capabilities"].get("resources").is_none());
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let list = read();
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["raw_plain", "raw_tasky"]);
    assert_eq!(tools[1]["execution"], json!({"taskSupport": "optional"}));
    assert!(!list.to_string().contains("dev.portcullis"), "{list}");
    send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "raw_plain", "arguments": {}}}));
    let call = read();
    assert_eq!(
        call["result"]["content"][0]["text"], "plain answer",
        "{call}"
    );
    assert!(
        call["result"].get("resultType").is_none(),
        "legacy session: {call}"
    );
    send(json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}));
    assert_eq!(read()["result"], json!({}));
    send(json!({"jsonrpc": "2.0", "id": 5, "method": "prompts/list"}));
    assert_eq!(read()["error"]["code"], -32601);
    drop(stdin);
    assert!(child.wait().unwrap().success());
    // Every request on the record, once, with the caller.
    let log = std::fs::read_to_string(dir.path().join(".portcullis/audit.jsonl")).unwrap();
    let (records, gateway): (Vec<Value>, Vec<Value>) = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .partition(|r| r["transport"] == "stdio");
    // Besides the requests, the gateway's own record of the tools it pinned at first sight.
    assert_eq!(gateway.len(), 1, "{log}");
    assert_eq!(gateway[0]["method"], "catalogue/pin");
    assert!(
        gateway[0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("raw_plain, raw_tasky"),
        "{log}"
    );
    let methods: Vec<&str> = records
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "tools/list",
            "tools/call",
            "ping",
            "prompts/list"
        ],
        "{log}"
    );
    for r in &records {
        assert_eq!(r["transport"], "stdio");
        assert_eq!(r["principal_kind"], "api_key", "{r}");
    }
    assert_eq!(records[4]["outcome"], "refused");
    assert!(
        records[2]["bytes_in"].as_u64().unwrap() > 0,
        "{}",
        records[2]
    );
}
