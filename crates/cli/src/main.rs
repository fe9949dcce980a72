//! The `portcullis` command: the argument definitions and the dispatch are here; each command
//! lives in its own module ([`serve`] for `serve` and `stdio`, [`keys`], [`audit`], [`limits`],
//! [`eval`]). The state behind the ports is opened by `portcullis::local_state`.

use std::io::{BufRead, Seek, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use portcullis::core::audit::rfc3339;
use portcullis::core::duration::parse_duration;
use portcullis::gateway::jwt::TokenVerifier;
use portcullis::store::{KeyInfo, KeyStore};
use portcullis::{Config, DataDir, Gateway};
use tokio_util::sync::CancellationToken;

mod approvals;
mod audit;
mod connect;
mod doctor;
mod eval;
mod explain;
mod keys;
mod limits;
mod lint;
mod pins;
mod registry;
mod serve;

use approvals::{ApprovalsCommand, approvals};
use audit::{AuditCommand, audit};
use keys::{KeysCommand, keys};
use limits::{LimitsCommand, limits_reset, limits_status};
use pins::{PinsCommand, pins};
use registry::{GroupsCommand, UpstreamsCommand, groups, upstreams};
use serve::{serve, stdio};

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
    /// Directory for state (API keys, pins, parked calls, audit log). Default: `.portcullis/`
    /// beside the config file.
    #[arg(long, global = true, env = "PORTCULLIS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented config (loopback only, API keys required, the bundled example server)
    /// and its data directory, ready for `serve`; print the next two commands.
    Init {
        /// Where to write `portcullis.toml` (and `.portcullis/`).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Print what to paste into an MCP client to reach this gateway: the `claude mcp add`
    /// line for Claude Code, JSON for Cursor, VS Code (which prompts for the key) and Claude
    /// Desktop (through `portcullis stdio`), TOML for Codex. The address is where a running
    /// gateway on this data directory listens, else `gateway.listen`.
    Connect {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Which client.
        #[arg(long, value_enum, default_value = "all")]
        client: connect::Client,
        /// Connect to a group's endpoint (/mcp/g/GROUP) instead of the main one.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Issue a key for the client, named so, and put it in the snippets (else they read it
        /// from $PORTCULLIS_API_KEY).
        #[arg(long, value_name = "NAME")]
        key_name: Option<String>,
        /// The scopes of the key --key-name issues, comma-separated.
        #[arg(long, value_delimiter = ',', requires = "key_name")]
        scopes: Vec<String>,
        /// The server's name in the client's config.
        #[arg(long, default_value = "portcullis", value_parser = server_name)]
        name: String,
    },
    /// Serve the gateway over Streamable HTTP at /mcp (and /mcp/g/<group>): the tools, resources and prompts the config publishes.
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
        /// Also start the upstreams, list their tools, and warn about `[[expose]]` names that
        /// match nothing.
        #[arg(long)]
        live: bool,
    },
    /// The pre-flight audit: what the config would publish that should not be (login, token
    /// and admin endpoints, secret parameters, personal data in responses, public tools,
    /// shadowed names, too many tools) and tool poisoning (instructions for the model hidden
    /// in definitions). Exits 1 when a finding at or above --fail-on is not acknowledged in
    /// `[[lint.acknowledge]]`. `serve` refuses to start on an unacknowledged critical finding.
    Lint {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Output: `text`, `json` (an array of findings), or `sarif` (SARIF 2.1.0 for
        /// code-scanning tools).
        #[arg(long, value_enum, default_value = "text")]
        format: lint::Format,
        /// The least severity that fails the run: info, low, medium, high or critical.
        #[arg(long, value_name = "LEVEL", default_value = "high", value_parser = parse_severity)]
        fail_on: portcullis::core::lint::Severity,
        /// Also start the upstreams and audit the tools they really list (without it, only
        /// OpenAPI documents are read; MCP servers are not started).
        #[arg(long)]
        live: bool,
    },
    /// Calls waiting for an operator's approval: list and show them, approve or deny one.
    /// Needs an approver's key (holding `portcullis:approve`) in PORTCULLIS_API_KEY; a caller
    /// cannot approve their own call.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Pinned tool definitions (against rug pulls): list them, and diff, accept or reject a
    /// changed definition (the tool is quarantined until then).
    #[command(subcommand)]
    Pins(PinsCommand),
    /// What the gateway would decide about one call, phase by phase (exposure, authorization,
    /// rules, guardrail, approval), and which setting or rule decided. Calls nothing. Exits 1
    /// when the call would be refused.
    Explain {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The caller: an API key's id (its scopes are read from the data directory).
        #[arg(long, value_name = "ID", conflicts_with = "scopes")]
        key: Option<String>,
        /// The caller: these scopes, comma-separated (instead of --key).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// The published tool name.
        #[arg(long, value_name = "NAME")]
        tool: String,
        /// The arguments, as JSON.
        #[arg(long = "args", value_name = "JSON")]
        arguments: Option<String>,
        /// The group endpoint the call comes in on.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// `http` or `stdio`.
        #[arg(long, default_value = "http", value_parser = ["http", "stdio"])]
        transport: String,
        /// Start the upstreams and use the tools they really list (without it, MCP upstreams'
        /// tools are assumed from the name).
        #[arg(long)]
        live: bool,
    },
    /// Is this setup ready to serve? Checks the config, the data directory and its
    /// permissions, the store and the audit chain, the clock, the listener addresses, each
    /// upstream (started and listed), each token issuer's JWKS and each upstream login; prints
    /// each problem with its fix. Exits 0 when all is well, 1 on warnings, 2 on errors.
    Doctor {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print one JSON object (`worst`, `findings`).
        #[arg(long)]
        json: bool,
    },
    /// Log in to a hosted upstream that needs OAuth (its section has `login`): find its
    /// authorization server, register a client unless one is configured, and run the
    /// authorization code flow with PKCE through a loopback redirect (or, with --device, the
    /// device flow). The tokens are kept encrypted in the data directory (`[tokens] key`) and
    /// refreshed by the gateway; they are never logged or shown.
    Login {
        /// The upstream's name.
        upstream: String,
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Use the device flow (enter a code on another device) instead of a browser redirect.
        #[arg(long)]
        device: bool,
    },
    /// Forget an upstream's login (its tokens are deleted; the gateway's calls to it then fail
    /// until the next `login`).
    Logout {
        /// The upstream's name.
        upstream: String,
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Issue, list, inspect, rotate and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The upstreams in the config file: add, list, show, remove, enable, disable and test
    /// them. Each change is checked as a start would check it (a refused change leaves the
    /// file as it was), audited, and applied by a running gateway without a restart.
    #[command(subcommand)]
    Upstreams(UpstreamsCommand),
    /// The groups in the config file (endpoints at /mcp/g/NAME offering a subset of the
    /// tools): create, list, change their members, remove.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Verify, follow, query and export the hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show rate-limit and budget use, as a running gateway last reported it; reset a caller.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Measure the redaction rules, the prompt-injection guardrail or the tool-poisoning scan
    /// on labelled samples.
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
enum EvalCommand {
    /// Run the redaction rules over a JSONL corpus of `{"text": …, "must_redact": [substrings],
    /// "must_keep": [substrings], "kind": …, "where": …}`, each text redacted as a result's text
    /// block is, and print recall (share of `must_redact` gone) and keep rate (share of
    /// `must_keep` kept), per kind and per `where`, and the misses.
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
    /// Run the tool-poisoning scan over a JSONL corpus of labelled tool definitions
    /// (`{"tool": {…}, "label": "poisoned"|"benign", "style": …}`) and print precision, recall
    /// and false-positive rate, detection by style (the part of `style` before `@`) and the
    /// misses. A definition counts as detected when a critical kind of poisoning is found in it
    /// (the learned scorer's suspicion alone, a `high` finding, is counted apart).
    Poisoning {
        /// The corpus (JSON Lines).
        #[arg(long, value_name = "FILE")]
        corpus: PathBuf,
        /// Use this config's `[guardrail]` (the scan runs the guardrail on every string).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print one JSON object (keys `precision`, `recall`, `false_positive_rate`, …).
        #[arg(long)]
        json: bool,
    },
    /// Run the prompt-injection guardrail (the rules and the learned scorer) over a JSONL corpus
    /// of `{"text": …, "label": "injection"|"benign", "category": …, "where": "argument"|"result"}`
    /// and print precision, recall, false-positive rate and the misses, per attack category, per
    /// benign category and per `where`. A sample counts as detected when the guardrail would
    /// block it.
    Guardrail {
        /// The corpus (JSON Lines).
        #[arg(long, value_name = "FILE", required_unless_present = "rules")]
        corpus: Option<PathBuf>,
        /// Use this config's `[guardrail]` settings (`disable_rules`, `[guardrail.scorer]`)
        /// instead of the defaults.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print one JSON object (keys `precision`, `recall`, `false_positive_rate`, …).
        #[arg(long)]
        json: bool,
        /// List the rules (id, category, severity) and stop.
        #[arg(long)]
        rules: bool,
        /// The learned scorer on or off (default: as the config says, else on).
        #[arg(long, value_name = "on|off")]
        scorer: Option<String>,
        /// The scorer's block threshold (0 to 1) instead of the configured or calibrated one.
        #[arg(long, value_name = "SCORE")]
        threshold: Option<f32>,
        /// Print precision, recall, false-positive rate and warn rate at each scorer block
        /// threshold from 0.05 to 0.95 (and with the scorer off), to choose one.
        #[arg(long)]
        sweep: bool,
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
    // Commands that only print end quietly when their reader goes away (`… | head`), as
    // command-line tools do. Those that serve, or talk to upstreams over pipes, keep SIGPIPE
    // ignored: a closed pipe is an error they handle, not a reason to die.
    let talks_to_upstreams = match &cli.command {
        Command::Serve { .. } | Command::Stdio { .. } | Command::ExampleServer => true,
        Command::Doctor { .. } => true,
        Command::Check { live, .. }
        | Command::Lint { live, .. }
        | Command::Explain { live, .. } => *live,
        _ => false,
    };
    if !talks_to_upstreams {
        sigpipe::reset();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The config of a command that serves is read once, here: its `[telemetry]` decides how
    // logging is set up, before anything logs.
    let loaded = match &cli.command {
        Command::Serve { config, .. } | Command::Stdio { config } => Some(load_config(config)?),
        _ => None,
    };
    let traces = match (&cli.command, &loaded) {
        (Command::Serve { config, .. } | Command::Stdio { config }, Some(served)) => {
            match served.telemetry.as_ref().filter(|t| t.traces) {
                Some(settings) => {
                    let _entered = runtime.enter();
                    Some(
                        portcullis::telemetry::tracer_provider(settings, &base_dir(config))
                            .map_err(anyhow::Error::msg)?,
                    )
                }
                None => None,
            }
        }
        _ => None,
    };
    // Commands that report for themselves log only what goes wrong.
    let level = match &cli.command {
        Command::Doctor { .. } => "off",
        Command::Upstreams(_) => "warn",
        _ => "info",
    };
    init_logging(traces.as_ref(), level);
    let done = dispatch(cli.command, loaded, cli.data_dir, &runtime);
    if let Some(provider) = traces {
        // What is left of the spans goes out before the process ends.
        let _ = runtime.block_on(tokio::task::spawn_blocking(move || provider.shutdown()));
    }
    done
}

/// Runs `command`; `loaded` is the config of `serve` and `stdio`, already read.
fn dispatch(
    command: Command,
    loaded: Option<Config>,
    data_dir: Option<PathBuf>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { config, live } => {
            let loaded = load_config(&config)?;
            if !loaded.auth.any_configured() {
                bail!(
                    "{}: auth: no authentication is configured, so `portcullis serve` refuses this \
                     config (it runs it only with --dev, on this machine, with a throwaway key). \
                     Set `[auth] api_keys = true` and issue keys with `portcullis keys create`, \
                     or configure `[[auth.issuers]]`",
                    config.display()
                );
            }
            runtime.block_on(check_apis(&loaded, &config, Lint::Stops))?;
            if live {
                runtime.block_on(check_live(&loaded, &config));
            }
            println!(
                "{}: ok ({} upstream{})",
                config.display(),
                loaded.upstreams.len(),
                if loaded.upstreams.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { dir } => connect::init(&dir),
        Command::Login {
            upstream,
            config,
            device,
        } => login(&upstream, &config, device, data_dir.as_deref(), runtime),
        Command::Logout { upstream, config } => {
            logout(&upstream, &config, data_dir.as_deref(), runtime)
        }
        Command::Doctor { config, json } => {
            doctor::doctor(&config, data_dir.as_deref(), json, runtime)
        }
        Command::Connect {
            config,
            client,
            group,
            key_name,
            scopes,
            name,
        } => connect::connect(
            connect::ConnectRun {
                config_path: config,
                client,
                group,
                key_name,
                scopes,
                name,
            },
            data_dir.as_deref(),
        ),
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
            let loaded = match loaded {
                Some(loaded) => loaded,
                None => load_config(&config)?,
            };
            let dir = open_data_dir(data_dir.as_deref(), Some(&config))?;
            runtime.block_on(check_apis(&loaded, &config, Lint::AtStart))?;
            runtime.block_on(serve(
                serve::Served {
                    config: loaded,
                    path: config.clone(),
                },
                &dir,
                listen,
                dev,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stdio { config } => {
            let loaded = match loaded {
                Some(loaded) => loaded,
                None => load_config(&config)?,
            };
            let dir = open_data_dir(data_dir.as_deref(), Some(&config))?;
            runtime.block_on(check_apis(&loaded, &config, Lint::AtStart))?;
            runtime.block_on(stdio(loaded, base_dir(&config), &dir))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint {
            config,
            format,
            fail_on,
            live,
        } => lint::lint(
            lint::LintRun {
                config_path: config,
                format,
                fail_on,
                live,
            },
            runtime,
        ),
        Command::Explain {
            config,
            key,
            scopes,
            tool,
            arguments,
            group,
            transport,
            live,
        } => explain::explain(
            explain::ExplainRun {
                config_path: config,
                key,
                scopes,
                tool,
                arguments,
                group,
                transport,
                live,
            },
            data_dir.as_deref(),
            runtime,
        ),
        Command::Keys(command) => keys(command, data_dir.as_deref()),
        Command::Upstreams(command) => upstreams(command, data_dir.as_deref(), runtime),
        Command::Groups(command) => groups(command, data_dir.as_deref(), runtime),
        Command::Pins(command) => pins(command, data_dir.as_deref(), runtime),
        Command::Approvals(command) => approvals(command, data_dir.as_deref(), runtime),
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
        Command::Eval(EvalCommand::Poisoning {
            corpus,
            config,
            json,
        }) => eval::poisoning(
            &corpus,
            config.as_deref().map(load_config).transpose()?,
            json,
        ),
        Command::Eval(EvalCommand::Guardrail {
            corpus,
            config,
            json,
            rules,
            scorer,
            threshold,
            sweep,
        }) => eval::guardrail(eval::GuardrailEval {
            corpus: corpus.as_deref(),
            config: config.as_deref().map(load_config).transpose()?,
            json,
            list_rules: rules,
            scorer: scorer
                .map(|s| match s.as_str() {
                    "on" => Ok(true),
                    "off" => Ok(false),
                    _ => Err(anyhow::anyhow!("--scorer takes `on` or `off`, not `{s}`")),
                })
                .transpose()?,
            threshold,
            sweep,
        }),
        Command::Limits(LimitsCommand::Status { json, state }) => limits_status(
            &open_data_dir(data_dir.as_deref(), state.config.as_deref())?,
            json,
        ),
        Command::Limits(LimitsCommand::Reset { principal, state }) => limits_reset(
            &open_data_dir(data_dir.as_deref(), state.config.as_deref())?,
            &principal,
        ),
    }
}

/// Logs to stderr, filtered by `PORTCULLIS_LOG`; with `traces`, the spans of calls and their
/// phases also go to the OTLP exporter (whatever the log filter says).
fn init_logging(traces: Option<&opentelemetry_sdk::trace::SdkTracerProvider>, default_level: &str) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{Layer as _, filter};
    // rmcp logs whole messages, arguments included, below `warn`; they stay out of the logs
    // unless the filter names rmcp explicitly.
    let mut wanted = std::env::var("PORTCULLIS_LOG").unwrap_or_else(|_| default_level.into());
    if !wanted.contains("rmcp") {
        wanted.push_str(",rmcp=warn");
    }
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter::EnvFilter::new(wanted));
    let spans = traces.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("portcullis"))
            .with_filter(filter::Targets::new().with_target(
                portcullis::core::pipeline::TRACE_TARGET,
                tracing::Level::TRACE,
            ))
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
}

/// Reads the document of every OpenAPI upstream and checks the exposure rules against its
/// operations (an operation that changes state cannot be exposed read-only).
/// The checks every start makes (and `check`): problems stop it, warnings are printed.
async fn check_apis(config: &Config, path: &Path, lint: Lint) -> anyhow::Result<()> {
    let found = portcullis::gateway::preflight::preflight(
        config,
        &base_dir(path),
        &std::collections::HashMap::new(),
    )
    .await;
    for warning in &found.warnings {
        eprintln!("warning: {}: {warning}", path.display());
    }
    let problems = match lint {
        Lint::Stops => {
            let below = found.lint.iter().filter(|f| !f.blocks()).count();
            if below > 0 {
                eprintln!(
                    "note: {}: the pre-flight audit has {below} finding{} that do not stop a \
                     start; `portcullis lint --config {0}` lists them",
                    path.display(),
                    if below == 1 { "" } else { "s" }
                );
            }
            found.stopping()
        }
        Lint::AtStart => found.problems,
    };
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    let mut text = format!(
        "{}: the configuration has {n} problem{}:\n",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        text.push_str(&format!("  - {p}\n"));
    }
    bail!(text.trim_end().to_string())
}

/// Where the pre-flight audit's blocking findings stop a start.
enum Lint {
    /// Here (`check`).
    Stops,
    /// Once the upstreams are listed, by `serve` and `stdio`, which also log and audit what
    /// they withhold.
    AtStart,
}

/// `check --live`: starts the upstreams, lists them, and warns about names that match nothing.
async fn check_live(config: &Config, path: &Path) {
    let gateway = start_unserved(config, &base_dir(path)).await;
    for (i, pattern) in gateway.unmatched_patterns() {
        eprintln!(
            "warning: {}: expose[{i}]: `{pattern}` matches nothing upstream `{}` lists",
            path.display(),
            config.exposure.rules()[i].upstream
        );
    }
    gateway.shutdown().await;
}

/// The gateway with its upstreams started and listed, serving no one, recording nothing and
/// pinning nothing (for `check --live` and `lint --live`).
async fn start_unserved(config: &Config, base: &Path) -> Arc<Gateway> {
    let gateway = spawn_unserved(config, base, None);
    gateway.wait_ready(Duration::from_secs(10)).await;
    gateway
}

/// Like [`start_unserved`], without waiting for the upstreams, with upstream logins from
/// `logins`.
fn spawn_unserved(
    config: &Config,
    base: &Path,
    logins: Option<Arc<dyn portcullis::core::ports::LoginStore>>,
) -> Arc<Gateway> {
    let clock: Arc<dyn portcullis::core::ports::Clock> =
        Arc::new(portcullis::gateway::context::SystemClock::new());
    let auth = portcullis::gateway::auth::Authenticator::new(None, clock.clone(), false);
    let ports = portcullis::Ports {
        logins,
        ..portcullis::Ports::new(Arc::new(portcullis::gateway::context::Discard), clock)
    };
    Gateway::start(
        config.clone(),
        base.to_path_buf(),
        auth,
        ports,
        CancellationToken::new(),
    )
}

/// A name for the gateway in a client's config: it goes into shell lines, JSON and TOML keys.
fn server_name(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(text.to_string())
    } else {
        Err("1 to 64 ASCII letters, digits, `-` or `_`".into())
    }
}

fn parse_severity(text: &str) -> Result<portcullis::core::lint::Severity, String> {
    portcullis::core::lint::Severity::parse(text)
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

/// Runs `act` — an operator's decision made with the CLI — with a recorder on the audit log
/// the gateways write (several writers keep one chain), and waits until what it recorded is
/// on disk.
fn with_audit<T>(
    dir: &DataDir,
    runtime: &tokio::runtime::Runtime,
    act: impl FnOnce(&portcullis::gateway::context::Recorder) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let audit = Arc::new(portcullis::store::AuditFile::open(dir.audit_log())?);
    let recorder = portcullis::gateway::context::Recorder {
        sink: audit.clone(),
        clock: Arc::new(portcullis::gateway::context::SystemClock::new()),
    };
    let done = act(&recorder);
    runtime.block_on(portcullis::core::ports::AuditSink::flush(audit.as_ref()));
    done
}

fn login(
    upstream: &str,
    path: &Path,
    device: bool,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    use portcullis::login::{Flow, login_upstream, open_logins};
    let config = load_config(path)?;
    let (_, url, settings) = login_upstream(&config, upstream).map_err(anyhow::Error::msg)?;
    let dir = open_data_dir(data_dir, Some(path))?;
    let store = open_logins(&config, &dir, &base_dir(path))
        .map_err(anyhow::Error::msg)?
        .context("tokens.key: the config names no key to encrypt the tokens with")?;
    let flow = if device { Flow::Device } else { Flow::Browser };
    let say = |text: &str| println!("{text}");
    let result = runtime.block_on(portcullis::login::login(
        url,
        settings,
        &base_dir(path),
        flow,
        &say,
    ));
    let reason = match &result {
        Ok(login) => format!(
            "logged in to `{upstream}` at {} ({})",
            login.issuer,
            login.status(now_secs())
        ),
        Err(e) => format!("the login to `{upstream}` failed: {e}"),
    };
    record_login(
        &dir,
        runtime,
        "upstream/login",
        upstream,
        result.is_ok(),
        &reason,
    )?;
    let login = result.map_err(anyhow::Error::msg)?;
    store.store(upstream, &login)?;
    println!("{reason}");
    Ok(ExitCode::SUCCESS)
}

fn logout(
    upstream: &str,
    path: &Path,
    data_dir: Option<&Path>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let config = load_config(path)?;
    portcullis::login::login_upstream(&config, upstream).map_err(anyhow::Error::msg)?;
    let dir = open_data_dir(data_dir, Some(path))?;
    let store = portcullis::login::open_logins(&config, &dir, &base_dir(path))
        .map_err(anyhow::Error::msg)?
        .context("tokens.key: the config names no key")?;
    let forgotten = store.forget(upstream)?;
    let reason = if forgotten {
        format!("forgot the login of `{upstream}`")
    } else {
        format!("`{upstream}` had no login to forget")
    };
    record_login(&dir, runtime, "upstream/logout", upstream, true, &reason)?;
    println!("{reason}");
    Ok(ExitCode::SUCCESS)
}

/// The audit record of a login or logout (never a token).
fn record_login(
    dir: &DataDir,
    runtime: &tokio::runtime::Runtime,
    method: &str,
    upstream: &str,
    ok: bool,
    reason: &str,
) -> anyhow::Result<()> {
    use portcullis::core::audit::{AuditRecord, Decision, Outcome};
    with_audit(dir, runtime, |recorder| {
        recorder.event(
            "cli",
            AuditRecord {
                principal: operator(None),
                principal_kind: "operator",
                method: method.into(),
                upstream: Some(upstream.into()),
                decision: if ok {
                    Decision::Allowed
                } else {
                    Decision::Denied
                },
                outcome: if ok { Outcome::Ok } else { Outcome::Refused },
                reason: reason.into(),
                ..AuditRecord::default()
            },
        );
        Ok(())
    })
}

/// Who makes an operator's decision, for the record: `by`, else `$USER`.
fn operator(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "operator".into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
