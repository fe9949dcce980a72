//! The HTTP edge: the Streamable HTTP MCP endpoint at `/mcp`, and `/healthz`.
//!
//! Every request first passes the [`edge`](crate::edge) checks (client address, `Host`,
//! `Origin`, concurrency), then authentication (a bearer API key, or 401 with
//! `WWW-Authenticate`; the [`Principal`] rides in the request's extensions). Then one of two
//! paths serves it:
//!
//! - **The direct path** takes the most common request there is — a stateless 2026-07-28
//!   `tools/call` whose headers, `_meta` and body are exactly what the spec asks, for a published
//!   tool without `x-mcp-header` parameters, with no progress requested — and answers it with
//!   the upstream's raw result through [`Gateway::call_tool`], with no per-request rmcp session.
//! - **rmcp's `StreamableHttpService`** serves everything else: legacy sessions, `initialize`,
//!   `server/discover`, listings, progress streams, and every request with anything unusual,
//!   including every malformed one, so that each gets rmcp's spec-conformant answer.
//!
//! Both paths call the same [`Gateway::call_tool`]; the direct path only skips protocol work.
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
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::audit::{Decision, Outcome};
use portcullis_core::{Principal, PrincipalKind};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::auth::AuthFailure;
use crate::edge::{self, EdgePolicy};
use crate::jwt::TokenVerifier;
use crate::server::{
    Caller, Gateway, GatewayServer, ToolCallError, UNAUTHENTICATED, failure_result, printable_name,
};
use crate::unmodeled::{lift_message, may_carry_stash};

/// Largest response body the edge will buffer to restore stashed fields.
const MAX_BUFFERED_RESPONSE: usize = 64 * 1024 * 1024;

/// The protocol revision the direct path serves.
const MODERN: &str = "2026-07-28";

struct Mcp {
    gateway: Arc<Gateway>,
    main: StreamableHttpService<GatewayServer, LocalSessionManager>,
    groups: HashMap<String, StreamableHttpService<GatewayServer, LocalSessionManager>>,
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
    let endpoint = |group: Option<String>| {
        // The edge has checked Host and Origin before rmcp sees the request.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(true)
            .with_json_response(true)
            .with_cancellation_token(shutdown.child_token())
            .with_max_request_body_bytes(settings.max_body_bytes)
            .disable_allowed_hosts()
            .disable_allowed_origins();
        let factory_gateway = gateway.clone();
        StreamableHttpService::new(
            move || Ok(factory_gateway.handler(group.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    };
    let groups = gateway
        .config()
        .access
        .group_names()
        .map(|g| (g.to_string(), endpoint(Some(g.to_string()))))
        .collect();
    let mcp = Arc::new(Mcp {
        main: endpoint(None),
        groups,
        max_body_bytes: settings.max_body_bytes,
        body_timeout: settings.request_timeout,
        gateway: gateway.clone(),
    });
    let edge_state = (gateway.clone(), policy);
    let mut router = Router::new()
        .route("/mcp", axum::routing::any(serve_main))
        .route("/mcp/g/{group}", axum::routing::any(serve_group))
        .with_state(mcp)
        .layer(middleware::from_fn_with_state(
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
        "scopes_supported": gateway.config().exposure.scopes(),
        "bearer_methods_supported": ["header"],
        "resource_name": "Portcullis MCP gateway",
    })
}

/// `WWW-Authenticate` for a refused request: a Bearer challenge pointing at the resource
/// metadata when OAuth is configured, with `error` and a safe description.
fn challenge(gateway: &Gateway, error: Option<(&str, &str)>, scope: Option<&str>) -> String {
    let mut parts = Vec::new();
    match gateway.authenticator().tokens() {
        Some(verifier) => parts.push(format!("resource_metadata=\"{}\"", verifier.metadata_url())),
        None => parts.push("realm=\"portcullis\"".to_string()),
    }
    if let Some((code, description)) = error {
        parts.push(format!("error=\"{code}\""));
        parts.push(format!("error_description=\"{description}\""));
    }
    if let Some(scope) = scope {
        parts.push(format!("scope=\"{scope}\""));
    }
    format!("Bearer {}", parts.join(", "))
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
    match outcome {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(failure) => {
            tracing::warn!(%failure, "refused an unauthenticated request");
            let method = format!("{} {}", request.method(), request.uri().path());
            let source = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(
                    || "unknown".to_string(),
                    |c| c.0.ip().to_canonical().to_string(),
                );
            if let Err(limited) = gateway.charge_unauthenticated(&source) {
                gateway.audit_refusal(
                    "http",
                    method,
                    Decision::Unauthenticated,
                    Outcome::Limited,
                    format!("{failure}; {limited}"),
                );
                let retry = limited
                    .retry_after
                    .as_secs_f64()
                    .ceil()
                    .max(1.0)
                    .to_string();
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(http::header::RETRY_AFTER, retry)],
                    format!("{limited}\n"),
                )
                    .into_response();
            }
            gateway.audit_refusal(
                "http",
                method,
                Decision::Unauthenticated,
                Outcome::Unauthenticated,
                failure.to_string(),
            );
            let error = match failure {
                AuthFailure::Missing => None,
                AuthFailure::TokenInQuery => Some(("invalid_request", failure.client_message())),
                _ => Some(("invalid_token", failure.client_message())),
            };
            let challenge = challenge(&gateway, error, None);
            let body = json!({"jsonrpc": "2.0", "id": null, "error": {
                "code": UNAUTHENTICATED, "message": failure.client_message()}});
            let status = if failure == AuthFailure::TokenInQuery {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNAUTHORIZED
            };
            (status, [(WWW_AUTHENTICATE, challenge)], axum::Json(body)).into_response()
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
    serve_mcp(&mcp, None, request).await
}

async fn serve_group(
    State(mcp): State<Arc<Mcp>>,
    Path(group): Path<String>,
    request: Request,
) -> Response {
    if !mcp.groups.contains_key(&group) {
        return (StatusCode::NOT_FOUND, "no such group\n").into_response();
    }
    serve_mcp(&mcp, Some(group), request).await
}

async fn serve_mcp(mcp: &Mcp, group: Option<String>, request: Request) -> Response {
    let rmcp = match &group {
        Some(g) => match mcp.groups.get(g) {
            Some(service) => service,
            None => return (StatusCode::NOT_FOUND, "no such group\n").into_response(),
        },
        None => &mcp.main,
    };
    if request.method() != Method::POST {
        return serve_rmcp(rmcp, request).await;
    }
    let (parts, body) = request.into_parts();
    let collected = tokio::time::timeout(
        mcp.body_timeout,
        http_body_util::Limited::new(body, mcp.max_body_bytes).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes\n", mcp.max_body_bytes),
            )
                .into_response();
        }
        Err(_) => {
            return (StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response();
        }
    };
    // rmcp answers unreadable bodies with 415 and no JSON-RPC error; the spec's answer is a
    // parse error (and batches, which current revisions dropped, an invalid request).
    let message = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(_)) => {
            return jsonrpc_error(-32600, "JSON-RPC batches are not supported".into());
        }
        Ok(message) => message,
        Err(e) => return jsonrpc_error(-32700, format!("parse error: {e}")),
    };
    if let Some(principal) = parts.extensions.get::<Principal>()
        && let Some(response) = step_up(&mcp.gateway, principal, group.as_deref(), &message)
    {
        return response;
    }
    if direct_headers(&parts.headers)
        && let Some(principal) = parts.extensions.get::<Principal>()
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
        return call.serve(&mcp.gateway, &caller).await;
    }
    serve_rmcp(rmcp, Request::from_parts(parts, Body::from(bytes))).await
}

/// For an OAuth caller under step-up calling a tool it lacks scopes for: 403 with an
/// `insufficient_scope` challenge naming every scope the tool needs, so that the client can
/// ask for consent and retry.
fn step_up(
    gateway: &Gateway,
    principal: &Principal,
    group: Option<&str>,
    message: &Value,
) -> Option<Response> {
    if principal.kind != (PrincipalKind::OAuth { step_up: true })
        || message.get("method")? != "tools/call"
    {
        return None;
    }
    let name = message.get("params")?.get("name")?.as_str()?;
    let needed = gateway.scopes_lacking(principal, name, group)?;
    gateway.audit_refusal(
        "http",
        "tools/call".into(),
        Decision::Denied,
        Outcome::Refused,
        format!(
            "insufficient scope for {}; asked for: {}",
            printable_name(name),
            needed.join(" ")
        ),
    );
    let scope = needed.join(" ");
    let challenge = challenge(
        gateway,
        Some((
            "insufficient_scope",
            "the token lacks scopes this tool needs",
        )),
        Some(&scope),
    );
    let body = json!({"jsonrpc": "2.0", "id": message.get("id").cloned().unwrap_or(Value::Null),
        "error": {"code": UNAUTHENTICATED, "message": "insufficient scope"}});
    Some(
        (
            StatusCode::FORBIDDEN,
            [(WWW_AUTHENTICATE, challenge)],
            axum::Json(body),
        )
            .into_response(),
    )
}

fn jsonrpc_error(code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

async fn serve_rmcp(
    rmcp: &StreamableHttpService<GatewayServer, LocalSessionManager>,
    request: Request,
) -> Response {
    let response = match rmcp.clone().oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    restore_unmodeled_fields(response).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The headers of a POST the direct path may take: JSON, accepting both answer forms, with no
/// session, for 2026-07-28 `tools/call`, and no `Mcp-Param-*` header.
fn direct_headers(headers: &HeaderMap) -> bool {
    let accept = header(headers, ACCEPT.as_str()).unwrap_or("");
    header(headers, CONTENT_TYPE.as_str()).is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|e| e.trim() == "application/json")
    }) && accept.contains("application/json")
        && accept.contains("text/event-stream")
        && header(headers, "mcp-protocol-version") == Some(MODERN)
        && header(headers, "mcp-method") == Some("tools/call")
        && headers.get("mcp-session-id").is_none()
        && !headers.keys().any(|k| k.as_str().starts_with("mcp-param-"))
}

/// A stateless `tools/call` with nothing unusual about it.
struct DirectCall {
    id: Value,
    name: String,
    arguments: Option<Value>,
}

impl DirectCall {
    /// `None` unless the body is exactly a 2026-07-28 `tools/call` with the required `_meta`,
    /// matching the headers, and no field the direct path does not handle.
    fn parse(headers: &HeaderMap, message: Value) -> Option<DirectCall> {
        let Value::Object(mut message) = message else {
            return None;
        };
        let id = message
            .remove("id")
            .filter(|id| id.is_string() || id.is_i64() || id.is_u64())?;
        let Value::Object(mut params) = message.remove("params")? else {
            return None;
        };
        if message.len() != 2
            || message.get("jsonrpc")? != "2.0"
            || message.get("method")? != "tools/call"
        {
            return None;
        }
        let Value::Object(meta) = params.remove("_meta")? else {
            return None;
        };
        if !plain_meta(&meta) {
            return None;
        }
        let Value::String(name) = params.remove("name")? else {
            return None;
        };
        let arguments = params.remove("arguments");
        if !params.is_empty()
            || arguments.as_ref().is_some_and(|a| !a.is_object())
            || header(headers, "mcp-name") != Some(name.as_str())
        {
            return None;
        }
        Some(DirectCall {
            id,
            name,
            arguments,
        })
    }

    async fn serve(self, gateway: &Gateway, caller: &Caller) -> Response {
        // Dropping this future (the client went away) cancels the call upstream.
        let never = CancellationToken::new();
        let outcome = gateway
            .call_tool(caller, &self.name, self.arguments, None, &never)
            .await;
        let (status, message) = match outcome {
            Ok(result) => (
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": self.id, "result": result}),
            ),
            Err(ToolCallError::Failed(text)) => (
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": self.id, "result": failure_result(&text)}),
            ),
            Err(ToolCallError::Limited(limited)) => (
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": self.id,
                       "result": failure_result(&limited.to_string())}),
            ),
            // Published a moment ago and gone now: let the answer read like any unknown tool.
            Err(ToolCallError::Unknown) => (
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": self.id, "error": {
                    "code": -32602, "message": format!("unknown tool: {}", self.name)}}),
            ),
            Err(ToolCallError::Upstream(e)) => {
                let mut error = Map::new();
                error.insert("code".into(), e.code.into());
                error.insert("message".into(), e.message.into());
                if let Some(data) = e.data {
                    error.insert("data".into(), data);
                }
                (
                    error_status(e.code),
                    json!({"jsonrpc": "2.0", "id": self.id, "error": error}),
                )
            }
        };
        match serde_json::to_vec(&message) {
            Ok(body) => (status, [(CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "could not serialize an answer");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// `_meta` holding exactly the 2026-07-28 request metadata, and nothing the direct path would
/// have to act on (a progress token, a log level, extensions).
fn plain_meta(meta: &Map<String, Value>) -> bool {
    meta.get("io.modelcontextprotocol/protocolVersion")
        .is_some_and(|v| v == MODERN)
        && meta
            .get("io.modelcontextprotocol/clientCapabilities")
            .is_some_and(Value::is_object)
        && meta.keys().all(|k| {
            matches!(
                k.as_str(),
                "io.modelcontextprotocol/protocolVersion"
                    | "io.modelcontextprotocol/clientCapabilities"
                    | "io.modelcontextprotocol/clientInfo"
            )
        })
}

/// The HTTP status rmcp gives a JSON-RPC error on a 2026-07-28 request.
fn error_status(code: i64) -> StatusCode {
    match code {
        -32022..=-32020 => StatusCode::BAD_REQUEST,
        -32601 => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
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
