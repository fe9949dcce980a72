//! The operator's listener, served apart from `/mcp` when `[admin] listen` is set: the admin
//! API under `/api/v1` (described by `/api/v1/openapi.json`), the web console at `/`, and
//! Prometheus metrics at `/metrics`.
//!
//! # Who gets in
//!
//! Every request but the console's own files and its sign-in needs an admin credential: an API
//! key or OAuth token holding `portcullis:admin` (approvals also open to
//! `portcullis:approve`; deciding one needs it). It comes either as a bearer header, or as the
//! console's session cookie — `HttpOnly`, `SameSite=Strict`, made by signing in with such a key —
//! together with the session's CSRF token in `x-csrf-token`; a cookie alone opens nothing. A
//! request whose `Origin` is not the listener's own is refused, and a state-changing request on
//! a session must carry one. The session keeps the key, not a copy of its rights: a key revoked
//! or expired ends its sessions at once. The `Host` must be one of `gateway.allowed_hosts`
//! (DNS rebinding), and refused credentials draw on the same per-address limit as on `/mcp`.
//!
//! No endpoint reads a file, an environment variable or a URL named by the request.
//! Refusals, changes and reads of the audit log are audited (transport `admin`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use portcullis_core::approval::APPROVE_SCOPE;
use portcullis_core::audit::{AuditRecord, Decision, Outcome};
use portcullis_core::config::ADMIN_SCOPE;
use portcullis_gateway::Gateway;
use portcullis_gateway::edge::EdgePolicy;
use portcullis_store::{ApprovalFile, DataDir, KeyStore, PinFile, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};

mod api;
mod console;
pub mod metrics;

pub use metrics::{Metered, Metrics};

/// The session cookie's name.
const COOKIE: &str = "portcullis_session";
/// The header a session's requests carry its CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at once; signing in past it forgets the oldest.
const MAX_SESSIONS: usize = 256;

/// What the admin listener serves from.
pub struct AdminState {
    gateway: Arc<Gateway>,
    /// `None` when the config turns API keys off.
    keys: Option<KeyStore>,
    approvals: ApprovalFile,
    pins: PinFile,
    audit_log: PathBuf,
    metrics: Arc<Metrics>,
    resets: Arc<crate::operate::Resets>,
    edge: EdgePolicy,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    session_ttl: Duration,
}

struct Session {
    /// The key signed in with, checked again at every request.
    token: String,
    csrf: String,
    expires: Instant,
}

/// Who is asking, and how they proved it.
#[derive(Clone, Debug)]
pub(crate) struct Operator {
    pub id: String,
    pub kind: &'static str,
    pub scopes: std::collections::BTreeSet<String>,
}

impl Operator {
    fn holds(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Refuses unless the operator holds `portcullis:admin`.
    pub(crate) fn admin(&self) -> Result<(), ApiError> {
        if self.holds(ADMIN_SCOPE) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this needs a credential holding `{ADMIN_SCOPE}`"),
            ))
        }
    }

    /// Refuses unless the operator holds `portcullis:admin` or `portcullis:approve`.
    pub(crate) fn sees_approvals(&self) -> Result<(), ApiError> {
        if self.holds(ADMIN_SCOPE) || self.holds(APPROVE_SCOPE) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this needs a credential holding `{ADMIN_SCOPE}` or `{APPROVE_SCOPE}`"),
            ))
        }
    }
}

/// An answer other than success: a status and a message for the operator, as
/// `{"error": "…"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match &e {
            StoreError::NotFound(_) | StoreError::NoPin(_) | StoreError::NoApproval(_) => {
                StatusCode::NOT_FOUND
            }
            StoreError::AlreadyDecided { .. }
            | StoreError::NothingWaits(_)
            | StoreError::NotRotatable { .. } => StatusCode::CONFLICT,
            _ => {
                tracing::error!(error = %e, "the admin API's store failed");
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the store failed");
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
            );
        }
        response
    }
}

/// What the admin listener is made from, besides the gateway's data directory.
pub struct AdminParts {
    pub gateway: Arc<Gateway>,
    /// What the gateway's audit sink counts into (see [`Metered`]).
    pub metrics: Arc<Metrics>,
    /// The limit resets this gateway applies (also polled by its owner).
    pub resets: Arc<crate::operate::Resets>,
}

impl AdminState {
    /// The admin state over the gateway and the stores in `dir`; `bound` is the listener's own
    /// address (its origin is the only one accepted).
    pub fn new(
        parts: AdminParts,
        dir: &DataDir,
        bound: SocketAddr,
    ) -> Result<Arc<AdminState>, StoreError> {
        let AdminParts {
            gateway,
            metrics,
            resets,
        } = parts;
        let config = gateway.config();
        let keys = if config.auth.api_keys {
            Some(KeyStore::open(&dir.database())?)
        } else {
            None
        };
        let mut origins = vec![format!("http://{bound}")];
        if bound.ip().is_loopback() {
            let port = bound.port();
            origins.extend([
                format!("http://localhost:{port}"),
                format!("http://127.0.0.1:{port}"),
                format!("http://[::1]:{port}"),
            ]);
        }
        let edge = EdgePolicy::new(
            &config.gateway.allowed_hosts,
            &origins,
            config.gateway.allowed_ips.clone(),
            config.gateway.denied_ips.clone(),
            64,
        );
        Ok(Arc::new(AdminState {
            approvals: ApprovalFile::open(&dir.database())?,
            pins: PinFile::open(&dir.database())?,
            audit_log: dir.audit_log(),
            keys,
            metrics,
            resets,
            edge,
            sessions: Mutex::default(),
            session_ttl: config.admin.session_ttl,
            gateway,
        }))
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an admin request in the audit log.
    fn audit(
        &self,
        request: &RequestInfo,
        who: Option<&Operator>,
        outcome: Outcome,
        reason: String,
    ) {
        self.gateway.recorder().event(
            "admin",
            AuditRecord {
                principal: who.map_or_else(|| "unauthenticated".into(), |o| o.id.clone()),
                principal_kind: who.map_or("none", |o| o.kind),
                method: format!("admin {} {}", request.method, request.path),
                source: request.source.map(|ip| ip.to_string()),
                decision: match outcome {
                    Outcome::Ok => Decision::Allowed,
                    Outcome::Unauthenticated => Decision::Unauthenticated,
                    _ => Decision::Denied,
                },
                outcome,
                reason,
                ..AuditRecord::default()
            },
        );
    }

    /// Who sent `headers`: a bearer credential, or a session cookie with its CSRF token.
    async fn operator(
        &self,
        request: &RequestInfo,
        headers: &HeaderMap,
    ) -> Result<Operator, ApiError> {
        let unauthenticated = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, why.to_string());
        let auth = self.gateway.authenticator();
        let principal = if let Some(value) = headers.get(header::AUTHORIZATION) {
            auth.http(Some(value.as_bytes()))
                .await
                .map_err(|e| unauthenticated(e.client_message()))?
        } else if let Some(id) = session_cookie(headers) {
            let token = {
                let mut sessions = self.sessions();
                let key = session_key(&id);
                let ended = || unauthenticated("the console session has ended; sign in again");
                if sessions
                    .get(&key)
                    .is_some_and(|s| s.expires <= Instant::now())
                {
                    sessions.remove(&key);
                }
                let session = sessions.get(&key).ok_or_else(ended)?;
                let csrf = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
                if !csrf.is_some_and(|c| equal(c, session.csrf.as_bytes())) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "a console request must carry its session's CSRF token",
                    ));
                }
                if request.changes_state() && !headers.contains_key(header::ORIGIN) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "a change made through a console session must carry an Origin",
                    ));
                }
                session.token.clone()
            };
            auth.token(&token)
                .map_err(|e| unauthenticated(e.client_message()))?
        } else {
            return Err(unauthenticated(
                "the admin API needs a credential: `Authorization: Bearer <key>` with a key \
                 holding `portcullis:admin`, or a console sign-in",
            ));
        };
        Ok(Operator {
            id: principal.id.clone(),
            kind: principal.kind.as_str(),
            scopes: principal.scopes,
        })
    }

    /// Makes a console session for `token`; returns the cookie's value and the CSRF token.
    fn open_session(&self, token: String) -> Result<(String, String), ApiError> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut sessions = self.sessions();
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            session_key(&id),
            Session {
                token,
                csrf: csrf.clone(),
                expires: now + self.session_ttl,
            },
        );
        Ok((id, csrf))
    }

    fn close_session(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.sessions().remove(&session_key(&id));
        }
    }

    /// The CSRF token of the session in `headers`, if it is open.
    fn session_csrf(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let id = session_cookie(headers)?;
        let sessions = self.sessions();
        let session = sessions.get(&session_key(&id))?;
        (session.expires > Instant::now()).then(|| (session.token.clone(), session.csrf.clone()))
    }
}

/// What the middleware knows of a request, for the audit record.
#[derive(Clone, Debug)]
pub(crate) struct RequestInfo {
    method: Method,
    path: String,
    source: Option<IpAddr>,
}

impl RequestInfo {
    fn changes_state(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD)
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Sessions are held by the hash of their id, so that the table holds no usable cookie.
fn session_key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a console session");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot make a session")
    })?;
    Ok(portcullis_core::hex(&bytes))
}

/// The admin listener's routes.
pub fn router(state: Arc<AdminState>) -> Router {
    let protected = api::routes().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        authenticate,
    ));
    Router::new()
        .merge(protected)
        .merge(console::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Checks every request's address, `Host` and `Origin`, and sets the headers every answer
/// carries (a strict Content-Security-Policy, no caching, no framing, no sniffing).
async fn edge(State(state): State<Arc<AdminState>>, request: Request, next: Next) -> Response {
    let info = request_info(&request);
    let checked = state
        .edge
        .check_client(info.source)
        .and_then(|()| state.edge.check(request.uri(), request.headers()));
    let mut response = match checked {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            state.audit(&info, None, Outcome::Refused, refusal.reason.to_string());
            ApiError::new(refusal.status, refusal.reason).into_response()
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn request_info(request: &Request) -> RequestInfo {
    RequestInfo {
        method: request.method().clone(),
        path: request.uri().path().to_string(),
        source: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    }
}

/// Authenticates the request and puts the [`Operator`] in its extensions; refusals are
/// audited and drawn from the per-address limit on refused credentials.
async fn authenticate(
    State(state): State<Arc<AdminState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let info = request_info(&request);
    match state.operator(&info, request.headers()).await {
        Ok(operator) => {
            let audited = info.changes_state() || info.path.starts_with("/api/v1/audit");
            request.extensions_mut().insert(operator.clone());
            request.extensions_mut().insert(info.clone());
            let response = next.run(request).await;
            let status = response.status();
            if audited || status == StatusCode::FORBIDDEN {
                let outcome = if status.is_success() {
                    Outcome::Ok
                } else {
                    Outcome::Refused
                };
                state.audit(
                    &info,
                    Some(&operator),
                    outcome,
                    format!("answered with HTTP {}", status.as_u16()),
                );
            }
            response
        }
        Err(e) => {
            let outcome = if e.status == StatusCode::UNAUTHORIZED {
                Outcome::Unauthenticated
            } else {
                Outcome::Refused
            };
            state.audit(&info, None, outcome, e.message.clone());
            let source = info
                .source
                .map_or_else(|| "unknown".into(), |ip| ip.to_string());
            if let Err(limited) = state.gateway.charge_unauthenticated(&source) {
                let mut response =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, limited.to_string())
                        .into_response();
                if let Ok(v) =
                    HeaderValue::try_from(limited.retry_after.as_secs().max(1).to_string())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return response;
            }
            e.into_response()
        }
    }
}
