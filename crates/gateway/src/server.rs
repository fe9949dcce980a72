//! The MCP server clients talk to: one [`Gateway`] shared by every transport and session.
//!
//! `tools/list` serves each caller the published tools it may call, with the gateway's own
//! cursors. Every `tools/call` goes through [`Gateway::call_tool`], which reads top to bottom:
//! look the tool up, authorize the caller, call the upstream with the proof of authorization,
//! and write one audit record on every way out (including the client going away). A name that
//! is not published, or not for this caller, reads as unknown (`-32602`). Only the `tools`
//! capability is declared, so every other method gets "method not found".

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::audit::{AuditRecord, Decision, Outcome, shape};
use portcullis_core::limits::{Draw, LimitKind, Limited, Limiter, Usage};
use portcullis_core::{Config, Denial, Principal, PublishedTool, authorize, may_see};
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestMethod,
    CompleteRequestParams, CompleteResult, ContentBlock, ErrorData, Implementation,
    ListPromptsRequestMethod, ListPromptsResult, ListResourceTemplatesRequestMethod,
    ListResourceTemplatesResult, ListResourcesRequestMethod, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::model::{ErrorCode, ProgressToken, Tool};
use rmcp::service::{Peer, RequestContext, RoleServer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::audit::{self, AuditLog, now_rfc3339, request_id};
use crate::auth::{AuthFailure, Authenticator};
use crate::catalogue::CatalogueState;
use crate::guard::{Direction, Guard};
use crate::openapi::EmbeddedApp;
use crate::rpc::RpcError;
use crate::upstream::{Upstream, UpstreamError};

/// The gateway: its upstreams and the catalogue they feed.
pub struct Gateway {
    config: Config,
    auth: Authenticator,
    audit: AuditLog,
    limiter: Limiter,
    guard: Guard,
    /// The limiter's clock starts here.
    started: std::time::Instant,
    catalogue: Arc<CatalogueState>,
    upstreams: HashMap<String, Arc<Upstream>>,
    shutdown: CancellationToken,
    supervisors: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Gateway {
    /// Starts a supervisor for every upstream. `base_dir` is the directory relative paths in the
    /// config are taken from.
    pub fn start(
        config: Config,
        base_dir: PathBuf,
        auth: Authenticator,
        audit: AuditLog,
        shutdown: CancellationToken,
    ) -> Arc<Gateway> {
        Self::start_with_apps(config, base_dir, auth, audit, shutdown, HashMap::new())
    }

    /// Like [`Gateway::start`], with the in-process APIs behind `embedded = true` OpenAPI
    /// upstreams, by upstream name.
    pub fn start_with_apps(
        config: Config,
        base_dir: PathBuf,
        auth: Authenticator,
        audit: AuditLog,
        shutdown: CancellationToken,
        mut apps: HashMap<String, EmbeddedApp>,
    ) -> Arc<Gateway> {
        let prefixes = config
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), u.prefix.clone()))
            .collect();
        let catalogue = Arc::new(CatalogueState::new(config.exposure.clone(), prefixes));
        let mut upstreams = HashMap::new();
        let mut supervisors = Vec::new();
        for spec in &config.upstreams {
            let upstream = match Upstream::new(
                spec.clone(),
                base_dir.clone(),
                apps.remove(&spec.name),
            ) {
                Ok(upstream) => upstream,
                Err(e) => {
                    tracing::error!(upstream = %spec.name, error = %e, "cannot set up the upstream; its tools stay unpublished");
                    continue;
                }
            };
            supervisors.push(tokio::spawn(
                upstream
                    .clone()
                    .supervise(catalogue.clone(), shutdown.child_token()),
            ));
            upstreams.insert(spec.name.clone(), upstream);
        }
        let limiter = Limiter::new(MAX_LIMIT_BUCKETS);
        let guard = Guard::new(config.guardrail.clone());
        Arc::new(Gateway {
            guard,
            config,
            auth,
            audit,
            limiter,
            started: std::time::Instant::now(),
            catalogue,
            upstreams,
            shutdown,
            supervisors: std::sync::Mutex::new(supervisors),
        })
    }

    /// Waits (at most `limit`) until every upstream has been listed once, so that the first
    /// client sees the whole catalogue. Upstreams still down keep reconnecting in the background.
    pub async fn wait_ready(&self, limit: Duration) {
        let all = futures::future::join_all(self.upstreams.values().map(|u| u.wait_listed()));
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("not every upstream answered within {limit:?}; serving what is there");
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Published tools, in order, with the scopes each requires (none: public on purpose).
    pub fn published(&self) -> Vec<(String, Vec<String>)> {
        let current = self.catalogue.current();
        current
            .catalogue
            .tools()
            .iter()
            .map(|t| (t.name.clone(), t.scopes.iter().cloned().collect()))
            .collect()
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Records a caller turned away before any MCP message was read (credentials, edge).
    pub fn audit_refusal(
        &self,
        transport: &'static str,
        method: String,
        decision: Decision,
        outcome: Outcome,
        reason: String,
    ) {
        self.audit
            .record(audit::refusal(transport, method, decision, outcome, reason));
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The draws a call by `caller` to `tool` makes on the limits.
    fn draws(&self, caller: &Caller, tool: &PublishedTool) -> Vec<Draw> {
        let limits = &self.config.limits;
        let who = &caller.limit_key();
        let per_caller_tool = tool.rate.or(limits.per_caller_tool);
        [
            (LimitKind::PerCaller, who.clone(), limits.per_caller, 1.0),
            (
                LimitKind::PerCallerTool,
                format!("{who} {}", tool.name),
                per_caller_tool,
                1.0,
            ),
            (LimitKind::PerTool, tool.name.clone(), limits.per_tool, 1.0),
            (LimitKind::Global, String::new(), limits.global, 1.0),
            (
                LimitKind::Budget,
                who.clone(),
                limits.budget,
                f64::from(tool.cost),
            ),
        ]
        .into_iter()
        .filter_map(|(kind, key, rate, cost)| {
            rate.map(|rate| Draw {
                kind,
                key,
                rate,
                cost,
            })
        })
        .collect()
    }

    /// Charges a refused call to its caller's limit, so that refusals cannot be hammered for
    /// free either.
    fn charge_refusal(&self, caller: &Caller) -> Result<(), Limited> {
        let Some(rate) = self.config.limits.per_caller else {
            return Ok(());
        };
        let draw = Draw {
            kind: LimitKind::PerCaller,
            key: caller.limit_key(),
            rate,
            cost: 1.0,
        };
        self.limiter.acquire(&[draw], self.now())
    }

    /// Counts a request refused for its credentials against its source address.
    pub fn charge_unauthenticated(&self, source: &str) -> Result<(), Limited> {
        let Some(rate) = self.config.limits.unauthenticated else {
            return Ok(());
        };
        let draw = Draw {
            kind: LimitKind::Unauthenticated,
            key: source.to_string(),
            rate,
            cost: 1.0,
        };
        self.limiter.acquire(&[draw], self.now())
    }

    /// Current use of every limit.
    pub fn limit_usage(&self) -> Vec<Usage> {
        self.limiter.usage(self.now())
    }

    /// Forgets limit buckets that are full again; call now and then.
    pub fn evict_idle_limits(&self) {
        self.limiter.evict_idle(self.now());
    }

    /// The published tool `name`, in rmcp's typed form, if there is one.
    pub fn typed_tool(&self, name: &str) -> Option<Tool> {
        self.catalogue.current().typed.get(name).cloned()
    }

    /// Every scope `name` needs, when `principal` may see it but lacks some of them (the
    /// step-up case); `None` when the call may go ahead or must be refused otherwise.
    pub fn scopes_lacking(
        &self,
        principal: &Principal,
        name: &str,
        group: Option<&str>,
    ) -> Option<Vec<String>> {
        let published = self.catalogue.current();
        let tool = published.tool(name)?;
        match authorize(&self.config.access, principal, tool, group) {
            Err(Denial::MissingScopes(_)) => Some(tool.scopes.iter().cloned().collect()),
            _ => None,
        }
    }

    /// Whether `name` is published and declares no `x-mcp-header` parameters (whose headers
    /// rmcp checks against the body).
    pub fn is_plain_tool(&self, name: &str) -> bool {
        let published = self.catalogue.current();
        published.typed.contains_key(name) && !published.header_params.contains(name)
    }

    /// Every `tools/call`, whichever way it arrived, goes through here. The result is the
    /// upstream's raw result, with `resultType`.
    pub async fn call_tool(
        &self,
        caller: &Caller,
        name: &str,
        arguments: Option<Value>,
        progress: Option<(Peer<RoleServer>, ProgressToken)>,
        cancelled: &CancellationToken,
    ) -> Result<Value, ToolCallError> {
        let mut audit = CallAudit::start(&self.audit, caller, name, arguments.as_ref());
        let published = self.catalogue.current();
        let Some(tool) = published
            .tool(name)
            .filter(|t| published.typed.contains_key(&t.name))
        else {
            return Err(self.refuse(&mut audit, caller, "not published".into()));
        };
        audit.record.upstream = Some(tool.upstream.clone());
        let authorized = match authorize(
            &self.config.access,
            &caller.principal,
            tool,
            caller.group.as_deref(),
        ) {
            Ok(authorized) => authorized,
            Err(denial) => return Err(self.refuse(&mut audit, caller, denial.to_string())),
        };
        let Some(upstream) = self.upstreams.get(authorized.upstream()) else {
            return Err(self.refuse(&mut audit, caller, "no such upstream".into()));
        };
        if let Err(limited) = self.limiter.acquire(&self.draws(caller, tool), self.now()) {
            audit.finish(Decision::Denied, Outcome::Limited, limited.to_string(), 0);
            return Err(ToolCallError::Limited(limited));
        }
        let arguments = match arguments {
            Some(args) => {
                let checked = self
                    .guard
                    .check(tool, Direction::Arguments, args, &mut audit.record);
                match checked.await {
                    (_, Some(refusal)) => {
                        let reason = "guardrail: prompt injection in the arguments".to_string();
                        audit.finish(Decision::Denied, Outcome::Blocked, reason, 0);
                        return Err(ToolCallError::Failed(refusal));
                    }
                    (args, None) => Some(args),
                }
            }
            None => None,
        };
        let outcome = upstream
            .call_tool(
                &authorized,
                arguments,
                progress,
                &self.config.redaction,
                cancelled,
            )
            .await;
        // Everything that goes back to the client passes the redaction rules first.
        let redaction = &self.config.redaction;
        match outcome {
            Ok(Value::Object(mut result)) => {
                // Legacy upstreams send no `resultType`; modern clients require it (and rmcp
                // strips it for clients that negotiated an older revision).
                result
                    .entry("resultType")
                    .or_insert_with(|| Value::String("complete".into()));
                let checked = self.guard.check(
                    tool,
                    Direction::Result,
                    Value::Object(result),
                    &mut audit.record,
                );
                let mut result = match checked.await {
                    (_, Some(refusal)) => {
                        let reason = "guardrail: prompt injection in the result".to_string();
                        audit.finish(Decision::Allowed, Outcome::Withheld, reason, 0);
                        return Err(ToolCallError::Failed(refusal));
                    }
                    (result, None) => result,
                };
                redaction.redact_value(&mut result, &mut audit.record.redactions);
                let (outcome, reason) = if result.get("isError") == Some(&Value::Bool(true)) {
                    (Outcome::ToolError, "the tool reported an error")
                } else {
                    (Outcome::Ok, "ok")
                };
                audit.finish(Decision::Allowed, outcome, reason.into(), json_len(&result));
                Ok(result)
            }
            Ok(_) => {
                let message = format!("upstream `{}` sent an invalid tool result", tool.upstream);
                audit.finish(Decision::Allowed, Outcome::Unavailable, message.clone(), 0);
                Err(ToolCallError::Failed(message))
            }
            Err(UpstreamError::Protocol(mut e)) => {
                let error = json!({"message": &e.message, "data": &e.data});
                let checked = self
                    .guard
                    .check(tool, Direction::Result, error, &mut audit.record);
                if let (_, Some(refusal)) = checked.await {
                    let reason = "guardrail: prompt injection in the upstream's error".to_string();
                    audit.finish(Decision::Allowed, Outcome::Withheld, reason, 0);
                    return Err(ToolCallError::Failed(refusal));
                }
                e.message = redaction
                    .redact_text(&e.message, &mut audit.record.redactions)
                    .into_owned();
                if let Some(data) = e.data.as_mut() {
                    redaction.redact_value(data, &mut audit.record.redactions);
                }
                audit.finish(
                    Decision::Allowed,
                    Outcome::UpstreamError,
                    format!("upstream error {}", e.code),
                    0,
                );
                Err(ToolCallError::Upstream(e))
            }
            Err(e) => {
                let message = redaction
                    .redact_text(&e.to_string(), &mut audit.record.redactions)
                    .into_owned();
                tracing::warn!(tool = %tool.name, error = %message, "tool call failed");
                let outcome = match e {
                    UpstreamError::Timeout { .. } => Outcome::Timeout,
                    UpstreamError::Cancelled => Outcome::Cancelled,
                    _ => Outcome::Unavailable,
                };
                audit.finish(Decision::Allowed, outcome, message.clone(), 0);
                Err(ToolCallError::Failed(message))
            }
        }
    }

    /// A call the caller may not make: it reads as unknown, unless the caller has been refused
    /// so often that the refusal itself is now rate limited.
    fn refuse(&self, audit: &mut CallAudit<'_>, caller: &Caller, reason: String) -> ToolCallError {
        match self.charge_refusal(caller) {
            Ok(()) => {
                audit.finish(Decision::Denied, Outcome::UnknownTool, reason, 0);
                ToolCallError::Unknown
            }
            Err(limited) => {
                audit.finish(
                    Decision::Denied,
                    Outcome::Limited,
                    format!("{reason}; {limited}"),
                    0,
                );
                ToolCallError::Limited(limited)
            }
        }
    }

    /// Stops the upstream supervisors and waits (a few seconds at most) until they have closed
    /// their connections and stopped their child processes; then waits until every audit
    /// record so far is written.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let supervisors = std::mem::take(
            &mut *self
                .supervisors
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let all = futures::future::join_all(supervisors);
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!("some upstream did not stop within 5 s");
        }
        self.audit.flush().await;
    }

    /// The rmcp handler for one HTTP session or request, on the main endpoint or a group.
    pub fn handler(self: &Arc<Self>, group: Option<String>) -> GatewayServer {
        GatewayServer {
            gateway: self.clone(),
            identity: Identity::Http,
            group,
        }
    }

    /// The rmcp handler for the stdio client, who presents `token` (from `PORTCULLIS_API_KEY`)
    /// or nothing (anonymous).
    pub fn stdio_handler(self: &Arc<Self>, token: Option<String>) -> GatewayServer {
        GatewayServer {
            gateway: self.clone(),
            identity: Identity::Stdio(token),
            group: None,
        }
    }
}

/// Who is calling, on which transport, through which endpoint.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub transport: &'static str,
    pub group: Option<String>,
    /// The client's address, when the transport has one.
    pub source: Option<std::net::IpAddr>,
}

impl Caller {
    /// Whose limits a call draws on: the principal, or for anonymous callers the principal at
    /// their address (so one anonymous client cannot use up everyone's allowance).
    fn limit_key(&self) -> String {
        match (self.principal.is_verified(), self.source) {
            (false, Some(ip)) => format!("{}@{ip}", self.principal.id),
            _ => self.principal.id.clone(),
        }
    }
}

fn json_len(v: &Value) -> u64 {
    serde_json::to_vec(v).map_or(0, |b| b.len() as u64)
}

/// The audit record of one call in progress. Whatever way the call ends, one record is
/// written: by [`CallAudit::finish`], or, if the call is abandoned (the client went away), on
/// drop.
struct CallAudit<'a> {
    log: &'a AuditLog,
    record: AuditRecord,
    started: std::time::Instant,
    done: bool,
}

impl<'a> CallAudit<'a> {
    fn start(
        log: &'a AuditLog,
        caller: &Caller,
        tool: &str,
        arguments: Option<&Value>,
    ) -> CallAudit<'a> {
        CallAudit {
            log,
            record: AuditRecord {
                time: now_rfc3339(),
                request_id: request_id(),
                transport: caller.transport,
                principal: caller.principal.id.clone(),
                principal_kind: caller.principal.kind.as_str(),
                method: "tools/call".into(),
                tool: Some(printable_name(tool)),
                upstream: None,
                group: caller.group.clone(),
                arguments: arguments.map(shape),
                decision: Decision::Denied,
                outcome: Outcome::Cancelled,
                reason: String::new(),
                latency_ms: 0.0,
                bytes_in: arguments.map_or(0, json_len),
                bytes_out: 0,
                redactions: Default::default(),
                guardrail: Vec::new(),
            },
            started: std::time::Instant::now(),
            done: false,
        }
    }

    fn finish(&mut self, decision: Decision, outcome: Outcome, reason: String, bytes_out: u64) {
        self.record.decision = decision;
        self.record.outcome = outcome;
        self.record.reason = reason;
        self.record.bytes_out = bytes_out;
        self.record.latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        self.done = true;
        self.log.record(self.record.clone());
    }
}

impl Drop for CallAudit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let decision = if self.record.upstream.is_some() {
                Decision::Allowed
            } else {
                Decision::Denied
            };
            self.finish(
                decision,
                Outcome::Cancelled,
                "the client went away before the answer".into(),
                0,
            );
        }
    }
}

/// A tool name as the audit log may show it: the caller chose it, so anything that is not a
/// valid tool name is replaced.
pub fn printable_name(name: &str) -> String {
    if is_tool_name(name) {
        name.to_string()
    } else {
        "(invalid tool name)".into()
    }
}

fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// How a handler learns who is calling.
#[derive(Clone)]
enum Identity {
    /// The HTTP edge authenticated the request and put the [`Principal`] in its extensions.
    Http,
    /// The stdio client's token, checked again on every request.
    Stdio(Option<String>),
}

/// Why a `tools/call` produced no upstream result.
#[derive(Debug)]
pub enum ToolCallError {
    /// Not published (reads exactly like a tool that does not exist).
    Unknown,
    /// The upstream answered with a JSON-RPC error, passed on as it is.
    Upstream(RpcError),
    /// The upstream could not be reached, timed out or misbehaved; the client gets a tool
    /// result with `isError: true` and this text.
    Failed(String),
    /// A rate limit or budget refused the call; the client gets a tool result with
    /// `isError: true` saying when to retry.
    Limited(Limited),
}

/// Most limit buckets kept at once; past it the least recently used are forgotten.
pub const MAX_LIMIT_BUCKETS: usize = 100_000;

/// A tool result that reports a failure to the model.
pub fn failure_result(message: &str) -> Value {
    json!({
        "resultType": "complete",
        "content": [{"type": "text", "text": message}],
        "isError": true,
    })
}

/// The rmcp server handler; cheap to clone, one per session.
#[derive(Clone)]
pub struct GatewayServer {
    gateway: Arc<Gateway>,
    identity: Identity,
    group: Option<String>,
}

/// JSON-RPC error code for a request whose caller is not authenticated (stdio; over HTTP the
/// edge answers 401 first).
pub const UNAUTHENTICATED: i32 = -32001;

impl GatewayServer {
    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        let parts = context.extensions.get::<http::request::Parts>();
        let source = parts
            .and_then(|p| {
                p.extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            })
            .map(|c| c.0.ip().to_canonical());
        let (principal, transport) = match &self.identity {
            Identity::Http => {
                let principal = parts.and_then(|p| p.extensions.get::<Principal>()).cloned();
                (principal.ok_or(AuthFailure::Missing), "http")
            }
            Identity::Stdio(None) => (Ok(Principal::anonymous()), "stdio"),
            Identity::Stdio(Some(token)) => (self.gateway.auth.token(token), "stdio"),
        };
        match principal {
            Ok(principal) => Ok(Caller {
                principal,
                transport,
                group: self.group.clone(),
                source,
            }),
            Err(failure) => {
                tracing::warn!(%failure, transport, "refused an unauthenticated request");
                self.gateway.audit_refusal(
                    transport,
                    "request".into(),
                    Decision::Unauthenticated,
                    Outcome::Unauthenticated,
                    failure.to_string(),
                );
                Err(ErrorData::new(
                    ErrorCode(UNAUTHENTICATED),
                    failure.client_message(),
                    None,
                ))
            }
        }
    }
}

fn unknown_tool(name: &str) -> ErrorData {
    if is_tool_name(name) {
        ErrorData::invalid_params(format!("unknown tool: {name}"), None)
    } else {
        ErrorData::invalid_params("unknown tool", None)
    }
}

impl ServerHandler for GatewayServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("portcullis", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Portcullis gateway: the tools listed are the ones the operator exposed to you.",
            )
    }

    // rmcp answers these with empty results by default; the gateway does not serve them, so
    // they get the spec's "method not found", like every other undeclared method.
    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Err(ErrorData::method_not_found::<CompleteRequestMethod>())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Err(ErrorData::method_not_found::<ListPromptsRequestMethod>())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Err(ErrorData::method_not_found::<ListResourcesRequestMethod>())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Err(ErrorData::method_not_found::<
            ListResourceTemplatesRequestMethod,
        >())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context)?;
        let published = self.gateway.catalogue.current();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let access = &self.gateway.config.access;
        let (page, next) = published
            .catalogue
            .page(cursor, self.gateway.config.gateway.page_size, |t| {
                published.typed.contains_key(&t.name)
                    && may_see(access, &caller.principal, t, caller.group.as_deref())
            })
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let tools = page
            .iter()
            .filter_map(|t| published.typed.get(&t.name).cloned())
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.gateway.typed_tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context)?;
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| (context.peer.clone(), token));
        let arguments = request.arguments.map(Value::Object);
        let result = match self
            .gateway
            .call_tool(&caller, &request.name, arguments, progress, &context.ct)
            .await
        {
            Ok(result) => result,
            Err(ToolCallError::Unknown) => return Err(unknown_tool(&request.name)),
            Err(ToolCallError::Upstream(e)) => {
                return Err(ErrorData::new(ErrorCode(e.code as i32), e.message, e.data));
            }
            Err(ToolCallError::Failed(message)) => failure_result(&message),
            Err(ToolCallError::Limited(limited)) => failure_result(&limited.to_string()),
        };
        serde_json::from_value::<CallToolResult>(result)
            .map(CallToolResponse::Complete)
            .or_else(|e| {
                tracing::warn!(tool = %request.name, error = %e, "upstream sent an invalid tool result");
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text("the upstream sent an invalid tool result"),
                ])))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_callers_are_limited_per_address_and_keys_per_key() {
        let anonymous = |ip: Option<&str>| Caller {
            principal: Principal::anonymous(),
            transport: "http",
            group: None,
            source: ip.map(|i| i.parse().unwrap()),
        };
        assert_eq!(
            anonymous(Some("10.0.0.1")).limit_key(),
            "anonymous@10.0.0.1"
        );
        assert_ne!(
            anonymous(Some("10.0.0.1")).limit_key(),
            anonymous(Some("10.0.0.2")).limit_key()
        );
        assert_eq!(anonymous(None).limit_key(), "anonymous");
        let key = Caller {
            principal: Principal {
                id: "key_1".into(),
                kind: portcullis_core::PrincipalKind::ApiKey,
                scopes: Default::default(),
            },
            transport: "http",
            group: None,
            source: Some("10.0.0.1".parse().unwrap()),
        };
        assert_eq!(
            key.limit_key(),
            "key_1",
            "a key's allowance follows the key, not the address"
        );
    }
}
