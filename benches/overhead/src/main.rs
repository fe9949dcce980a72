//! What the gateway adds to a `tools/call`.
//!
//! `portcullis-bench PORTCULLIS_BINARY` starts an upstream (a bare rmcp Streamable HTTP server,
//! stateless, JSON responses, one `echo` tool) in a child process, and Portcullis in front of it
//! (fronting it as an HTTP upstream, the tool scoped, calls carrying a real API key, every call
//! audited). It drives the same stateless 2026-07-28 `tools/call` load
//! at the upstream directly and then through Portcullis, on loopback, in three rounds, and
//! prints each round's CPU figures, then for the median round:
//! throughput, p50/p99 latency, and the serving process's CPU time per call (from
//! `/proc/PID/stat`); then Portcullis's own CPU per call, its resident memory, and how soon after
//! start it served its first call.
//!
//! `portcullis-bench --upstream PORTFILE` is the upstream itself.
//!
//! `portcullis-bench --redaction` measures the redaction engine's throughput on realistic tool
//! results (records with names, emails, phones, cards, free text) of 1 KB, 100 KB and 10 MB.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};

const WARMUP_CALLS: usize = 2_000;
const CALLS: usize = 20_000;
const CONCURRENCY: usize = 8;
const ROUNDS: usize = 3;

#[derive(Clone)]
struct Echo {
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    text: String,
}

#[tool_router]
impl Echo {
    #[tool(description = "Returns the text it is given.")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

async fn serve_upstream(portfile: &Path) -> anyhow::Result<()> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let service: StreamableHttpService<Echo, LocalSessionManager> = StreamableHttpService::new(
        || {
            Ok(Echo {
                tool_router: Echo::tool_router(),
            })
        },
        Arc::default(),
        config,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let tmp = portfile.with_extension("tmp");
    std::fs::write(&tmp, listener.local_addr()?.port().to_string())?;
    std::fs::rename(&tmp, portfile)?;
    axum::serve(listener, axum::Router::new().nest_service("/mcp", service)).await?;
    Ok(())
}

/// A child process, stopped by its PID when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let (user, system) = cpu_split(pid)?;
    Ok(user + system)
}

/// User and system CPU time a process has used so far.
fn cpu_split(pid: u32) -> anyhow::Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // The kernel reports in clock ticks, which are 100 per second on Linux.
    let ticks = |i: usize| -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(fields[i].parse::<u64>()? * 10))
    };
    Ok((ticks(11)?, ticks(12)?))
}

/// Context switches a process (all its threads) has made so far.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn rss_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .context("no such field")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("odd status")?
        .parse()?)
}

fn request_body(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": {"text": "hello"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}}}})
}

/// A stateless `tools/call` POST of `body` (the JSON of [`request_body`]) to `tool`.
fn mcp_call(
    http: &reqwest::Client,
    url: &str,
    tool: &str,
    body: &str,
    authorization: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = http.post(url);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    request
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
}

/// Builds one request of a run.
type MakeRequest = Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>;

async fn one_call(http: &reqwest::Client, make: &MakeRequest, expect: &str) -> anyhow::Result<()> {
    let response = make(http).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() || !text.contains(expect) {
        bail!("bad answer {status}: {text}");
    }
    Ok(())
}

/// One round of the main benchmark: the same load directly and through Portcullis; CPU figures
/// in µs per call.
struct Round {
    gateway: f64,
    upstream: f64,
    upstream_behind: f64,
    user: f64,
    kernel: f64,
    switches: f64,
    direct: Run,
    through: Run,
}

struct Run {
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    server_cpu: Duration,
}

async fn drive(
    url: &str,
    tool: &str,
    authorization: Option<&str>,
    calls: usize,
    server_pid: u32,
) -> anyhow::Result<Run> {
    let body = request_body(tool).to_string();
    let (url, tool) = (url.to_string(), tool.to_string());
    let authorization = authorization.map(str::to_string);
    let make: MakeRequest = Arc::new(move |http: &reqwest::Client| {
        mcp_call(http, &url, &tool, &body, authorization.as_deref())
    });
    drive_with(make, "\"hello\"", calls, Some(server_pid)).await
}

/// `calls` requests from [`CONCURRENCY`] workers; each answer must contain `expect`. With a
/// server PID, its CPU time over the run is measured too.
async fn drive_with(
    make: MakeRequest,
    expect: &'static str,
    calls: usize,
    server_pid: Option<u32>,
) -> anyhow::Result<Run> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let per_worker = calls / CONCURRENCY;
    let cpu_before = server_pid.map(cpu_time).transpose()?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, make) = (http.clone(), make.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let t = Instant::now();
                one_call(&http, &make, expect).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(calls);
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed();
    let server_cpu = match (server_pid, cpu_before) {
        (Some(pid), Some(before)) => cpu_time(pid)? - before,
        _ => Duration::ZERO,
    };
    latencies.sort();
    Ok(Run {
        calls: latencies.len(),
        elapsed,
        latencies,
        server_cpu,
    })
}

/// `calls` `tools/call`s on 2025-era sessions, as Claude Code, Cursor and the TypeScript SDK
/// make them: each of [`CONCURRENCY`] workers opens one session on a keep-alive connection of
/// its own and calls on it, each answer an event stream. The gateway's CPU over the run is
/// measured.
async fn drive_sessions(
    url: &str,
    authorization: &str,
    calls: usize,
    server_pid: u32,
) -> anyhow::Result<Run> {
    let per_worker = calls / CONCURRENCY;
    let cpu_before = cpu_time(server_pid)?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (url, authorization) = (url.to_string(), authorization.to_string());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let post = |body: Value, session: Option<&str>| {
                let mut r = http
                    .post(&url)
                    .header("authorization", &authorization)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", LEGACY);
                if let Some(s) = session {
                    r = r.header("mcp-session-id", s);
                }
                r.body(body.to_string())
            };
            let init = post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": LEGACY, "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "1"}}}),
                None,
            )
            .send()
            .await?;
            let session = init
                .headers()
                .get("mcp-session-id")
                .context("no session id")?
                .to_str()?
                .to_string();
            init.text().await?;
            post(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                Some(&session),
            )
            .send()
            .await?
            .text()
            .await?;
            let mut latencies = Vec::with_capacity(per_worker);
            for i in 1..=per_worker {
                let t = Instant::now();
                let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "up_echo", "arguments": {"text": "hello"}}});
                let response = post(body, Some(&session)).send().await?;
                let status = response.status();
                let text = response.text().await?;
                if !status.is_success() || !text.contains("\"hello\"") {
                    bail!("bad answer {status}: {text}");
                }
                latencies.push(t.elapsed());
            }
            http.delete(&url)
                .header("authorization", &authorization)
                .header("mcp-protocol-version", LEGACY)
                .header("mcp-session-id", &session)
                .send()
                .await?;
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(calls);
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed();
    let server_cpu = cpu_time(server_pid)? - cpu_before;
    latencies.sort();
    Ok(Run {
        calls: latencies.len(),
        elapsed,
        latencies,
        server_cpu,
    })
}

/// The 2025-era revision legacy sessions speak.
const LEGACY: &str = "2025-06-18";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(label: &str, run: &Run) {
    print!(
        "{label:<22} {:>9.0} calls/s   p50 {:>7.1} µs   p99 {:>7.1} µs",
        run.calls as f64 / run.elapsed.as_secs_f64(),
        percentile(&run.latencies, 0.50).as_secs_f64() * 1e6,
        percentile(&run.latencies, 0.99).as_secs_f64() * 1e6,
    );
    if run.server_cpu > Duration::ZERO {
        print!(
            "   server CPU {:>6.1} µs/call",
            run.server_cpu.as_secs_f64() * 1e6 / run.calls as f64
        );
    }
    println!();
}

#[path = "../../../examples/embedded/app.rs"]
#[allow(dead_code)]
mod example_app;

/// The example axum app with Portcullis mounted, in this process: its route `GET /items/2`
/// called directly over HTTP, against the same operation as the tool `app_get_item` through
/// `/mcp` (authenticated, audited, guarded, redacted, dispatched in-process).
async fn embedded_bench() -> anyhow::Result<()> {
    use portcullis::embed::Mount;
    use portcullis::gateway::auth::Authenticator;
    use portcullis::gateway::context::SystemClock;
    let config = portcullis::Config::from_toml(&format!(
        r#"
[upstreams.app]
kind = "openapi"
embedded = true
headers.X-App-Key = {{ value = "{}" }}
[[expose]]
upstream = "app"
tools = ["get_item"]
read_only = true
scopes = ["items:read"]
[limits]
per_caller = "off"
per_caller_tool = "off"
"#,
        example_app::APP_KEY
    ))?;
    let dir =
        std::env::temp_dir().join(format!("portcullis-embedded-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let clock = Arc::new(SystemClock::new());
    let (auth, key) = Authenticator::new(None, clock.clone(), false)
        .with_dev_key(["items:read".to_string()].into_iter().collect())
        .map_err(anyhow::Error::msg)?;
    let audit = Arc::new(portcullis::store::AuditFile::open(dir.join("audit.jsonl"))?);
    let ports = portcullis::Ports::new(audit, clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    let (router, gateway) = Mount::new(config, auth, ports)
        .build(
            example_app::router(),
            example_app::openapi(),
            local,
            Default::default(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let direct_url = format!("http://{local}/items/2");
    let direct: MakeRequest = Arc::new(move |http: &reqwest::Client| http.get(&direct_url));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "app_get_item", "arguments": {"id": 2},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"}}}})
    .to_string();
    let (mcp_url, bearer) = (format!("http://{local}/mcp"), format!("Bearer {key}"));
    let through: MakeRequest = Arc::new(move |http: &reqwest::Client| {
        mcp_call(http, &mcp_url, "app_get_item", &body, Some(&bearer))
    });
    println!(
        "embedded mode: {CALLS} calls, {CONCURRENCY} concurrent clients, loopback, server and \
         clients in one process"
    );
    for (make, warm) in [(&direct, WARMUP_CALLS), (&through, WARMUP_CALLS)] {
        drive_with(make.clone(), "Blender", warm, None).await?;
    }
    report(
        "route over HTTP",
        &drive_with(direct, "Blender", CALLS, None).await?,
    );
    report(
        "tool through /mcp",
        &drive_with(through, "Blender", CALLS, None).await?,
    );
    gateway.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn wait_for_file(path: &Path) -> anyhow::Result<String> {
    for _ in 0..400 {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.is_empty()
        {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("timed out waiting for {}", path.display())
}

async fn bench(portcullis: &str) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let portfile = dir.join("upstream.port");
    let upstream = Process(
        Command::new(std::env::current_exe()?)
            .arg("--upstream")
            .arg(&portfile)
            .spawn()?,
    );
    let upstream_url = format!("http://127.0.0.1:{}/mcp", wait_for_file(&portfile).await?);
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\napi_keys = true\n\n\
             [limits]\nper_caller = \"off\"\nper_caller_tool = \"off\"\n\n\
             [upstreams.up]\nkind = \"http\"\nurl = \"{upstream_url}\"\n\n\
             [[expose]]\nupstream = \"up\"\ntools = [\"echo\"]\nread_only = true\n\
             scopes = [\"bench\"]\n"
        ),
    )?;
    // Calls through the gateway carry a real API key, checked against the key store each time.
    let issued = Command::new(portcullis)
        .args([
            "keys", "create", "--name", "bench", "--scopes", "bench", "--json", "--config",
        ])
        .arg(&config)
        .output()?;
    if !issued.status.success() {
        bail!(
            "keys create failed: {}",
            String::from_utf8_lossy(&issued.stderr)
        );
    }
    let issued: Value = serde_json::from_slice(&issued.stdout)?;
    let token = issued["token"].as_str().context("no token")?.to_string();
    let gateway_out = dir.join("gateway.out");
    let started = Instant::now();
    let gateway = Process(
        Command::new(portcullis)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env("PORTCULLIS_LOG", "warn")
            .stdout(std::fs::File::create(&gateway_out)?)
            .stderr(Stdio::null())
            .spawn()?,
    );
    let gateway_url = loop {
        let out = std::fs::read_to_string(&gateway_out).unwrap_or_default();
        if let Some(addr) = out.lines().find_map(|l| l.strip_prefix("listening on ")) {
            break format!("http://{}/mcp", addr.trim());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("portcullis did not start");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let http = reqwest::Client::new();
    let body = request_body("up_echo").to_string();
    let gateway_auth = Some(format!("Bearer {token}"));
    let first: MakeRequest = {
        let (url, auth) = (gateway_url.clone(), gateway_auth.clone());
        Arc::new(move |http: &reqwest::Client| {
            mcp_call(http, &url, "up_echo", &body, auth.as_deref())
        })
    };
    loop {
        match one_call(&http, &first, "\"hello\"").await {
            Ok(()) => break,
            Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    let first_call = started.elapsed();

    let gw_pid = gateway.0.id();
    let up_pid = upstream.0.id();
    println!(
        "tools/call, {CALLS} calls, {CONCURRENCY} concurrent clients, loopback, stateless 2026-07-28 JSON"
    );
    let auth = gateway_auth.as_deref();
    drive(&upstream_url, "echo", None, WARMUP_CALLS, up_pid).await?;
    drive(&gateway_url, "up_echo", auth, WARMUP_CALLS, gw_pid).await?;
    // Direct and through Portcullis in turns, so that a slow spell of the machine hits both;
    // the round with the median gateway CPU is reported.
    let per_call = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let direct = drive(&upstream_url, "echo", None, CALLS, up_pid).await?;
        let upstream_cpu_before = cpu_time(up_pid)?;
        let (user_before, system_before) = cpu_split(gw_pid)?;
        let switches_before = context_switches(gw_pid);
        let through = drive(&gateway_url, "up_echo", auth, CALLS, gw_pid).await?;
        let (user_after, system_after) = cpu_split(gw_pid)?;
        let calls = through.calls;
        let measured = Round {
            gateway: per_call(through.server_cpu, calls),
            upstream: per_call(direct.server_cpu, direct.calls),
            upstream_behind: per_call(cpu_time(up_pid)? - upstream_cpu_before, calls),
            user: per_call(user_after - user_before, calls),
            kernel: per_call(system_after - system_before, calls),
            switches: (context_switches(gw_pid) - switches_before) as f64 / calls as f64,
            direct,
            through,
        };
        println!(
            "round {round}: Portcullis {:.1} µs/call, upstream directly {:.1} µs/call, ratio {:.2}",
            measured.gateway,
            measured.upstream,
            measured.gateway / measured.upstream
        );
        rounds.push(measured);
    }
    rounds.sort_by(|a, b| a.gateway.total_cmp(&b.gateway));
    let median = &rounds[rounds.len() / 2];
    let (direct, through) = (&median.direct, &median.through);
    println!("median round:");
    report("upstream directly", direct);
    report("through Portcullis", through);
    println!(
        "Portcullis's own CPU per call: {:.1} µs (the upstream's: {:.1} µs directly, {:.1} µs behind Portcullis; ratio gateway/upstream {:.2})",
        median.gateway,
        median.upstream,
        median.upstream_behind,
        median.gateway / median.upstream
    );
    println!(
        "of which user {:.1} µs, kernel {:.1} µs; {:.1} context switches per call",
        median.user, median.kernel, median.switches
    );
    println!(
        "throughput ratio (through/direct): {:.2}   p50 ratio: {:.2}   p99 ratio: {:.2}",
        (through.calls as f64 / through.elapsed.as_secs_f64())
            / (direct.calls as f64 / direct.elapsed.as_secs_f64()),
        percentile(&through.latencies, 0.5).as_secs_f64()
            / percentile(&direct.latencies, 0.5).as_secs_f64(),
        percentile(&through.latencies, 0.99).as_secs_f64()
            / percentile(&direct.latencies, 0.99).as_secs_f64(),
    );
    println!(
        "Portcullis memory: RSS {} KiB now (heap and stacks {} KiB, program file {} KiB), peak {} KiB",
        rss_kib(gw_pid, "VmRSS:")?,
        rss_kib(gw_pid, "RssAnon:")?,
        rss_kib(gw_pid, "RssFile:")?,
        rss_kib(gw_pid, "VmHWM:")?
    );
    println!(
        "first call served {:.1} ms after the process started",
        first_call.as_secs_f64() * 1e3
    );
    // The same calls on legacy sessions (SSE answers, one session per keep-alive connection):
    // any per-write delay (Nagle against delayed ACKs) shows here as a floor in latency.
    let token_auth = format!("Bearer {token}");
    drive_sessions(&gateway_url, &token_auth, WARMUP_CALLS, gw_pid).await?;
    let sessions = drive_sessions(&gateway_url, &token_auth, CALLS, gw_pid).await?;
    println!(
        "\ntools/call, {CALLS} calls, {CONCURRENCY} legacy sessions ({LEGACY}, one per connection, event-stream answers)"
    );
    report("through Portcullis", &sessions);
    println!(
        "Portcullis's own CPU per call on legacy sessions: {:.1} µs (stateless 2026-07-28: {:.1} µs)",
        per_call(sessions.server_cpu, sessions.calls),
        median.gateway
    );
    let audited = std::fs::read_to_string(dir.join(".portcullis/audit.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!("audit records written: {audited}");
    drop(gateway);
    drop(upstream);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A tool result of about `bytes` bytes: customer records, a third of them with personal data.
fn realistic_result(bytes: usize) -> Value {
    let mut records = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < bytes {
        let record = if i.is_multiple_of(3) {
            json!({"id": format!("CUS-{i:06}"), "name": "Dana Example",
                "email": format!("dana{i}@example.com"), "phone": "+1 415 555 0134",
                "card_number": "4111 1111 1111 1111",
                "note": format!("Called on 2024-06-{:02} about invoice INV-{i}; reach me at dana{i}@example.com or 415-555-0100.", i % 28 + 1),
                "balance_cents": 12_900 + i})
        } else {
            json!({"id": format!("CUS-{i:06}"), "name": "Sam Sample", "status": "active",
                "note": format!("Order #{i} shipped from warehouse 7 on 2024-05-{:02}; 3 items, total 129.00 EUR.", i % 28 + 1),
                "tags": ["priority", "eu", "renewal"], "balance_cents": 500 + i})
        };
        size += record.to_string().len() + 1;
        records.push(record);
        i += 1;
    }
    json!({"content": [{"type": "text", "text": format!("{} customers", records.len())}],
        "structuredContent": {"customers": records}})
}

fn redaction_bench() {
    use portcullis_core::redact::{Counts, RedactionSettings, Redactor};
    let Ok(redactor) = Redactor::new(&RedactionSettings::defaults()) else {
        eprintln!("the default redaction rules do not compile");
        return;
    };
    println!("redaction engine, default rules, realistic tool results");
    for (label, bytes, rounds) in [
        ("1 KB", 1_000, 20_000),
        ("100 KB", 100_000, 200),
        ("10 MB", 10_000_000, 3),
    ] {
        let input = realistic_result(bytes);
        let size = input.to_string().len();
        let mut masked = 0;
        let started = Instant::now();
        for _ in 0..rounds {
            let mut v = input.clone();
            let mut counts = Counts::new();
            redactor.redact_value(&mut v, &mut counts);
            masked = counts.values().sum::<u64>();
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{label:>7}: {:>8.1} MB/s ({size} bytes, {masked} values masked per result, {:.1} µs per result)",
            (size * rounds) as f64 / elapsed / 1e6,
            elapsed / rounds as f64 * 1e6
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, portfile] if flag == "--upstream" => serve_upstream(Path::new(portfile)).await,
        [flag] if flag == "--redaction" => {
            redaction_bench();
            Ok(())
        }
        [flag] if flag == "--embedded" => embedded_bench().await,
        [portcullis] => bench(portcullis).await,
        _ => bail!(
            "usage: portcullis-bench PORTCULLIS_BINARY | --redaction | --embedded | --upstream PORTFILE"
        ),
    }
}
