//! The one mapping from a [`Refusal`]'s answer to what the client receives: an HTTP status with
//! its headers, a JSON-RPC error, or a tool result with `isError: true`. Every path uses
//! [`render`] — the rmcp handler, the direct stateless path, the authentication layer, the
//! edge, stdio — so a refusal reads the same wherever it happens, and a hidden tool reads byte
//! for byte like one that does not exist.

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use portcullis_core::refusal::UNAUTHENTICATED;
use portcullis_core::{Answer, Refusal};
use rmcp::model::{ErrorCode, ErrorData, JsonRpcError, JsonRpcResponse, JsonRpcVersion2_0};
use serde_json::{Value, json};

use crate::auth::Authenticator;

/// A refusal as the wire carries it.
#[derive(Debug)]
pub struct Rendered {
    pub status: StatusCode,
    /// `WWW-Authenticate`, for refused credentials and missing scopes.
    pub challenge: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    pub body: Body,
}

#[derive(Debug)]
pub enum Body {
    /// A JSON-RPC error.
    Error(ErrorData),
    /// A tool result (`isError: true`).
    Result(Value),
    /// Plain text, for refusals before any MCP message was read.
    Text(&'static str),
}

/// A refusal answered before the request's body was read: the connection is closed after it,
/// and says so. HTTP/1.1 cannot reuse a connection whose request body is left unread, and a
/// client not told may send its next request (an OAuth client's retry with the token it just
/// got) on the connection as it closes, and see it dropped without an answer. (HTTP/2 streams
/// have no such problem, and no `Connection` header.)
pub fn closing_unread<B>(request: &http::Request<B>, response: Response) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|len| len.as_bytes() != b"0");
    if has_body {
        closing(request.version(), response)
    } else {
        response
    }
}

/// A refusal answered with the request's body read only in part (too large, too slow): the
/// connection is closed after it, and says so (see [`closing_unread`]).
pub fn closing(version: http::Version, mut response: Response) -> Response {
    if version <= http::Version::HTTP_11 {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The answer for `refusal`. `auth` supplies the challenge (where clients find the OAuth
/// metadata, when OAuth is configured).
pub fn render(refusal: &Refusal, auth: &Authenticator) -> Rendered {
    let plain = |status, body| Rendered {
        status,
        challenge: None,
        retry_after: None,
        body,
    };
    match &refusal.answer {
        Answer::UnknownTool(name) => {
            let message = match name {
                Some(name) => format!("unknown tool: {name}"),
                None => "unknown tool".to_string(),
            };
            plain(
                StatusCode::OK,
                Body::Error(ErrorData::invalid_params(message, None)),
            )
        }
        Answer::ToolError(text) => plain(StatusCode::OK, Body::Result(failure_result(text))),
        Answer::InputRequired(result) => plain(StatusCode::OK, Body::Result(result.clone())),
        Answer::Limited(limited) => plain(
            StatusCode::OK,
            Body::Result(failure_result(&limited.to_string())),
        ),
        Answer::Upstream {
            code,
            message,
            data,
        } => plain(
            upstream_error_status(*code),
            Body::Error(ErrorData::new(
                ErrorCode(*code as i32),
                message.clone(),
                data.clone(),
            )),
        ),
        Answer::BadMessage { code, message } => plain(
            StatusCode::BAD_REQUEST,
            Body::Error(ErrorData::new(ErrorCode(*code as i32), *message, None)),
        ),
        Answer::Unauthenticated { error, message } => {
            // A gateway that takes API keys only says so, and how to send one; OAuth metadata
            // is advertised only where an issuer is configured.
            let (message, description) = match (error, auth.tokens()) {
                (None, None) => (API_KEY_EXPECTED, Some(API_KEY_EXPECTED)),
                (None, Some(_)) => (*message, None),
                (Some(_), _) => (*message, Some(*message)),
            };
            Rendered {
                status: if *error == Some("invalid_request") {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNAUTHORIZED
                },
                challenge: Some(challenge(auth, *error, description, None)),
                retry_after: None,
                body: Body::Error(ErrorData::new(
                    ErrorCode(UNAUTHENTICATED as i32),
                    message,
                    None,
                )),
            }
        }
        Answer::InsufficientScope(scopes) => Rendered {
            status: StatusCode::FORBIDDEN,
            challenge: Some(challenge(
                auth,
                Some("insufficient_scope"),
                Some("the token lacks scopes this tool needs"),
                Some(&scopes.join(" ")),
            )),
            retry_after: None,
            body: Body::Error(ErrorData::new(
                ErrorCode(UNAUTHENTICATED as i32),
                "insufficient scope",
                None,
            )),
        },
        Answer::Http {
            status,
            text,
            retry_after,
        } => Rendered {
            status: StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            challenge: None,
            retry_after: *retry_after,
            body: Body::Text(text),
        },
    }
}

impl Rendered {
    /// The HTTP response, answering the JSON-RPC request `id` (`None` when there is none).
    pub fn into_response(self, id: Option<Value>) -> Response {
        let body = match self.body {
            Body::Error(error) => {
                let id = id.and_then(|id| serde_json::from_value(id).ok());
                serde_json::to_vec(&JsonRpcError {
                    jsonrpc: JsonRpcVersion2_0,
                    id,
                    error,
                })
            }
            Body::Result(result) => {
                let id = id
                    .and_then(|id| serde_json::from_value(id).ok())
                    .unwrap_or(rmcp::model::NumberOrString::Number(0));
                serde_json::to_vec(&JsonRpcResponse {
                    jsonrpc: JsonRpcVersion2_0,
                    id,
                    result,
                })
            }
            Body::Text(text) => {
                let mut response = (self.status, format!("{text}\n")).into_response();
                if let Some(secs) = self.retry_after {
                    response.headers_mut().insert(RETRY_AFTER, secs.into());
                }
                return response;
            }
        };
        let Ok(body) = body else {
            tracing::error!("could not serialize an answer");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, secs.into());
        }
        response
    }

    /// Inside an MCP session (rmcp handler, stdio): a tool result or a JSON-RPC error.
    pub fn into_mcp(self) -> Result<Value, ErrorData> {
        match self.body {
            Body::Result(result) => Ok(result),
            Body::Error(error) => Err(error),
            Body::Text(text) => Err(ErrorData::internal_error(text, None)),
        }
    }
}

/// A tool result that reports a failure to the model.
pub fn failure_result(message: &str) -> Value {
    json!({
        "resultType": "complete",
        "content": [{"type": "text", "text": message}],
        "isError": true,
    })
}

/// The HTTP status rmcp gives a JSON-RPC error on a 2026-07-28 request.
fn upstream_error_status(code: i64) -> StatusCode {
    match code {
        -32022..=-32020 => StatusCode::BAD_REQUEST,
        -32601 => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// What a client without credentials is told by a gateway that takes API keys only.
pub const API_KEY_EXPECTED: &str =
    "an API key is required: send it in the header Authorization: Bearer <key>";

/// `WWW-Authenticate` for a refused request: a Bearer challenge pointing at the resource
/// metadata when OAuth is configured, with `error` and a safe description.
fn challenge(
    auth: &Authenticator,
    error: Option<&str>,
    description: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    match auth.tokens() {
        Some(verifier) => parts.push(format!("resource_metadata=\"{}\"", verifier.metadata_url())),
        None => parts.push("realm=\"portcullis\"".to_string()),
    }
    if let Some(code) = error {
        parts.push(format!("error=\"{code}\""));
    }
    if let Some(description) = description {
        parts.push(format!("error_description=\"{description}\""));
    }
    if let Some(scope) = scope {
        parts.push(format!("scope=\"{scope}\""));
    }
    format!("Bearer {}", parts.join(", "))
}
