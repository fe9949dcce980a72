//! The live registry and reloads: `portcullis upstreams …` and `groups …` change the config
//! file of a running gateway, which swaps the new config in without a restart; SIGHUP and
//! edits of the file reload it too. Real binary, real upstreams (stdio and HTTP), the Rust SDK
//! client told by `notifications/tools/list_changed`.

use std::process::Command;

use rmcp::model::{NumberOrString, ProgressToken, RequestParamsMeta};
use serde_json::json;

use crate::harness::*;

fn registry(gateway: &Gateway, args: &[&str]) -> (bool, String, String) {
    // Before the arguments: everything after a stdio command belongs to it.
    let config = gateway.config_path();
    let mut all: Vec<&str> = args[..2].to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    all.extend(&args[2..]);
    portcullis(&all)
}

#[tokio::test(flavor = "multi_thread")]
async fn upstreams_added_and_removed_reach_a_running_gateway_and_a_call_in_flight_finishes() {
    let gateway = Gateway::start(&example_config(""));
    let web = HttpUpstream::start();
    let (client, mut told, mut progress) = told_client(&gateway).await;
    assert!(
        !tool_names_of(&client)
            .await
            .iter()
            .any(|n| n.starts_with("two_"))
    );

    // A stdio upstream.
    let (ok, out, err) = registry(
        &gateway,
        &[
            "upstreams",
            "add",
            "two",
            "--expose",
            "echo",
            "--expose",
            "slow_count",
            "--read-only",
            "--command",
            "$PORTCULLIS",
            "example-server",
        ],
    );
    assert!(ok, "upstreams add failed: {err}");
    assert!(out.contains("added upstream `two`"), "{out}");
    until_tools(&client, &mut told, "two_echo", |n| {
        n.iter().any(|t| t == "two_echo")
    })
    .await;
    let echoed = client
        .call_tool(call("two_echo", json!({"text": "via two"})))
        .await
        .unwrap();
    assert!(text_of(&echoed).contains("via two"));

    // An HTTP upstream, with a header from the gateway's environment.
    let (ok, _, err) = registry(
        &gateway,
        &[
            "upstreams",
            "add",
            "web",
            "--url",
            &web.url,
            "--header",
            "X-Team=ENV:HOME",
            "--expose",
            "plain",
            "--read-only",
        ],
    );
    assert!(ok, "upstreams add --url failed: {err}");
    until_tools(&client, &mut told, "web_plain", |n| {
        n.iter().any(|t| t == "web_plain")
    })
    .await;
    let plain = client
        .call_tool(call("web_plain", json!({})))
        .await
        .unwrap();
    assert_eq!(text_of(&plain), "plain answer");
    let (ok, listed, _) = registry(&gateway, &["upstreams", "list", "--json"]);
    assert!(ok);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let kinds: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("demo", "stdio"), ("two", "stdio"), ("web", "http")]
    );

    // A long call on `two` (15 s), then `two` is removed while it runs: it finishes, whole.
    let slow = {
        let client = client.clone();
        let mut params = call("two_slow_count", json!({"steps": 100, "delay_ms": 150}));
        params.set_progress_token(ProgressToken(NumberOrString::Number(1)));
        tokio::spawn(async move { client.call_tool(params).await })
    };
    progress
        .recv()
        .await
        .expect("no progress from the slow call");
    let (ok, _, err) = registry(&gateway, &["upstreams", "remove", "two"]);
    assert!(ok, "upstreams remove failed: {err}");
    let now = until_tools(&client, &mut told, "the removal of two", |n| {
        !n.iter().any(|t| t.starts_with("two_"))
    })
    .await;
    assert!(now.contains(&"web_plain".to_string()), "{now:?}");
    assert!(
        !slow.is_finished(),
        "the slow call ended before the removal was seen: the test proves nothing"
    );
    let result = slow.await.unwrap().expect("the call in flight failed");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(text_of(&result), "counted to 100");
    // A new call to the removed tool is refused as unknown.
    let gone = client
        .call_tool(call("two_echo", json!({"text": "x"})))
        .await;
    assert!(gone.is_err(), "{gone:?}");

    // Disable and enable: the tools go and come back; the section stays.
    let (ok, _, err) = registry(&gateway, &["upstreams", "disable", "web"]);
    assert!(ok, "{err}");
    until_tools(&client, &mut told, "web disabled", |n| {
        !n.iter().any(|t| t == "web_plain")
    })
    .await;
    let (ok, _, err) = registry(&gateway, &["upstreams", "enable", "web"]);
    assert!(ok, "{err}");
    until_tools(&client, &mut told, "web enabled", |n| {
        n.iter().any(|t| t == "web_plain")
    })
    .await;
    client.cancel().await.unwrap();

    // Every change is on the record.
    let audit = gateway.audit_lines();
    let methods: Vec<&str> = audit
        .iter()
        .filter_map(|r| r["method"].as_str())
        .filter(|m| m.starts_with("registry/") || *m == "config/reload")
        .collect();
    for method in [
        "registry/upstreams/add",
        "registry/upstreams/remove",
        "registry/upstreams/disable",
        "registry/upstreams/enable",
    ] {
        assert!(
            methods.contains(&method),
            "{method} not audited: {methods:?}"
        );
    }
    assert!(
        methods.iter().filter(|m| **m == "config/reload").count() >= 5,
        "{methods:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_change_is_refused_and_the_running_config_stays() {
    let gateway = Gateway::start(&example_config(""));
    let path = gateway.config_path();
    let before = std::fs::read_to_string(&path).unwrap();

    // The registry refuses, naming the path and the fix, and leaves the file alone.
    let (ok, _, err) = registry(
        &gateway,
        &[
            "upstreams",
            "add",
            "far",
            "--url",
            "http://example.com/mcp",
            "--expose",
            "*",
            "--read-only",
        ],
    );
    assert!(!ok);
    assert!(err.contains("upstreams.far.url"), "{err}");
    assert!(err.contains("https"), "{err}");
    assert!(err.contains("the config file is unchanged"), "{err}");
    let (ok, _, err) = registry(&gateway, &["upstreams", "add", "demo", "--command", "true"]);
    assert!(!ok);
    assert!(err.contains("exists"), "{err}");
    let (ok, _, err) = registry(
        &gateway,
        &[
            "upstreams",
            "add",
            "leaky",
            "--url",
            "http://127.0.0.1:9/mcp",
            "--header",
            "Authorization=Bearer abc",
        ],
    );
    assert!(!ok);
    assert!(err.contains("K=ENV:VAR"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // A broken edit by hand: the gateway refuses it, says so, and keeps serving.
    std::fs::write(
        &path,
        format!(
            "{before}\n[[expose]]\nupstream = \"nowhere\"\ntools = [\"x\"]\nread_only = true\n"
        ),
    )
    .unwrap();
    let pid = gateway.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let refused = loop {
        let audit = gateway.audit_lines();
        if let Some(r) = audit
            .iter()
            .find(|r| r["method"] == "config/reload" && r["outcome"] == "refused")
        {
            break r.clone();
        }
        tokio::task::yield_now().await;
    };
    let reason = refused["reason"].as_str().unwrap();
    assert!(reason.contains("expose[2].upstream"), "{reason}");
    let client = gateway.rmcp_client().await;
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": "still here"})))
        .await
        .unwrap();
    assert!(text_of(&echoed).contains("still here"));
    client.cancel().await.unwrap();
    let refusals = gateway
        .audit_lines()
        .iter()
        .filter(|r| r["method"] == "registry/upstreams/add" && r["outcome"] == "refused")
        .count();
    assert_eq!(refusals, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_under_load_fails_no_call_and_keeps_unchanged_upstreams() {
    let gateway = Gateway::start(&example_config(""));
    let path = gateway.config_path();
    let original = std::fs::read_to_string(&path).unwrap();
    let client = gateway.rmcp_client().await;
    let pid_of_demo = text_of(
        &client
            .call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let mut load = Vec::new();
    for worker in 0..4 {
        let client = client.clone();
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut calls = 0u32;
            while !stop.is_cancelled() {
                let text = format!("worker {worker} call {calls}");
                let result = client
                    .call_tool(call("demo_echo", json!({ "text": text })))
                    .await
                    .unwrap_or_else(|e| panic!("call {calls} of worker {worker} failed: {e}"));
                assert!(text_of(&result).contains(&text), "{result:?}");
                calls += 1;
            }
            calls
        }));
    }
    // Five reloads, each with a change (a group added, then a new limit), under the load.
    let pid = gateway.pid().to_string();
    for round in 0..5 {
        let changed = format!("{original}\n[groups.g{round}]\ntools = [\"demo_echo\"]\n");
        std::fs::write(&path, &changed).unwrap();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
        loop {
            let reloads = gateway
                .audit_lines()
                .iter()
                .filter(|r| r["method"] == "config/reload" && r["outcome"] == "ok")
                .count();
            if reloads > round {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    stop.cancel();
    let mut total = 0;
    for worker in load {
        total += worker.await.unwrap();
    }
    assert!(total > 0);
    // The upstream's section did not change: same process, same session.
    let after = text_of(
        &client
            .call_tool(call("demo_process_id", json!({})))
            .await
            .unwrap(),
    );
    assert_eq!(after, pid_of_demo);
    client.cancel().await.unwrap();
    let log = gateway.log();
    assert!(
        log.contains("config reloaded (no upstream changed)"),
        "{log}"
    );
    // The last group is served.
    let url = format!("http://{}/mcp/g/g4", gateway.addr);
    let grouped = gateway
        .rmcp_client_at(&url, gateway.dev_key.as_deref().unwrap())
        .await;
    let tools = grouped.list_all_tools().await.unwrap();
    assert_eq!(
        tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>(),
        ["demo_echo"]
    );
    grouped.cancel().await.unwrap();
    assert!(
        !gateway.log().contains("apply only when"),
        "{}",
        gateway.log()
    );
    // A change only a start applies is named as such; the rest of the reload applies.
    std::fs::write(
        &path,
        format!("[gateway]\nallowed_hosts = [\"gw.test\"]\ncatalogue = \"meta\"\n{original}"),
    )
    .unwrap();
    while !gateway
        .log()
        .contains("changes to [gateway] apply only when the gateway starts again")
    {
        tokio::task::yield_now().await;
    }
    let meta = gateway.tool_names().await;
    assert_eq!(meta, ["call_tool", "describe_tool", "search_tools"]);
}

#[test]
fn groups_are_created_changed_and_removed_in_the_file_keeping_its_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(
        &path,
        format!("# the team's gateway\n{}", example_config("")),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = args[..2].to_vec();
        all.extend(["--config", config]);
        all.extend(&args[2..]);
        portcullis(&all)
    };
    let (ok, _, err) = run(&["groups", "create", "support", "--tools", "demo_echo"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["groups", "members", "support", "--add", "demo_get_invoice"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["demo_echo", "demo_get_invoice"]
    );
    let (ok, out, _) = run(&["groups", "list", "--json"]);
    assert!(ok);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "support");
    assert_eq!(listed[0]["tools"], json!(["demo_echo", "demo_get_invoice"]));
    let (ok, _, err) = run(&["groups", "create", "bad name!", "--tools", "x"]);
    assert!(!ok);
    assert!(err.contains("groups.bad name!"), "{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# the team's gateway\n"), "{text}");
    assert!(
        text.contains("# These tests are not about approval"),
        "{text}"
    );
    let (ok, _, err) = run(&["groups", "remove", "support"]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["groups", "list"]);
    assert!(ok);
    assert_eq!(out.trim(), "no groups");
    let (ok, _, err) = run(&["groups", "remove", "support"]);
    assert!(!ok);
    assert!(err.contains("no group of that name"), "{err}");
}

#[test]
fn upstreams_test_lists_what_would_be_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, example_config("")).unwrap();
    let config = path.to_str().unwrap();
    let (ok, out, err) = portcullis(&["upstreams", "test", "demo", "--config", config]);
    assert!(ok, "{err}");
    assert!(out.contains("upstream `demo`: connected"), "{out}");
    assert!(
        out.contains("published as demo_echo (read-only; scopes: none)"),
        "{out}"
    );
    assert!(
        out.contains("delete_user") && out.contains("not published"),
        "{out}"
    );
    let (ok, _, err) = portcullis(&["upstreams", "test", "nope", "--config", config]);
    assert!(!ok);
    assert!(err.contains("upstreams.nope"), "{err}");
}
