//! The call pipeline: every `tools/call`, whichever transport it came on, goes through
//! [`Pipeline::call_tool`], which reads top to bottom:
//!
//! ```text
//! resolve → authorize → rate limit → guard arguments → approval → forward → guard result → redact
//! ```
//!
//! Each phase either passes the call on or refuses it with a [`Refusal`]; whichever happens, the
//! call's [`Exchange`] is settled once, and written when the request is done. Each phase hands
//! the next a value only it can make — [`Authorized`] (policy), [`Admitted`] (the rate limit),
//! [`Cleared`] (the guardrail, carrying the scanned arguments and the upstream the call was
//! cleared for) — and an [`Upstream`] can only be called with a [`Cleared`], so forwarding a
//! call that was not authorized, limited and scanned does not compile:
//!
//! ```compile_fail
//! fn forge(upstream: &dyn portcullis_core::ports::Upstream) {
//!     let call = portcullis_core::pipeline::Cleared {
//!         upstream: "demo".into(),
//!         upstream_tool: "refund".into(),
//!         arguments: None,
//!     };
//!     let _ = upstream.call(call, None);
//! }
//! ```
//!
//! The pipeline does no I/O of its own: it consults the [ports](crate::ports).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tracing::Instrument;

use serde_json::Value;

use crate::approval::{ApprovalMode, call_hash};
use crate::audit::{Decision, Outcome};
use crate::catalogue::{Catalogue, PublishedTool};
use crate::config::LimitSettings;
use crate::exchange::Exchange;
use crate::limits::{Draw, LimitKind, Limited, Rate};
use crate::policy::{AccessRules, Authorized, Principal, authorize};
use crate::ports::{
    AfterCall, ApprovalQueue, ApprovalRequest, BeforeCall, BoxFuture, CallHook, Checked,
    ClientChannel, ClientPorts, ClientRequestError, ClientRequestKind, Clock, ContentGuard,
    Direction, HookCall, ProgressSink, RateStore, ScanContext, Upstream, UpstreamFailure,
    UserAnswer,
};
use crate::redact::{Counts, Redactor};
use crate::refusal::{Answer, Refusal};
use crate::rules::{Facts, Rules, Verdict};

/// Who is calling, on which transport, through which endpoint.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub transport: &'static str,
    /// The group endpoint the request came in on; `None` for the main endpoint.
    pub group: Option<String>,
    /// The client's address, when the transport has one.
    pub source: Option<IpAddr>,
}

impl Caller {
    /// See [`caller_key`].
    pub fn key(&self) -> String {
        caller_key(&self.principal, self.source)
    }
}

/// Who a caller is for state kept per caller — the limits it draws on, the sessions it owns:
/// the principal, or for anonymous callers the principal at their address (so one anonymous
/// client cannot use up everyone's allowance, or use another's session).
pub fn caller_key(principal: &Principal, source: Option<IpAddr>) -> String {
    match (principal.is_verified(), source) {
        (false, Some(ip)) => format!("{}@{ip}", principal.id),
        _ => principal.id.clone(),
    }
}

/// A call that passed the rate limit. Only the pipeline makes one.
#[derive(Debug)]
pub struct Admitted {
    authorized: Authorized,
}

/// A call cleared to go upstream: authorized, admitted by the limits, its arguments scanned.
/// Only the pipeline makes one, and an [`Upstream`] takes nothing else.
#[derive(Debug)]
pub struct Cleared {
    upstream: String,
    upstream_tool: String,
    arguments: Option<Value>,
}

impl Cleared {
    /// The upstream the call was cleared for.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
    /// The tool's name at its upstream.
    pub fn upstream_tool(&self) -> &str {
        &self.upstream_tool
    }
    /// The scanned arguments.
    pub fn arguments(&self) -> Option<&Value> {
        self.arguments.as_ref()
    }
    pub fn into_arguments(self) -> Option<Value> {
        self.arguments
    }
}

/// The rules and the ports the pipeline runs over.
pub struct Pipeline {
    pub access: AccessRules,
    pub limits: LimitSettings,
    pub redaction: Arc<Redactor>,
    pub upstreams: HashMap<String, Arc<dyn Upstream>>,
    pub rates: Arc<dyn RateStore>,
    pub guard: Arc<dyn ContentGuard>,
    pub approvals: Arc<dyn ApprovalQueue>,
    /// `[[rules]]`, after authorization: they deny calls or make them wait for approval.
    pub rules: Rules,
    /// An embedder's hooks, in order.
    pub hooks: Vec<Arc<dyn CallHook>>,
    pub clock: Arc<dyn Clock>,
}

/// A request other than a tool call, for [`Pipeline::relay`].
pub struct Relay<'a> {
    /// The published prompt, resource or template it is for.
    pub item: &'a PublishedTool,
    /// The method sent upstream.
    pub method: &'static str,
    /// Its params, with the upstream's names; scanned like a call's arguments.
    pub params: Value,
}

/// Which way [`textual_blobs`] turns.
#[derive(Clone, Copy)]
enum Blob {
    /// `blob` (base64) of a textual MIME type → `text`, marked.
    Decode,
    /// The marked ones back to `blob`.
    Encode,
}

/// Marks a content decoded from a blob, so that it is encoded again.
const DECODED_BLOB: &str = "portcullis.decodedBlob";

/// Whether a MIME type is text a model could read.
fn is_textual(mime: &str) -> bool {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/yaml"
                | "application/x-yaml"
                | "application/toml"
                | "application/x-sh"
                | "application/sql"
                | "application/graphql"
        )
}

/// Turns the textual blobs of a result's `contents` (a resource read) into text and back, so
/// that the guardrail and redaction read them. A blob that is not valid base64 and UTF-8
/// stays a blob.
fn textual_blobs(mut result: Value, way: Blob) -> Value {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let Some(Value::Array(contents)) = result.get_mut("contents") else {
        return result;
    };
    for content in contents.iter_mut().filter_map(Value::as_object_mut) {
        match way {
            Blob::Decode => {
                let textual = content
                    .get("mimeType")
                    .and_then(Value::as_str)
                    .is_some_and(is_textual);
                let Some(Value::String(blob)) = content.get("blob").filter(|_| textual) else {
                    continue;
                };
                let Some(text) = engine
                    .decode(blob.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                else {
                    continue;
                };
                content.remove("blob");
                content.insert("text".into(), Value::String(text));
                content.insert(DECODED_BLOB.into(), Value::Bool(true));
            }
            Blob::Encode => {
                if content.remove(DECODED_BLOB).is_some()
                    && let Some(Value::String(text)) = content.remove("text")
                {
                    content.insert("blob".into(), Value::String(engine.encode(text)));
                }
            }
        }
    }
    result
}

/// A successful call: the result for the client, and how the record describes it.
struct Answered {
    result: Value,
    outcome: Outcome,
}

/// The target of the spans of a call's phases: off (and free) unless telemetry is on.
pub const TRACE_TARGET: &str = "portcullis::trace";

/// The span of one phase of a call.
fn phase(name: &'static str) -> tracing::Span {
    tracing::trace_span!(target: TRACE_TARGET, "phase", otel.name = name)
}

impl Pipeline {
    /// Every `tools/call` goes through here. The result is the upstream's result, scanned and
    /// redacted, with `resultType`.
    pub async fn call_tool(
        &self,
        tools: &Catalogue,
        exchange: &Exchange,
        caller: &Caller,
        name: &str,
        arguments: Option<Value>,
        client: ClientPorts<'_>,
    ) -> Result<Value, Refusal> {
        exchange.tool(name);
        exchange.arguments(arguments.as_ref());
        match self
            .run(tools, exchange, caller, name, arguments, client)
            .await
        {
            Ok(Answered { result, outcome }) => {
                let reason = match outcome {
                    Outcome::ToolError => "the tool reported an error",
                    _ => "ok",
                };
                exchange.settle(Decision::Allowed, outcome, reason.into(), json_len(&result));
                Ok(result)
            }
            Err(refusal) => {
                exchange.refuse(&refusal);
                Err(refusal)
            }
        }
    }

    /// Every other request an upstream answers — `resources/read`, `prompts/get`,
    /// `completion/complete` — for a published `item`, through the same phases as a call
    /// except approval and hooks (they read, never act): authorize, rate limit, guard the
    /// params (the prompt's arguments, the completion's value), forward, guard and redact the
    /// result. Textual blobs (`blob` with a text MIME type) are scanned and redacted as the
    /// text they are.
    pub async fn relay(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        relay: Relay<'_>,
    ) -> Result<Value, Refusal> {
        let Relay {
            item,
            method,
            params,
        } = relay;
        exchange.item(&item.name);
        exchange.upstream(&item.upstream);
        let answer = async {
            let admitted = {
                let _policy = phase("policy").entered();
                let authorized = self.authorize(caller, item)?;
                self.limit(caller, item, authorized)?
            };
            let cleared = self
                .guard_arguments(exchange, item, admitted, Some(params))
                .instrument(phase("guard_arguments"))
                .await?;
            let Some(upstream) = self.upstreams.get(cleared.upstream()) else {
                return Err(upstream_failure(UpstreamFailure::Unavailable(
                    item.upstream.clone(),
                )));
            };
            let result = match upstream
                .request(method, cleared)
                .instrument(phase("upstream"))
                .await
            {
                Ok(result) => result,
                Err(failure) => return Err(self.upstream_error(exchange, item, failure).await),
            };
            let mut result = textual_blobs(result, Blob::Decode);
            // As for tools: modern clients require `resultType`, legacy upstreams omit it.
            if let Some(result) = result.as_object_mut() {
                result
                    .entry("resultType")
                    .or_insert_with(|| Value::String("complete".into()));
            }
            let checked = self
                .scan(exchange, item, Direction::Result, result)
                .instrument(phase("guard_result"))
                .await;
            if let Some(text) = checked.refusal {
                return Err(withheld(text, "the result"));
            }
            result = checked.value;
            let mut counts = Counts::new();
            self.redaction.redact_value(&mut result, &mut counts);
            exchange.redactions(counts);
            Ok(textual_blobs(result, Blob::Encode))
        }
        .await;
        match answer {
            Ok(result) => {
                exchange.settle(
                    Decision::Allowed,
                    Outcome::Ok,
                    "ok".into(),
                    json_len(&result),
                );
                Ok(result)
            }
            Err(refusal) => {
                exchange.refuse(&refusal);
                Err(refusal)
            }
        }
    }

    /// The phases, in order.
    async fn run(
        &self,
        tools: &Catalogue,
        exchange: &Exchange,
        caller: &Caller,
        name: &str,
        arguments: Option<Value>,
        client: ClientPorts<'_>,
    ) -> Result<Answered, Refusal> {
        let (tool, asked, admitted) = {
            let _policy = phase("policy").entered();
            let tool = self.resolve(tools, caller, name)?;
            exchange.upstream(&tool.upstream);
            let authorized = self.authorize(caller, tool)?;
            let asked = self.rule(caller, tool, arguments.as_ref())?;
            let admitted = self.limit(caller, tool, authorized)?;
            (tool, asked, admitted)
        };
        let cleared = self
            .guard_arguments(exchange, tool, admitted, arguments)
            .instrument(phase("guard_arguments"))
            .await?;
        // The hooks, if any, see the arguments as the upstream gets them (a copy: the upstream
        // takes the call's own).
        let hooked =
            (!self.hooks.is_empty()).then(|| (exchange.request_id(), cleared.arguments().cloned()));
        let hooked = hooked.as_ref().map(|(request_id, arguments)| HookCall {
            tool,
            principal: &caller.principal,
            arguments: arguments.as_ref(),
            request_id,
        });
        let asked = match hooked {
            Some(call) => asked.max(
                self.hook_before(call)
                    .instrument(phase("hooks_before"))
                    .await?,
            ),
            None => asked,
        };
        self.approve(exchange, tool, &cleared, caller, client, asked)
            .instrument(phase("approval"))
            .await?;
        let result = self
            .forward(exchange, tool, cleared, client)
            .instrument(phase("upstream"))
            .await?;
        let result = match hooked {
            Some(call) => {
                self.hook_after(call, result)
                    .instrument(phase("hooks_after"))
                    .await?
            }
            None => result,
        };
        let result = self
            .guard_result(exchange, tool, result)
            .instrument(phase("guard_result"))
            .await?;
        let _redact = phase("redact").entered();
        Ok(self.redact(exchange, result))
    }

    fn resolve<'t>(
        &self,
        tools: &'t Catalogue,
        caller: &Caller,
        name: &str,
    ) -> Result<&'t PublishedTool, Refusal> {
        tools
            .get(name)
            .ok_or_else(|| self.unknown(caller, name, "not published".into()))
    }

    fn authorize(&self, caller: &Caller, tool: &PublishedTool) -> Result<Authorized, Refusal> {
        authorize(
            &self.access,
            &caller.principal,
            tool,
            caller.group.as_deref(),
        )
        .map_err(|denial| self.unknown(caller, &tool.name, denial.to_string()))
    }

    /// The rules' verdict: a refusal, or the approval a rule asks for (`None` when none does).
    fn rule(
        &self,
        caller: &Caller,
        tool: &PublishedTool,
        arguments: Option<&Value>,
    ) -> Result<ApprovalMode, Refusal> {
        if self.rules.is_empty() {
            return Ok(ApprovalMode::None);
        }
        let empty = Value::Object(Default::default());
        let facts = Facts {
            caller,
            tool,
            arguments: Some(arguments.unwrap_or(&empty)),
            now: self.clock.unix_ms().unwrap_or(0),
        };
        match self.rules.decide(&facts) {
            Verdict::Pass => Ok(ApprovalMode::None),
            Verdict::Approve { mode, .. } => Ok(mode),
            Verdict::Deny { rule, reason } => Err(Refusal::new(
                Answer::ToolError(format!("Portcullis refused this call: {reason}.")),
                Decision::Denied,
                Outcome::Refused,
                format!("rule `{rule}`: {reason}"),
            )),
        }
    }

    /// The embedder's pre-call hooks: the first refusal wins; else the strictest approval asked.
    async fn hook_before(&self, call: HookCall<'_>) -> Result<ApprovalMode, Refusal> {
        let mut asked = ApprovalMode::None;
        for hook in &self.hooks {
            match hook.before(call).await {
                BeforeCall::Allow => {}
                BeforeCall::RequireApproval(mode) => asked = asked.max(mode),
                BeforeCall::Deny(reason) => {
                    return Err(Refusal::new(
                        Answer::ToolError(format!("Portcullis refused this call: {reason}.")),
                        Decision::Denied,
                        Outcome::Refused,
                        format!("hook: {reason}"),
                    ));
                }
            }
        }
        Ok(asked)
    }

    /// The embedder's post-call hooks, in order, each seeing what the one before left.
    async fn hook_after(&self, call: HookCall<'_>, mut result: Value) -> Result<Value, Refusal> {
        for hook in &self.hooks {
            match hook.after(call, &result).await {
                AfterCall::Pass => {}
                AfterCall::Replace(replacement) => result = replacement,
                AfterCall::Withhold(reason) => {
                    return Err(Refusal::new(
                        Answer::ToolError(format!(
                            "Portcullis withheld this tool's result: {reason}."
                        )),
                        Decision::Allowed,
                        Outcome::Withheld,
                        format!("hook: {reason}"),
                    ));
                }
            }
        }
        Ok(result)
    }

    fn limit(
        &self,
        caller: &Caller,
        tool: &PublishedTool,
        authorized: Authorized,
    ) -> Result<Admitted, Refusal> {
        let now = self.clock.elapsed();
        self.rates
            .acquire(&self.draws(caller, tool), now)
            .map_err(|limited| Refusal::limited(limited, Decision::Denied, ""))?;
        Ok(Admitted { authorized })
    }

    async fn guard_arguments(
        &self,
        exchange: &Exchange,
        tool: &PublishedTool,
        admitted: Admitted,
        arguments: Option<Value>,
    ) -> Result<Cleared, Refusal> {
        let arguments = match arguments {
            Some(value) => {
                let checked = self.scan(exchange, tool, Direction::Arguments, value).await;
                if let Some(message) = checked.refusal {
                    return Err(Refusal::new(
                        Answer::ToolError(message),
                        Decision::Denied,
                        Outcome::Blocked,
                        "guardrail: prompt injection in the arguments".into(),
                    ));
                }
                Some(checked.value)
            }
            None => None,
        };
        let authorized = admitted.authorized;
        Ok(Cleared {
            upstream: authorized.upstream().to_string(),
            upstream_tool: authorized.upstream_tool().to_string(),
            arguments,
        })
    }

    async fn approve(
        &self,
        exchange: &Exchange,
        tool: &PublishedTool,
        cleared: &Cleared,
        caller: &Caller,
        client: ClientPorts<'_>,
        asked: ApprovalMode,
    ) -> Result<(), Refusal> {
        let mode = tool.approval.max(asked);
        // A 2026-07-28 retry that carries the client's answers to the upstream: the gateway
        // sealed its state, bound to this call, when the call had passed approval.
        if mode == ApprovalMode::None || client.resume.is_some() {
            return Ok(());
        }
        let request_id = exchange.request_id();
        let hash = call_hash(
            &tool.name,
            cleared.arguments(),
            &caller.principal.id,
            &request_id,
        );
        let mut shown = cleared.arguments().cloned().unwrap_or(Value::Null);
        self.redaction.redact_value(&mut shown, &mut Counts::new());
        let decided = match (mode, client.user) {
            // The user is asked only through a client that can ask; any other answer than an
            // explicit yes, or a failure to ask, refuses.
            (ApprovalMode::User, Some(user)) => {
                let message = user_question(tool, &shown);
                // Retries of a 2026-07-28 call are new requests: the answer is bound to the
                // call without its request id.
                let binding = call_hash(&tool.name, cleared.arguments(), &caller.principal.id, "");
                match user.confirm(&message, &binding).await {
                    Ok(UserAnswer::Yes) => Ok(()),
                    Ok(UserAnswer::No) => Err("the user did not allow it".to_string()),
                    Ok(UserAnswer::AskFirst(result)) => {
                        return Err(Refusal::new(
                            Answer::InputRequired(result),
                            Decision::Denied,
                            Outcome::Refused,
                            "approval: the client asks its user first (input required)".into(),
                        ));
                    }
                    Err(e) => Err(format!("the user could not be asked: {e}")),
                }
            }
            _ => {
                self.approvals
                    .decide(ApprovalRequest {
                        tool,
                        shown_arguments: &shown,
                        principal: &caller.principal.id,
                        request_id: &request_id,
                        call_hash: &hash,
                        progress: client.progress,
                    })
                    .await
            }
        };
        decided.map_err(|reason| {
            Refusal::new(
                Answer::ToolError(format!(
                    "Portcullis refused this call: it was not approved ({reason})."
                )),
                Decision::Denied,
                Outcome::Refused,
                format!("approval: {reason}"),
            )
        })
    }

    async fn forward(
        &self,
        exchange: &Exchange,
        tool: &PublishedTool,
        cleared: Cleared,
        client: ClientPorts<'_>,
    ) -> Result<Value, Refusal> {
        let Some(upstream) = self.upstreams.get(cleared.upstream()) else {
            return Err(Refusal::new(
                Answer::ToolError("this tool is unavailable right now".into()),
                Decision::Allowed,
                Outcome::Unavailable,
                format!("no upstream `{}` is configured", tool.upstream),
            ));
        };
        let progress = client.progress.map(|client| GuardedProgress {
            pipeline: self,
            exchange,
            tool,
            client,
        });
        let channel = client.channel.map(|client| GuardedChannel {
            pipeline: self,
            exchange,
            tool,
            client,
        });
        let client = ClientPorts {
            progress: progress.as_ref().map(|g| g as &dyn ProgressSink),
            user: None,
            channel: channel.as_ref().map(|g| g as &dyn ClientChannel),
            resume: client.resume,
        };
        let outcome = upstream.call(cleared, client).await;
        match outcome {
            Ok(result) => Ok(result),
            Err(failure) => Err(self.upstream_error(exchange, tool, failure).await),
        }
    }

    /// What the client is told when the upstream gave no result. An upstream's JSON-RPC error
    /// is text the model reads, like a result: scanned and redacted.
    async fn upstream_error(
        &self,
        exchange: &Exchange,
        tool: &PublishedTool,
        failure: UpstreamFailure,
    ) -> Refusal {
        let UpstreamFailure::Rpc {
            code,
            mut message,
            mut data,
        } = failure
        else {
            return upstream_failure(failure);
        };
        let error = serde_json::json!({"message": &message, "data": &data});
        let checked = self.scan(exchange, tool, Direction::Result, error).await;
        if let Some(text) = checked.refusal {
            return withheld(text, "the upstream's error");
        }
        let mut counts = Counts::new();
        message = self
            .redaction
            .redact_text(&message, &mut counts)
            .into_owned();
        if let Some(data) = data.as_mut() {
            self.redaction.redact_value(data, &mut counts);
        }
        exchange.redactions(counts);
        Refusal::new(
            Answer::Upstream {
                code,
                message,
                data,
            },
            Decision::Allowed,
            Outcome::UpstreamError,
            format!("the upstream answered with error {code}"),
        )
    }

    async fn guard_result(
        &self,
        exchange: &Exchange,
        tool: &PublishedTool,
        result: Value,
    ) -> Result<Value, Refusal> {
        let Value::Object(mut result) = result else {
            return Err(Refusal::new(
                Answer::ToolError("the upstream sent an invalid tool result".into()),
                Decision::Allowed,
                Outcome::Unavailable,
                format!(
                    "upstream `{}` sent a result that is not an object",
                    tool.upstream
                ),
            ));
        };
        // Legacy upstreams send no `resultType`; modern clients require it (and rmcp strips it
        // for clients that negotiated an older revision).
        result
            .entry("resultType")
            .or_insert_with(|| Value::String("complete".into()));
        let checked = self
            .scan(exchange, tool, Direction::Result, Value::Object(result))
            .await;
        match checked.refusal {
            Some(text) => Err(withheld(text, "the result")),
            None => Ok(checked.value),
        }
    }

    fn redact(&self, exchange: &Exchange, mut result: Value) -> Answered {
        let mut counts = Counts::new();
        self.redaction.redact_value(&mut result, &mut counts);
        exchange.redactions(counts);
        let outcome = if result.get("isError") == Some(&Value::Bool(true)) {
            Outcome::ToolError
        } else {
            Outcome::Ok
        };
        Answered { result, outcome }
    }

    /// Scans `value` and records what was found.
    async fn scan(
        &self,
        exchange: &Exchange,
        tool: &PublishedTool,
        direction: Direction,
        value: Value,
    ) -> Checked {
        let (request_id, principal, time) = exchange.identity();
        let context = ScanContext {
            request_id: &request_id,
            principal: &principal,
            time: &time,
        };
        let checked = self.guard.check(tool, direction, value, context).await;
        exchange.findings(&checked.findings);
        checked
    }

    /// A call the caller may not make: it reads as unknown, unless the caller has been refused
    /// so often that the refusal itself is now rate limited (refusals cannot be hammered for
    /// free either).
    fn unknown(&self, caller: &Caller, name: &str, detail: String) -> Refusal {
        match self.charge_refusal(caller) {
            Ok(()) => Refusal::unknown_tool(name, detail),
            Err(limited) => Refusal::limited(limited, Decision::Denied, detail),
        }
    }

    fn charge_refusal(&self, caller: &Caller) -> Result<(), Limited> {
        self.charge_one(LimitKind::PerCaller, caller.key(), self.limits.per_caller)
    }

    /// Counts a request refused for its credentials against its source address.
    pub fn charge_unauthenticated(&self, source: &str) -> Result<(), Limited> {
        self.charge_one(
            LimitKind::Unauthenticated,
            source.to_string(),
            self.limits.unauthenticated,
        )
    }

    /// One unit from the bucket `kind`/`key`, if that limit is on.
    fn charge_one(&self, kind: LimitKind, key: String, rate: Option<Rate>) -> Result<(), Limited> {
        let Some(rate) = rate else {
            return Ok(());
        };
        let draw = Draw {
            kind,
            key,
            rate,
            cost: 1.0,
        };
        self.rates.acquire(&[draw], self.clock.elapsed())
    }

    /// The draws a call by `caller` to `tool` makes on the limits.
    fn draws(&self, caller: &Caller, tool: &PublishedTool) -> Vec<Draw> {
        let limits = &self.limits;
        let who = &caller.key();
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
}

fn withheld(text: String, what: &str) -> Refusal {
    Refusal::new(
        Answer::ToolError(text),
        Decision::Allowed,
        Outcome::Withheld,
        format!("guardrail: prompt injection in {what}"),
    )
}

/// What the client is told when an upstream gave no result; the detail is the operator's.
fn upstream_failure(failure: UpstreamFailure) -> Refusal {
    let (outcome, text) = match &failure {
        UpstreamFailure::Timeout { timeout, .. } => (
            Outcome::Timeout,
            format!("the tool did not answer within {}s", timeout.as_secs_f32()),
        ),
        UpstreamFailure::Cancelled => (Outcome::Cancelled, "the call was cancelled".into()),
        UpstreamFailure::Unavailable(_) => (
            Outcome::Unavailable,
            "this tool is unavailable right now; try again shortly".into(),
        ),
        UpstreamFailure::Refused(reason) => {
            (Outcome::Unavailable, format!("the tool failed: {reason}"))
        }
        UpstreamFailure::Failed { .. } | UpstreamFailure::Rpc { .. } => {
            (Outcome::Unavailable, "the tool failed".into())
        }
    };
    Refusal::new(
        Answer::ToolError(text),
        Decision::Allowed,
        outcome,
        failure.to_string(),
    )
}

/// What the user is asked: the tool, its upstream and the arguments, redacted.
fn user_question(tool: &PublishedTool, shown: &Value) -> String {
    let arguments = serde_json::to_string_pretty(shown).unwrap_or_default();
    format!(
        "Allow this call?\n\nTool: {} (upstream `{}`, {})\nArguments:\n{arguments}\n\nOnly you \
         can answer this: it was not written by the assistant.",
        tool.name,
        tool.upstream,
        if tool.read_only {
            "read-only"
        } else {
            "destructive"
        }
    )
}

/// An upstream's progress on its way to the client: scanned like a result (an injection in a
/// progress message is withheld, the rest still relayed) and redacted.
struct GuardedProgress<'a> {
    pipeline: &'a Pipeline,
    exchange: &'a Exchange,
    tool: &'a PublishedTool,
    client: &'a dyn ProgressSink,
}

impl ProgressSink for GuardedProgress<'_> {
    fn send(&self, params: Value) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let checked = self
                .pipeline
                .scan(self.exchange, self.tool, Direction::Result, params)
                .await;
            if checked.refusal.is_some() {
                // Withheld; the findings are in the call's record.
                return;
            }
            let mut params = checked.value;
            let mut counts = Counts::new();
            if let Some(Value::String(message)) = params.get_mut("message") {
                *message = self
                    .pipeline
                    .redaction
                    .redact_text(message, &mut counts)
                    .into_owned();
            }
            self.exchange.redactions(counts);
            self.client.send(params).await;
        })
    }
}

/// The upstream's requests and log messages on their way to the client. A sampling request's
/// messages are text the client's model will read: scanned like a result (an injection is
/// refused to the upstream) and redacted. Log messages are scanned and redacted like progress.
/// Whatever is found is in the call's record.
struct GuardedChannel<'a> {
    pipeline: &'a Pipeline,
    exchange: &'a Exchange,
    tool: &'a PublishedTool,
    client: &'a dyn ClientChannel,
}

impl GuardedChannel<'_> {
    /// `value` scanned as a result and redacted, or `None` when it must not pass.
    async fn screen(&self, value: Value) -> Option<Value> {
        let checked = self
            .pipeline
            .scan(self.exchange, self.tool, Direction::Result, value)
            .await;
        if checked.refusal.is_some() {
            return None;
        }
        let mut value = checked.value;
        let mut counts = Counts::new();
        self.pipeline
            .redaction
            .redact_value(&mut value, &mut counts);
        self.exchange.redactions(counts);
        Some(value)
    }
}

impl ClientChannel for GuardedChannel<'_> {
    fn owner(&self) -> &str {
        self.client.owner()
    }

    fn request(
        &self,
        kind: ClientRequestKind,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, ClientRequestError>> {
        Box::pin(async move {
            let params = match kind {
                ClientRequestKind::Sampling => {
                    self.screen(params)
                        .await
                        .ok_or_else(|| ClientRequestError {
                            code: -32603,
                            message: "Portcullis refused this sampling request: its messages look \
                                  like a prompt injection"
                                .into(),
                        })?
                }
                _ => params,
            };
            self.client.request(kind, params).await
        })
    }

    fn log(&self, params: Value) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(params) = self.screen(params).await {
                self.client.log(params).await;
            }
        })
    }

    fn answers_in_results(&self) -> bool {
        self.client.answers_in_results()
    }

    /// What is passed on inside a result is scanned and redacted with the result.
    fn pass_on(&self, kind: ClientRequestKind) -> Result<(), ClientRequestError> {
        self.client.pass_on(kind)
    }
}

fn json_len(v: &Value) -> u64 {
    serde_json::to_vec(v).map_or(0, |b| b.len() as u64)
}

#[cfg(test)]
mod tests;
