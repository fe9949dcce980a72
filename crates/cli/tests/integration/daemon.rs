//! Running Portcullis like a daemon: `init` then `serve` then a real client; `connect` output
//! pasted into Claude Code; `doctor` on a sound and a broken setup.

use std::process::{Command, Stdio};

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_config_that_serve_runs_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = portcullis(&["init", "--dir", dir.path().to_str().unwrap()]);
    assert!(ok, "{err}");
    let config = dir.path().join("portcullis.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("api_keys = true"), "{text}");
    assert!(dir.path().join(".portcullis").is_dir());
    // It prints the next two commands, which are the ones this test runs.
    let next: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("portcullis "))
        .collect();
    assert_eq!(next.len(), 2, "{out}");
    assert!(
        next[0].starts_with("portcullis keys create --config "),
        "{out}"
    );
    assert!(next[1].starts_with("portcullis serve --config "), "{out}");
    // Again: it never overwrites.
    let (ok, _, err) = portcullis(&["init", "--dir", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("exists"), "{err}");

    let (_, token) = create_key(&config, "me", "invoices:read", &[]);
    let gateway = Gateway::serve_in(dir, &[], &[]);
    let client = gateway.rmcp_client_at(&gateway.url(), &token).await;
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": "hello from init"})))
        .await
        .unwrap();
    assert!(text_of(&echoed).contains("hello from init"));
    let invoice = client
        .call_tool(call("demo_get_invoice", json!({"invoice_id": "INV-1001"})))
        .await
        .unwrap();
    assert_ne!(invoice.is_error, Some(true), "{invoice:?}");
    client.cancel().await.unwrap();
    // Without a key: refused, as the written config says.
    let refused = ().serve(StreamableHttpClientTransport::from_uri(gateway.url())).await;
    assert!(refused.is_err());
}

#[test]
fn what_connect_prints_for_claude_code_connects() {
    let gateway = Gateway::start_plain(&example_config(""), |_| {});
    let config = gateway.config_path();
    let (ok, out, err) = portcullis(&[
        "connect",
        "--config",
        config.to_str().unwrap(),
        "--client",
        "claude-code",
        "--key-name",
        "claude",
    ]);
    assert!(ok, "{err}");
    // The address is the running gateway's, not the config's.
    assert!(out.contains(&gateway.url()), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("claude mcp add "))
        .unwrap_or_else(|| panic!("no claude line in {out}"));
    let home = tempfile::tempdir().unwrap();
    let added = Command::new("sh")
        .args(["-c", line])
        .envs(claude_env(home.path()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = claude(home.path(), &["mcp", "list"]);
    let entry = listed
        .lines()
        .find(|l| l.starts_with("portcullis:"))
        .unwrap_or_else(|| panic!("not listed:\n{listed}"));
    assert!(entry.contains("✔ Connected"), "{listed}");
    // Its requests came with the key connect issued.
    let audit = gateway.audit_lines();
    assert!(
        audit
            .iter()
            .any(|r| r["principal_kind"] == "api_key" && r["method"] == "initialize"),
        "{audit:?}"
    );
}

#[test]
fn connect_prints_each_client_and_keeps_the_key_out_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        example_config("[groups.support]\ntools = [\"demo_echo\"]\n"),
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let (ok, out, err) = portcullis(&["connect", "--config", path, "--group", "support"]);
    assert!(ok, "{err}");
    assert!(err.contains("no gateway is serving"), "{err}");
    assert!(!out.contains("pcs_"), "no key was asked for: {out}");
    assert!(
        out.contains("claude mcp add --transport http portcullis 'http://127.0.0.1:8080/mcp/g/support' --header \"Authorization: Bearer $PORTCULLIS_API_KEY\""),
        "{out}"
    );
    // The JSON blocks parse, and say what each client needs.
    let blocks = json_blocks(&out);
    assert_eq!(blocks.len(), 3, "{out}");
    let desktop = &blocks[0]["mcpServers"]["portcullis"];
    assert_eq!(desktop["args"][0], "stdio");
    let cursor = &blocks[1]["mcpServers"]["portcullis"];
    assert_eq!(
        cursor["headers"]["Authorization"],
        "Bearer ${env:PORTCULLIS_API_KEY}"
    );
    let vscode = &blocks[2];
    assert_eq!(vscode["inputs"][0]["password"], true);
    assert_eq!(
        vscode["servers"]["portcullis"]["headers"]["Authorization"],
        "Bearer ${input:portcullis-key}"
    );
    assert!(out.contains("[mcp_servers.portcullis]"), "{out}");
    let (ok, _, err) = portcullis(&["connect", "--config", path, "--group", "nope"]);
    assert!(!ok);
    assert!(err.contains("no such group"), "{err}");
    let (ok, _, err) = portcullis(&[
        "connect",
        "--config",
        path,
        "--key-name",
        "x",
        "--scopes",
        "no:such",
    ]);
    assert!(!ok);
    assert!(err.contains("no:such"), "{err}");
}

/// The JSON objects in `text`, each starting on a line that is just `{`.
fn json_blocks(text: &str) -> Vec<serde_json::Value> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line == "{" {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line == "}" {
                blocks.push(serde_json::from_str(block).unwrap());
                current = None;
            }
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_tools_find_describe_and_call_only_what_the_caller_may_see() {
    let extra = r#"
[[expose]]
upstream = "demo"
tools = ["delete_user"]
destructive = true
scopes = ["users:admin"]
approval = "none"

[groups.big]
tools = ["demo_*"]
catalogue = "meta"
"#;
    let gateway = Gateway::start_plain(&example_config(extra), |_| {});
    let (_, token) = create_key(&gateway.config_path(), "agent", "", &[]);
    let url = format!("http://{}/mcp/g/big", gateway.addr);
    let client = gateway.rmcp_client_at(&url, &token).await;
    assert_eq!(
        tool_names_of(&client).await,
        ["call_tool", "describe_tool", "search_tools"]
    );

    let found = |result: &rmcp::model::CallToolResult| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&text_of(result)).unwrap();
        assert_eq!(result.structured_content.as_ref(), Some(&v));
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    let everything = client
        .call_tool(call("search_tools", json!({"query": "", "limit": 50})))
        .await
        .unwrap();
    let everything = found(&everything);
    assert!(
        everything.contains(&"demo_echo".to_string()),
        "{everything:?}"
    );
    assert!(
        !everything.iter().any(|n| n == "demo_delete_user"),
        "{everything:?}"
    );
    let users = client
        .call_tool(call("search_tools", json!({"query": "delete user"})))
        .await
        .unwrap();
    assert!(found(&users).is_empty(), "{users:?}");
    let invoices = client
        .call_tool(call("search_tools", json!({"query": "invoice"})))
        .await
        .unwrap();
    assert_eq!(found(&invoices)[0], "demo_get_invoice");

    let described = client
        .call_tool(call("describe_tool", json!({"name": "demo_echo"})))
        .await
        .unwrap();
    let definition: serde_json::Value = serde_json::from_str(&text_of(&described)).unwrap();
    assert_eq!(definition["name"], "demo_echo");
    assert!(
        definition["inputSchema"]["properties"]["text"].is_object(),
        "{definition}"
    );
    let hidden = client
        .call_tool(call("describe_tool", json!({"name": "demo_delete_user"})))
        .await
        .unwrap_err()
        .to_string();
    let absent = client
        .call_tool(call("describe_tool", json!({"name": "demo_nothing"})))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        hidden.replace("demo_delete_user", "NAME"),
        absent.replace("demo_nothing", "NAME"),
        "a hidden tool must read as one that does not exist"
    );

    let echoed = client
        .call_tool(call(
            "call_tool",
            json!({"name": "demo_echo", "arguments": {"text": "through the meta-tool"}}),
        ))
        .await
        .unwrap();
    assert!(text_of(&echoed).contains("through the meta-tool"));
    let refused = client
        .call_tool(call(
            "call_tool",
            json!({"name": "demo_delete_user", "arguments": {"user_id": "u1"}}),
        ))
        .await;
    let refused = format!("{refused:?}");
    assert!(refused.contains("unknown tool"), "{refused}");
    // The whole pipeline runs: the guardrail withholds the poisoned page here too.
    let page = client
        .call_tool(call(
            "call_tool",
            json!({"name": "demo_fetch_page", "arguments": {"product": "kettle"}}),
        ))
        .await
        .unwrap();
    assert_eq!(page.is_error, Some(true), "{page:?}");
    client.cancel().await.unwrap();

    // Audited as the real tools.
    let audit = gateway.audit_lines();
    let calls: Vec<(&str, &str)> = audit
        .iter()
        .filter(|r| r["method"] == "tools/call")
        .map(|r| {
            (
                r["tool"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(calls.contains(&("demo_echo", "ok")), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|(tool, outcome)| *tool == "demo_delete_user" && *outcome != "ok"),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|(tool, _)| *tool == "demo_fetch_page"),
        "{calls:?}"
    );
    // The main endpoint still lists the tools themselves.
    let main = gateway.rmcp_client_at(&gateway.url(), &token).await;
    let tools = main.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "demo_echo"));
    main.cancel().await.unwrap();
}

fn doctor(config: &std::path::Path) -> (i32, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["doctor", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), report)
}

#[test]
fn doctor_passes_a_sound_setup() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\n{}",
            example_config("")
        ),
    )
    .unwrap();
    let (code, report) = doctor(&config);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["worst"], "ok");
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for check in [
        "config",
        "data directory",
        "store",
        "audit log",
        "clock",
        "gateway.listen",
        "upstream demo",
    ] {
        assert!(checks.contains(&check), "{check} not checked: {checks:?}");
    }
}

#[test]
fn doctor_finds_each_problem_of_a_broken_setup_and_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            r#"[gateway]
listen = "{}"

[[auth.issuers]]
issuer = "https://sso.test"
jwks_url = "http://{closed}/jwks"

[upstreams.gone]
kind = "stdio"
command = "/bin/false"

[upstreams.web]
kind = "http"
url = "http://{closed}/mcp"
{}"#,
            busy.local_addr().unwrap(),
            example_config("")
        ),
    )
    .unwrap();
    let data = dir.path().join(".portcullis");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        data.join("audit.jsonl"),
        "{\"seq\":1,\"prev\":\"0\",\"hash\":\"forged\"}\n",
    )
    .unwrap();
    let (code, report) = doctor(&config);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["worst"], "error");
    let findings = report["findings"].as_array().unwrap();
    let of = |check: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no {check} in {report:#}"))
    };
    for (check, severity) in [
        ("gateway.listen", "error"),
        ("upstream gone", "error"),
        ("upstream web", "error"),
        ("upstream demo", "ok"),
        ("audit log", "error"),
        ("data directory", "warning"),
        ("issuer https://sso.test", "error"),
    ] {
        let f = of(check);
        assert_eq!(f["severity"], severity, "{f}");
        if severity != "ok" {
            assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()), "{f}");
        }
    }
    assert!(
        of("data directory")["fix"]
            .as_str()
            .unwrap()
            .contains("chmod 700")
    );
    // A config that does not parse: said with its path, and the rest is not guessed at.
    std::fs::write(&config, "[upstreams.x]\nkind = \"carrier-pigeon\"\n").unwrap();
    let (code, report) = doctor(&config);
    assert_eq!(code, 2);
    let detail = report["findings"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("upstreams.x.kind"), "{detail}");
}
