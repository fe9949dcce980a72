//! The HTTP edge: the Streamable HTTP MCP endpoint at `/mcp`, and `/healthz`.
//!
//! Every request first passes the [`edge`](crate::edge) checks (client address, `Host`,
//! `Origin`, concurrency), then authentication (a bearer API key, or 401 with
//! `WWW-Authenticate`; the [`Principal`] rides in the request's extensions). Then one of two
//! paths serves it:
//!
//! - **The direct path** ([`crate::direct`]) takes the most common request there is — a
//!   stateless 2026-07-28 `tools/call` with nothing unusual about it — and answers it through
//!   [`Gateway::call_tool`] with no per-request rmcp session.
//! - **rmcp's `StreamableHttpService`** serves everything else: legacy sessions, `initialize`,
//!   `server/discover`, listings, progress streams, and every request with anything unusual,
//!   including every malformed one, so that each gets rmcp's spec-conformant answer.
//!
//! Both paths call the same [`Gateway::call_tool`]; the direct path only skips protocol work.
//! Before either, a legacy session is checked against the principal that opened it.
//! Responses from rmcp have the tool fields its typed model cannot carry put back (see
//! [`crate::unmodeled`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::audit::{Decision, Outcome};
use portcullis_core::{Answer, Caller, Exchange, Principal, PrincipalKind, Refusal};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::auth::AuthFailure;
use crate::direct::{DirectCall, direct_headers};
use crate::edge::{self, EdgePolicy};
use crate::jwt::TokenVerifier;
use crate::server::{Gateway, GatewayServer};
use crate::unmodeled::{lift_message, may_carry_stash};
use crate::wire;

/// Largest response body the edge will buffer to restore stashed fields.
const MAX_BUFFERED_RESPONSE: usize = 64 * 1024 * 1024;

type Endpoint = StreamableHttpService<GatewayServer, LocalSessionManager>;

struct Mcp {
    gateway: Arc<Gateway>,
    /// Who opened each legacy session: a session is served only to its own principal.
    sessions: SessionOwners,
    main: Endpoint,
    /// The endpoint of each group served so far; a group is served while the running config
    /// has it (a reload may add or remove groups).
    groups: std::sync::Mutex<HashMap<String, Endpoint>>,
    endpoint: Box<dyn Fn(Option<String>) -> Endpoint + Send + Sync>,
    max_body_bytes: usize,
    body_timeout: Duration,
}

/// The gateway's HTTP routes, for a server listening on `local_addr`: `/mcp`, a curated
/// `/mcp/g/<group>` for each configured group, and `/healthz`. Serve them with
/// `into_make_service_with_connect_info::<SocketAddr>()` so that IP rules can see the client.
///
/// Unless the config lists allowed origins, the only origin accepted is the gateway's own
/// (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT` at the bound port):
/// same-origin requests cannot be a rebinding attack, and every other page is refused.
pub fn router(
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
    local_addr: SocketAddr,
) -> Router {
    let settings = &gateway.config().gateway;
    let allowed_origins = if settings.allowed_origins.is_empty() {
        own_origins(local_addr)
    } else {
        settings.allowed_origins.clone()
    };
    let policy = Arc::new(EdgePolicy::new(
        &settings.allowed_hosts,
        &allowed_origins,
        settings.allowed_ips.clone(),
        settings.denied_ips.clone(),
        settings.max_concurrent_requests,
    ));
    let (endpoint_gateway, max_body_bytes) = (gateway.clone(), settings.max_body_bytes);
    let endpoint = move |group: Option<String>| {
        // The edge has checked Host and Origin before rmcp sees the request.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(true)
            .with_json_response(true)
            .with_cancellation_token(shutdown.child_token())
            .with_max_request_body_bytes(max_body_bytes)
            .disable_allowed_hosts()
            .disable_allowed_origins();
        let factory_gateway = endpoint_gateway.clone();
        StreamableHttpService::new(
            move || Ok(factory_gateway.handler(group.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    };
    let mcp = Arc::new(Mcp {
        sessions: SessionOwners::default(),
        main: endpoint(None),
        groups: std::sync::Mutex::default(),
        endpoint: Box::new(endpoint),
        max_body_bytes: settings.max_body_bytes,
        body_timeout: settings.request_timeout,
        gateway: gateway.clone(),
    });
    let edge_state = (gateway.clone(), policy);
    let mut router = Router::new()
        .route("/mcp", axum::routing::any(serve_main))
        .route("/mcp/g/{group}", axum::routing::any(serve_group))
        .with_state(mcp)
        // Only on the routes above: a path the gateway does not serve is a plain 404, not a
        // credentials challenge (clients probing for OAuth endpoints are told they are not here).
        .route_layer(middleware::from_fn_with_state(
            gateway.clone(),
            authenticate,
        ))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }));
    if let Some(verifier) = gateway.authenticator().tokens() {
        let document = Arc::new(resource_metadata(&gateway, verifier));
        let serve = move || {
            let document = document.clone();
            async move { axum::Json((*document).clone()) }
        };
        router = router.route(
            "/.well-known/oauth-protected-resource",
            axum::routing::get(serve.clone()),
        );
        let suffixed = verifier.metadata_path();
        if suffixed != "/.well-known/oauth-protected-resource" {
            router = router.route(&suffixed, axum::routing::get(serve));
        }
    }
    router.layer(middleware::from_fn_with_state(edge_state, edge::enforce))
}

/// The protected resource metadata (RFC 9728): this resource, the authorization servers whose
/// tokens it accepts, the scopes its tools use, and that tokens go in the header.
fn resource_metadata(gateway: &Gateway, verifier: &TokenVerifier) -> Value {
    json!({
        "resource": verifier.resource(),
        "authorization_servers": verifier.issuer_names().collect::<Vec<_>>(),
        "scopes_supported": gateway.config().scopes(),
        "bearer_methods_supported": ["header"],
        "resource_name": "Portcullis MCP gateway",
    })
}

/// The request's exchange, begun at the edge.
fn exchange_of(request: &Request) -> Option<Exchange> {
    request.extensions().get::<Exchange>().cloned()
}

/// Answers `refusal` for the request whose exchange is `exchange`, and records it.
fn refuse(
    gateway: &Gateway,
    exchange: Option<&Exchange>,
    refusal: Refusal,
    id: Option<Value>,
) -> Response {
    if let Some(exchange) = exchange {
        exchange.refuse(&refusal);
    }
    wire::render(&refusal, gateway.authenticator()).into_response(id)
}

/// Puts the caller's [`Principal`](portcullis_core::Principal) in the request, or answers 401.
async fn authenticate(
    State(gateway): State<Arc<Gateway>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request.headers().get(AUTHORIZATION).map(|h| h.as_bytes());
    let in_query = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    });
    let outcome = if in_query {
        Err(AuthFailure::TokenInQuery)
    } else {
        gateway.authenticator().http(header).await
    };
    let exchange = exchange_of(&request);
    match outcome {
        Ok(principal) => {
            if let Some(exchange) = &exchange {
                exchange.principal(&principal);
            }
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(failure) => {
            tracing::warn!(%failure, "refused an unauthenticated request");
            let source = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(
                    || "unknown".to_string(),
                    |c| c.0.ip().to_canonical().to_string(),
                );
            let refusal = match gateway.charge_unauthenticated(&source) {
                Ok(()) => failure.refusal(),
                Err(limited) => Refusal::new(
                    Answer::Http {
                        status: 429,
                        text: "too many refused credentials from this address",
                        retry_after: Some(limited.retry_after.as_secs_f64().ceil().max(1.0) as u64),
                    },
                    Decision::Unauthenticated,
                    Outcome::Limited,
                    format!("{failure}; {limited}"),
                ),
            };
            let response = refuse(&gateway, exchange.as_ref(), refusal, None);
            wire::closing_unread(&request, response)
        }
    }
}

fn own_origins(local_addr: SocketAddr) -> Vec<String> {
    let port = local_addr.port();
    let mut origins = vec![format!("http://{local_addr}")];
    if local_addr.ip().is_loopback() {
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            let origin = format!("http://{host}:{port}");
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    origins
}

async fn serve_main(State(mcp): State<Arc<Mcp>>, request: Request) -> Response {
    serve_mcp(&mcp, &mcp.main, None, request).await
}

async fn serve_group(
    State(mcp): State<Arc<Mcp>>,
    Path(group): Path<String>,
    request: Request,
) -> Response {
    let configured = mcp
        .gateway
        .config()
        .access
        .group_names()
        .any(|g| g == group);
    if !configured {
        let refusal = Refusal::edge(404, "no such group", None);
        let response = refuse(&mcp.gateway, exchange_of(&request).as_ref(), refusal, None);
        return wire::closing_unread(&request, response);
    }
    let rmcp = mcp
        .groups
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(group.clone())
        .or_insert_with(|| (mcp.endpoint)(Some(group.clone())))
        .clone();
    if let Some(exchange) = exchange_of(&request) {
        exchange.group(&group);
    }
    serve_mcp(&mcp, &rmcp, Some(group), request).await
}

/// Serves a request on `rmcp`, the endpoint of `group` (`None`: the main endpoint).
async fn serve_mcp(
    mcp: &Mcp,
    rmcp: &Endpoint,
    group: Option<String>,
    request: Request,
) -> Response {
    let principal = request.extensions().get::<Principal>().cloned();
    let Some(principal) = principal else {
        // INVARIANT: the authentication layer runs before every route here.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut request = request;
    // Whose session it is: the principal, or for anonymous callers the principal at their
    // address (one anonymous client may not use another's session).
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let owner = || portcullis_core::pipeline::caller_key(&principal, source);
    if let Some(id) = request.headers().get(SESSION_ID).cloned() {
        let owned = mcp.sessions.owner(&id) == Some(owner());
        if !owned {
            // Someone else's session, or none: answered exactly as an unknown session is.
            tracing::warn!(principal = %principal.id, "refused a request on a session it did not open");
            if let Some(exchange) = exchange_of(&request) {
                exchange.settle(
                    Decision::Denied,
                    Outcome::Refused,
                    "a session the caller did not open, or that does not exist".into(),
                    0,
                );
            }
            if request.method() == Method::DELETE {
                return unknown_session();
            }
            request
                .headers_mut()
                .insert(SESSION_ID, http::HeaderValue::from_static(NO_SUCH_SESSION));
        } else if request.method() == Method::DELETE {
            let response = serve_rmcp(rmcp, &principal, group.as_deref(), request).await;
            if response.status().is_success() {
                mcp.sessions.forget(&id);
                // The official Python SDK takes 200, 204 or 405 for a DELETE, not 202.
                return StatusCode::NO_CONTENT.into_response();
            }
            return response;
        }
    }
    if request.method() != Method::POST {
        return serve_rmcp(rmcp, &principal, group.as_deref(), request).await;
    }
    let exchange = exchange_of(&request);
    let exchange = exchange.as_ref();
    let (parts, body) = request.into_parts();
    let collected = tokio::time::timeout(
        mcp.body_timeout,
        http_body_util::Limited::new(body, mcp.max_body_bytes).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            let refusal = Refusal::edge(413, "request body too large", None);
            return wire::closing(parts.version, refuse(&mcp.gateway, exchange, refusal, None));
        }
        Err(_) => {
            let refusal = Refusal::edge(408, "request body too slow", None);
            return wire::closing(parts.version, refuse(&mcp.gateway, exchange, refusal, None));
        }
    };
    if let Some(exchange) = exchange {
        exchange.bytes_in(bytes.len() as u64);
    }
    // rmcp answers unreadable bodies with 415 and no JSON-RPC error; the spec's answer is a
    // parse error (and batches, which current revisions dropped, an invalid request).
    let message = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(_)) => {
            let refusal = Refusal::bad_message(
                -32600,
                "JSON-RPC batches are not supported",
                "a JSON-RPC batch".into(),
            );
            return refuse(&mcp.gateway, exchange, refusal, None);
        }
        Ok(message) => message,
        Err(e) => {
            let refusal = Refusal::bad_message(-32700, "parse error", format!("parse error: {e}"));
            return refuse(&mcp.gateway, exchange, refusal, None);
        }
    };
    if let Some(exchange) = exchange {
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            exchange.method(method);
        }
        if let Some(name) = message.pointer("/params/name").and_then(Value::as_str) {
            exchange.tool(name);
        }
    }
    if let Some(principal) = parts.extensions.get::<Principal>()
        && let Some(refusal) = step_up(&mcp.gateway, principal, group.as_deref(), &message)
    {
        return refuse(&mcp.gateway, exchange, refusal, message.get("id").cloned());
    }
    if direct_headers(&parts.headers)
        && let Some(principal) = parts.extensions.get::<Principal>()
        && let Some(exchange) = exchange
        && let Some(call) = DirectCall::parse(&parts.headers, message)
        && mcp.gateway.is_plain_tool(&call.name)
    {
        let caller = Caller {
            principal: principal.clone(),
            transport: "http",
            group,
            source: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_canonical()),
        };
        return call.serve(&mcp.gateway, exchange, &caller).await;
    }
    let response = serve_rmcp(
        rmcp,
        &principal,
        group.as_deref(),
        Request::from_parts(parts, Body::from(bytes)),
    )
    .await;
    if let Some(id) = response.headers().get(SESSION_ID) {
        // A session was opened: it belongs to whoever opened it.
        mcp.sessions.open(id.clone(), owner());
    }
    response
}

/// The session header of legacy (2025-era) Streamable HTTP.
const SESSION_ID: &str = "mcp-session-id";

/// A session id no session has; put in place of a session the caller may not use.
const NO_SUCH_SESSION: &str = "portcullis-no-such-session";

/// rmcp's answer for a session that does not exist.
fn unknown_session() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// Who opened each live legacy session. Bounded: past the bound the oldest entries go, and a
/// session whose owner is forgotten is served to no one (it reads as unknown).
#[derive(Default)]
struct SessionOwners(std::sync::Mutex<SessionMap>);

#[derive(Default)]
struct SessionMap {
    owners: HashMap<http::HeaderValue, (String, u64)>,
    opened: u64,
}

/// Most sessions remembered at once.
const MAX_SESSIONS: usize = 100_000;

impl SessionOwners {
    fn lock(&self) -> std::sync::MutexGuard<'_, SessionMap> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn owner(&self, id: &http::HeaderValue) -> Option<String> {
        self.lock().owners.get(id).map(|(owner, _)| owner.clone())
    }

    fn open(&self, id: http::HeaderValue, principal: String) {
        let mut map = self.lock();
        map.opened += 1;
        let n = map.opened;
        map.owners.insert(id, (principal, n));
        if map.owners.len() > MAX_SESSIONS {
            let cutoff = n - (MAX_SESSIONS as u64) / 2;
            map.owners.retain(|_, (_, at)| *at > cutoff);
        }
    }

    fn forget(&self, id: &http::HeaderValue) {
        self.lock().owners.remove(id);
    }
}

/// For an OAuth caller under step-up calling a tool it lacks scopes for: 403 with an
/// `insufficient_scope` challenge naming every scope the tool needs, so that the client can
/// ask for consent and retry.
fn step_up(
    gateway: &Gateway,
    principal: &Principal,
    group: Option<&str>,
    message: &Value,
) -> Option<Refusal> {
    if principal.kind != (PrincipalKind::OAuth { step_up: true })
        || message.get("method")? != "tools/call"
    {
        return None;
    }
    let name = message.get("params")?.get("name")?.as_str()?;
    let needed = gateway.scopes_lacking(principal, name, group)?;
    let detail = format!("insufficient scope; asked for: {}", needed.join(" "));
    Some(Refusal::new(
        Answer::InsufficientScope(needed),
        Decision::Denied,
        Outcome::Refused,
        detail,
    ))
}

/// Hands `request` to rmcp, with the caller known to the handlers rmcp makes for it (so that
/// the `Mcp-Param-*` header checks see only the tools this caller may call).
async fn serve_rmcp(
    rmcp: &Endpoint,
    principal: &Principal,
    group: Option<&str>,
    request: Request,
) -> Response {
    let caller = crate::server::RmcpCaller {
        principal: principal.clone(),
        group: group.map(str::to_string),
    };
    let served = crate::server::RMCP_CALLER.scope(caller, rmcp.clone().oneshot(request));
    let response = match served.await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    restore_unmodeled_fields(response).await
}

/// Puts back the tool fields rmcp's typed model dropped (they travel stashed in `_meta`).
async fn restore_unmodeled_fields(response: Response) -> Response {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        let (mut parts, body) = response.into_parts();
        let bytes = match http_body_util::Limited::new(body, MAX_BUFFERED_RESPONSE)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                tracing::error!(error = %e, "could not read a response body");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        if !may_carry_stash(&bytes) {
            return Response::from_parts(parts, Body::from(bytes));
        }
        parts.headers.remove(CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(lift_json(bytes)))
    } else if content_type.starts_with("text/event-stream") {
        let (parts, body) = response.into_parts();
        Response::from_parts(parts, Body::from_stream(lift_sse(body.into_data_stream())))
    } else {
        response
    }
}

fn lift_json(bytes: Bytes) -> Bytes {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    let changed = match &mut value {
        serde_json::Value::Array(batch) => batch.iter_mut().fold(false, |c, m| lift_message(m) | c),
        message => lift_message(message),
    };
    if !changed {
        return bytes;
    }
    serde_json::to_vec(&value).map(Bytes::from).unwrap_or(bytes)
}

/// Restores stashed fields in the `data:` lines of a server-sent event stream, one whole event at
/// a time, passing everything else through unchanged.
fn lift_sse<E>(
    body: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, E>> + Send + 'static
where
    E: Send + 'static,
{
    let mut pending: Vec<u8> = Vec::new();
    let body = body.map(Some).chain(futures::stream::once(async { None }));
    body.filter_map(move |chunk| {
        let out = match chunk {
            Some(Ok(bytes)) => {
                pending.extend_from_slice(&bytes);
                let Some(end) = memchr::memmem::rfind(&pending, b"\n\n") else {
                    return std::future::ready(None);
                };
                let rest = pending.split_off(end + 2);
                let events = std::mem::replace(&mut pending, rest);
                Some(Ok(lift_events(events)))
            }
            Some(Err(e)) => Some(Err(e)),
            None if pending.is_empty() => None,
            None => Some(Ok(lift_events(std::mem::take(&mut pending)))),
        };
        std::future::ready(out)
    })
}

fn lift_events(events: Vec<u8>) -> Bytes {
    if !may_carry_stash(&events) {
        return Bytes::from(events);
    }
    let mut out = Vec::with_capacity(events.len());
    for line in events.split_inclusive(|&b| b == b'\n') {
        let lifted = line
            .strip_prefix(b"data:")
            .filter(|data| may_carry_stash(data))
            .and_then(|data| {
                let data = data.strip_suffix(b"\n").unwrap_or(data);
                let mut v: serde_json::Value = serde_json::from_slice(data).ok()?;
                lift_message(&mut v).then(|| serde_json::to_vec(&v).ok())?
            });
        match lifted {
            Some(json) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&json);
                out.push(b'\n');
            }
            None => out.extend_from_slice(line),
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unmodeled::STASH_KEY;

    #[tokio::test]
    async fn sse_events_are_lifted_across_chunk_boundaries() {
        let msg = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"name":"a","_meta":{{"{STASH_KEY}":{{"execution":{{"taskSupport":"optional"}}}}}}}}]}}}}"#
        );
        let full = format!("id: 0\nretry: 10\ndata: \n\nid: 1\ndata: {msg}\n\n");
        let (a, b) = full.as_bytes().split_at(full.len() / 2);
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> =
            vec![Ok(Bytes::copy_from_slice(a)), Ok(Bytes::copy_from_slice(b))];
        let out: Vec<u8> = lift_sse(futures::stream::iter(chunks))
            .map(|c| c.unwrap().to_vec())
            .concat()
            .await;
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("id: 0\nretry: 10\ndata: \n\nid: 1\ndata: {"),
            "{out}"
        );
        assert!(
            out.contains(r#""execution":{"taskSupport":"optional"}"#),
            "{out}"
        );
        assert!(!out.contains(STASH_KEY), "{out}");
        assert!(out.ends_with("\n\n"));
    }
}
