//! The `portcullis` command.

use std::io::{BufRead, Seek, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use portcullis::core::audit::{rfc3339, verify_log};
use portcullis::core::duration::parse_duration;
use portcullis::gateway::jwt::TokenVerifier;
use portcullis::store::{KeyInfo, KeyStore};
use portcullis::{Config, DataDir, Gateway};
use tokio_util::sync::CancellationToken;

mod eval;

/// mimalloc: a tool call allocates many small, short-lived values; glibc's allocator spent more
/// CPU on them than the rest of the gateway's own code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis: a secure-by-default gateway for the Model Context Protocol.
///
/// It stands between MCP clients and upstream MCP servers and publishes only the tools the
/// configuration names, under `<upstream>_<tool>`, to callers holding the scopes each needs.
#[derive(Parser)]
#[command(name = "portcullis", version, about, long_about = None)]
struct Cli {
    /// Directory for state (API keys, audit log). Default: `.portcullis/` beside the config file.
    #[arg(long, global = true, env = "PORTCULLIS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway over Streamable HTTP at /mcp (and /mcp/g/<group>).
    Serve {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Address to listen on, overriding `gateway.listen`; port 0 picks a free port.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Try it out: listen on 127.0.0.1 only and print a throwaway key holding every scope
        /// the config mentions (even with no authentication configured).
        #[arg(long)]
        dev: bool,
    },
    /// Serve one client over stdin/stdout (logs go to stderr); its API key comes from
    /// PORTCULLIS_API_KEY, and without one it is anonymous.
    Stdio {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a configuration file (and the OpenAPI documents it names) and print every
    /// problem with its path.
    Check {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Issue, list, inspect, rotate and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Verify and follow the hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show rate-limit and budget use, as a running gateway last reported it.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Measure the redaction rules or the prompt-injection guardrail on labelled samples.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Run the bundled example MCP server on stdin/stdout (an upstream for trying Portcullis).
    ExampleServer,
}

/// Where the state lives, for commands that take no config otherwise.
#[derive(Args)]
struct StateArgs {
    /// A configuration file; its data directory is used (unless --data-dir says otherwise).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Issue a key; prints its token once (line `token:`) and its id (line `id:`).
    Create {
        /// A name for the key's holder.
        #[arg(long)]
        name: String,
        /// Scopes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "")]
        scopes: Vec<String>,
        /// Lifetime, like `30d` or `12h`; default: no expiry.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List keys (never their tokens).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show one key.
    Inspect {
        id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Replace a key: the new one keeps its scopes and expiry; the old token works for the grace
    /// period, then stops.
    Rotate {
        id: String,
        /// How long the old token keeps working, like `24h`; default: stops at once.
        #[arg(long, value_name = "DURATION", default_value = "0s")]
        grace: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Revoke a key, at once, in running gateways too.
    Revoke {
        id: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Run the redaction rules over a JSONL corpus of
    /// `{"text": …, "must_redact": [substrings], "must_keep": [substrings], "kind": …}` and print
    /// recall (share of `must_redact` gone), keep rate (share of `must_keep` kept) and the misses.
    Redaction {
        /// The corpus (JSON Lines).
        #[arg(long, value_name = "FILE")]
        corpus: PathBuf,
        /// Use this config's `[redaction]` rules instead of the defaults.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print one JSON object (keys `recall`, `keep_rate`, `misses`).
        #[arg(long)]
        json: bool,
    },
    /// Run the prompt-injection guardrail over a JSONL corpus of
    /// `{"text": …, "label": "injection"|"benign", "category": …, "where": "argument"|"result"}`
    /// and print precision, recall, false-positive rate and the misses, per category. A sample
    /// counts as detected when the guardrail would block it.
    Guardrail {
        /// The corpus (JSON Lines).
        #[arg(long, value_name = "FILE", required_unless_present = "rules")]
        corpus: Option<PathBuf>,
        /// Use this config's `[guardrail]` rules (less `disable_rules`) instead of all of them.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print one JSON object (keys `precision`, `recall`, `false_positive_rate`, …).
        #[arg(long)]
        json: bool,
        /// List the rules (id, category, severity) and stop.
        #[arg(long)]
        rules: bool,
    },
}

#[derive(Subcommand)]
enum LimitsCommand {
    /// Current use per caller and tool (from the data directory, which only its owner can read).
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; reports the first broken record.
    Verify {
        /// The log; default: audit.jsonl in the data directory.
        file: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the last records, and with --follow keep printing new ones.
    Tail {
        /// The log; default: audit.jsonl in the data directory.
        file: Option<PathBuf>,
        /// How many records to print first.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: usize,
        /// Keep printing records as they are written.
        #[arg(long, short = 'f')]
        follow: bool,
        #[command(flatten)]
        state: StateArgs,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let data_dir = cli.data_dir;
    match cli.command {
        Command::Check { config } => {
            let loaded = load_config(&config)?;
            runtime.block_on(check_apis(&loaded, &config))?;
            println!(
                "{}: ok ({} upstream{})",
                config.display(),
                loaded.upstreams.len(),
                if loaded.upstreams.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ExampleServer => {
            runtime
                .block_on(portcullis::example_server::run_stdio())
                .map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            config,
            listen,
            dev,
        } => {
            let loaded = load_config(&config)?;
            let dir = open_data_dir(data_dir.as_deref(), Some(&config))?;
            runtime.block_on(check_apis(&loaded, &config))?;
            runtime.block_on(serve(loaded, base_dir(&config), &dir, listen, dev))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stdio { config } => {
            let loaded = load_config(&config)?;
            let dir = open_data_dir(data_dir.as_deref(), Some(&config))?;
            runtime.block_on(check_apis(&loaded, &config))?;
            runtime.block_on(stdio(loaded, base_dir(&config), &dir))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(command) => keys(command, data_dir.as_deref()),
        Command::Audit(command) => audit(command, data_dir.as_deref()),
        Command::Eval(EvalCommand::Redaction {
            corpus,
            config,
            json,
        }) => eval::redaction(
            &corpus,
            config.as_deref().map(load_config).transpose()?,
            json,
        ),
        Command::Eval(EvalCommand::Guardrail {
            corpus,
            config,
            json,
            rules,
        }) => eval::guardrail(
            corpus.as_deref(),
            config.as_deref().map(load_config).transpose()?,
            json,
            rules,
        ),
        Command::Limits(LimitsCommand::Status { json, state }) => limits_status(
            &open_data_dir(data_dir.as_deref(), state.config.as_deref())?,
            json,
        ),
    }
}

fn init_logging() {
    // rmcp logs whole messages, arguments included, below `warn`; they stay out of the logs
    // unless the filter names rmcp explicitly.
    let mut filter = std::env::var("PORTCULLIS_LOG").unwrap_or_else(|_| "info".into());
    if !filter.contains("rmcp") {
        filter.push_str(",rmcp=warn");
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Reads the document of every OpenAPI upstream and checks the exposure rules against its
/// operations (an operation that changes state cannot be exposed read-only).
async fn check_apis(config: &Config, path: &Path) -> anyhow::Result<()> {
    let problems = portcullis::gateway::openapi::preflight(
        config,
        &base_dir(path),
        &std::collections::HashMap::new(),
    )
    .await;
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    let mut text = format!(
        "{}: the configuration has {n} problem{} with its APIs:\n",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        text.push_str(&format!("  - {p}\n"));
    }
    bail!(text.trim_end().to_string())
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))?;
    Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The directory relative paths in a config are taken from.
fn base_dir(config: &Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn open_data_dir(explicit: Option<&Path>, config: Option<&Path>) -> anyhow::Result<DataDir> {
    let path = match (explicit, config) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(config)) => DataDir::choose(None, config),
        (None, None) => bail!(
            "say where the state lives: --data-dir DIR, PORTCULLIS_DATA_DIR, or --config FILE"
        ),
    };
    let dir = DataDir::open(path)?;
    tracing::debug!(data_dir = %dir.path().display(), "data directory ready");
    Ok(dir)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn serve(
    config: Config,
    base_dir: PathBuf,
    dir: &DataDir,
    listen: Option<SocketAddr>,
    dev: bool,
) -> anyhow::Result<()> {
    let mut addr = match listen {
        Some(a) => a,
        None => config
            .gateway
            .listen
            .parse()
            .context("gateway.listen is not an address")?,
    };
    let (mut auth, ports) = portcullis::local_state(&config, dir)?;
    let mut dev_token = None;
    if dev {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let (with_dev, token) = auth
            .with_dev_key(config.exposure.scopes())
            .map_err(anyhow::Error::msg)?;
        auth = with_dev;
        dev_token = Some(token);
    } else if !config.auth.any_configured() {
        bail!(
            "no authentication is configured, so anyone who can reach the gateway could call its \
             tools. Set `[auth] api_keys = true` and issue keys with `portcullis keys create`, or \
             run with --dev to try Portcullis on this machine only"
        );
    }
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    if !config.auth.issuers.is_empty() {
        let resource = config
            .auth
            .resource
            .clone()
            .unwrap_or_else(|| format!("http://{bound}/mcp"));
        let verifier = Arc::new(
            TokenVerifier::new(resource.clone(), &config.auth.issuers)
                .map_err(anyhow::Error::msg)?,
        );
        verifier.keep_fresh(shutdown.child_token());
        auth = auth.with_tokens(verifier);
        println!("OAuth resource: {resource}");
    }
    let gateway = Gateway::start(config, base_dir, auth, ports, shutdown.clone());
    gateway.wait_ready(Duration::from_secs(10)).await;
    log_published(&gateway);
    if let Some(token) = dev_token {
        eprintln!(
            "\n  WARNING: development mode. Listening on {bound} only, with a throwaway key that \
             holds every scope\n  the config mentions. It stops working when this process \
             ends. Do not use --dev in production.\n"
        );
        println!("dev key: {token}");
    }
    println!("listening on {bound}");
    println!("MCP endpoint: http://{bound}/mcp");
    tokio::spawn(report_limits(
        gateway.clone(),
        dir.limits_status(),
        shutdown.clone(),
    ));
    let app = portcullis::http::router(gateway.clone(), shutdown.clone(), bound);
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal_shutdown.cancel();
    });
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await;
    gateway.shutdown().await;
    result.context("the HTTP server failed")
}

/// Every second, writes the limits in use to the data directory (for `limits status`), and
/// now and then forgets buckets that are full again.
async fn report_limits(gateway: Arc<Gateway>, path: PathBuf, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        n += 1;
        if n.is_multiple_of(30) {
            gateway.evict_idle_limits();
        }
        let usage: Vec<serde_json::Value> = gateway
            .limit_usage()
            .into_iter()
            .map(|u| {
                serde_json::json!({"limit": u.kind.as_str(), "key": u.key,
                    "used": (u.used * 100.0).round() / 100.0, "capacity": u.capacity})
            })
            .collect();
        let snapshot = serde_json::json!({"time": rfc3339(now_secs() * 1000), "at": now_secs(), "usage": usage});
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, snapshot.to_string()).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the limits status");
        }
    }
}

fn limits_status(dir: &DataDir, json: bool) -> anyhow::Result<ExitCode> {
    let path = dir.limits_status();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no status at `{}`: is a gateway running with this data directory?",
            path.display()
        )
    })?;
    let snapshot: serde_json::Value = serde_json::from_str(&text)?;
    let age = now_secs().saturating_sub(snapshot["at"].as_u64().unwrap_or(0));
    if json {
        println!("{snapshot}");
    } else {
        println!(
            "as of {} ({age}s ago)",
            snapshot["time"].as_str().unwrap_or("?")
        );
        println!("{:<16} {:<40} {:>8} {:>8}", "LIMIT", "KEY", "USED", "OF");
        for u in snapshot["usage"].as_array().into_iter().flatten() {
            println!(
                "{:<16} {:<40} {:>8} {:>8}",
                u["limit"].as_str().unwrap_or(""),
                u["key"].as_str().unwrap_or(""),
                u["used"],
                u["capacity"]
            );
        }
    }
    if age > 10 {
        eprintln!("warning: no gateway has reported for {age}s; these figures may be stale");
    }
    Ok(ExitCode::SUCCESS)
}

fn log_published(gateway: &Gateway) {
    for (name, scopes) in gateway.published() {
        if scopes.is_empty() {
            tracing::warn!(tool = %name, "published as a public tool: it requires no scope");
        } else {
            tracing::info!(tool = %name, scopes = %scopes.join(" "), "published");
        }
    }
}

async fn stdio(config: Config, base_dir: PathBuf, dir: &DataDir) -> anyhow::Result<()> {
    let token = std::env::var("PORTCULLIS_API_KEY")
        .ok()
        .filter(|t| !t.is_empty());
    if token.is_none() && !config.auth.allow_anonymous {
        bail!(
            "this config refuses anonymous callers (`[auth] allow_anonymous = false`), and no key \
             was given: pass one in the environment, PORTCULLIS_API_KEY=pcs_… portcullis stdio \
             --config FILE (issue one with `portcullis keys create`)"
        );
    }
    let (auth, ports) = portcullis::local_state(&config, dir)?;
    if let Some(token) = &token
        && let Err(failure) = auth.token(token)
    {
        let recorder = portcullis::gateway::context::Recorder {
            sink: ports.audit.clone(),
            clock: ports.clock.clone(),
        };
        recorder
            .begin("stdio", None, "stdio".into())
            .refuse(&failure.refusal());
        ports.audit.flush().await;
        bail!("PORTCULLIS_API_KEY was not accepted ({failure}); refusing to serve");
    }
    let shutdown = CancellationToken::new();
    let gateway = Gateway::start(config, base_dir, auth, ports, shutdown);
    gateway.wait_ready(Duration::from_secs(10)).await;
    log_published(&gateway);
    let served = portcullis::stdio::serve_stdio(gateway.clone(), token).await;
    gateway.shutdown().await;
    served.map_err(anyhow::Error::msg)
}

fn key_json(info: &KeyInfo, now: u64) -> serde_json::Value {
    serde_json::json!({
        "id": info.id,
        "name": info.name,
        "scopes": info.scopes,
        "state": info.state(now),
        "created_at": rfc3339(info.created_at * 1000),
        "expires_at": info.expires_at.map(|t| rfc3339(t * 1000)),
        "revoked_at": info.revoked_at.map(|t| rfc3339(t * 1000)),
        "valid_until": info.valid_until.map(|t| rfc3339(t * 1000)),
        "replaced_by": info.replaced_by,
    })
}

fn print_key(info: &KeyInfo, now: u64) {
    let json = key_json(info, now);
    let field = |k: &str| match &json[k] {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("id: {}", info.id);
    println!("name: {}", info.name);
    println!("scopes: {}", info.scopes.join(","));
    for k in [
        "state",
        "created_at",
        "expires_at",
        "revoked_at",
        "valid_until",
        "replaced_by",
    ] {
        println!("{k}: {}", field(k));
    }
}

fn duration_arg(flag: &str, text: &str) -> anyhow::Result<u64> {
    parse_duration(text)
        .map(|d| d.as_secs())
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn keys(command: KeysCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = match &command {
        KeysCommand::Create { state, .. }
        | KeysCommand::List { state, .. }
        | KeysCommand::Inspect { state, .. }
        | KeysCommand::Rotate { state, .. }
        | KeysCommand::Revoke { state, .. } => state,
    };
    let dir = open_data_dir(data_dir, state.config.as_deref())?;
    let store = KeyStore::open(&dir.database())?;
    let now = now_secs();
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires,
            json,
            ..
        } => {
            let scopes: Vec<String> = scopes
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let expires_at = expires
                .map(|e| duration_arg("--expires", &e).map(|d| now.saturating_add(d)))
                .transpose()?;
            let issued = store.create(&name, &scopes, expires_at, now)?;
            print_issued(&issued, now, json);
        }
        KeysCommand::List { json, .. } => {
            let keys = store.list()?;
            if json {
                let all: Vec<_> = keys.iter().map(|k| key_json(k, now)).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for k in keys {
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.id,
                        k.state(now),
                        k.name,
                        k.scopes.join(",")
                    );
                }
            }
        }
        KeysCommand::Inspect { id, json, .. } => {
            let info = store.get(&id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&key_json(&info, now))?);
            } else {
                print_key(&info, now);
            }
        }
        KeysCommand::Rotate {
            id, grace, json, ..
        } => {
            let grace = duration_arg("--grace", &grace)?;
            let issued = store.rotate(&id, grace, now)?;
            if !json {
                println!(
                    "replaces: {id} (its token works until {})",
                    rfc3339((now + grace) * 1000)
                );
            }
            print_issued(&issued, now, json);
        }
        KeysCommand::Revoke { id, .. } => {
            let info = store.revoke(&id, now)?;
            println!("revoked: {}", info.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_issued(issued: &portcullis::store::IssuedKey, now: u64, json: bool) {
    if json {
        let mut v = key_json(&issued.info, now);
        v["token"] = serde_json::Value::String(issued.token.clone());
        println!("{v}");
    } else {
        println!("token: {}", issued.token);
        print_key(&issued.info, now);
        eprintln!("(the token is shown this once; only its hash is stored)");
    }
}

fn audit(command: AuditCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (file, state) = match &command {
        AuditCommand::Verify { file, state } | AuditCommand::Tail { file, state, .. } => {
            (file.clone(), state)
        }
    };
    let path = match file {
        Some(f) => f,
        None => open_data_dir(data_dir, state.config.as_deref())?.audit_log(),
    };
    match command {
        AuditCommand::Verify { .. } => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            match verify_log(&text) {
                Ok(check) => {
                    println!(
                        "{}: ok, {} records, chain intact",
                        path.display(),
                        check.records
                    );
                    if check.unfinished > 0 {
                        println!(
                            "note: the last line is an unfinished record ({} bytes) left by a \
                             writer that stopped mid-write; it is not part of the chain, and the \
                             next writer cuts it off and records that it did",
                            check.unfinished
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(broken) => {
                    println!(
                        "{}: BROKEN at record {} (line {}): {}",
                        path.display(),
                        broken.record,
                        broken.record,
                        broken.reason
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Tail { lines, follow, .. } => {
            let mut file = std::fs::File::open(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let all: Vec<String> = std::io::BufReader::new(&file)
                .lines()
                .collect::<Result<_, _>>()?;
            let mut out = std::io::stdout().lock();
            for line in &all[all.len().saturating_sub(lines)..] {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            if follow {
                let mut pos = file.seek(std::io::SeekFrom::End(0))?;
                let mut pending = String::new();
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let len = std::fs::metadata(&path)?.len();
                    if len < pos {
                        pos = 0; // the log was replaced
                    }
                    if len > pos {
                        file.seek(std::io::SeekFrom::Start(pos))?;
                        let mut chunk = String::new();
                        std::io::Read::read_to_string(&mut file, &mut chunk)?;
                        pos = len;
                        pending.push_str(&chunk);
                        while let Some(end) = pending.find('\n') {
                            writeln!(out, "{}", &pending[..end])?;
                            pending.drain(..=end);
                        }
                        out.flush()?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
