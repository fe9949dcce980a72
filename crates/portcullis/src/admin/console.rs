//! The web console: one page and its script and style sheet, built into the binary. The page
//! holds no data; the script fetches it from the admin API with the session's CSRF token and
//! writes it as text (never as markup), so whatever came from an upstream, a caller or an
//! argument stays inert.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use portcullis_core::approval::APPROVE_SCOPE;
use portcullis_core::audit::Outcome;
use portcullis_core::config::ADMIN_SCOPE;
use serde::Deserialize;
use serde_json::json;

use super::api::Body;
use super::{AdminState, ApiError, COOKIE, CSRF_HEADER, equal, request_info};

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

pub(super) fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", PAGE)))
        .route(
            "/console.js",
            get(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/console.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
        .route(
            "/console/session",
            get(current).post(sign_in).delete(sign_out),
        )
}

async fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// A request a browser made for another site's page.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    key: String,
}

/// Signs in with an admin (or approver) key: the answer sets the session cookie and gives the
/// CSRF token the page sends with every request.
async fn sign_in(State(state): State<Arc<AdminState>>, request: Request) -> Response {
    let info = request_info(&request);
    let headers = request.headers().clone();
    let refuse = |status: StatusCode, why: &str, outcome: Outcome| {
        state.audit(
            &info,
            None,
            outcome,
            format!("console sign-in refused: {why}"),
        );
        ApiError::new(status, why.to_string()).into_response()
    };
    if !headers.contains_key(header::ORIGIN) || cross_site(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "a sign-in must come from the console's own page",
            Outcome::Refused,
        );
    }
    let Body(form) = match Body::<SignIn>::from_request(request, &()).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let token = form.key.trim().to_string();
    let principal = match state.gateway.authenticator().token(&token) {
        Ok(p) => p,
        Err(e) => {
            let source = info
                .source
                .map_or_else(|| "unknown".into(), |ip| ip.to_string());
            if let Err(limited) = state.gateway.charge_unauthenticated(&source) {
                return refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    &limited.to_string(),
                    Outcome::Limited,
                );
            }
            return refuse(
                StatusCode::UNAUTHORIZED,
                e.client_message(),
                Outcome::Unauthenticated,
            );
        }
    };
    if !principal.scopes.contains(ADMIN_SCOPE) && !principal.scopes.contains(APPROVE_SCOPE) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this key holds neither `portcullis:admin` nor `portcullis:approve`",
            Outcome::Refused,
        );
    }
    let (id, csrf) = match state.open_session(token) {
        Ok(pair) => pair,
        Err(e) => return e.into_response(),
    };
    let operator = super::Operator {
        id: principal.id.clone(),
        kind: principal.kind.as_str(),
        scopes: principal.scopes.clone(),
    };
    state.audit(
        &info,
        Some(&operator),
        Outcome::Ok,
        "console sign-in".into(),
    );
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.session_ttl.as_secs()
    );
    let mut response = axum::Json(json!({
        "csrf": csrf, "id": principal.id, "scopes": principal.scopes,
    }))
    .into_response();
    if let Ok(value) = HeaderValue::try_from(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The open session's CSRF token and who it is, for a page loaded again.
async fn current(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    if cross_site(&headers) {
        return ApiError::new(StatusCode::FORBIDDEN, "not from another site").into_response();
    }
    let Some((token, csrf)) = state.session_csrf(&headers) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "not signed in").into_response();
    };
    match state.gateway.authenticator().token(&token) {
        Ok(p) => axum::Json(json!({"csrf": csrf, "id": p.id, "scopes": p.scopes})).into_response(),
        Err(e) => {
            state.close_session(&headers);
            ApiError::new(StatusCode::UNAUTHORIZED, e.client_message()).into_response()
        }
    }
}

async fn sign_out(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    let carries_token = state.session_csrf(&headers).is_some_and(|(_, csrf)| {
        headers
            .get(CSRF_HEADER)
            .is_some_and(|c| equal(c.as_bytes(), csrf.as_bytes()))
    });
    if !carries_token {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "a sign-out must carry its session's CSRF token",
        )
        .into_response();
    }
    state.close_session(&headers);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "portcullis_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}
