//! Everything MCP carries besides tool calls, through the gateway: resources, templates,
//! prompts and completions (each published only when the config names it, each read through
//! the pipeline's [`relay`](portcullis_core::Pipeline::relay)), and what an upstream sends the
//! client whose call it serves — its requests (`sampling/createMessage`, `elicitation/create`,
//! `roots/list`) and its log messages — through a [`SessionChannel`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_core::audit::{Decision, Outcome};
use portcullis_core::offers::{Offers, Unresolved};
use portcullis_core::pipeline::Relay;
use portcullis_core::ports::{BoxFuture, ClientChannel, ClientRequestError, ClientRequestKind};
use portcullis_core::{Caller, Exchange, PublishedTool, Refusal, may_see};
use rmcp::model::{
    CustomNotification, CustomRequest, ErrorData, ServerNotification, ServerRequest,
};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Value, json};

use crate::context::Recorder;
use crate::offers::publish_uris;
use crate::server::Gateway;
use crate::wire;

/// JSON-RPC "invalid params", which the spec answers an unknown resource, prompt or
/// completion reference with.
const INVALID_PARAMS: i64 = -32602;

/// What one client session holds beyond a request: who it is, and its log level.
#[derive(Default)]
pub struct Session {
    pub id: u64,
    /// The caller that opened it, once it did.
    caller: Mutex<Option<Caller>>,
    /// The lowest level of upstream log message it receives (`logging/setLevel`); all when
    /// unset.
    level: Mutex<Option<u8>>,
}

impl Session {
    pub fn new() -> Session {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Session {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            ..Session::default()
        }
    }

    /// Keeps the caller that opened the session.
    pub fn remember(&self, caller: Caller) {
        *self
            .caller
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(caller);
    }

    pub fn caller(&self) -> Option<Caller> {
        self.caller
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Sets the level from `logging/setLevel`; `false` for a level that does not exist.
    pub fn set_level(&self, level: &str) -> bool {
        let Some(rank) = level_rank(level) else {
            return false;
        };
        *self
            .level
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(rank);
        true
    }

    fn passes(&self, params: &Value) -> bool {
        let wanted = *self
            .level
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let level = params
            .get("level")
            .and_then(Value::as_str)
            .and_then(level_rank);
        match (wanted, level) {
            (None, _) => true,
            (Some(wanted), Some(level)) => level >= wanted,
            (Some(_), None) => false,
        }
    }
}

/// RFC 5424 severities, as MCP names them, from the least severe.
fn level_rank(level: &str) -> Option<u8> {
    const LEVELS: [&str; 8] = [
        "debug",
        "info",
        "notice",
        "warning",
        "error",
        "critical",
        "alert",
        "emergency",
    ];
    LEVELS.iter().position(|l| *l == level).map(|i| i as u8)
}

/// An error for the client, from a refusal of the pipeline: unknown reads as `-32602`, like
/// a resource or prompt that does not exist; an upstream's error keeps its code.
pub fn relay_error(refusal: &Refusal, auth: &crate::auth::Authenticator, what: &str) -> ErrorData {
    use portcullis_core::Answer;
    match &refusal.answer {
        Answer::UnknownTool(_) => unknown(what),
        Answer::ToolError(text) => ErrorData::internal_error(text.clone(), None),
        Answer::Limited(limited) => ErrorData::internal_error(limited.to_string(), None),
        _ => wire::render(refusal, auth)
            .into_mcp()
            .err()
            .unwrap_or_else(|| ErrorData::internal_error("refused", None)),
    }
}

pub(crate) fn unknown(what: &str) -> ErrorData {
    ErrorData::new(
        rmcp::model::ErrorCode(INVALID_PARAMS as i32),
        format!("unknown {what}"),
        None,
    )
}

impl Gateway {
    /// The published items of one kind `caller` may see, in order.
    pub fn visible<'a>(
        &self,
        caller: &Caller,
        items: impl Iterator<Item = &'a PublishedTool>,
    ) -> Vec<&'a PublishedTool> {
        let config = self.config();
        items
            .filter(|i| {
                may_see(
                    &config.access,
                    &caller.principal,
                    i,
                    caller.group.as_deref(),
                )
            })
            .collect()
    }

    /// `resources/read`: `uri` as the client knows it.
    pub async fn read_resource(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        uri: &str,
    ) -> Result<Value, ErrorData> {
        let published = self.current();
        let resolved = match published.offers.resolve(uri) {
            Ok(resolved) => resolved,
            Err(why) => {
                let (detail, message) = match why {
                    Unresolved::NotPublished => ("not published".to_string(), unknown("resource")),
                    Unresolved::Ambiguous(upstreams) => (
                        format!("ambiguous: the templates of {} match", upstreams.join(", ")),
                        ErrorData::new(
                            rmcp::model::ErrorCode(INVALID_PARAMS as i32),
                            "this URI matches the templates of several servers; read it as \
                             `<server>+<uri>`",
                            None,
                        ),
                    ),
                };
                exchange.settle(Decision::Denied, Outcome::UnknownTool, detail, 0);
                return Err(message);
            }
        };
        let item = resolved.item;
        let relay = Relay {
            item,
            method: "resources/read",
            params: json!({ "uri": resolved.upstream_name }),
        };
        let mut result = self.relay(exchange, caller, relay, "resource").await?;
        publish_uris(&mut result, &item.upstream, &published.offers);
        Ok(result)
    }

    /// `prompts/get`.
    pub async fn get_prompt(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        name: &str,
        arguments: Option<Value>,
    ) -> Result<Value, ErrorData> {
        let published = self.current();
        let Some(item) = published.offers.prompt(name) else {
            exchange.tool(name);
            exchange.settle(
                Decision::Denied,
                Outcome::UnknownTool,
                "not published".into(),
                0,
            );
            return Err(unknown("prompt"));
        };
        let mut params = json!({ "name": item.upstream_tool });
        if let Some(arguments) = arguments {
            params["arguments"] = arguments;
        }
        let relay = Relay {
            item,
            method: "prompts/get",
            params,
        };
        let mut result = self.relay(exchange, caller, relay, "prompt").await?;
        publish_uris(&mut result, &item.upstream, &published.offers);
        Ok(result)
    }

    /// `completion/complete`, for a published prompt or resource template only. `params` is
    /// the request's (`ref`, `argument`, `context`).
    pub async fn complete(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        mut params: Value,
    ) -> Result<Value, ErrorData> {
        let published = self.current();
        let reference = &params["ref"];
        let item = match reference["type"].as_str() {
            Some("ref/prompt") => reference["name"]
                .as_str()
                .and_then(|n| published.offers.prompt(n)),
            Some("ref/resource") => reference["uri"].as_str().and_then(|uri| {
                published
                    .offers
                    .template(uri)
                    .or_else(|| published.offers.resolve(uri).ok().map(|r| r.item))
            }),
            _ => None,
        };
        let Some(item) = item else {
            exchange.settle(
                Decision::Denied,
                Outcome::UnknownTool,
                "completion for something not published".into(),
                0,
            );
            return Err(unknown("prompt or resource template"));
        };
        let upstream_ref = if params["ref"]["type"] == "ref/prompt" {
            json!({"type": "ref/prompt", "name": item.upstream_tool})
        } else {
            json!({"type": "ref/resource", "uri": item.upstream_tool})
        };
        params["ref"] = upstream_ref;
        if let Some(p) = params.as_object_mut() {
            p.remove("_meta");
        }
        if !self
            .upstream(&item.upstream)
            .is_some_and(|u| u.declares("completions"))
        {
            // The server completes nothing: no values, as the spec has it.
            exchange.item(&item.name);
            exchange.settle(
                Decision::Allowed,
                Outcome::Ok,
                "the upstream offers no completions".into(),
                0,
            );
            return Ok(json!({"completion": {"values": [], "hasMore": false}}));
        }
        let relay = Relay {
            item,
            method: "completion/complete",
            params,
        };
        self.relay(exchange, caller, relay, "completion reference")
            .await
    }

    async fn relay(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        relay: Relay<'_>,
        what: &str,
    ) -> Result<Value, ErrorData> {
        let generation = self.generation();
        generation
            .pipeline
            .relay(exchange, caller, relay)
            .await
            .map_err(|refusal| relay_error(&refusal, self.authenticator(), what))
    }

    /// Whether anything published is a resource, a template or a prompt of a configured
    /// upstream, by kind, for the capabilities the gateway declares.
    pub fn serves_offers(&self) -> (bool, bool) {
        let rules = &self.config().offers;
        (!rules.resources.is_empty(), !rules.prompts.is_empty())
    }
}

/// Whether `offers` has `uri` (published) for the subscription methods, with its upstream and
/// the upstream's URI.
pub fn subscription_target(offers: &Offers, uri: &str) -> Option<(PublishedTool, String)> {
    offers
        .resolve(uri)
        .ok()
        .map(|r| (r.item.clone(), r.upstream_name))
}

/// The client of one call, as the upstream serving it may reach it: its requests go to the
/// client only when it declared the capability (and can be asked in the middle of a call: a
/// 2026-07-28 request cannot), each request is audited, and log messages pass the client's
/// level.
pub struct SessionChannel<'a> {
    pub peer: Peer<RoleServer>,
    pub owner: String,
    /// The capabilities the client declared.
    pub declared: Declared,
    /// Whether the client holds a session the gateway can send requests on.
    pub can_ask: bool,
    /// Whether the client answers requests in input-required results (a 2026-07-28 request).
    pub in_results: bool,
    pub session: &'a Session,
    pub recorder: &'a Recorder,
    pub caller: &'a Caller,
    pub transport: &'static str,
    /// The published tool whose call it serves.
    pub tool: &'a str,
}

/// Where a client declared its capabilities: at `initialize` for its session, or in a
/// 2026-07-28 request's `_meta`. Read only when an upstream asks something of the client.
pub enum Declared {
    Session(std::sync::Arc<rmcp::model::InitializeRequestParams>),
    Request(Option<rmcp::model::ClientCapabilities>),
}

impl Declared {
    fn has(&self, capability: &str) -> bool {
        let declared = match self {
            Declared::Session(info) => serde_json::to_value(&info.capabilities),
            Declared::Request(Some(c)) => serde_json::to_value(c),
            Declared::Request(None) => return false,
        };
        declared.is_ok_and(|d| d.get(capability).is_some_and(|c| !c.is_null()))
    }
}

/// Settles a request to the client as refused; the upstream is told `message`.
fn refuse<T>(exchange: &Exchange, message: String, detail: &str) -> Result<T, ClientRequestError> {
    exchange.settle(Decision::Denied, Outcome::Refused, detail.to_string(), 0);
    Err(ClientRequestError {
        code: -32603,
        message,
    })
}

impl SessionChannel<'_> {
    /// The record of one request to the client, begun; refused (and settled) when the client
    /// did not declare the capability it needs.
    fn checked(&self, kind: ClientRequestKind) -> Result<Exchange, ClientRequestError> {
        let exchange = self.recorder.begin(
            self.transport,
            self.caller.source,
            kind.method().to_string(),
        );
        exchange.principal(&self.caller.principal);
        exchange.tool(self.tool);
        let capability = kind.capability();
        if !self.declared.has(capability) {
            return refuse(
                &exchange,
                format!("the client did not declare the `{capability}` capability"),
                "the client cannot answer it",
            );
        }
        Ok(exchange)
    }
}

impl ClientChannel for SessionChannel<'_> {
    fn owner(&self) -> &str {
        &self.owner
    }

    fn answers_in_results(&self) -> bool {
        self.in_results
    }

    fn pass_on(&self, kind: ClientRequestKind) -> Result<(), ClientRequestError> {
        let exchange = self.checked(kind)?;
        exchange.settle(
            Decision::Allowed,
            Outcome::Ok,
            "passed to the client in an input-required result".into(),
            0,
        );
        Ok(())
    }

    fn request(
        &self,
        kind: ClientRequestKind,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, ClientRequestError>> {
        Box::pin(async move {
            let method = kind.method();
            let exchange = self.checked(kind)?;
            if !self.can_ask {
                return refuse(
                    &exchange,
                    format!(
                        "the client's request carries no session, so the gateway cannot send \
                         it {method} in the middle of the call"
                    ),
                    "the client cannot be asked in the middle of a call",
                );
            }
            // Sent as the upstream wrote it: a typed round trip would drop what rmcp does not
            // model (schema keywords of an elicitation, say).
            let request = ServerRequest::CustomRequest(CustomRequest::new(method, Some(params)));
            match self.peer.send_request(request).await {
                Ok(result) => {
                    let result = serde_json::to_value(result).unwrap_or(Value::Null);
                    exchange.settle(Decision::Allowed, Outcome::Ok, "ok".into(), 0);
                    Ok(result)
                }
                Err(e) => {
                    exchange.settle(
                        Decision::Allowed,
                        Outcome::UpstreamError,
                        format!("the client answered with an error: {e}"),
                        0,
                    );
                    Err(ClientRequestError {
                        code: -32603,
                        message: format!("the client did not answer {method}"),
                    })
                }
            }
        })
    }

    fn log(&self, params: Value) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.session.passes(&params) {
                return;
            }
            let notification = ServerNotification::CustomNotification(CustomNotification::new(
                "notifications/message",
                Some(params),
            ));
            if let Err(e) = self.peer.send_notification(notification).await {
                tracing::debug!(error = %e, "could not pass on a log message");
            }
        })
    }
}
