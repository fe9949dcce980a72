//! The `portcullis` command.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use portcullis::{Config, DataDir, Gateway};
use tokio_util::sync::CancellationToken;

/// Portcullis: a secure-by-default gateway for the Model Context Protocol.
///
/// It stands between MCP clients and upstream MCP servers and publishes only the tools the
/// configuration names, under `<upstream>_<tool>`.
#[derive(Parser)]
#[command(name = "portcullis", version, about, long_about = None)]
struct Cli {
    /// Directory for state (keys, pins, audit). Default: `.portcullis/` beside the config file.
    #[arg(long, global = true, env = "PORTCULLIS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway over Streamable HTTP at /mcp.
    Serve {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Address to listen on, overriding `gateway.listen`; port 0 picks a free port.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Serve one client over stdin/stdout (logs go to stderr).
    Stdio {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a configuration file and print every problem with its path.
    Check {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the bundled example MCP server on stdin/stdout (an upstream for trying Portcullis).
    ExampleServer,
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
    match cli.command {
        Command::Check { config } => {
            let loaded = load_config(&config)?;
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
        Command::Serve { config, listen } => {
            let (loaded, base_dir) = prepare(&config, cli.data_dir.as_deref())?;
            runtime.block_on(serve(loaded, base_dir, listen))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stdio { config } => {
            let (loaded, base_dir) = prepare(&config, cli.data_dir.as_deref())?;
            runtime.block_on(async {
                let shutdown = CancellationToken::new();
                let gateway = Gateway::start(loaded, base_dir, shutdown.clone());
                gateway.wait_ready(Duration::from_secs(10)).await;
                let served = portcullis::stdio::serve_stdio(gateway.clone()).await;
                gateway.shutdown().await;
                served.map_err(anyhow::Error::msg)
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))?;
    Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Loads the config and opens the data directory; returns the config's directory too.
fn prepare(config: &Path, data_dir: Option<&Path>) -> anyhow::Result<(Config, PathBuf)> {
    let loaded = load_config(config)?;
    let dir = DataDir::open(DataDir::choose(data_dir, config))?;
    tracing::debug!(data_dir = %dir.path().display(), "data directory ready");
    let base_dir = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok((loaded, base_dir))
}

async fn serve(
    config: Config,
    base_dir: PathBuf,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let addr = match listen {
        Some(a) => a,
        None => config
            .gateway
            .listen
            .parse()
            .context("gateway.listen is not an address")?,
    };
    let shutdown = CancellationToken::new();
    let gateway = Gateway::start(config, base_dir, shutdown.clone());
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            gateway.shutdown().await;
            bail!("cannot listen on {addr}: {e}");
        }
    };
    gateway.wait_ready(Duration::from_secs(10)).await;
    let bound = listener.local_addr()?;
    for name in gateway.published_names() {
        tracing::info!(tool = %name, "published");
    }
    println!("listening on {bound}");
    println!("MCP endpoint: http://{bound}/mcp");
    let app = portcullis::http::router(gateway.clone(), shutdown.clone(), bound);
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal_shutdown.cancel();
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    gateway.shutdown().await;
    result.context("the HTTP server failed")
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
