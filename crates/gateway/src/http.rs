//! The HTTP edge: the Streamable HTTP MCP endpoint at `/mcp`, and `/healthz`.
//!
//! rmcp's `StreamableHttpService` speaks both protocol eras (legacy sessions after `initialize`,
//! stateless 2026-07-28 requests with their `Mcp-Method`/`Mcp-Name` header checks). Around it the
//! edge enforces the `Host` allow-list and `Origin` validation (on, even when no origin is
//! allowed: rmcp leaves it off by default), caps request bodies, and puts back the tool fields
//! rmcp's typed model cannot carry (see [`crate::unmodeled`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use http::StatusCode;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::BodyExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::server::Gateway;
use crate::unmodeled::{lift_message, may_carry_stash};

/// Largest response body the edge will buffer to restore stashed fields.
const MAX_BUFFERED_RESPONSE: usize = 64 * 1024 * 1024;

/// The gateway's HTTP routes, for a server listening on `local_addr`.
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
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(true)
        .with_json_response(true)
        .with_cancellation_token(shutdown)
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(allowed_origins)
        .enforce_origin_validation();
    let factory_gateway = gateway.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(factory_gateway.handler()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn(restore_unmodeled_fields))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
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

async fn restore_unmodeled_fields(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
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
