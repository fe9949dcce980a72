//! Connections to upstream MCP servers.
//!
//! Each upstream has one supervisor task that keeps one connection alive for all clients: a
//! child process for stdio (spawned with an empty environment plus what the config passes, its
//! stderr copied into the log, restarted with backoff when it dies), or an rmcp Streamable HTTP
//! client carrying the gateway's own headers (see [`crate::rpc`]). The supervisor lists the upstream's tools when it
//! connects and whenever the upstream says its list changed, and hands the listing to the
//! catalogue.
//!
//! An MCP upstream and an OpenAPI bridge are the two implementations of the pipeline's
//! [`Upstream`](portcullis_core::ports::Upstream) port ([`Upstream::port`]). A call is bounded
//! by the upstream's timeout, hands the upstream's progress to the pipeline (which scans and
//! redacts it before the client sees it), and is cancelled upstream
//! (`notifications/cancelled`) when its future is dropped — the client cancelled or went away
//! — or the time is up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use portcullis_core::pipeline::Cleared;
use portcullis_core::ports::{self, BoxFuture, UpstreamFailure};
use portcullis_core::{UpstreamSpec, UpstreamTransport};

use crate::client_credentials::TokenSource;
use crate::secrets::{resolve_headers, with_credentials};
use portcullis_core::ports::{LoginStore, UpstreamCredentials};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::catalogue::CatalogueState;
use crate::offers::Subscriptions;
use crate::openapi::{Bridge, EmbeddedApp};
use crate::rpc::{
    Ask, CallError, Connection, HttpWire, Listeners, Routes, RpcError, UPSTREAM_PROTOCOL_VERSIONS,
    Wire, stdio_wire,
};
use futures::StreamExt as _;
use portcullis_core::offers::OfferListing;
use portcullis_core::ports::{ClientPorts, ClientRequestKind};

/// `command = "$PORTCULLIS"` runs this very binary (for the bundled example server).
pub const SELF_COMMAND: &str = "$PORTCULLIS";

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// The next pause after one that did not help: twice as long, at most [`MAX_BACKOFF`].
fn doubled(pause: Duration) -> Duration {
    (pause * 2).min(MAX_BACKOFF)
}

/// One upstream server and its live connection.
pub struct Upstream {
    spec: UpstreamSpec,
    base_dir: PathBuf,
    /// For `kind = "openapi"`: the bridge that stands in for an MCP connection.
    bridge: Option<Arc<Bridge>>,
    /// The embedder's computed credentials, asked at each connect (HTTP upstreams).
    credentials: Option<Arc<dyn UpstreamCredentials>>,
    /// Where `portcullis login` keeps its tokens (HTTP upstreams with `login`).
    logins: Option<Arc<dyn LoginStore>>,
    connection: RwLock<Option<Arc<Connection>>>,
    /// What the connected upstream said it serves (`initialize`'s `capabilities`).
    capabilities: RwLock<Value>,
    relist: Arc<Notify>,
    listed: AtomicBool,
    listed_notify: Notify,
    /// Whether the config publishes its resources, its prompts.
    wants: (bool, bool),
    subscriptions: Arc<Subscriptions>,
    health: Health,
}

/// How an upstream's connection has fared in this run.
#[derive(Default)]
struct Health {
    /// Connected (MCP), or its document last loaded (OpenAPI).
    up: AtomicBool,
    /// Connections made (documents loaded): one more than its restarts.
    connects: AtomicU64,
    /// Connections lost, and attempts that failed.
    failures: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

/// An upstream's state, for the operator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpstreamHealth {
    pub name: String,
    /// `stdio`, `http` or `openapi`.
    pub kind: &'static str,
    pub up: bool,
    pub connects: u64,
    pub failures: u64,
    /// The last failure, as logged.
    pub last_error: Option<String>,
}

impl Health {
    fn connected(&self) {
        self.up.store(true, Ordering::Release);
        self.connects.fetch_add(1, Ordering::Relaxed);
    }

    fn failed(&self, error: impl std::fmt::Display) {
        self.up.store(false, Ordering::Release);
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error.to_string());
    }
}

impl Upstream {
    /// `app` is the embedding app's API, for an embedded OpenAPI upstream; `credentials`, the
    /// embedder's computed headers, if any; `logins`, where upstream logins are kept.
    pub fn new(
        spec: UpstreamSpec,
        base_dir: PathBuf,
        app: Option<EmbeddedApp>,
        credentials: Option<Arc<dyn UpstreamCredentials>>,
        logins: Option<Arc<dyn LoginStore>>,
        wants: (bool, bool),
        subscriptions: Arc<Subscriptions>,
    ) -> Result<Arc<Upstream>, String> {
        let bridge = match &spec.transport {
            UpstreamTransport::OpenApi(openapi) => Some(Arc::new(Bridge::new(
                &spec.name,
                openapi,
                &base_dir,
                app,
                credentials.clone(),
            )?)),
            _ => None,
        };
        Ok(Arc::new(Upstream {
            spec,
            base_dir,
            bridge,
            credentials,
            logins,
            connection: RwLock::new(None),
            capabilities: RwLock::new(Value::Null),
            relist: Arc::default(),
            listed: AtomicBool::new(false),
            listed_notify: Notify::new(),
            wants,
            subscriptions,
            health: Health::default(),
        }))
    }

    /// Whether the connected upstream declared `capability` (`resources`, `prompts`,
    /// `completions`, `logging`), or `capability.field` (`resources.subscribe`).
    pub fn declares(&self, capability: &str) -> bool {
        let capabilities = self
            .capabilities
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut at = &*capabilities;
        for part in capability.split('.') {
            match at.get(part) {
                Some(next) if !next.is_null() && next != &Value::Bool(false) => at = next,
                _ => return false,
            }
        }
        true
    }

    /// How its connection has fared in this run.
    pub fn health(&self) -> UpstreamHealth {
        let h = &self.health;
        UpstreamHealth {
            name: self.spec.name.clone(),
            kind: match self.spec.transport {
                UpstreamTransport::Stdio { .. } => "stdio",
                UpstreamTransport::Http { .. } => "http",
                UpstreamTransport::OpenApi(_) => "openapi",
            },
            up: h.up.load(Ordering::Acquire),
            connects: h.connects.load(Ordering::Relaxed),
            failures: h.failures.load(Ordering::Relaxed),
            last_error: h
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }

    /// Sends one request the gateway makes itself (a subscription, say).
    pub async fn send(&self, method: &str, params: Value) -> Result<Value, UpstreamFailure> {
        let connection = self
            .current()
            .ok_or_else(|| UpstreamFailure::Unavailable(self.spec.name.clone()))?;
        let never = CancellationToken::new();
        connection
            .request(method, params, self.spec.timeout, &never, Routes::default())
            .await
            .map_err(|e| self.call_error(e))
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

    /// The pipeline's port to this upstream: the OpenAPI bridge for `kind = "openapi"`, else
    /// the MCP connection.
    pub fn port(self: &Arc<Self>) -> Arc<dyn ports::Upstream> {
        match &self.bridge {
            Some(bridge) => Arc::new(BridgeTools {
                bridge: bridge.clone(),
                timeout: self.spec.timeout,
            }),
            None => self.clone(),
        }
    }

    /// Calls one tool on the MCP connection and returns its raw result, handing progress to
    /// the client in order, before the result, and the upstream's requests and log messages
    /// to the client's channel. Each progress message gives the call `timeout` again, up to
    /// `max_timeout` in all.
    ///
    /// A 2026-07-28 upstream asks for the client's input with an input-required result: the
    /// gateway asks the client (through the same channel, so with the same checks) and sends
    /// the call again with the answers, up to [`MAX_INPUT_ROUNDS`] times.
    async fn call_mcp(
        &self,
        call: Cleared,
        client: ClientPorts<'_>,
    ) -> Result<Value, UpstreamFailure> {
        let connection = self
            .current()
            .ok_or_else(|| UpstreamFailure::Unavailable(self.spec.name.clone()))?;
        let mut params = json!({ "name": call.upstream_tool() });
        if let Some(arguments) = call.into_arguments() {
            params["arguments"] = arguments;
        }
        if let Some(resume) = client.resume {
            params["inputResponses"] = resume.responses.clone();
            if let Some(state) = &resume.state {
                params["requestState"] = Value::String(state.clone());
            }
        }
        for _ in 0..MAX_INPUT_ROUNDS {
            let result = self.call_once(&connection, params.clone(), client).await?;
            if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
                return Ok(result);
            }
            let Some(channel) = client.channel else {
                return Err(UpstreamFailure::Refused(
                    "the tool needs an answer from the client, which cannot be asked".into(),
                ));
            };
            let requests = result.get("inputRequests").and_then(Value::as_object);
            let mut asked = Vec::new();
            for (key, request) in requests.into_iter().flatten() {
                let method = request.get("method").and_then(Value::as_str).unwrap_or("");
                let kind = ClientRequestKind::of(method)
                    .filter(|k| self.spec.client.allows(*k))
                    .ok_or_else(|| {
                        UpstreamFailure::Refused(format!(
                            "the tool asks the client for `{}`, which this upstream may not ask",
                            method.escape_debug()
                        ))
                    })?;
                asked.push((key, kind, request));
            }
            if channel.answers_in_results() {
                // A 2026-07-28 client answers them itself and calls again; the result is
                // scanned and redacted on its way, like any result.
                for (_, kind, _) in &asked {
                    channel
                        .pass_on(*kind)
                        .map_err(|e| UpstreamFailure::Refused(e.message))?;
                }
                return Ok(result);
            }
            let mut responses = serde_json::Map::new();
            for (key, kind, request) in asked {
                let asked = request.get("params").cloned().unwrap_or_else(|| json!({}));
                let answer = channel
                    .request(kind, asked)
                    .await
                    .map_err(|e| UpstreamFailure::Refused(e.message))?;
                responses.insert(key.clone(), answer);
            }
            params["inputResponses"] = Value::Object(responses);
            match result.get("requestState") {
                Some(state) => params["requestState"] = state.clone(),
                None => {
                    if let Some(p) = params.as_object_mut() {
                        p.remove("requestState");
                    }
                }
            }
        }
        Err(UpstreamFailure::Failed {
            upstream: self.spec.name.clone(),
            detail: format!("it still asks for input after {MAX_INPUT_ROUNDS} rounds"),
        })
    }

    /// One `tools/call` request, with its progress and its requests to the client relayed.
    async fn call_once(
        &self,
        connection: &Arc<Connection>,
        params: Value,
        client: ClientPorts<'_>,
    ) -> Result<Value, UpstreamFailure> {
        let (timeout, max_timeout) = (self.spec.timeout, self.spec.max_timeout);
        // Progress keeps a long call alive only when `max_timeout` is longer than `timeout`.
        let extends = max_timeout > timeout;
        // Channels only for what can come: progress the client or the timeout wants, asks the
        // client can take.
        let (progress_tx, mut progress_rx) = (client.progress.is_some() || extends)
            .then(mpsc::unbounded_channel)
            .unzip();
        let channel = client.channel;
        let (asks_tx, mut asks_rx) = channel.map(|_| mpsc::unbounded_channel()).unzip();
        let routes = Routes {
            progress: progress_tx,
            asks: Some((channel.map(|c| c.owner().to_string()), asks_tx)),
        };
        let never = CancellationToken::new();
        let request = connection.request("tools/call", params, max_timeout, &never, routes);
        let mut request = std::pin::pin!(request);
        // Not registered with the timer unless it is polled (`extends`).
        let idle = tokio::time::sleep(timeout);
        let mut idle = std::pin::pin!(idle);
        let mut asked = futures::stream::FuturesUnordered::new();
        let outcome = loop {
            tokio::select! {
                biased;
                Some(p) = async { progress_rx.as_mut()?.recv().await } => {
                    if extends {
                        idle.as_mut().reset(tokio::time::Instant::now() + timeout);
                    }
                    if let Some(sink) = client.progress {
                        sink.send(p).await;
                    }
                }
                Some(ask) = async { asks_rx.as_mut()?.recv().await } => match (ask, channel) {
                    (Ask::Log(params), Some(channel)) => channel.log(params).await,
                    (Ask::Request { kind, params, reply }, Some(channel)) => {
                        asked.push(async move {
                            let answer = channel.request(kind, params).await.map_err(|e| RpcError {
                                code: e.code,
                                message: e.message,
                                data: None,
                            });
                            let _ = reply.send(answer);
                        });
                    }
                    _ => {}
                },
                Some(()) = asked.next(), if !asked.is_empty() => {
                    // The client answered; the upstream works on.
                    if extends {
                        idle.as_mut().reset(tokio::time::Instant::now() + timeout);
                    }
                }
                outcome = &mut request => {
                    // Progress sent before the result was queued before it: relay it first.
                    if let (Some(rx), Some(sink)) = (progress_rx.as_mut(), client.progress) {
                        while let Ok(p) = rx.try_recv() {
                            sink.send(p).await;
                        }
                    }
                    break outcome;
                }
                // Waiting on the client (its user, its model) is not the upstream's delay.
                () = &mut idle, if extends && asked.is_empty() => {
                    break Err(CallError::Timeout(timeout));
                }
            }
        };
        outcome.map_err(|e| self.call_error(e))
    }

    fn call_error(&self, e: CallError) -> UpstreamFailure {
        let upstream = self.spec.name.clone();
        match e {
            CallError::Rpc(e) => UpstreamFailure::Rpc {
                code: e.code,
                message: e.message,
                data: e.data,
            },
            CallError::Timeout(timeout) => UpstreamFailure::Timeout { upstream, timeout },
            CallError::Cancelled => UpstreamFailure::Cancelled,
            CallError::Closed => UpstreamFailure::Unavailable(upstream),
            CallError::Wire(detail) => UpstreamFailure::Failed { upstream, detail },
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
                    self.health.connected();
                    self.serve_connection(live, &catalogue, &mut first_seen, &shutdown)
                        .await;
                    self.set_current(None);
                    if shutdown.is_cancelled() {
                        break;
                    }
                    self.health.failed("connection lost");
                    tracing::warn!(upstream = %name, "connection lost; reconnecting");
                }
                Err(e) => {
                    self.health.failed(&e);
                    tracing::error!(upstream = %name, error = %e, "cannot connect");
                }
            }
            if started.elapsed() > STABLE_AFTER {
                backoff = FIRST_BACKOFF;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => break,
            }
            backoff = doubled(backoff);
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
                    catalogue.update(name, tools, seen, true);
                    self.health.connected();
                    backoff = FIRST_BACKOFF;
                    bridge.refresh()
                }
                Err(e) => {
                    self.health.failed(&e);
                    tracing::error!(upstream = %name, error = %e, "cannot load the OpenAPI document");
                    backoff = doubled(backoff);
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
            mut updated,
        } = live;
        // List once on connecting, then each time the upstream says a list changed, and again
        // after a growing pause while a listing failed (a list that timed out under load must
        // not stay empty until the upstream next changes it).
        let mut retry = FIRST_BACKOFF;
        let mut offers_read: Option<OfferListing> = None;
        loop {
            let mut failed = false;
            if let Some((offers, complete)) =
                self.list_offers(&connection, offers_read.take()).await
            {
                failed = !complete;
                offers_read = Some(offers.clone());
                catalogue.update_offers(offers);
            }
            match self.list_tools(&connection).await {
                Ok(tools) => {
                    let names: BTreeSet<String> = tools
                        .iter()
                        .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                        .collect();
                    let seen = first_seen.get_or_insert(names).clone();
                    catalogue.update(name, tools, seen, false);
                    self.listed.store(true, Ordering::Release);
                    self.listed_notify.notify_waiters();
                }
                Err(e) => {
                    failed = true;
                    tracing::error!(upstream = %name, error = %e, "cannot list tools");
                }
            }
            let again = tokio::time::sleep(retry);
            tokio::pin!(again);
            retry = if failed {
                doubled(retry)
            } else {
                FIRST_BACKOFF
            };
            // Wait for a reason to list again, passing on resource updates meanwhile.
            let relist = loop {
                tokio::select! {
                    () = &mut again, if failed => break true,
                    Some(uri) = updated.recv() => {
                        let offers = &catalogue.current().offers;
                        self.subscriptions.updated(name, &uri, offers).await;
                    }
                    () = self.relist.notified() => break true,
                    () = connection.closed().cancelled() => {
                        // Its stdout closed: usually the process is exiting; say how it ended.
                        if child.is_some() {
                            let status = tokio::time::timeout(Duration::from_secs(1), wait_child(&mut child))
                                .await
                                .unwrap_or_else(|_| "still running".into());
                            tracing::warn!(upstream = %name, %status, "upstream process exited");
                        }
                        break false;
                    }
                    status = wait_child(&mut child) => {
                        tracing::warn!(upstream = %name, %status, "upstream process exited");
                        break false;
                    }
                    () = shutdown.cancelled() => break false,
                }
            };
            if !relist {
                break;
            }
        }
        connection.close();
        if let Some(mut child) = child {
            let _ = child.kill().await;
        }
    }

    async fn list_tools(
        &self,
        connection: &Arc<Connection>,
    ) -> Result<Vec<Value>, UpstreamFailure> {
        self.list(connection, "tools/list", "tools").await
    }

    /// Its resources, templates and prompts, when the config publishes some of them and the
    /// upstream serves them, and whether every list was read; `None` when nothing is to be
    /// listed. A list that fails (and is logged) keeps what `previous`, the last listing on
    /// this connection, read of it: empty if nothing.
    async fn list_offers(
        &self,
        connection: &Arc<Connection>,
        previous: Option<OfferListing>,
    ) -> Option<(OfferListing, bool)> {
        let (resources, prompts) = self.wants;
        if !resources && !prompts {
            return None;
        }
        let mut listing = previous.unwrap_or_else(|| OfferListing {
            upstream: self.spec.name.clone(),
            prefix: self.spec.prefix.clone(),
            ..OfferListing::default()
        });
        let lists: [(bool, &str, &str, &str, &mut Vec<Value>); 3] = [
            (
                resources,
                "resources",
                "resources/list",
                "resources",
                &mut listing.resources,
            ),
            (
                resources,
                "resources",
                "resources/templates/list",
                "resourceTemplates",
                &mut listing.templates,
            ),
            (
                prompts,
                "prompts",
                "prompts/list",
                "prompts",
                &mut listing.prompts,
            ),
        ];
        let mut complete = true;
        for (wanted, capability, method, field, into) in lists {
            if !wanted || !self.declares(capability) {
                continue;
            }
            match self.list(connection, method, field).await {
                Ok(items) => *into = items,
                Err(e) => {
                    complete = false;
                    tracing::error!(upstream = %self.spec.name, error = %e, "cannot list {field}")
                }
            }
        }
        Some((listing, complete))
    }

    /// Every page of one list method.
    async fn list(
        &self,
        connection: &Arc<Connection>,
        method: &str,
        field: &str,
    ) -> Result<Vec<Value>, UpstreamFailure> {
        let never = CancellationToken::new();
        let mut items = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let mut page = connection
                .request(method, params, self.spec.timeout, &never, Routes::default())
                .await
                .map_err(|e| self.call_error(e))?;
            match page.get_mut(field).map(Value::take) {
                Some(Value::Array(batch)) => items.extend(batch),
                _ => {
                    return Err(UpstreamFailure::Failed {
                        upstream: self.spec.name.clone(),
                        detail: format!("its {method} result has no `{field}` array"),
                    });
                }
            }
            match page.get("nextCursor").filter(|c| !c.is_null()) {
                Some(next) if Some(next) != cursor.as_ref() => cursor = Some(next.clone()),
                _ => return Ok(items),
            }
        }
        Err(UpstreamFailure::Failed {
            upstream: self.spec.name.clone(),
            detail: format!("its {method} runs past {MAX_LIST_PAGES} pages"),
        })
    }

    async fn connect(&self) -> Result<Live, String> {
        let (updated_tx, updated) = mpsc::unbounded_channel();
        let listeners = || Listeners {
            relist: self.relist.clone(),
            updated: updated_tx.clone(),
            allowed: self.spec.client,
        };
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
                } else if command.contains('/') {
                    // A path is taken from the config's directory (and `cwd`), as `check` does.
                    let dir = self.base_dir.join(cwd.as_deref().unwrap_or(Path::new("")));
                    dir.join(command)
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
                let connection = Connection::new(self.spec.name.clone(), wire, listeners());
                start_reader(connection.clone(), Box::new(stdout));
                (connection, Some(child))
            }
            UpstreamTransport::Http {
                url,
                headers,
                oauth,
                login,
            } => {
                let token = match (oauth, login) {
                    (Some(o), _) => Some(TokenSource::new(o, &self.base_dir)?),
                    (None, Some(_)) => {
                        let store = self.logins.clone().ok_or(
                            "its login's tokens are kept encrypted: set `[tokens] key` in the config",
                        )?;
                        Some(TokenSource::login(&self.spec.name, store)?)
                    }
                    (None, None) => None,
                };
                let map = with_credentials(
                    &resolve_headers(headers, &self.base_dir)?,
                    &self.spec.name,
                    self.credentials.as_deref(),
                )
                .await?;
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
                    token,
                    session: Default::default(),
                    protocol_version: Default::default(),
                }));
                (
                    Connection::new(self.spec.name.clone(), wire, listeners()),
                    None,
                )
            }
            UpstreamTransport::OpenApi(_) => {
                return Err("an OpenAPI upstream has no MCP connection".into());
            }
        };
        let live = Live {
            connection,
            child,
            updated,
        };
        self.initialize(&live.connection).await?;
        Ok(live)
    }

    /// The handshake: `initialize`, declaring the client capabilities the operator allows
    /// this upstream to use (`sampling`, `elicitation`, `roots`; each request is relayed to the
    /// client of the call it belongs to, which must have declared it too). An upstream that
    /// refuses `initialize` and speaks 2026-07-28 is asked `server/discover` instead, and every
    /// request then carries the 2026-07-28 `_meta`.
    async fn initialize(&self, connection: &Arc<Connection>) -> Result<(), String> {
        let allowed = self.spec.client;
        let mut capabilities = serde_json::Map::new();
        if allowed.sampling {
            capabilities.insert("sampling".into(), json!({}));
        }
        if allowed.elicitation {
            capabilities.insert("elicitation".into(), json!({"form": {}}));
        }
        if allowed.roots {
            capabilities.insert("roots".into(), json!({}));
        }
        let client_info = json!({"name": "portcullis", "version": env!("CARGO_PKG_VERSION")});
        let params = json!({
            "protocolVersion": UPSTREAM_PROTOCOL_VERSIONS[0],
            "capabilities": capabilities,
            "clientInfo": client_info,
        });
        let legacy = self.handshake(connection, "initialize", params).await;
        let version = match &legacy {
            Ok(result) => result.get("protocolVersion").and_then(Value::as_str),
            Err(_) => None,
        };
        let result = match (&legacy, version) {
            (Ok(result), Some(v)) if UPSTREAM_PROTOCOL_VERSIONS.contains(&v) => result.clone(),
            _ => {
                let meta = serde_json::Map::from_iter([
                    (MODERN_VERSION_KEY.into(), json!(MODERN)),
                    (MODERN_CAPABILITIES_KEY.into(), Value::Object(capabilities)),
                    (MODERN_CLIENT_INFO_KEY.into(), client_info),
                ]);
                connection.speak_modern(meta);
                if let Wire::Http(http) = connection.wire() {
                    *http
                        .protocol_version
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                        Some(http::HeaderValue::from_static(MODERN));
                }
                let discovered = self
                    .handshake(connection, "server/discover", json!({}))
                    .await;
                match discovered {
                    Ok(result)
                        if result
                            .get("supportedVersions")
                            .and_then(Value::as_array)
                            .is_some_and(|v| v.iter().any(|v| v == MODERN)) =>
                    {
                        result
                    }
                    _ => {
                        connection.close();
                        return Err(match (&legacy, version) {
                            (Err(e), _) => format!(
                                "initialize failed ({e}), and server/discover offers no 2026-07-28"
                            ),
                            (Ok(_), v) => format!(
                                "the upstream speaks protocol version `{}`, which the gateway \
                                 does not",
                                v.unwrap_or("").escape_debug()
                            ),
                        });
                    }
                }
            }
        };
        *self
            .capabilities
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            result.get("capabilities").cloned().unwrap_or(Value::Null);
        if connection.is_modern() {
            // Stateless: no session to confirm, no server-message stream to listen on.
            tracing::info!(upstream = %self.spec.name, "the upstream speaks 2026-07-28");
            return Ok(());
        }
        if let (Wire::Http(http), Some(version)) = (connection.wire(), version) {
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

    async fn handshake(
        &self,
        connection: &Arc<Connection>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let never = CancellationToken::new();
        connection
            .request(method, params, self.spec.timeout, &never, Routes::default())
            .await
            .map_err(|e| format!("{method} failed: {e}"))
    }
}

/// The revision an upstream that refuses `initialize` may speak, and its `_meta` keys.
const MODERN: &str = "2026-07-28";
const MODERN_VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const MODERN_CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
const MODERN_CLIENT_INFO_KEY: &str = "io.modelcontextprotocol/clientInfo";

/// Most rounds of input a 2026-07-28 upstream may ask for in one call.
const MAX_INPUT_ROUNDS: usize = 10;

/// Most pages of `tools/list` read from one upstream.
const MAX_LIST_PAGES: usize = 1000;

struct Live {
    connection: Arc<Connection>,
    child: Option<tokio::process::Child>,
    /// The URIs of the upstream's `notifications/resources/updated`.
    updated: mpsc::UnboundedReceiver<String>,
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

impl ports::Upstream for Upstream {
    fn call<'a>(
        &'a self,
        call: Cleared,
        client: ClientPorts<'a>,
    ) -> BoxFuture<'a, Result<Value, UpstreamFailure>> {
        Box::pin(self.call_mcp(call, client))
    }

    fn request<'a>(
        &'a self,
        method: &'a str,
        call: Cleared,
    ) -> BoxFuture<'a, Result<Value, UpstreamFailure>> {
        Box::pin(async move {
            let params = call.into_arguments().unwrap_or_else(|| json!({}));
            self.send(method, params).await
        })
    }
}

/// The operations of an OpenAPI upstream, called through its bridge.
struct BridgeTools {
    bridge: Arc<Bridge>,
    timeout: Duration,
}

impl ports::Upstream for BridgeTools {
    fn call<'a>(
        &'a self,
        call: Cleared,
        _client: ClientPorts<'a>,
    ) -> BoxFuture<'a, Result<Value, UpstreamFailure>> {
        Box::pin(async move {
            let tool = call.upstream_tool().to_string();
            self.bridge
                .call(&tool, call.into_arguments(), self.timeout)
                .await
        })
    }
}
