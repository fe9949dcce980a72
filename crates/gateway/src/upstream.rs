//! Connections to upstream MCP servers.
//!
//! Each upstream has one supervisor task that keeps one connection alive for all clients: a
//! child process for stdio (spawned with an empty environment plus what the config passes, its
//! stderr copied into the log, restarted with backoff when it dies), or an rmcp Streamable HTTP
//! client carrying the gateway's own headers (see [`crate::rpc`]). The supervisor lists the upstream's tools when it
//! connects and whenever the upstream says its list changed, and hands the listing to the
//! catalogue.
//!
//! A call made through [`Upstream::call_tool`] is bounded by the upstream's timeout, relays the
//! upstream's progress to the client under the client's own progress token, and is cancelled
//! upstream (`notifications/cancelled`) when the client cancels, goes away, or the time is up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use portcullis_core::redact::{Counts, Redactor};
use portcullis_core::{Authorized, SecretSource, UpstreamSpec, UpstreamTransport};

use crate::client_credentials::TokenSource;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::catalogue::CatalogueState;
use crate::openapi::{Bridge, EmbeddedApp};
use crate::rpc::{
    CallError, Connection, HttpWire, RpcError, UPSTREAM_PROTOCOL_VERSIONS, Wire, stdio_wire,
};

/// `command = "$PORTCULLIS"` runs this very binary (for the bundled example server).
pub const SELF_COMMAND: &str = "$PORTCULLIS";

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Why an upstream call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream `{0}` is not connected; it is being restarted")]
    Unavailable(String),
    #[error("upstream `{upstream}` did not answer within {}s", timeout.as_secs_f32())]
    Timeout { upstream: String, timeout: Duration },
    #[error("the call was cancelled")]
    Cancelled,
    /// The upstream answered with a JSON-RPC error.
    #[error("upstream error {}: {}", .0.code, .0.message)]
    Protocol(RpcError),
    #[error("upstream `{upstream}` failed: {detail}")]
    Failed { upstream: String, detail: String },
}

/// One upstream server and its live connection.
pub struct Upstream {
    spec: UpstreamSpec,
    base_dir: PathBuf,
    /// For `kind = "openapi"`: the bridge that stands in for an MCP connection.
    bridge: Option<Arc<Bridge>>,
    connection: RwLock<Option<Arc<Connection>>>,
    relist: Arc<Notify>,
    listed: AtomicBool,
    listed_notify: Notify,
}

/// Sends one upstream progress notification to the client under the client's own token, its
/// message redacted like everything else that goes back.
async fn relay_progress(
    client: &(Peer<RoleServer>, ProgressToken),
    params: Value,
    redaction: &Redactor,
) {
    let (peer, token) = client;
    let mut progress = ProgressNotificationParam::new(
        token.clone(),
        params
            .get("progress")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
    );
    progress.total = params.get("total").and_then(Value::as_f64);
    progress.message = params
        .get("message")
        .and_then(Value::as_str)
        .map(|m| redaction.redact_text(m, &mut Counts::new()).into_owned());
    if let Err(e) = peer.notify_progress(progress).await {
        tracing::debug!(error = %e, "could not relay progress");
    }
}

impl Upstream {
    /// `app` is the embedding app's API, for an embedded OpenAPI upstream.
    pub fn new(
        spec: UpstreamSpec,
        base_dir: PathBuf,
        app: Option<EmbeddedApp>,
    ) -> Result<Arc<Upstream>, String> {
        let bridge = match &spec.transport {
            UpstreamTransport::OpenApi(openapi) => {
                Some(Arc::new(Bridge::new(&spec.name, openapi, &base_dir, app)?))
            }
            _ => None,
        };
        Ok(Arc::new(Upstream {
            spec,
            base_dir,
            bridge,
            connection: RwLock::new(None),
            relist: Arc::default(),
            listed: AtomicBool::new(false),
            listed_notify: Notify::new(),
        }))
    }

    /// Waits until the upstream has been connected and its tools listed once.
    pub async fn wait_listed(&self) {
        let notified = self.listed_notify.notified();
        if self.listed.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    fn current(&self) -> Option<Arc<Connection>> {
        self.connection
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_current(&self, connection: Option<Arc<Connection>>) {
        *self
            .connection
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = connection;
    }

    /// Calls one tool upstream — only with the proof that the caller may — and returns its raw
    /// result. `progress` is the client's peer and
    /// progress token, when the client asked for progress; the upstream's progress is relayed
    /// to it in order, before the result.
    pub async fn call_tool(
        &self,
        authorized: &Authorized,
        arguments: Option<Value>,
        progress: Option<(Peer<RoleServer>, ProgressToken)>,
        redaction: &Redactor,
        cancelled: &CancellationToken,
    ) -> Result<Value, UpstreamError> {
        if let Some(bridge) = &self.bridge {
            let call = bridge.call(authorized.upstream_tool(), arguments, self.spec.timeout);
            return tokio::select! {
                outcome = call => outcome.map_err(|detail| UpstreamError::Failed {
                    upstream: self.spec.name.clone(),
                    detail,
                }),
                () = cancelled.cancelled() => Err(UpstreamError::Cancelled),
            };
        }
        let connection = self
            .current()
            .ok_or_else(|| UpstreamError::Unavailable(self.spec.name.clone()))?;
        let mut params = json!({ "name": authorized.upstream_tool() });
        if let Some(arguments) = arguments {
            params["arguments"] = arguments;
        }
        let (tx, mut rx) = match progress {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let call = connection.request("tools/call", params, self.spec.timeout, cancelled, tx);
        let mut call = std::pin::pin!(call);
        let outcome = loop {
            tokio::select! {
                biased;
                Some(p) = async { rx.as_mut()?.recv().await } => {
                    if let Some(client) = &progress {
                        relay_progress(client, p, redaction).await;
                    }
                }
                outcome = &mut call => {
                    // Progress sent before the result was queued before it: relay it first.
                    if let (Some(rx), Some(client)) = (rx.as_mut(), &progress) {
                        while let Ok(p) = rx.try_recv() {
                            relay_progress(client, p, redaction).await;
                        }
                    }
                    break outcome;
                }
            }
        };
        outcome.map_err(|e| self.call_error(e))
    }

    fn call_error(&self, e: CallError) -> UpstreamError {
        let upstream = self.spec.name.clone();
        match e {
            CallError::Rpc(e) => UpstreamError::Protocol(e),
            CallError::Timeout(timeout) => UpstreamError::Timeout { upstream, timeout },
            CallError::Cancelled => UpstreamError::Cancelled,
            CallError::Closed => UpstreamError::Unavailable(upstream),
            CallError::Wire(detail) => UpstreamError::Failed { upstream, detail },
        }
    }

    /// Keeps the upstream connected until `shutdown`, re-listing its tools into `catalogue`.
    pub async fn supervise(
        self: Arc<Self>,
        catalogue: Arc<CatalogueState>,
        shutdown: CancellationToken,
    ) {
        let name = self.spec.name.clone();
        let mut backoff = FIRST_BACKOFF;
        let mut first_seen: Option<BTreeSet<String>> = None;
        if let Some(bridge) = self.bridge.clone() {
            return self
                .supervise_bridge(&bridge, &catalogue, &mut first_seen, &shutdown)
                .await;
        }
        while !shutdown.is_cancelled() {
            let started = tokio::time::Instant::now();
            match self.connect().await {
                Ok(live) => {
                    tracing::info!(upstream = %name, "connected");
                    self.set_current(Some(live.connection.clone()));
                    self.serve_connection(live, &catalogue, &mut first_seen, &shutdown)
                        .await;
                    self.set_current(None);
                    if shutdown.is_cancelled() {
                        break;
                    }
                    tracing::warn!(upstream = %name, "connection lost; reconnecting");
                }
                Err(e) => tracing::error!(upstream = %name, error = %e, "cannot connect"),
            }
            if started.elapsed() > STABLE_AFTER {
                backoff = FIRST_BACKOFF;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Loads the OpenAPI document now and every `refresh`, republishing its operations.
    async fn supervise_bridge(
        &self,
        bridge: &Bridge,
        catalogue: &CatalogueState,
        first_seen: &mut Option<BTreeSet<String>>,
        shutdown: &CancellationToken,
    ) {
        let name = &self.spec.name;
        let mut backoff = FIRST_BACKOFF;
        while !shutdown.is_cancelled() {
            let wait = match bridge.load().await {
                Ok(tools) => {
                    let names: BTreeSet<String> = tools
                        .iter()
                        .filter_map(|t| t["name"].as_str().map(str::to_string))
                        .collect();
                    let seen = first_seen.get_or_insert(names).clone();
                    catalogue.update(name, tools, seen);
                    backoff = FIRST_BACKOFF;
                    bridge.refresh()
                }
                Err(e) => {
                    tracing::error!(upstream = %name, error = %e, "cannot load the OpenAPI document");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            self.listed.store(true, Ordering::Release);
            self.listed_notify.notify_waiters();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn serve_connection(
        &self,
        live: Live,
        catalogue: &CatalogueState,
        first_seen: &mut Option<BTreeSet<String>>,
        shutdown: &CancellationToken,
    ) {
        let name = &self.spec.name;
        let Live {
            connection,
            mut child,
        } = live;
        // List once on connecting, then each time the upstream says its list changed.
        loop {
            match self.list_tools(&connection).await {
                Ok(tools) => {
                    let names: BTreeSet<String> = tools
                        .iter()
                        .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                        .collect();
                    let seen = first_seen.get_or_insert(names).clone();
                    catalogue.update(name, tools, seen);
                    self.listed.store(true, Ordering::Release);
                    self.listed_notify.notify_waiters();
                }
                Err(e) => tracing::error!(upstream = %name, error = %e, "cannot list tools"),
            }
            tokio::select! {
                () = self.relist.notified() => {}
                () = connection.closed().cancelled() => {
                    // Its stdout closed: usually the process is exiting; say how it ended.
                    if child.is_some() {
                        let status = tokio::time::timeout(Duration::from_secs(1), wait_child(&mut child))
                            .await
                            .unwrap_or_else(|_| "still running".into());
                        tracing::warn!(upstream = %name, %status, "upstream process exited");
                    }
                    break;
                }
                status = wait_child(&mut child) => {
                    tracing::warn!(upstream = %name, %status, "upstream process exited");
                    break;
                }
                () = shutdown.cancelled() => break,
            }
        }
        connection.close();
        if let Some(mut child) = child {
            let _ = child.kill().await;
        }
    }

    async fn list_tools(&self, connection: &Arc<Connection>) -> Result<Vec<Value>, UpstreamError> {
        let never = CancellationToken::new();
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let mut page = connection
                .request("tools/list", params, self.spec.timeout, &never, None)
                .await
                .map_err(|e| self.call_error(e))?;
            match page.get_mut("tools").map(Value::take) {
                Some(Value::Array(batch)) => tools.extend(batch),
                _ => {
                    return Err(UpstreamError::Failed {
                        upstream: self.spec.name.clone(),
                        detail: "its tools/list result has no `tools` array".into(),
                    });
                }
            }
            match page.get("nextCursor").filter(|c| !c.is_null()) {
                Some(next) if Some(next) != cursor.as_ref() => cursor = Some(next.clone()),
                _ => return Ok(tools),
            }
        }
        Err(UpstreamError::Failed {
            upstream: self.spec.name.clone(),
            detail: format!("its tool list runs past {MAX_LIST_PAGES} pages"),
        })
    }

    async fn connect(&self) -> Result<Live, String> {
        let (connection, child) = match &self.spec.transport {
            UpstreamTransport::Stdio {
                command,
                args,
                env,
                inherit_env,
                cwd,
            } => {
                let program = if command == SELF_COMMAND {
                    std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?
                } else {
                    PathBuf::from(command)
                };
                let mut cmd = tokio::process::Command::new(&program);
                cmd.args(args)
                    .env_clear()
                    .envs(
                        inherit_env
                            .iter()
                            .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
                    )
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                if let Some(dir) = cwd {
                    cmd.current_dir(self.base_dir.join(dir));
                }
                let mut child = cmd
                    .spawn()
                    .map_err(|e| format!("cannot start `{}`: {e}", program.display()))?;
                let (Some(stdin), Some(stdout), Some(stderr)) =
                    (child.stdin.take(), child.stdout.take(), child.stderr.take())
                else {
                    return Err("the child process has no stdio pipes".into());
                };
                tokio::spawn(copy_stderr_to_log(self.spec.name.clone(), stderr));
                let (wire, start_reader) = stdio_wire(stdin);
                let connection = Connection::new(self.spec.name.clone(), wire, self.relist.clone());
                start_reader(connection.clone(), Box::new(stdout));
                (connection, Some(child))
            }
            UpstreamTransport::Http {
                url,
                headers,
                oauth,
            } => {
                let map = resolve_headers(headers, &self.base_dir)?;
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
                let wire = Wire::Http(Box::new(HttpWire {
                    client,
                    url: reqwest::Url::parse(url)
                        .map_err(|e| format!("`{url}` is not a URL: {e}"))?,
                    headers: map,
                    token: oauth
                        .as_ref()
                        .map(|o| TokenSource::new(o, &self.base_dir))
                        .transpose()?,
                    session: Default::default(),
                    protocol_version: Default::default(),
                }));
                (
                    Connection::new(self.spec.name.clone(), wire, self.relist.clone()),
                    None,
                )
            }
            UpstreamTransport::OpenApi(_) => {
                return Err("an OpenAPI upstream has no MCP connection".into());
            }
        };
        let live = Live { connection, child };
        self.initialize(&live.connection).await?;
        Ok(live)
    }

    /// The `initialize` handshake. The gateway declares no client capabilities: it relays no
    /// sampling, roots or elicitation.
    async fn initialize(&self, connection: &Arc<Connection>) -> Result<(), String> {
        let never = CancellationToken::new();
        let params = json!({
            "protocolVersion": UPSTREAM_PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "portcullis", "version": env!("CARGO_PKG_VERSION")},
        });
        let result = connection
            .request("initialize", params, self.spec.timeout, &never, None)
            .await
            .map_err(|e| format!("initialize failed: {e}"))?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !UPSTREAM_PROTOCOL_VERSIONS.contains(&version) {
            connection.close();
            return Err(format!(
                "the upstream speaks protocol version `{}`, which the gateway does not",
                version.escape_debug()
            ));
        }
        if let Wire::Http(http) = connection.wire() {
            *http
                .protocol_version
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                http::HeaderValue::from_str(version).ok();
        }
        connection
            .notify("notifications/initialized", json!({}))
            .await
            .map_err(|e| format!("initialized notification failed: {e}"))?;
        if let Wire::Http(_) = connection.wire() {
            let listener = connection.clone();
            tokio::spawn(async move {
                if let Wire::Http(http) = listener.wire() {
                    http.listen(listener.clone()).await;
                }
            });
        }
        Ok(())
    }
}

/// Most pages of `tools/list` read from one upstream.
const MAX_LIST_PAGES: usize = 1000;

struct Live {
    connection: Arc<Connection>,
    child: Option<tokio::process::Child>,
}

async fn wait_child(child: &mut Option<tokio::process::Child>) -> String {
    match child {
        Some(c) => match c.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        },
        None => std::future::pending().await,
    }
}

async fn copy_stderr_to_log(upstream: String, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "portcullis::upstream_stderr", upstream = %upstream, "{line}");
    }
}

/// The configured static headers of an upstream, their values read and marked sensitive.
pub fn resolve_headers(
    headers: &[(String, SecretSource)],
    base_dir: &Path,
) -> Result<http::HeaderMap, String> {
    let mut map = http::HeaderMap::new();
    for (name, source) in headers {
        let value =
            resolve_secret(source, base_dir).map_err(|e| format!("header `{name}`: {e}"))?;
        let name = http::HeaderName::try_from(name.as_str())
            .map_err(|e| format!("header `{name}`: {e}"))?;
        let mut value = http::HeaderValue::try_from(value)
            .map_err(|_| format!("header `{name}`: the value is not a valid header value"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// Reads a header value from where the config says it lives.
pub fn resolve_secret(source: &SecretSource, base_dir: &Path) -> Result<String, String> {
    match source {
        SecretSource::Value(v) => Ok(v.clone()),
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("environment variable `{var}` is not set (or not UTF-8)")),
        SecretSource::File(path) => {
            let path = base_dir.join(path);
            std::fs::read_to_string(&path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
        }
    }
}
