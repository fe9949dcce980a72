//! The direct path: the most common request there is — a stateless 2026-07-28 `tools/call`
//! whose headers, `_meta` and body are exactly what the spec asks, for a published tool without
//! `x-mcp-header` parameters, with no progress requested — answered through the pipeline with
//! no per-request rmcp session. A sibling of the rmcp path in [`crate::http`]: both call
//! [`Gateway::call_tool`], and both answer refusals through [`wire::render`], so they read
//! byte for byte alike.

use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use portcullis_core::ports::ClientPorts;
use portcullis_core::{Caller, Exchange};
use rmcp::model::{JsonRpcResponse, JsonRpcVersion2_0};
use serde_json::{Map, Value};

use crate::server::Gateway;
use crate::wire;

/// The protocol revision the direct path serves.
const MODERN: &str = "2026-07-28";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The headers of a POST the direct path may take: JSON, accepting both answer forms, with no
/// session, for 2026-07-28 `tools/call`, and no `Mcp-Param-*` header.
pub(crate) fn direct_headers(headers: &HeaderMap) -> bool {
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
pub(crate) struct DirectCall {
    id: Value,
    pub(crate) name: String,
    arguments: Option<Value>,
}

impl DirectCall {
    /// `None` unless the body is exactly a 2026-07-28 `tools/call` with the required `_meta`,
    /// matching the headers, and no field the direct path does not handle.
    pub(crate) fn parse(headers: &HeaderMap, message: Value) -> Option<DirectCall> {
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

    pub(crate) async fn serve(
        self,
        gateway: &Gateway,
        exchange: &Exchange,
        caller: &Caller,
    ) -> Response {
        // Dropping this future (the client went away) cancels the call upstream.
        let outcome = gateway
            .call_tool(
                exchange,
                caller,
                &self.name,
                self.arguments,
                ClientPorts::default(),
            )
            .await;
        match outcome {
            Ok(result) => {
                let Ok(id) = serde_json::from_value(self.id) else {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let body = serde_json::to_vec(&JsonRpcResponse {
                    jsonrpc: JsonRpcVersion2_0,
                    id,
                    result,
                });
                match body {
                    Ok(body) => {
                        (StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response()
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not serialize an answer");
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                }
            }
            Err(refusal) => {
                wire::render(&refusal, gateway.authenticator()).into_response(Some(self.id))
            }
        }
    }
}

/// `_meta` holding exactly the 2026-07-28 request metadata, and nothing the direct path would
/// have to act on (a progress token, a log level, extensions, a client that can be asked).
fn plain_meta(meta: &Map<String, Value>) -> bool {
    meta.get("io.modelcontextprotocol/protocolVersion")
        .is_some_and(|v| v == MODERN)
        && meta
            .get("io.modelcontextprotocol/clientCapabilities")
            // A client that can be asked (its user for `approval = "user"`, its model or roots
            // for an upstream): the rmcp path answers those with input-required results.
            .is_some_and(|c| {
                c.is_object()
                    && ["elicitation", "sampling", "roots"]
                        .iter()
                        .all(|k| c.get(k).is_none())
            })
        && meta.keys().all(|k| {
            matches!(
                k.as_str(),
                "io.modelcontextprotocol/protocolVersion"
                    | "io.modelcontextprotocol/clientCapabilities"
                    | "io.modelcontextprotocol/clientInfo"
            )
        })
}
