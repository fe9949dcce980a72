//! Connections to upstream MCP servers.
//!
//! Each upstream has one supervisor task that keeps one connection alive for all clients: a
//! child process for stdio (spawned with an empty environment plus what the config passes, its
//! stderr copied into the log, restarted with backoff when it dies), or an rmcp Streamable HTTP
//! client carrying the gateway's own headers. The supervisor lists the upstream's tools when it
//! connects and whenever the upstream says its list changed, and hands the listing to the
//! catalogue.
//!
//! A call made through [`Upstream::call_tool`] is bounded by the upstream's timeout, relays the
//! upstream's progress to the client under the client's own progress token, and is cancelled
//! upstream (`notifications/cancelled`) when the client cancels or goes away.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use portcullis_core::{SecretSource, UpstreamSpec, UpstreamTransport};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification,
    CancelledNotificationParam, ClientCapabilities, ClientConfig, ClientRequest, ErrorData,
    Implementation, JsonObject, JsonRpcMessage, ProgressNotificationParam, ProgressToken,
    ServerNotification, ServerResult,
};
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RoleClient, RoleServer, RunningService,
    RxJsonRpcMessage, ServiceError, TxJsonRpcMessage,
};
use rmcp::transport::Transport;
use rmcp::transport::sink_stream::SinkStreamTransport;
use rmcp::{ClientHandler, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::catalogue::CatalogueState;
use crate::unmodeled::{line_transport, stash_message};

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
    #[error("upstream error {}: {}", .0.code.0, .0.message)]
    Protocol(ErrorData),
    #[error("upstream `{upstream}` failed: {detail}")]
    Failed { upstream: String, detail: String },
}

/// Most progress notifications kept for calls that have not claimed them yet.
const MAX_UNCLAIMED_PROGRESS: usize = 256;

/// Routes an upstream's progress notifications to the call they belong to, in the order the
/// upstream sent them. Notifications are taken off the transport as they arrive (rmcp handles
/// notifications on spawned tasks, which would reorder them behind the final result).
#[derive(Default)]
struct ProgressRouter {
    state: Mutex<RouterState>,
}

#[derive(Default)]
struct RouterState {
    routes: HashMap<ProgressToken, mpsc::UnboundedSender<ProgressNotificationParam>>,
    /// Progress that arrived before its call registered (the request was already on its way).
    unclaimed: VecDeque<ProgressNotificationParam>,
}

impl ProgressRouter {
    fn deliver(&self, progress: ProgressNotificationParam) {
        let mut state = lock(&self.state);
        match state.routes.get(&progress.progress_token) {
            Some(route) => {
                let _ = route.send(progress);
            }
            None => {
                if state.unclaimed.len() == MAX_UNCLAIMED_PROGRESS {
                    state.unclaimed.pop_front();
                }
                state.unclaimed.push_back(progress);
            }
        }
    }

    fn claim(&self, token: &ProgressToken) -> mpsc::UnboundedReceiver<ProgressNotificationParam> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = lock(&self.state);
        let (mine, others) = std::mem::take(&mut state.unclaimed)
            .into_iter()
            .partition::<VecDeque<_>, _>(|p| &p.progress_token == token);
        state.unclaimed = others;
        for p in mine {
            let _ = tx.send(p);
        }
        state.routes.insert(token.clone(), tx);
        rx
    }

    fn release(&self, token: &ProgressToken) {
        let mut state = lock(&self.state);
        state.routes.remove(token);
        state.unclaimed.retain(|p| &p.progress_token != token);
    }
}

/// A transport that hands every progress notification to the router as it is received.
struct ProgressTap<T> {
    inner: T,
    router: Arc<ProgressRouter>,
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for ProgressTap<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await?;
        if let JsonRpcMessage::Notification(n) = &message
            && let ServerNotification::ProgressNotification(p) = &n.notification
        {
            self.router.deliver(p.params.clone());
        }
        Some(message)
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

/// One upstream server and its live connection.
pub struct Upstream {
    spec: UpstreamSpec,
    base_dir: PathBuf,
    peer: RwLock<Option<Peer<RoleClient>>>,
    progress: Arc<ProgressRouter>,
    relist: Arc<Notify>,
    listed: AtomicBool,
    listed_notify: Notify,
}

/// The rmcp client handler the gateway uses towards one upstream.
struct UpstreamClient {
    upstream: String,
    relist: Arc<Notify>,
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        // Declare nothing the gateway does not relay: no roots, sampling or elicitation.
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("portcullis", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::info!(upstream = %self.upstream, "upstream says its tool list changed");
        self.relist.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a progress route when the call it belongs to ends, however it ends.
struct RouteGuard<'a> {
    router: &'a ProgressRouter,
    token: ProgressToken,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        self.router.release(&self.token);
    }
}

/// Sends one upstream progress notification to the client under the client's own token.
async fn relay_progress(
    client: &Option<(Peer<RoleServer>, ProgressToken)>,
    mut progress: ProgressNotificationParam,
) {
    let Some((peer, token)) = client else { return };
    progress.progress_token = token.clone();
    progress.meta = None;
    if let Err(e) = peer.notify_progress(progress).await {
        tracing::debug!(error = %e, "could not relay progress");
    }
}

impl Upstream {
    pub fn new(spec: UpstreamSpec, base_dir: PathBuf) -> Arc<Upstream> {
        Arc::new(Upstream {
            spec,
            base_dir,
            peer: RwLock::new(None),
            progress: Arc::default(),
            relist: Arc::default(),
            listed: AtomicBool::new(false),
            listed_notify: Notify::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Waits until the upstream has been connected and its tools listed once.
    pub async fn wait_listed(&self) {
        let notified = self.listed_notify.notified();
        if self.listed.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    fn current_peer(&self) -> Option<Peer<RoleClient>> {
        self.peer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_peer(&self, peer: Option<Peer<RoleClient>>) {
        *self
            .peer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = peer;
    }

    /// Calls one tool upstream. `progress` is the client's peer and progress token, when the
    /// client asked for progress.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: Option<JsonObject>,
        progress: Option<(Peer<RoleServer>, ProgressToken)>,
        cancelled: &CancellationToken,
    ) -> Result<CallToolResult, UpstreamError> {
        let peer = self
            .current_peer()
            .ok_or_else(|| UpstreamError::Unavailable(self.spec.name.clone()))?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = arguments;
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let options = PeerRequestOptions::with_timeout(self.spec.timeout);
        let handle = peer
            .send_cancellable_request(request, options)
            .await
            .map_err(|e| self.service_error(e))?;
        let request_id = handle.id.clone();
        let token = handle.progress_token.clone();
        let mut upstream_progress = self.progress.claim(&token);
        let _route = RouteGuard {
            router: &self.progress,
            token,
        };
        let mut response = std::pin::pin!(handle.await_response());
        let outcome = loop {
            tokio::select! {
                biased;
                Some(p) = upstream_progress.recv() => relay_progress(&progress, p).await,
                response = &mut response => {
                    // Progress sent before the result was queued before it: relay it first.
                    while let Ok(p) = upstream_progress.try_recv() {
                        relay_progress(&progress, p).await;
                    }
                    break response;
                }
                () = cancelled.cancelled() => {
                    let notification = CancelledNotification::new(CancelledNotificationParam::new(
                        Some(request_id),
                        Some("the client cancelled the request".into()),
                    ));
                    if let Err(e) = peer.send_notification(notification.into()).await {
                        tracing::debug!(upstream = %self.spec.name, error = %e, "could not send the cancellation upstream");
                    }
                    return Err(UpstreamError::Cancelled);
                }
            }
        };
        match outcome {
            Ok(ServerResult::CallToolResult(result)) => Ok(result),
            Ok(_) => Err(UpstreamError::Failed {
                upstream: self.spec.name.clone(),
                detail: "it answered tools/call with something other than a tool result".into(),
            }),
            Err(e) => Err(self.service_error(e)),
        }
    }

    fn service_error(&self, e: ServiceError) -> UpstreamError {
        let upstream = self.spec.name.clone();
        match e {
            ServiceError::McpError(e) => UpstreamError::Protocol(e),
            ServiceError::Timeout { timeout } => UpstreamError::Timeout { upstream, timeout },
            ServiceError::Cancelled { .. } => UpstreamError::Cancelled,
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                UpstreamError::Unavailable(upstream)
            }
            other => UpstreamError::Failed {
                upstream,
                detail: other.to_string(),
            },
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
        while !shutdown.is_cancelled() {
            let started = tokio::time::Instant::now();
            match self.connect().await {
                Ok(connection) => {
                    tracing::info!(upstream = %name, "connected");
                    self.set_peer(Some(connection.service.peer().clone()));
                    self.serve_connection(connection, &catalogue, &mut first_seen, &shutdown)
                        .await;
                    self.set_peer(None);
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

    async fn serve_connection(
        &self,
        connection: Connection,
        catalogue: &CatalogueState,
        first_seen: &mut Option<BTreeSet<String>>,
        shutdown: &CancellationToken,
    ) {
        let name = &self.spec.name;
        let Connection { service, mut child } = connection;
        let peer = service.peer().clone();
        let stop = service.cancellation_token();
        let mut finished = false;
        let mut running = std::pin::pin!(service.waiting());
        // List once on connecting, then each time the upstream says its list changed.
        loop {
            match self.list_tools(&peer).await {
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
                _ = &mut running => {
                    finished = true;
                    break;
                }
                status = wait_child(&mut child) => {
                    tracing::warn!(upstream = %name, %status, "upstream process exited");
                    break;
                }
                () = shutdown.cancelled() => break,
            }
        }
        stop.cancel();
        if !finished {
            let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
        }
        if let Some(mut child) = child {
            let _ = child.kill().await;
        }
    }

    async fn list_tools(
        &self,
        peer: &Peer<RoleClient>,
    ) -> Result<Vec<serde_json::Value>, UpstreamError> {
        let tools = tokio::time::timeout(self.spec.timeout, peer.list_all_tools())
            .await
            .map_err(|_| UpstreamError::Timeout {
                upstream: self.spec.name.clone(),
                timeout: self.spec.timeout,
            })?
            .map_err(|e| self.service_error(e))?;
        tools
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(|e| UpstreamError::Failed {
                upstream: self.spec.name.clone(),
                detail: e.to_string(),
            })
    }

    fn tap<T: Transport<RoleClient>>(&self, inner: T) -> ProgressTap<T> {
        ProgressTap {
            inner,
            router: self.progress.clone(),
        }
    }

    fn handler(&self) -> UpstreamClient {
        UpstreamClient {
            upstream: self.spec.name.clone(),
            relist: self.relist.clone(),
        }
    }

    async fn connect(&self) -> Result<Connection, String> {
        match &self.spec.transport {
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
                let (sink, stream) =
                    line_transport::<RoleClient>(stdout, stdin, stash_message, |_| {}, "upstream");
                let transport = self.tap(SinkStreamTransport::new(sink, stream));
                let service =
                    tokio::time::timeout(self.spec.timeout, self.handler().serve(transport))
                        .await
                        .map_err(|_| "no answer to initialize".to_string())?
                        .map_err(|e| format!("initialize failed: {e}"))?;
                Ok(Connection {
                    service,
                    child: Some(child),
                })
            }
            UpstreamTransport::Http { url, headers } => {
                use rmcp::transport::StreamableHttpClientTransport;
                use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
                let mut map = HashMap::new();
                for (name, source) in headers {
                    let value = resolve_secret(source, &self.base_dir)
                        .map_err(|e| format!("header `{name}`: {e}"))?;
                    let name = http::HeaderName::try_from(name.as_str())
                        .map_err(|e| format!("header `{name}`: {e}"))?;
                    let mut value = http::HeaderValue::try_from(value).map_err(|_| {
                        format!("header `{name}`: the value is not a valid header value")
                    })?;
                    value.set_sensitive(true);
                    map.insert(name, value);
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(map)
                    .reinit_on_expired_session(true);
                // rmcp's default client turns connection pooling off, which costs a TCP connect
                // per call; this one pools, and follows no redirect at all.
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
                let transport = self.tap(StreamableHttpClientTransport::with_client(http, config));
                let service =
                    tokio::time::timeout(self.spec.timeout, self.handler().serve(transport))
                        .await
                        .map_err(|_| "no answer to initialize".to_string())?
                        .map_err(|e| format!("initialize failed: {e}"))?;
                Ok(Connection {
                    service,
                    child: None,
                })
            }
        }
    }
}

struct Connection {
    service: RunningService<RoleClient, UpstreamClient>,
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
