//! `portcullis serve` and `portcullis stdio`: the gateway on its HTTP endpoint, or for one client
//! on stdin/stdout, wired to the state in the data directory.

use super::*;

/// What `serve` serves: the config, and the file it was read from (read again on SIGHUP and
/// when it changes).
pub(crate) struct Served {
    pub config: Config,
    pub path: PathBuf,
}

pub(crate) async fn serve(
    served: Served,
    dir: &DataDir,
    listen: Option<SocketAddr>,
    dev: bool,
) -> anyhow::Result<()> {
    let Served { config, path } = served;
    let base_dir = base_dir(&path);
    let mut addr = match listen {
        Some(a) => a,
        None => config
            .gateway
            .listen
            .parse()
            .context("gateway.listen is not an address")?,
    };
    let (mut auth, mut ports) = portcullis::local_state(&config, dir)?;
    ports.logins = open_logins(&config, dir, &base_dir)?;
    // The admin listener's metrics count every audit record on its way to the log.
    let metrics = config.admin.listen.map(|_| {
        let metrics = Arc::new(portcullis::admin::Metrics::new());
        ports.audit = Arc::new(portcullis::admin::Metered {
            inner: ports.audit.clone(),
            metrics: metrics.clone(),
        });
        metrics
    });
    let mut dev_token = None;
    if dev {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let (with_dev, token) = auth
            .with_dev_key(config.scopes())
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
    use portcullis::forward::Destination;
    let sinks = config
        .audit
        .http
        .clone()
        .map(Destination::http)
        .into_iter()
        .chain(
            config
                .telemetry
                .as_ref()
                .filter(|t| t.audit_logs)
                .map(Destination::otlp_logs),
        );
    for sink in sinks {
        portcullis::forward::spawn(sink, &base_dir, dir, shutdown.child_token())
            .map_err(anyhow::Error::msg)?;
    }
    let gateway = Gateway::start(config, base_dir, auth, ports, shutdown.clone());
    gateway.wait_ready(Duration::from_secs(10)).await;
    refuse_on_blocking_findings(&gateway).await?;
    log_published(&gateway);
    if let Some(token) = dev_token {
        eprintln!(
            "\n  WARNING: development mode. Listening on {bound} only, with a throwaway key that \
             holds every scope\n  the config mentions. It stops working when this process \
             ends. Do not use --dev in production.\n"
        );
        println!("dev key: {token}");
    }
    let resets = Arc::new(portcullis::operate::Resets::open(
        portcullis::store::LimitResets::open(&dir.database())?,
    )?);
    if let (Some(admin_addr), Some(metrics)) = (gateway.config().admin.listen, metrics) {
        let parts = portcullis::admin::AdminParts {
            gateway: gateway.clone(),
            metrics,
            resets: resets.clone(),
        };
        serve_admin(parts, dir, admin_addr, &shutdown).await?;
    }
    let endpoint = serde_json::json!({
        "addr": bound.to_string(),
        "mcp": format!("http://{bound}/mcp"),
        "pid": std::process::id(),
    });
    if let Err(e) = std::fs::write(dir.endpoint(), endpoint.to_string()) {
        tracing::warn!(error = %e, "cannot record the endpoint in the data directory");
    }
    println!("listening on {bound}");
    println!("MCP endpoint: http://{bound}/mcp");
    tokio::spawn(report_limits(
        gateway.clone(),
        resets,
        dir.limits_status(),
        shutdown.clone(),
    ));
    tokio::spawn(watch_config(gateway.clone(), path, dev, shutdown.clone()));
    let app = portcullis::http::router(gateway.clone(), shutdown.clone(), bound);
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal_shutdown.cancel();
    });
    // Answers go out in more than one write (an event stream's headers, then its events):
    // without TCP_NODELAY, Nagle holds the later writes until the client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await;
    gateway.shutdown().await;
    let _ = std::fs::remove_file(dir.endpoint());
    result.context("the HTTP server failed")
}

/// The login store, when the config names a tokens key; says how each upstream login stands.
fn open_logins(
    config: &Config,
    dir: &DataDir,
    base_dir: &Path,
) -> anyhow::Result<Option<Arc<dyn portcullis::core::ports::LoginStore>>> {
    let store =
        portcullis::login::open_logins(config, dir, base_dir).map_err(anyhow::Error::msg)?;
    for (upstream, status) in portcullis::login::statuses(config, store.as_deref()) {
        match status {
            Ok(status) => tracing::info!(upstream, "upstream login: {status}"),
            Err(problem) => tracing::warn!(upstream, "upstream login: {problem}"),
        }
    }
    Ok(store.map(|s| s as Arc<dyn portcullis::core::ports::LoginStore>))
}

/// How often the config file is read to see whether it changed.
const CONFIG_POLL: Duration = Duration::from_secs(1);

/// Reloads the config on SIGHUP and whenever its file changes (an edit, `portcullis upstreams
/// add`): a config that fails the checks a start makes is refused, logged and audited, and the
/// running one stays. A change found by polling is applied once the file reads the same at two
/// looks in a row, so that a file caught while an editor writes it in place (truncated, half
/// written, perhaps still valid) is never applied.
async fn watch_config(
    gateway: Arc<Gateway>,
    path: PathBuf,
    dev: bool,
    shutdown: CancellationToken,
) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot watch for SIGHUP"))
        .ok();
    let mut tick = tokio::time::interval(CONFIG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The text last refused, so that a broken file is reported once, not every second.
    let mut refused: Option<String> = None;
    let mut settling = Settling::default();
    loop {
        #[cfg(unix)]
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        let asked = tokio::select! {
            _ = tick.tick() => false,
            _ = hup => true,
            () = shutdown.cancelled() => return,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                if asked {
                    tracing::error!(file = %path.display(), error = %e, "cannot read the config file; the running config stays");
                }
                continue;
            }
        };
        let unchanged = text == gateway.config().source.text();
        if !asked && (unchanged || refused.as_deref() == Some(text.as_str())) {
            settling = Settling::default();
            continue;
        }
        if !asked && !settling.settled(&text) {
            continue;
        }
        settling = Settling::default();
        match validated(&text, &path, dev).await {
            Ok(config) => {
                refused = None;
                let reloaded = gateway.reload(config);
                report_reload(&gateway, &reloaded);
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::error!("the config was not reloaded; the running config stays: {why}");
                record_reload(&gateway, Err(why));
                refused = Some(text);
            }
        }
    }
}

/// A changed config file as polling sees it: settled once it reads the same twice in a row.
#[derive(Default)]
struct Settling {
    last: Option<String>,
}

impl Settling {
    /// Whether `text`, just read, is what the previous look read too.
    fn settled(&mut self, text: &str) -> bool {
        if self.last.as_deref() == Some(text) {
            return true;
        }
        self.last = Some(text.to_string());
        false
    }
}

/// The config in `text` if a start would accept it.
pub(crate) async fn validated(text: &str, path: &Path, dev: bool) -> anyhow::Result<Config> {
    let config = Config::from_toml(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if !dev && !config.auth.any_configured() {
        bail!(
            "{}: auth: no authentication is configured; set `[auth] api_keys = true` or configure `[[auth.issuers]]`",
            path.display()
        );
    }
    check_apis(&config, path, Lint::AtStart).await?;
    Ok(config)
}

fn report_reload(gateway: &Gateway, reloaded: &portcullis::gateway::Reloaded) {
    let mut what = Vec::new();
    if !reloaded.started.is_empty() {
        what.push(format!(
            "upstreams started: {}",
            reloaded.started.join(", ")
        ));
    }
    if !reloaded.stopped.is_empty() {
        what.push(format!(
            "upstreams stopped: {}",
            reloaded.stopped.join(", ")
        ));
    }
    if what.is_empty() {
        what.push("no upstream changed".into());
    }
    let what = what.join("; ");
    tracing::info!("config reloaded ({what})");
    if !reloaded.needs_restart.is_empty() {
        tracing::warn!(
            "changes to [{}] apply only when the gateway starts again",
            reloaded.needs_restart.join("], [")
        );
    }
    record_reload(gateway, Ok(what));
}

/// The audit record of a reload, or of a refused one.
fn record_reload(gateway: &Gateway, result: Result<String, String>) {
    use portcullis::core::audit::{AuditRecord, Decision, Outcome};
    let (decision, outcome, reason) = match result {
        Ok(what) => (
            Decision::Allowed,
            Outcome::Ok,
            format!("config reloaded: {what}"),
        ),
        Err(why) => (
            Decision::Denied,
            Outcome::Refused,
            format!("config not reloaded: {why}"),
        ),
    };
    gateway.recorder().event(
        "gateway",
        AuditRecord {
            principal: "portcullis".into(),
            principal_kind: "gateway",
            method: "config/reload".into(),
            decision,
            outcome,
            reason,
            ..AuditRecord::default()
        },
    );
}

/// Starts the admin listener (API, console, metrics) beside the MCP endpoint.
async fn serve_admin(
    parts: portcullis::admin::AdminParts,
    dir: &DataDir,
    addr: SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("admin.listen: cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(
            address = %bound,
            "the admin listener is reachable from other machines; every request needs an admin \
             credential, but prefer a loopback address behind a TLS proxy"
        );
    }
    let state = portcullis::admin::AdminState::new(parts, dir, bound)?;
    let app = portcullis::admin::router(state);
    println!("admin console: http://{bound}/");
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the admin listener failed");
        }
    });
    Ok(())
}

/// Every second, applies the limit resets asked for, writes the limits in use to the data
/// directory (for `limits status`), and now and then forgets buckets that are full again.
pub(crate) async fn report_limits(
    gateway: Arc<Gateway>,
    resets: Arc<portcullis::operate::Resets>,
    path: PathBuf,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        n += 1;
        let polled = (resets.clone(), gateway.clone());
        // SQLite is read on a blocking thread, not on the async workers.
        let _ = tokio::task::spawn_blocking(move || polled.0.poll(&polled.1)).await;
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

/// One summary line for the tools and one for the resources, templates and prompts, however
/// many there are: how many are published, and which of them are public (they require no
/// scope), the first few by name.
pub(crate) fn log_published(gateway: &Gateway) {
    log_kind("tools", &gateway.published());
    let offers = gateway.published_offers();
    if !offers.is_empty() {
        log_kind("resources and prompts", &offers);
    }
}

fn log_kind(kind: &str, published: &[(String, Vec<String>)]) {
    const NAMED: usize = 20;
    let public: Vec<&str> = published
        .iter()
        .filter(|(_, scopes)| scopes.is_empty())
        .map(|(name, _)| name.as_str())
        .collect();
    for (name, scopes) in published {
        tracing::debug!(item = %name, scopes = %scopes.join(" "), "published");
    }
    if public.is_empty() {
        tracing::info!(
            count = published.len(),
            "{kind} published; every one requires a scope"
        );
        return;
    }
    let mut names = public[..public.len().min(NAMED)].join(", ");
    if public.len() > NAMED {
        names.push_str(&format!(" and {} more", public.len() - NAMED));
    }
    tracing::warn!(
        count = published.len(),
        public = public.len(),
        "{kind} published; public {kind}, which require no scope: {names}"
    );
}

pub(crate) async fn stdio(config: Config, base_dir: PathBuf, dir: &DataDir) -> anyhow::Result<()> {
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
    let (auth, mut ports) = portcullis::local_state(&config, dir)?;
    ports.logins = open_logins(&config, dir, &base_dir)?;
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
    refuse_on_blocking_findings(&gateway).await?;
    log_published(&gateway);
    let served = portcullis::stdio::serve_stdio(gateway.clone(), token).await;
    gateway.shutdown().await;
    served.map_err(anyhow::Error::msg)
}

/// Stops the start while a critical finding of the pre-flight audit stands over what the
/// upstreams really list (the catalogue withheld each tool, and logged and audited why).
async fn refuse_on_blocking_findings(gateway: &Gateway) -> anyhow::Result<()> {
    let blocking = gateway.blocking_findings().map_err(anyhow::Error::msg)?;
    if blocking.is_empty() {
        return Ok(());
    }
    gateway.shutdown().await;
    let n = blocking.len();
    let mut text = format!(
        "refusing to start: the pre-flight audit has {n} critical finding{} the config does \
         not acknowledge:\n",
        if n == 1 { "" } else { "s" }
    );
    for finding in &blocking {
        text.push_str(&format!(
            "  - {}\n",
            portcullis::gateway::preflight::blocking_problem(finding)
        ));
    }
    bail!(text.trim_end().to_string())
}

pub(crate) async fn wait_for_signal() {
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

#[cfg(test)]
mod tests {
    use super::Settling;

    #[test]
    fn a_polled_change_settles_only_once_two_looks_read_the_same() {
        let mut settling = Settling::default();
        assert!(!settling.settled("[upstreams.demo]\n"));
        assert!(!settling.settled("[upstreams.demo]\ncommand = \"x\"\n"));
        assert!(settling.settled("[upstreams.demo]\ncommand = \"x\"\n"));
        assert!(!settling.settled("[upstreams.demo]\n"));
    }
}
