//! The gateway's own JSON-RPC client for one upstream connection, on raw JSON.
//!
//! The gateway does not use rmcp's client towards upstreams: a gateway must pass on what it
//! does not understand (typed structs drop unknown fields), must see progress in the order it
//! was sent (rmcp handles notifications on spawned tasks), must choose the progress token before
//! the request leaves, and must not pay for a per-call worker round trip. This client sends a
//! request over a [`Wire`] (a child's stdin/stdout, or Streamable HTTP POSTs), matches responses
//! to requests by id, routes progress to the call it belongs to, and tells the supervisor when
//! a list changed or the wire died.
//!
//! The upstream's own requests (`sampling/createMessage`, `elicitation/create`, `roots/list`)
//! and log messages go to the client whose call they belong to ([`Ask`]): over HTTP the call
//! is the one whose answer stream carried them; otherwise (stdio, or the server-message
//! stream) it is the call in flight, when every call in flight is one client's. A request the
//! operator does not allow for this upstream, or that no client can be found for, gets an
//! error; `ping` is answered here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use portcullis_core::config::ClientRequests;
use portcullis_core::ports::ClientRequestKind;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Protocol revisions the gateway can speak to an upstream with `initialize`, newest first.
pub const UPSTREAM_PROTOCOL_VERSIONS: &[&str] =
    &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Largest single message accepted from an upstream.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A JSON-RPC error object from the upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

/// Why a request got no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("upstream error {}: {}", .0.code, .0.message)]
    Rpc(RpcError),
    #[error("the connection is closed")]
    Closed,
    #[error("{0}")]
    Wire(String),
    #[error("no answer within {}s", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("cancelled")]
    Cancelled,
}

type Pending = oneshot::Sender<Result<Value, RpcError>>;

/// Something an upstream sent while serving a call that is the call's client's to hear.
pub enum Ask {
    /// A request to answer: the client's result, or an error, goes to `reply`.
    Request {
        kind: ClientRequestKind,
        params: Value,
        reply: oneshot::Sender<Result<Value, RpcError>>,
    },
    /// A log message (`notifications/message` params).
    Log(Value),
}

/// Where a call in flight takes its client's asks; `None` for a client that cannot be asked.
struct AskRoute {
    owner: Option<String>,
    tx: Option<mpsc::UnboundedSender<Ask>>,
}

/// Where what an upstream sends about one call goes.
#[derive(Default)]
pub struct Routes {
    /// Its progress notifications' params.
    pub progress: Option<mpsc::UnboundedSender<Value>>,
    /// For a `tools/call`: the client's owner key and where its asks go (both `None` when
    /// the client cannot be asked). A call that gives none is no call for the routing.
    pub asks: Option<(Option<String>, Option<mpsc::UnboundedSender<Ask>>)>,
}

/// What the supervisor hears of a connection, besides answers.
pub struct Listeners {
    /// Told when a list (tools, resources, prompts) changed.
    pub relist: Arc<Notify>,
    /// Told the URI of every `notifications/resources/updated`.
    pub updated: mpsc::UnboundedSender<String>,
    /// The requests the operator lets this upstream send to clients.
    pub allowed: ClientRequests,
}

/// One live connection to an upstream.
pub struct Connection {
    name: String,
    wire: Wire,
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, Pending>>,
    progress: Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>,
    /// The calls in flight, by request id, in order.
    asks: Mutex<BTreeMap<i64, AskRoute>>,
    /// For an upstream that speaks 2026-07-28 only: the `_meta` every request carries (the
    /// protocol version and the client capabilities the gateway declares). `None`: a legacy
    /// session, opened with `initialize`.
    modern: Mutex<Option<Map<String, Value>>>,
    listeners: Listeners,
    /// Cancelled when the wire dies; the supervisor then reconnects.
    closed: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How messages reach the upstream.
pub enum Wire {
    /// Newline-delimited JSON to a child's stdin; its stdout is read by a task.
    Stdio(mpsc::Sender<Vec<u8>>),
    Http(Box<HttpWire>),
}

/// A Streamable HTTP endpoint, with the gateway's own headers and the session it was given.
pub struct HttpWire {
    pub client: reqwest::Client,
    /// Parsed once: parsing a URL on every request shows in a profile.
    pub url: reqwest::Url,
    pub headers: http::HeaderMap,
    /// The gateway's own OAuth token for this upstream, if configured.
    pub token: Option<crate::client_credentials::TokenSource>,
    pub session: Mutex<Option<http::HeaderValue>>,
    pub protocol_version: Mutex<Option<http::HeaderValue>>,
}

/// A call in flight; if it is dropped before its answer arrives, the upstream is told to stop.
struct InFlight<'a> {
    connection: &'a Arc<Connection>,
    id: i64,
    token: Option<String>,
    answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.connection.pending).remove(&self.id);
        lock(&self.connection.asks).remove(&self.id);
        if let Some(token) = &self.token {
            lock(&self.connection.progress).remove(token);
        }
        if !self.answered && !self.connection.closed.is_cancelled() {
            let connection = self.connection.clone();
            let id = self.id;
            tokio::spawn(async move {
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": id, "reason": "the gateway's client cancelled the request"}});
                if let Err(e) = connection.send(&cancel, None).await {
                    tracing::debug!(upstream = %connection.name, error = %e, "could not send the cancellation");
                }
            });
        }
    }
}

impl Connection {
    pub fn new(name: String, wire: Wire, listeners: Listeners) -> Arc<Connection> {
        Arc::new(Connection {
            name,
            wire,
            next_id: AtomicI64::new(1),
            pending: Mutex::default(),
            progress: Mutex::default(),
            asks: Mutex::default(),
            modern: Mutex::default(),
            listeners,
            closed: CancellationToken::new(),
        })
    }

    pub fn wire(&self) -> &Wire {
        &self.wire
    }

    /// Speaks 2026-07-28 from now on: every request carries `meta` (merged into its own
    /// `_meta`), and over HTTP the `Mcp-Method` and `Mcp-Name` headers.
    pub fn speak_modern(&self, meta: Map<String, Value>) {
        *lock(&self.modern) = Some(meta);
    }

    pub fn is_modern(&self) -> bool {
        lock(&self.modern).is_some()
    }

    /// Cancelled when the connection is no longer usable.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Sends a request and waits for its result. Progress the upstream reports for it goes to
    /// `routes.progress`, in order, as the `params` of each `notifications/progress`; its
    /// requests to the client and log messages to `routes.asks`. Dropping the returned future,
    /// or `cancel` firing, sends `notifications/cancelled` upstream.
    pub async fn request(
        self: &Arc<Self>,
        method: &str,
        mut params: Value,
        timeout: Duration,
        cancel: &CancellationToken,
        routes: Routes,
    ) -> Result<Value, CallError> {
        if self.closed.is_cancelled() {
            return Err(CallError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let mut in_flight = InFlight {
            connection: self,
            id,
            token: None,
            answered: false,
        };
        if let Some((owner, tx)) = routes.asks {
            lock(&self.asks).insert(id, AskRoute { owner, tx });
        }
        if let Some(sender) = routes.progress {
            let token = format!("pc-{id}");
            if let Some(p) = params.as_object_mut() {
                let meta = p
                    .entry("_meta")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("progressToken".into(), Value::String(token.clone()));
                }
            }
            lock(&self.progress).insert(token.clone(), sender);
            in_flight.token = Some(token);
        }
        if let Some(modern) = lock(&self.modern).as_ref()
            && let Some(p) = params.as_object_mut()
        {
            let meta = p
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                for (k, v) in modern {
                    meta.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let send = self.send(&message, Some(id));
        let mut send = std::pin::pin!(send);
        let mut sent = false;
        let mut rx = std::pin::pin!(rx);
        let deadline = tokio::time::sleep(timeout);
        let mut deadline = std::pin::pin!(deadline);
        loop {
            tokio::select! {
                result = &mut send, if !sent => {
                    sent = true;
                    match result {
                        Err(e) => {
                            in_flight.answered = true;
                            return Err(e);
                        }
                        // The answer stream was read to its end and never answered this
                        // request: it will not come.
                        Ok(true) if lock(&self.pending).contains_key(&id) => {
                            in_flight.answered = true;
                            return Err(CallError::Wire(
                                "the upstream ended its answer without answering".into(),
                            ));
                        }
                        Ok(_) => {}
                    }
                }
                answer = &mut rx => {
                    in_flight.answered = true;
                    return match answer {
                        Ok(Ok(result)) => Ok(result),
                        Ok(Err(e)) => Err(CallError::Rpc(e)),
                        Err(_) => Err(CallError::Closed),
                    };
                }
                () = &mut deadline => return Err(CallError::Timeout(timeout)),
                () = cancel.cancelled() => return Err(CallError::Cancelled),
                () = self.closed.cancelled() => {
                    in_flight.answered = true;
                    return Err(CallError::Closed);
                }
            }
        }
    }

    /// Sends a notification.
    pub async fn notify(self: &Arc<Self>, method: &str, params: Value) -> Result<(), CallError> {
        self.send(
            &json!({"jsonrpc": "2.0", "method": method, "params": params}),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Sends a message (the request `id`, if it is one); `Ok(true)` when the answer to it, if
    /// one was due, has been read.
    async fn send(self: &Arc<Self>, message: &Value, id: Option<i64>) -> Result<bool, CallError> {
        let bytes = serde_json::to_vec(message).map_err(|e| CallError::Wire(e.to_string()))?;
        match &self.wire {
            Wire::Stdio(tx) => {
                let mut line = bytes;
                line.push(b'\n');
                tx.send(line).await.map_err(|_| CallError::Closed)?;
                Ok(false)
            }
            Wire::Http(http) => {
                let routing = self.is_modern().then(|| routing_headers(message)).flatten();
                http.post(self, bytes, id, routing).await
            }
        }
    }

    /// Where an ask goes: the call `related` names (the request whose answer stream carried
    /// it), else the call in flight when every call in flight is one client's.
    fn route(&self, related: Option<i64>) -> Result<mpsc::UnboundedSender<Ask>, &'static str> {
        const CANNOT: &str = "the client of the call it belongs to cannot answer it";
        let asks = lock(&self.asks);
        if let Some(route) = related.and_then(|id| asks.get(&id)) {
            return route.tx.clone().ok_or(CANNOT);
        }
        let mut routes = asks.values();
        let Some(first) = routes.next() else {
            return Err("no call it could belong to is in flight");
        };
        if first.owner.is_none() || routes.any(|r| r.owner != first.owner) {
            return Err(
                "calls of several clients are in flight, and it does not say which it belongs to",
            );
        }
        first.tx.clone().ok_or(CANNOT)
    }

    /// The answer to one of the upstream's own requests.
    async fn answer(
        &self,
        method: &str,
        params: Value,
        related: Option<i64>,
    ) -> Result<Value, RpcError> {
        let error = |code: i64, message: String| RpcError {
            code,
            message,
            data: None,
        };
        if method == "ping" {
            return Ok(json!({}));
        }
        let Some(kind) = ClientRequestKind::of(method) else {
            return Err(error(
                -32601,
                format!("the gateway does not serve {method}"),
            ));
        };
        if !self.listeners.allowed.allows(kind) {
            return Err(error(
                -32601,
                format!("the gateway's operator does not let this server send {method}"),
            ));
        }
        let route = self.route(related).map_err(|why| {
            tracing::info!(upstream = %self.name, method, why, "refused a request to a client");
            error(-32603, format!("the gateway cannot relay {method}: {why}"))
        })?;
        let (reply, answer) = oneshot::channel();
        let ended = || error(-32603, "the call this request belongs to has ended".into());
        route
            .send(Ask::Request {
                kind,
                params,
                reply,
            })
            .map_err(|_| ended())?;
        answer.await.unwrap_or_else(|_| Err(ended()))
    }

    /// Handles one message from the upstream (not on the answer stream of any request).
    pub fn dispatch(self: &Arc<Self>, message: Value) {
        self.dispatch_from(message, None);
    }

    /// Handles one message from the upstream, read from the answer stream of request
    /// `related`, if any.
    fn dispatch_from(self: &Arc<Self>, message: Value, related: Option<i64>) {
        let Value::Object(mut m) = message else {
            if let Value::Array(batch) = message {
                batch
                    .into_iter()
                    .for_each(|m| self.dispatch_from(m, related));
            }
            return;
        };
        let method = m.get("method").and_then(Value::as_str).map(str::to_string);
        match (method, m.remove("id")) {
            (None, Some(id)) => {
                let Some(id) = id.as_i64() else { return };
                let Some(tx) = lock(&self.pending).remove(&id) else {
                    return;
                };
                let answer = match (m.remove("result"), m.remove("error")) {
                    (Some(result), _) => Ok(result),
                    (None, Some(error)) => Err(RpcError {
                        code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                        message: error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("upstream error")
                            .to_string(),
                        data: error.get("data").cloned(),
                    }),
                    // Neither a result nor an error: nothing to pass on as a success.
                    (None, None) => Err(RpcError {
                        code: -32603,
                        message: "the upstream's answer has neither a result nor an error".into(),
                        data: None,
                    }),
                };
                let _ = tx.send(answer);
            }
            (Some(method), Some(id)) => {
                // A request from the upstream, for the gateway or for a client.
                let params = m.remove("params").unwrap_or_else(|| json!({}));
                let connection = self.clone();
                tokio::spawn(async move {
                    let reply = match connection.answer(&method, params, related).await {
                        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                        Err(e) => json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": e.code, "message": e.message}}),
                    };
                    let _ = connection.send(&reply, None).await;
                });
            }
            (Some(method), None) => match method.as_str() {
                "notifications/progress" => {
                    let Some(params) = m.remove("params") else {
                        return;
                    };
                    let token = params.get("progressToken").and_then(Value::as_str);
                    if let Some(route) = token.and_then(|t| lock(&self.progress).get(t).cloned()) {
                        let _ = route.send(params);
                    }
                }
                "notifications/tools/list_changed"
                | "notifications/resources/list_changed"
                | "notifications/prompts/list_changed" => {
                    tracing::info!(upstream = %self.name, method, "upstream says a list changed");
                    self.listeners.relist.notify_one();
                }
                "notifications/resources/updated" => {
                    let uri = m.get("params").and_then(|p| p.get("uri")?.as_str());
                    if let Some(uri) = uri {
                        let _ = self.listeners.updated.send(uri.to_string());
                    }
                }
                "notifications/message" => {
                    let Some(params) = m.remove("params") else {
                        return;
                    };
                    match self.route(related) {
                        Ok(route) => {
                            let _ = route.send(Ask::Log(params));
                        }
                        Err(why) => {
                            tracing::debug!(upstream = %self.name, why, "dropped a log message")
                        }
                    }
                }
                other => {
                    tracing::debug!(upstream = %self.name, method = other, "ignored a notification")
                }
            },
            (None, None) => {}
        }
    }

    /// Marks the connection dead, failing every call in flight.
    pub fn close(&self) {
        self.closed.cancel();
        lock(&self.pending).clear();
    }
}

impl HttpWire {
    async fn request(&self, method: reqwest::Method) -> Result<reqwest::RequestBuilder, CallError> {
        let mut headers = self.headers.clone();
        crate::trace::inject(&mut headers);
        let mut r = self
            .client
            .request(method, self.url.clone())
            .headers(headers)
            .header(http::header::ACCEPT, "application/json, text/event-stream");
        if let Some(token) = &self.token {
            let value = token.authorization().await.map_err(CallError::Wire)?;
            r = r.header(http::header::AUTHORIZATION, value);
        }
        if let Some(s) = lock(&self.session).clone() {
            r = r.header("mcp-session-id", s);
        }
        if let Some(v) = lock(&self.protocol_version).clone() {
            r = r.header("mcp-protocol-version", v);
        }
        Ok(r)
    }

    /// POSTs one message; `Ok(true)` when the upstream's answer to it, if one was due, has
    /// been read and dispatched.
    async fn post(
        &self,
        connection: &Arc<Connection>,
        body: Vec<u8>,
        id: Option<i64>,
        routing: Option<(String, Option<String>)>,
    ) -> Result<bool, CallError> {
        let mut request = self
            .request(reqwest::Method::POST)
            .await?
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some((method, name)) = routing {
            request = request.header("mcp-method", method);
            if let Some(name) = name {
                request = request.header("mcp-name", name);
            }
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Wire(format!("POST failed: {e}")))?;
        if let Some(session) = response.headers().get("mcp-session-id") {
            *lock(&self.session) = Some(session.clone());
        }
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED
            && let Some(token) = &self.token
        {
            // The next request gets a fresh token.
            token.invalidate().await;
        }
        if status == reqwest::StatusCode::NOT_FOUND && lock(&self.session).is_some() {
            connection.close();
            return Err(CallError::Wire("the upstream ended the session".into()));
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if content_type.starts_with("text/event-stream") {
            read_events(connection, response, id)
                .await
                .map_err(|e| CallError::Wire(format!("the upstream's event stream failed: {e}")))?;
            Ok(true)
        } else if content_type.starts_with("application/json") {
            let bytes = crate::bounded::read_body(response, MAX_MESSAGE_BYTES)
                .await
                .map_err(|e| CallError::Wire(e.to_string()))?;
            if bytes.trim_ascii().is_empty() {
                return if status.is_success() {
                    Ok(true)
                } else {
                    Err(CallError::Wire(format!(
                        "the upstream answered HTTP {status}"
                    )))
                };
            }
            let message: Value = serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Wire(format!("the upstream sent invalid JSON: {e}")))?;
            if !status.is_success() && message.get("id").is_none_or(Value::is_null) {
                // An error that answers no request — the reference server's answer to a
                // session it no longer knows (HTTP 400, "No valid session ID provided").
                if lock(&self.session).is_some() {
                    connection.close();
                }
                let said = message
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                return Err(CallError::Wire(format!(
                    "the upstream answered HTTP {status}: {}",
                    said.escape_debug()
                )));
            }
            connection.dispatch_from(message, id);
            Ok(true)
        } else if status.is_success() {
            Ok(false)
        } else {
            Err(CallError::Wire(format!(
                "the upstream answered HTTP {status}"
            )))
        }
    }

    /// Listens on the upstream's stream of server-initiated messages, if it offers one, until the
    /// connection closes.
    pub async fn listen(&self, connection: Arc<Connection>) {
        while !connection.closed.is_cancelled() {
            let request = match self.request(reqwest::Method::GET).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(upstream = %connection.name, error = %e, "no server-message stream");
                    return;
                }
            };
            let response = match request.send().await {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    tracing::debug!(upstream = %connection.name, status = %r.status(), "no server-message stream");
                    return;
                }
                Err(e) => {
                    tracing::debug!(upstream = %connection.name, error = %e, "server-message stream failed");
                    return;
                }
            };
            tokio::select! {
                _ = read_events(&connection, response, None) => {}
                () = connection.closed.cancelled() => return,
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The 2026-07-28 routing headers of a message: `Mcp-Method`, and `Mcp-Name` (the tool or
/// prompt name, or the resource URI) when it names one. `None` for a response.
fn routing_headers(message: &Value) -> Option<(String, Option<String>)> {
    let method = message.get("method")?.as_str()?;
    let params = message.get("params");
    let name = match method {
        "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")),
        "resources/read" => params.and_then(|p| p.get("uri")),
        _ => None,
    };
    // A header value cannot hold every character a name can; such a request goes without.
    let name = name
        .and_then(Value::as_str)
        .filter(|n| http::HeaderValue::from_str(n).is_ok())
        .map(str::to_string);
    Some((method.to_string(), name))
}

/// Dispatches every event of `response` (the answer stream of request `related`, if any)
/// until it ends; an error when it ended on a failed read or an event over the size cap
/// (which is refused while it is read).
async fn read_events(
    connection: &Arc<Connection>,
    response: reqwest::Response,
    related: Option<i64>,
) -> Result<(), String> {
    let capped = crate::bounded::cap_events(response.bytes_stream(), MAX_MESSAGE_BYTES);
    let mut events = sse_stream::SseStream::from_bytes_stream(capped);
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => {
                let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                    continue;
                };
                if data.len() > MAX_MESSAGE_BYTES {
                    tracing::warn!(upstream = %connection.name, "dropped an oversized event");
                    continue;
                }
                match serde_json::from_str(&data) {
                    Ok(message) => connection.dispatch_from(message, related),
                    Err(e) => {
                        tracing::warn!(upstream = %connection.name, error = %e, "dropped an unreadable event")
                    }
                }
            }
            Err(e) => {
                tracing::debug!(upstream = %connection.name, error = %e, "event stream ended");
                return Err(e.to_string());
            }
        }
    }
    Ok(())
}

/// Connects a child's stdio: returns the wire, and spawns the tasks that write to its stdin and
/// read its stdout (closing the connection at end of file).
pub fn stdio_wire(
    stdin: impl AsyncWrite + Send + Unpin + 'static,
) -> (
    Wire,
    impl FnOnce(Arc<Connection>, Box<dyn AsyncRead + Send + Unpin>),
) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let mut stdin = stdin;
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let start_reader = |connection: Arc<Connection>, stdout: Box<dyn AsyncRead + Send + Unpin>| {
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                let read = (&mut reader)
                    .take(MAX_MESSAGE_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .await;
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line.len() > MAX_MESSAGE_BYTES => {
                        tracing::error!(upstream = %connection.name, "a message is larger than {MAX_MESSAGE_BYTES} bytes; closing");
                        break;
                    }
                    Ok(_) => {}
                }
                let text = line.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_slice(text) {
                    Ok(message) => connection.dispatch(message),
                    Err(e) => {
                        tracing::warn!(upstream = %connection.name, error = %e, "dropped an unreadable line")
                    }
                }
            }
            connection.close();
        });
    };
    (Wire::Stdio(tx), start_reader)
}

use tokio::io::AsyncReadExt as _;
