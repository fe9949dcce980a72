//! The admin API's handlers, under `/api/v1`; the document at `/api/v1/openapi.json`
//! describes each one.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::{StatusCode, header};
use portcullis_core::audit::{AuditQuery, Outcome, csv_header, csv_row, time_bound};
use portcullis_core::duration::parse_duration;
use portcullis_store::audit::{read_records, verify_files};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{AdminState, ApiError, Operator};
use crate::operate::{
    Decider, DecisionError, approval_json, check_new_scopes, decide_approval, decide_pin, key_json,
    masked_config, pin_diff, pin_json, pin_quarantined,
};

/// The OpenAPI document of this API.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// Most records one audit query returns.
const MAX_QUERY_LIMIT: usize = 1000;

type Shared = State<Arc<AdminState>>;
type ApiResult = Result<Response, ApiError>;

pub(super) fn routes() -> Router<Arc<AdminState>> {
    let admin = Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}", get(show_key))
        .route("/api/v1/keys/{id}/rotate", post(rotate_key))
        .route("/api/v1/keys/{id}/revoke", post(revoke_key))
        .route("/api/v1/audit", get(query_audit))
        .route("/api/v1/audit/export", get(export_audit))
        .route("/api/v1/audit/verify", get(verify_audit))
        .route("/api/v1/upstreams", get(upstreams))
        .route("/api/v1/upstreams/{name}/tools", get(upstream_tools))
        .route("/api/v1/limits", get(limits))
        .route("/api/v1/limits/reset", post(reset_limits))
        .route("/api/v1/config", get(config))
        .route("/api/v1/pins", get(list_pins))
        .route("/api/v1/pins/{tool}", get(show_pin))
        .route("/api/v1/pins/{tool}/accept", post(accept_pin))
        .route("/api/v1/pins/{tool}/reject", post(reject_pin))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn(|request: Request, next: Next| {
            require(request, next, Operator::admin)
        }));
    // Deciding needs `portcullis:approve` as well, which `decide_approval` checks.
    let approvals = Router::new()
        .route("/api/v1/approvals", get(list_approvals))
        .route("/api/v1/approvals/{id}", get(show_approval))
        .route("/api/v1/approvals/{id}/approve", post(approve))
        .route("/api/v1/approvals/{id}/deny", post(deny))
        .route_layer(axum::middleware::from_fn(|request: Request, next: Next| {
            require(request, next, Operator::sees_approvals)
        }));
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .merge(admin)
        .merge(approvals)
}

/// Refuses the request unless its operator passes `check`, before its body is read.
async fn require(
    request: Request,
    next: Next,
    check: fn(&Operator) -> Result<(), ApiError>,
) -> Response {
    let allowed = request
        .extensions()
        .get::<Operator>()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "no credential"))
        .and_then(check);
    match allowed {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// A JSON body, refused with a JSON error naming what is wrong.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e| ApiError::new(e.status(), e.body_text()))
    }
}

/// A JSON body that may be left out (empty): then `T::default()`.
pub(crate) struct Optional<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for Optional<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Optional(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Optional)
            .map_err(|e| ApiError::bad_request(format!("the body is not the JSON expected: {e}")))
    }
}

/// A query string, refused with a JSON error.
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Runs `f` on the blocking pool: the stores are SQLite and files.
async fn blocking<T: Send + 'static>(
    state: &Arc<AdminState>,
    f: impl FnOnce(&AdminState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "an admin request's task failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the request failed")
        })?
}

fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

fn now_ms(state: &AdminState) -> u64 {
    state.gateway.recorder().clock.unix_ms().unwrap_or(0)
}

async fn openapi() -> ApiResult {
    Ok(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response())
}

async fn whoami(Extension(op): Extension<Operator>) -> ApiResult {
    ok(json!({"id": op.id, "kind": op.kind, "scopes": op.scopes}))
}

fn key_store(state: &AdminState) -> Result<&portcullis_store::KeyStore, ApiError> {
    state.keys.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "API keys are off in this config (`[auth] api_keys = false`)",
        )
    })
}

async fn list_keys(State(state): Shared) -> ApiResult {
    let keys = blocking(&state, |s| {
        let now = now_ms(s) / 1000;
        Ok(key_store(s)?
            .list()?
            .iter()
            .map(|k| key_json(k, now))
            .collect::<Vec<_>>())
    })
    .await?;
    ok(json!({ "keys": keys }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// A lifetime like `30d`.
    expires: Option<String>,
}

async fn create_key(State(state): Shared, Body(new): Body<NewKey>) -> ApiResult {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name: give 1 to 100 characters"));
    }
    let scopes: Vec<String> = new
        .scopes
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    check_new_scopes(&scopes, &state.gateway.config().scopes())
        .map_err(|e| ApiError::bad_request(format!("scopes: {e}")))?;
    let lifetime = match new.expires.as_deref() {
        Some(text) => match parse_duration(text) {
            Ok(d) if d.as_secs() > 0 => Some(d.as_secs()),
            Ok(_) => return Err(ApiError::bad_request("expires: must be at least a second")),
            Err(e) => return Err(ApiError::bad_request(format!("expires: {e}"))),
        },
        None => None,
    };
    let issued = blocking(&state, move |s| {
        let now = now_ms(s) / 1000;
        let issued = key_store(s)?.create(&name, &scopes, lifetime.map(|l| now + l), now)?;
        let mut v = key_json(&issued.info, now);
        v["token"] = json!(issued.token);
        Ok(v)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

async fn show_key(State(state): Shared, Path(id): Path<String>) -> ApiResult {
    ok(blocking(&state, move |s| {
        Ok(key_json(&key_store(s)?.get(&id)?, now_ms(s) / 1000))
    })
    .await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the old token keeps working, like `24h`.
    grace: Option<String>,
}

async fn rotate_key(
    State(state): Shared,
    Path(id): Path<String>,
    Optional(rotation): Optional<Rotation>,
) -> ApiResult {
    let grace = match rotation.grace.as_deref() {
        Some(text) => parse_duration(text)
            .map_err(|e| ApiError::bad_request(format!("grace: {e}")))?
            .as_secs(),
        None => 0,
    };
    let issued = blocking(&state, move |s| {
        let now = now_ms(s) / 1000;
        let issued = key_store(s)?.rotate(&id, grace, now)?;
        let mut v = key_json(&issued.info, now);
        v["token"] = json!(issued.token);
        v["replaces"] = json!(id);
        Ok(v)
    })
    .await?;
    ok(issued)
}

async fn revoke_key(State(state): Shared, Path(id): Path<String>) -> ApiResult {
    ok(blocking(&state, move |s| {
        let now = now_ms(s) / 1000;
        Ok(key_json(&key_store(s)?.revoke(&id, now)?, now))
    })
    .await?)
}

/// The filter of an audit query or export, as query parameters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    principal: Option<String>,
    tool: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    format: Option<String>,
}

impl AuditParams {
    fn query(&self, now_ms: u64) -> Result<AuditQuery, ApiError> {
        let bound = |name: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| time_bound(t, now_ms))
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
        };
        Ok(AuditQuery {
            principal: self.principal.clone().filter(|s| !s.is_empty()),
            tool: self.tool.clone().filter(|s| !s.is_empty()),
            outcome: self
                .outcome
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Outcome::parse)
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("outcome: {e}")))?,
            since: bound("since", &self.since)?,
            until: bound("until", &self.until)?,
        })
    }
}

async fn query_audit(State(state): Shared, Params(params): Params<AuditParams>) -> ApiResult {
    let query = params.query(now_ms(&state))?;
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_QUERY_LIMIT);
    let (records, matched) = blocking(&state, move |s| {
        let mut kept = VecDeque::with_capacity(limit);
        let mut matched = 0usize;
        read_records(&s.audit_log, |record| {
            if query.matches(&record) {
                matched += 1;
                if kept.len() == limit {
                    kept.pop_front();
                }
                kept.push_back(record);
            }
            true
        })
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok((kept, matched))
    })
    .await?;
    let newest_first: Vec<Value> = records.into_iter().rev().collect();
    ok(json!({"matched": matched, "returned": newest_first.len(), "records": newest_first}))
}

async fn export_audit(State(state): Shared, Params(params): Params<AuditParams>) -> ApiResult {
    let query = params.query(now_ms(&state))?;
    let csv = match params.format.as_deref().unwrap_or("jsonl") {
        "csv" => true,
        "jsonl" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "format: `{other}` is not `csv` or `jsonl`"
            )));
        }
    };
    // Records stream out as they are read: an export of a large log holds one chunk at a time.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(8);
    let path = state.audit_log.clone();
    tokio::task::spawn_blocking(move || {
        let mut chunk = if csv { csv_header() } else { String::new() };
        let read = read_records(&path, |record| {
            if query.matches(&record) {
                if csv {
                    chunk.push_str(&csv_row(&record));
                } else {
                    chunk.push_str(&record.to_string());
                    chunk.push('\n');
                }
                if chunk.len() >= 64 * 1024 {
                    return tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_ok();
                }
            }
            true
        });
        let last = match read {
            Ok(()) => Ok(chunk),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let _ = tx.blocking_send(last);
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let (kind, file) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/x-ndjson", "audit.jsonl")
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

async fn verify_audit(State(state): Shared) -> ApiResult {
    let checked = blocking(&state, |s| {
        let checked = verify_files(&s.audit_log)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(match checked {
            Ok(check) => json!({"intact": true, "files": check.files, "records": check.records,
                "unfinished_bytes": check.unfinished}),
            Err(broken) => json!({"intact": false, "file": file_name(&broken.file),
                "line": broken.line, "reason": broken.reason}),
        })
    })
    .await?;
    ok(checked)
}

/// A log file's name, without the directory it is in.
fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

async fn upstreams(State(state): Shared) -> ApiResult {
    let tools = state.gateway.published_tools();
    let all: Vec<Value> = state
        .gateway
        .upstream_health()
        .into_iter()
        .map(|h| {
            let published = tools.iter().filter(|t| t.upstream == h.name).count();
            let mut v = json!(h);
            v["tools_published"] = json!(published);
            v
        })
        .collect();
    ok(json!({ "upstreams": all }))
}

async fn upstream_tools(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    if !state
        .gateway
        .config()
        .upstreams
        .iter()
        .any(|u| u.name == name)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no upstream named `{name}` in the config"),
        ));
    }
    let tools: Vec<Value> = state
        .gateway
        .published_tools()
        .into_iter()
        .filter(|t| t.upstream == name)
        .map(|t| {
            json!({
                "name": t.name,
                "upstream_tool": t.upstream_tool,
                "read_only": t.read_only,
                "scopes": t.scopes,
                "approval": t.approval.as_str(),
                "description": t.definition.get("description"),
                "definition": t.definition,
            })
        })
        .collect();
    ok(json!({"upstream": name, "tools": tools}))
}

async fn limits(State(state): Shared) -> ApiResult {
    let usage: Vec<Value> = state
        .gateway
        .limit_usage()
        .into_iter()
        .map(|u| {
            json!({"limit": u.kind.as_str(), "key": u.key,
                "used": (u.used * 100.0).round() / 100.0, "capacity": u.capacity})
        })
        .collect();
    ok(json!({ "usage": usage }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reset {
    principal: String,
}

async fn reset_limits(
    State(state): Shared,
    Extension(op): Extension<Operator>,
    Body(reset): Body<Reset>,
) -> ApiResult {
    if reset.principal.trim().is_empty() {
        return Err(ApiError::bad_request(
            "principal: give a key id, or `anonymous@<address>`",
        ));
    }
    let principal = reset.principal.trim().to_string();
    let forgotten = blocking(&state, move |s| {
        Ok(s.resets
            .request(&s.gateway, &principal, &op.id, now_ms(s))?)
    })
    .await?;
    ok(json!({"principal": reset.principal.trim(), "buckets_forgotten": forgotten}))
}

async fn config(State(state): Shared) -> ApiResult {
    let masked = masked_config(state.gateway.config().source.text())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    ok(
        json!({"config": masked, "note": "the config the gateway runs on, as last loaded, secrets masked"}),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListApprovals {
    #[serde(default)]
    all: bool,
}

async fn list_approvals(State(state): Shared, Params(params): Params<ListApprovals>) -> ApiResult {
    let calls = blocking(&state, move |s| {
        Ok(s.approvals
            .list(params.all)?
            .iter()
            .map(|(p, st)| approval_json(p, st))
            .collect::<Vec<_>>())
    })
    .await?;
    ok(json!({ "approvals": calls }))
}

async fn show_approval(State(state): Shared, Path(id): Path<String>) -> ApiResult {
    ok(blocking(&state, move |s| {
        let (p, st) = s.approvals.find(&id)?;
        Ok(approval_json(&p, &st))
    })
    .await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Verdict {
    #[serde(default)]
    reason: String,
}

async fn decide(
    state: Arc<AdminState>,
    op: Operator,
    id: String,
    approve: bool,
    reason: String,
) -> ApiResult {
    if reason.chars().count() > 1000 {
        return Err(ApiError::bad_request("reason: at most 1000 characters"));
    }
    let decided = blocking(&state, move |s| {
        let by = Decider {
            id: &op.id,
            scopes: &op.scopes,
            transport: "admin",
        };
        decide_approval(
            &s.approvals,
            s.gateway.recorder(),
            &by,
            &id,
            approve,
            &reason,
        )
        .map_err(|e| match e {
            DecisionError::NotAllowed { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            DecisionError::Store(e) => e.into(),
        })
    })
    .await?;
    ok(
        json!({"id": decided.id, "tool": decided.tool, "decision": if approve { "approved" } else { "denied" }}),
    )
}

async fn approve(
    State(state): Shared,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
    Optional(verdict): Optional<Verdict>,
) -> ApiResult {
    decide(state, op, id, true, verdict.reason).await
}

async fn deny(
    State(state): Shared,
    Extension(op): Extension<Operator>,
    Path(id): Path<String>,
    Optional(verdict): Optional<Verdict>,
) -> ApiResult {
    decide(state, op, id, false, verdict.reason).await
}

async fn list_pins(State(state): Shared) -> ApiResult {
    let pins = blocking(&state, |s| {
        Ok(s.pins.all()?.iter().map(pin_json).collect::<Vec<_>>())
    })
    .await?;
    ok(json!({ "pins": pins }))
}

async fn show_pin(State(state): Shared, Path(tool): Path<String>) -> ApiResult {
    ok(blocking(&state, move |s| {
        let pin = s
            .pins
            .find(&tool)?
            .ok_or_else(|| portcullis_store::StoreError::NoPin(tool.clone()))?;
        let mut v = pin_json(&pin);
        v["definition"] = json!(pin.definition);
        v["candidate_definition"] = json!(pin.candidate.as_ref().map(|c| &c.definition));
        v["diff"] = json!(pin_diff(&pin));
        Ok(v)
    })
    .await?)
}

async fn decide_pin_as(
    state: Arc<AdminState>,
    op: Operator,
    tool: String,
    accept: bool,
) -> ApiResult {
    ok(blocking(&state, move |s| {
        let pin = decide_pin(
            &s.pins,
            s.gateway.recorder(),
            (&op.id, "admin"),
            &tool,
            accept,
        )?;
        Ok(pin_json(&pin))
    })
    .await?)
}

async fn accept_pin(
    State(state): Shared,
    Extension(op): Extension<Operator>,
    Path(tool): Path<String>,
) -> ApiResult {
    decide_pin_as(state, op, tool, true).await
}

async fn reject_pin(
    State(state): Shared,
    Extension(op): Extension<Operator>,
    Path(tool): Path<String>,
) -> ApiResult {
    decide_pin_as(state, op, tool, false).await
}

/// `/metrics`: the Prometheus text format, with the state read now.
pub(super) async fn metrics(State(state): Shared) -> ApiResult {
    let m = state.metrics.clone();
    for h in state.gateway.upstream_health() {
        let labels = super::metrics::upstream(&h.name);
        m.upstream_up.get_or_create(&labels).set(i64::from(h.up));
        m.upstream_restarts
            .get_or_create(&labels)
            .set(i64::try_from(h.connects.saturating_sub(1)).unwrap_or(i64::MAX));
        m.upstream_failures
            .get_or_create(&labels)
            .set(i64::try_from(h.failures).unwrap_or(i64::MAX));
    }
    m.tools_published
        .set(i64::try_from(state.gateway.published_tools().len()).unwrap_or(i64::MAX));
    let (pending, quarantined) = blocking(&state, |s| {
        let pending = s.approvals.list(false)?.len();
        let quarantined = s.pins.all()?.iter().filter(|p| pin_quarantined(p)).count();
        Ok((pending, quarantined))
    })
    .await?;
    m.approvals_pending
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    m.tools_quarantined
        .set(i64::try_from(quarantined).unwrap_or(i64::MAX));
    if let Some(lag) = state.gateway.recorder().sink.write_lag() {
        m.audit_lag.set(lag.as_secs_f64());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response())
}
