//! Upstream OAuth login against a real authorization server (npm's `oidc-provider`, started
//! by the test) and an upstream that accepts only its tokens: `portcullis login` discovers the
//! server, registers a client, runs the code flow with PKCE through its loopback redirect (the
//! test plays the browser); the gateway uses and refreshes the tokens; a revoked refresh token
//! ends the login and `doctor` says so; `logout` forgets it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::harness::*;

const KEY: &str = "a-test-key-of-more-than-thirty-two-bytes-0123456789";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The authorization server, its issuer URL and its events file.
fn authorization_server(dir: &Path) -> (Killed, String, PathBuf) {
    let node = repo_root().join(".tools/node22");
    assert!(
        node.exists()
            && repo_root()
                .join(".tools/oidc/node_modules/oidc-provider")
                .exists(),
        "run scripts/install-test-tools: it installs Node 22 and oidc-provider"
    );
    let portfile = dir.join("as.port");
    let events = dir.join("as.events");
    let mut child = Command::new(node)
        .arg(fixture("oauth_server.mjs"))
        .arg(&portfile)
        .arg(&events)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_port(&mut child, &portfile, "the authorization server");
    (Killed(child), format!("http://127.0.0.1:{port}"), events)
}

/// The upstream that accepts only the issuer's tokens for itself; its URL and tokens file.
fn protected_upstream(dir: &Path, issuer: &str) -> (Killed, String, PathBuf) {
    let python = repo_root().join(".tools/venv/bin/python");
    assert!(python.exists(), "run scripts/install-test-tools");
    let portfile = dir.join("up.port");
    let mut child = Command::new(python)
        .arg(fixture("raw_upstream.py"))
        .args(["--http", portfile.to_str().unwrap(), "--oauth", issuer])
        .spawn()
        .unwrap();
    let port = wait_for_port(&mut child, &portfile, "the protected upstream");
    (
        Killed(child),
        format!("http://127.0.0.1:{port}/mcp"),
        dir.join("up.port.tokens"),
    )
}

/// Plays the user's browser from `start`: follows redirects (keeping the server's cookies),
/// posts the one form of a page that has one (the device flow's confirmation), and ends on the
/// page that says the login succeeded (the loopback redirect's, or the device flow's).
async fn play_browser(start: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut url = reqwest::Url::parse(start).unwrap();
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..20 {
        let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request = match form.take() {
            Some(fields) => http.post(url.clone()).form(&fields),
            None => http.get(url.clone()),
        };
        let response = request
            .header("cookie", jar.join("; "))
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                cookies.insert(k.trim().to_string(), v.to_string());
            }
        }
        if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_string();
            url = url.join(&location).unwrap();
            continue;
        }
        let status = response.status();
        let page = response.text().await.unwrap();
        assert!(status.is_success(), "{status}: {page}");
        if page.contains("logged in") {
            return;
        }
        // A page with a form: its hidden fields, posted where it says.
        let attribute = |tag: &str, name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            Some(tag[start..].split('"').next()?.to_string())
        };
        let action = page
            .split("<form")
            .nth(1)
            .and_then(|f| attribute(f, "action"))
            .unwrap_or_else(|| panic!("no form in {page}"));
        let fields: Vec<(String, String)> = page
            .split("<input")
            .skip(1)
            .filter_map(|tag| {
                Some((
                    attribute(tag, "name")?,
                    attribute(tag, "value").unwrap_or_default(),
                ))
            })
            .collect();
        url = url.join(&action).unwrap();
        form = Some(fields);
    }
    panic!("the login did not end within 20 pages");
}

/// Runs `portcullis login` (with `--device` when `device`), plays the user with the address
/// it prints, and returns what it printed once it ends.
async fn log_in(config: &Path, device: bool) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["login", "hosted", "--config"])
        .arg(config)
        .args(device.then_some("--device"))
        .env("PORTCULLIS_TOKEN_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let found = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_string);
            if let Some(address) = found {
                let _ = tx.send(address);
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let address =
        tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("login printed no address to open");
    play_browser(&address).await;
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let mut out = reader.join().unwrap();
    out.push_str(&String::from_utf8_lossy(&status.stderr));
    (status.status.success(), out)
}

fn grants(events: &Path) -> Vec<String> {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "grant")
        .map(|e| e["grant_type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_login_is_used_refreshed_and_ends_when_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, issuer, events) = authorization_server(dir.path());
    let (_upstream, url, tokens) = protected_upstream(dir.path(), &issuer);
    let config = dir.path().join("portcullis.toml");
    std::fs::write(&config, login_config(&url)).unwrap();
    let path = config.to_str().unwrap();
    let doctor = |expect: &str| {
        let out = Command::new(BIN)
            .args(["doctor", "--json", "--config", path])
            .env("PORTCULLIS_TOKEN_KEY", KEY)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let login = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "login hosted")
            .unwrap_or_else(|| panic!("{report:#}"))
            .clone();
        assert!(
            login["detail"].as_str().unwrap().contains(expect),
            "{login}"
        );
        login
    };
    assert_eq!(doctor("not logged in")["severity"], "error");

    let (ok, out) = log_in(&config, false).await;
    assert!(ok, "{out}");
    assert!(out.contains("logged in to `hosted`"), "{out}");
    assert_eq!(grants(&events), ["authorization_code"]);
    // The client was registered dynamically, with this machine's loopback redirect.
    let registered = std::fs::read_to_string(&events).unwrap();
    assert!(
        registered.contains("\"registered\"") && registered.contains("http://127.0.0.1:"),
        "{registered}"
    );
    assert_eq!(doctor("refreshed unattended")["severity"], "ok");

    // The gateway calls the upstream with the login's token. Access tokens live 20 s, inside
    // the gateway's 30 s renewal margin: it refreshes before using one.
    let gateway = serve_logged_in(dir.path());
    let client = gateway.rmcp_client().await;
    let plain = client
        .call_tool(call("hosted_plain", json!({})))
        .await
        .unwrap();
    assert_eq!(text_of(&plain), "plain answer");
    assert!(
        grants(&events).contains(&"refresh_token".to_string()),
        "{:?}",
        grants(&events)
    );
    assert!(!std::fs::read_to_string(&tokens).unwrap().trim().is_empty());

    // The tokens are nowhere in clear: not in the log, the audit log or the database.
    let data = &gateway.data_dir;
    let db = std::fs::read(data.join("portcullis.db")).unwrap();
    for (what, text) in [
        ("the log", gateway.log()),
        (
            "the audit log",
            std::fs::read_to_string(data.join("audit.jsonl")).unwrap(),
        ),
        ("the database", String::from_utf8_lossy(&db).into_owned()),
    ] {
        assert!(!text.contains("eyJ"), "a JWT in {what}");
    }

    // The authorization server revokes the refresh tokens: the next refresh is refused, the
    // call fails saying what to do, and doctor says the login is over.
    let revoked = reqwest::Client::new()
        .post(format!("{issuer}/test/revoke-refresh-tokens"))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let refused = client.call_tool(call("hosted_plain", json!({}))).await;
    let refused = format!("{refused:?}");
    assert!(!refused.contains("plain answer"), "{refused}");
    client.cancel().await.unwrap();
    let audit = gateway.audit_lines();
    let failed = audit
        .iter()
        .rev()
        .find(|r| r["tool"] == "hosted_plain")
        .unwrap();
    assert_ne!(failed["outcome"], "ok", "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("portcullis login hosted"),
        "{failed}"
    );
    assert!(
        gateway.log().contains("can no longer be refreshed"),
        "{}",
        gateway.log()
    );
    let config_kept = gateway.config_path();
    let out = Command::new(BIN)
        .args([
            "doctor",
            "--json",
            "--config",
            config_kept.to_str().unwrap(),
        ])
        .env("PORTCULLIS_TOKEN_KEY", KEY)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("login needed"), "{report}");

    // logout forgets it.
    let (ok, out, err) = portcullis_with_env(
        &[
            "logout",
            "hosted",
            "--config",
            config_kept.to_str().unwrap(),
        ],
        &[("PORTCULLIS_TOKEN_KEY", KEY)],
    );
    assert!(ok, "{err}");
    assert!(out.contains("forgot the login"), "{out}");
    let audit = gateway.audit_lines();
    assert!(audit.iter().any(|r| r["method"] == "upstream/logout"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_flow_logs_in_a_host_without_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, issuer, events) = authorization_server(dir.path());
    let (_upstream, url, _tokens) = protected_upstream(dir.path(), &issuer);
    let config = dir.path().join("portcullis.toml");
    std::fs::write(&config, login_config(&url)).unwrap();
    let (ok, out) = log_in(&config, true).await;
    assert!(ok, "{out}");
    assert!(out.contains("enter the code"), "{out}");
    assert!(out.contains("logged in to `hosted`"), "{out}");
    assert_eq!(
        grants(&events),
        ["urn:ietf:params:oauth:grant-type:device_code"]
    );
    // The gateway uses it like any login.
    let gateway = serve_logged_in(dir.path());
    let client = gateway.rmcp_client().await;
    let plain = client
        .call_tool(call("hosted_plain", json!({})))
        .await
        .unwrap();
    assert_eq!(text_of(&plain), "plain answer");
    client.cancel().await.unwrap();
}

fn login_config(url: &str) -> String {
    format!(
        r#"[tokens]
key = {{ env = "PORTCULLIS_TOKEN_KEY" }}

[upstreams.hosted]
kind = "http"
url = "{url}"
login = {{}}

[[expose]]
upstream = "hosted"
tools = ["plain"]
read_only = true
{}"#,
        example_config("")
    )
}

#[test]
fn a_login_config_without_a_tokens_key_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[upstreams.hosted]\nkind = \"http\"\nurl = \"https://mcp.example.com/mcp\"\nlogin = {{}}\n{}",
            example_config("")
        ),
    )
    .unwrap();
    let (ok, _, err) = portcullis(&["check", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("tokens.key") && err.contains("openssl rand"),
        "{err}"
    );
}

/// `portcullis serve --dev` of the config and the state (with the login) in `dir`, copied to a
/// directory of its own (the gateway harness owns its directory).
fn serve_logged_in(dir: &Path) -> Gateway {
    let kept = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("portcullis.toml"),
        kept.path().join("portcullis.toml"),
    )
    .unwrap();
    copy_dir(&dir.join(".portcullis"), &kept.path().join(".portcullis"));
    Gateway::serve_in(kept, &[("PORTCULLIS_TOKEN_KEY", KEY)], &["--dev"])
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
