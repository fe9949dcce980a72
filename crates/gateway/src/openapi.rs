//! The OpenAPI bridge: an HTTP API's operations as tools.
//!
//! The document (OpenAPI 3.0 or 3.1, JSON) comes from a URL, a file, or the embedding app. Each
//! operation becomes a tool definition named by its operationId (or the config's override),
//! with the operation's summary as description and an input schema built from its path, query
//! and header parameters and its JSON body (`body`), `$ref`s resolved. Exposure stays
//! deny-by-default: the tool can be named by its name, its operationId or `METHOD /path`, and
//! an operation whose method changes state is never published read-only.
//!
//! A call is checked against the input schema before anything is sent; then it goes through
//! the API's real front door — over HTTP to `base_url`, or in-process to the embedding app's
//! router — so the API's own authentication and checks run as for any request. Path parameters
//! are percent-encoded whole (a `/` cannot add a segment) and `.` or `..` are refused (they
//! would climb the path). Only the gateway's own credentials are sent. Redirects to another
//! host are not followed; responses are capped in size and time.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use base64::Engine as _;
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use portcullis_core::catalogue::{ALIASES, CHANGES_STATE, RESPONSE_SCHEMA};
use portcullis_core::config::OpenApiSpec;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use crate::client_credentials::TokenSource;
use crate::secrets::{resolve_headers, with_credentials};
use crate::wire::failure_result;
use portcullis_core::ports::UpstreamCredentials;
use portcullis_core::ports::UpstreamFailure;

/// Everything but unreserved characters is escaped in a path segment (`/` included); `.` and
/// `..` alone are refused outright.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Deepest `$ref` chain followed; beyond it (or in a cycle) a schema accepts anything.
const MAX_REF_DEPTH: usize = 32;

/// Largest OpenAPI document read.
const MAX_DOCUMENT_BYTES: usize = 8 << 20;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
    Header,
}

struct Parameter {
    name: String,
    location: Location,
}

/// One bridged operation.
struct Operation {
    method: http::Method,
    /// The path template, `/items/{item_id}`.
    path: String,
    parameters: Vec<Parameter>,
    has_body: bool,
    validator: jsonschema::Validator,
}

/// Where requests go.
enum Target {
    Http {
        base: String,
        client: reqwest::Client,
    },
    /// The embedding app's router, called in-process.
    Router(axum::Router),
}

/// Where the document comes from.
enum Document {
    Url(String),
    File(PathBuf),
    Given(Value),
}

/// One OpenAPI upstream.
pub struct Bridge {
    name: String,
    spec: OpenApiSpec,
    document: Document,
    target: Target,
    headers: http::HeaderMap,
    /// The embedder's computed credentials, asked for each request.
    credentials: Option<Arc<dyn UpstreamCredentials>>,
    token: Option<TokenSource>,
    operations: RwLock<HashMap<String, Arc<Operation>>>,
}

/// An in-process API handed over by the embedding app: its router and its OpenAPI document.
#[derive(Clone)]
pub struct EmbeddedApp {
    pub router: axum::Router,
    pub document: Value,
}

impl Bridge {
    /// `app` is the embedding app's router and document, for `embedded = true`.
    pub fn new(
        name: &str,
        spec: &OpenApiSpec,
        base_dir: &Path,
        app: Option<EmbeddedApp>,
        credentials: Option<Arc<dyn UpstreamCredentials>>,
    ) -> Result<Bridge, String> {
        let document = Document::of(spec, base_dir, app.as_ref())
            .ok_or("an embedded API needs its router and document from the embedding app")?;
        let target = match (app, &spec.base_url) {
            (Some(app), _) => Target::Router(app.router),
            (None, Some(base)) => Target::Http {
                base: base.trim_end_matches('/').to_string(),
                client: reqwest::Client::builder()
                    .redirect(same_host_redirects())
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?,
            },
            (None, None) => return Err("no base_url".into()),
        };
        let headers = resolve_headers(&spec.headers, base_dir)?;
        let token = spec
            .oauth
            .as_ref()
            .map(|o| TokenSource::new(o, base_dir))
            .transpose()?;
        Ok(Bridge {
            name: name.to_string(),
            spec: spec.clone(),
            document,
            target,
            headers,
            credentials,
            token,
            operations: RwLock::default(),
        })
    }

    pub fn refresh(&self) -> Duration {
        self.spec.refresh
    }

    /// Reads the document and rebuilds the operations; returns their tool definitions.
    pub async fn load(&self) -> Result<Vec<Value>, String> {
        let (operations, tools, skipped) = read_and_bridge(&self.document, &self.spec).await?;
        for why in skipped {
            tracing::warn!(upstream = %self.name, "{why}");
        }
        *self
            .operations
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = operations;
        Ok(tools)
    }

    /// Calls the operation behind `tool`. Invalid arguments are a tool error, sent nowhere.
    pub async fn call(
        &self,
        tool: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, UpstreamFailure> {
        let failed = |detail: String| UpstreamFailure::Failed {
            upstream: self.name.clone(),
            detail,
        };
        let operation = self
            .operations
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tool)
            .cloned()
            .ok_or_else(|| failed(format!("the API no longer has `{tool}`")))?;
        let arguments = arguments.unwrap_or_else(|| json!({}));
        let problems: Vec<String> = operation
            .validator
            .iter_errors(&arguments)
            .take(5)
            // Masked: the message names the rule broken, never the value that broke it.
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.masked().to_string()
                } else {
                    format!("{at}: {}", e.masked())
                }
            })
            .collect();
        if !problems.is_empty() {
            return Ok(failure_result(&format!(
                "invalid arguments, nothing was sent: {}",
                problems.join("; ")
            )));
        }
        let request = match self.request(&operation, &arguments).await {
            Ok(request) => request,
            Err(refusal) => return Ok(failure_result(&refusal)),
        };
        let limit = self.spec.max_response_bytes;
        let send = async {
            match &self.target {
                Target::Http { client, .. } => {
                    let request = reqwest::Request::try_from(request)
                        .map_err(|e| failed(format!("cannot build the request: {e}")))?;
                    let response = client
                        .execute(request)
                        .await
                        .map_err(|e| failed(format!("the API did not answer: {e}")))?;
                    if response.status() == reqwest::StatusCode::UNAUTHORIZED
                        && let Some(token) = &self.token
                    {
                        token.invalidate().await;
                    }
                    let response: http::Response<reqwest::Body> = response.into();
                    read_response(response, limit).await.map_err(|e| match e {
                        BodyError::TooLarge(_) => UpstreamFailure::Refused(e.to_string()),
                        BodyError::Broken(_) => failed(e.to_string()),
                    })
                }
                Target::Router(router) => {
                    let response = match router.clone().oneshot(request.map(Body::from)).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    read_response(response, limit).await.map_err(|e| match e {
                        BodyError::TooLarge(_) => UpstreamFailure::Refused(e.to_string()),
                        BodyError::Broken(_) => failed(e.to_string()),
                    })
                }
            }
        };
        let (status, content_type, body) =
            tokio::time::timeout(timeout, send)
                .await
                .map_err(|_| UpstreamFailure::Timeout {
                    upstream: self.name.clone(),
                    timeout,
                })??;
        Ok(to_result(status, content_type.as_deref(), &body))
    }

    /// The HTTP request for a call, or why it must not be sent.
    async fn request(
        &self,
        operation: &Operation,
        arguments: &Value,
    ) -> Result<http::Request<Vec<u8>>, String> {
        let mut path = String::new();
        let mut rest = operation.path.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or("malformed path template")?;
            path.push_str(&rest[..open]);
            let name = &rest[open + 1..close];
            let value = scalar(arguments.get(name))
                .ok_or_else(|| format!("path parameter `{name}` is missing"))?;
            if value.is_empty() || value == "." || value == ".." {
                return Err(format!(
                    "path parameter `{name}` may not be empty, `.` or `..`; nothing was sent"
                ));
            }
            path.extend(utf8_percent_encode(&value, SEGMENT));
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        let mut query = Vec::new();
        let mut builder = http::Request::builder().method(operation.method.clone());
        for p in &operation.parameters {
            let Some(value) = arguments.get(&p.name) else {
                continue;
            };
            match p.location {
                Location::Path => {}
                Location::Query => match value {
                    Value::Array(items) => query.extend(
                        items
                            .iter()
                            .filter_map(|v| scalar(Some(v)))
                            .map(|v| (p.name.clone(), v)),
                    ),
                    v => query.extend(scalar(Some(v)).map(|v| (p.name.clone(), v))),
                },
                Location::Header => {
                    let v = scalar(Some(value)).unwrap_or_default();
                    let v = http::HeaderValue::try_from(v).map_err(|_| {
                        format!("header parameter `{}` is not a valid header value", p.name)
                    })?;
                    builder = builder.header(p.name.as_str(), v);
                }
            }
        }
        let mut uri = match &self.target {
            Target::Http { base, .. } => format!("{base}{path}"),
            Target::Router(_) => path,
        };
        if !query.is_empty() {
            let encoded: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        utf8_percent_encode(k, SEGMENT),
                        utf8_percent_encode(v, SEGMENT)
                    )
                })
                .collect();
            uri = format!("{uri}?{}", encoded.join("&"));
        }
        let mut headers =
            with_credentials(&self.headers, &self.name, self.credentials.as_deref()).await?;
        crate::trace::inject(&mut headers);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        if let Some(token) = &self.token {
            builder = builder.header(http::header::AUTHORIZATION, token.authorization().await?);
        }
        builder = builder
            .uri(uri)
            .header(http::header::ACCEPT, "application/json, */*;q=0.5");
        let body = match (operation.has_body, arguments.get("body")) {
            (true, Some(body)) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(body).map_err(|e| e.to_string())?
            }
            _ => Vec::new(),
        };
        builder
            .body(body)
            .map_err(|e| format!("cannot build the request: {e}"))
    }
}

impl Document {
    fn of(spec: &OpenApiSpec, base_dir: &Path, app: Option<&EmbeddedApp>) -> Option<Document> {
        Some(match (app, &spec.spec) {
            (Some(app), _) => Document::Given(app.document.clone()),
            (None, Some(source))
                if source.starts_with("http://") || source.starts_with("https://") =>
            {
                Document::Url(source.clone())
            }
            (None, Some(source)) => Document::File(base_dir.join(source)),
            (None, None) => return None,
        })
    }
}

/// Reads the document and bridges its operations.
async fn read_and_bridge(document: &Document, spec: &OpenApiSpec) -> Result<Bridged, String> {
    let document = match document {
        Document::Given(doc) => doc.clone(),
        Document::File(path) => {
            let text = std::fs::read(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            serde_json::from_slice(&text)
                .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?
        }
        Document::Url(url) => fetch_document(url).await?,
    };
    let reserved: Vec<String> = spec
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .chain(["authorization".to_string(), "cookie".to_string()])
        .collect();
    bridge_document(&document, &spec.operations, &reserved)
}

/// Follows redirects on the same host only, at most five.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            first.host_str() == attempt.url().host_str() && first.port() == attempt.url().port()
        });
        if attempt.previous().len() >= 5 || !same {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

async fn fetch_document(url: &str) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(same_host_redirects())
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch the OpenAPI document: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "the OpenAPI document's URL answered HTTP {}",
            response.status()
        ));
    }
    let response: http::Response<reqwest::Body> = response.into();
    let (_, _, body) = read_response(response, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| format!("cannot read the OpenAPI document: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("the OpenAPI document is not JSON: {e}"))
}

/// Status, content type and body (at most `limit` bytes).
/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading the answer failed: {0}")]
    Broken(String),
}

async fn read_response<B>(
    response: http::Response<B>,
    limit: usize,
) -> Result<(http::StatusCode, Option<String>, Vec<u8>), BodyError>
where
    B: axum::body::HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                BodyError::TooLarge(limit)
            } else {
                BodyError::Broken(e.to_string())
            }
        })?;
    Ok((status, content_type, body.to_bytes().to_vec()))
}

/// A string, number or boolean as it goes into a URL or header.
fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The tool result for an HTTP answer.
fn to_result(status: http::StatusCode, content_type: Option<&str>, body: &[u8]) -> Value {
    if !status.is_success() {
        let excerpt: String = String::from_utf8_lossy(body)
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .take(300)
            .collect();
        let reason = if status.is_redirection() {
            "a redirect to another host, not followed".to_string()
        } else {
            excerpt
        };
        return failure_result(&format!("HTTP {}: {reason}", status.as_u16()));
    }
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let is_json = essence == "application/json" || essence.ends_with("+json");
    if is_json && let Ok(value) = serde_json::from_slice::<Value>(body) {
        let structured = match &value {
            Value::Object(_) => value.clone(),
            other => json!({ "result": other }),
        };
        return json!({
            "content": [{"type": "text", "text": value.to_string()}],
            "structuredContent": structured,
        });
    }
    if body.is_empty() || essence.starts_with("text/") || essence.is_empty() || is_json {
        return json!({"content": [{"type": "text",
            "text": String::from_utf8_lossy(body)}]});
    }
    json!({"content": [{"type": "resource", "resource": {
        "uri": "portcullis:response",
        "mimeType": essence,
        "blob": base64::engine::general_purpose::STANDARD.encode(body),
    }}]})
}

/// The operations, their tool definitions, and the operations left out because the bridge
/// cannot carry their request body (`METHOD /path: why`).
type Bridged = (HashMap<String, Arc<Operation>>, Vec<Value>, Vec<String>);

/// The operations of a document and their tool definitions.
/// `reserved` header names are the gateway's to send (its configured credentials,
/// `Authorization`, `Cookie`): header parameters by those names are left out of the tools.
fn bridge_document(
    document: &Value,
    overrides: &BTreeMap<String, portcullis_core::config::OperationOverride>,
    reserved: &[String],
) -> Result<Bridged, String> {
    let Some(Value::Object(paths)) = document.get("paths") else {
        return Err("the OpenAPI document has no `paths`".into());
    };
    let version = document
        .get("openapi")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(format!(
            "OpenAPI 3.0 or 3.1 expected; the document says `{version}`"
        ));
    }
    let mut operations = HashMap::new();
    let mut tools = Vec::new();
    let mut skipped = Vec::new();
    for (path, item) in paths {
        let item = resolve(document, item, 0, &mut Vec::new());
        let shared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let op = resolve(document, op, 0, &mut Vec::new());
            let route = format!("{} {path}", method.to_ascii_uppercase());
            let operation_id = op.get("operationId").and_then(Value::as_str);
            let over = operation_id.and_then(|id| overrides.get(id));
            let name = over
                .and_then(|o| o.name.clone())
                .or_else(|| operation_id.map(tool_name))
                .unwrap_or_else(|| tool_name(&format!("{method}_{path}")));
            let mut properties = Map::new();
            let mut required = Vec::new();
            let mut parameters = Vec::new();
            let own = op
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for p in shared.iter().chain(own.iter()) {
                let Some(pname) = p.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let location = match p.get("in").and_then(Value::as_str) {
                    Some("path") => Location::Path,
                    Some("query") => Location::Query,
                    Some("header") if !reserved.contains(&pname.to_ascii_lowercase()) => {
                        Location::Header
                    }
                    _ => continue,
                };
                let mut schema = p.get("schema").cloned().unwrap_or_else(|| json!({}));
                if let (Some(d), Value::Object(s)) = (p.get("description"), &mut schema) {
                    s.entry("description").or_insert(d.clone());
                }
                if location == Location::Path || p.get("required") == Some(&Value::Bool(true)) {
                    required.push(Value::String(pname.to_string()));
                }
                properties.insert(pname.to_string(), schema);
                parameters.retain(|q: &Parameter| q.name != pname);
                parameters.push(Parameter {
                    name: pname.to_string(),
                    location,
                });
            }
            let content = op.get("requestBody").and_then(|b| b.get("content"));
            if let Some(Value::Object(types)) = content
                && !types.is_empty()
                && !types.contains_key("application/json")
            {
                // Form and multipart bodies (uploads) are not carried: leave the operation out
                // rather than call it without its body.
                let kinds: Vec<&str> = types.keys().map(String::as_str).collect();
                skipped.push(format!(
                    "{route}: its request body is {}, which the bridge does not carry; the \
                     operation is not published",
                    kinds.join(" or ")
                ));
                continue;
            }
            let body = content
                .and_then(|c| c.get("application/json"))
                .and_then(|j| j.get("schema"));
            if let Some(schema) = body {
                properties.insert("body".into(), schema.clone());
                if op.get("requestBody").and_then(|b| b.get("required")) == Some(&Value::Bool(true))
                {
                    required.push(json!("body"));
                }
            }
            let input = json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            });
            let validator = match jsonschema::validator_for(&input) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(operation = %route, error = %e, "input schema unusable; operation not bridged");
                    continue;
                }
            };
            let description = over
                .and_then(|o| o.description.clone())
                .or_else(|| {
                    let parts: Vec<&str> = ["summary", "description"]
                        .iter()
                        .filter_map(|k| op.get(*k).and_then(Value::as_str))
                        .filter(|s| !s.trim().is_empty())
                        .collect();
                    (!parts.is_empty()).then(|| parts.join("\n\n"))
                })
                .unwrap_or_else(|| route.clone());
            let changes_state = !matches!(method, "get" | "head" | "options");
            let mut aliases = vec![Value::String(route.clone())];
            aliases.extend(operation_id.map(|id| Value::String(id.to_string())));
            tools.push(json!({
                "name": name,
                "description": description,
                "inputSchema": input,
                ALIASES: aliases,
                CHANGES_STATE: changes_state,
                RESPONSE_SCHEMA: response_schema(&op),
            }));
            let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|e| e.to_string())?;
            operations.insert(
                name,
                Arc::new(Operation {
                    method,
                    path: path.clone(),
                    parameters,
                    has_body: body.is_some(),
                    validator,
                }),
            );
        }
    }
    Ok((operations, tools, skipped))
}

/// The JSON schema of an operation's first successful response, `null` if it has none (the
/// pre-flight audit reads it; clients never see it).
fn response_schema(op: &Value) -> Value {
    let Some(Value::Object(responses)) = op.get("responses") else {
        return Value::Null;
    };
    responses
        .iter()
        .filter(|(status, _)| status.starts_with('2') || status.as_str() == "default")
        .find_map(|(_, r)| {
            r.get("content")?
                .as_object()?
                .iter()
                .find(|(t, _)| t.starts_with("application/json") || t.ends_with("+json"))?
                .1
                .get("schema")
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// An operationId (or method and path) as a tool name: ASCII letters, digits, `_`, `-`, `.`.
fn tool_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.trim_matches('_').chars().take(64).collect()
}

/// `value` with every local `$ref` replaced by what it points to (cycles and chains deeper
/// than [`MAX_REF_DEPTH`] become `{}`), and OpenAPI 3.0 idioms made JSON Schema
/// (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`).
fn resolve(document: &Value, value: &Value, depth: usize, seen: &mut Vec<String>) -> Value {
    match value {
        Value::Object(members) => {
            if let Some(Value::String(pointer)) = members.get("$ref") {
                let Some(target) = pointer
                    .strip_prefix('#')
                    .and_then(|p| document.pointer(p))
                    .filter(|_| depth < MAX_REF_DEPTH && !seen.contains(pointer))
                else {
                    return json!({});
                };
                seen.push(pointer.clone());
                let mut resolved = resolve(document, target, depth + 1, seen);
                seen.pop();
                if let Value::Object(out) = &mut resolved {
                    for (k, v) in members.iter().filter(|(k, _)| *k != "$ref") {
                        out.insert(k.clone(), resolve(document, v, depth + 1, seen));
                    }
                }
                return resolved;
            }
            let mut out: Map<String, Value> = members
                .iter()
                .map(|(k, v)| (k.clone(), resolve(document, v, depth, seen)))
                .collect();
            if out.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = out.get("type").cloned()
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            for (flag, bound) in [
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ] {
                if let Some(Value::Bool(on)) = out.get(flag).cloned() {
                    out.remove(flag);
                    if on && let Some(b) = out.remove(bound) {
                        out.insert(flag.into(), b);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(document, v, depth, seen))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Loads the document of every OpenAPI upstream and checks the exposure rules against its
/// operations: an operation that changes state but is exposed read-only is a configuration
/// problem, reported before the gateway starts; an operation left out (its body cannot be
/// carried) is a warning. Returns `(problems, warnings, listings)`, the listings being what
/// each readable document would offer.
pub async fn preflight(
    config: &portcullis_core::Config,
    base_dir: &Path,
    apps: &HashMap<String, EmbeddedApp>,
) -> (
    Vec<String>,
    Vec<String>,
    Vec<portcullis_core::UpstreamListing>,
) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut listings = Vec::new();
    for upstream in &config.upstreams {
        let portcullis_core::UpstreamTransport::OpenApi(spec) = &upstream.transport else {
            continue;
        };
        let Some(document) = Document::of(spec, base_dir, apps.get(&upstream.name)) else {
            problems.push(format!(
                "upstreams.{}: embedded, but the embedding app gave no router and document for it",
                upstream.name
            ));
            continue;
        };
        let tools = match read_and_bridge(&document, spec).await {
            Ok((_, tools, skipped)) => {
                warnings.extend(
                    skipped
                        .into_iter()
                        .map(|why| format!("upstreams.{}: {why}", upstream.name)),
                );
                tools
            }
            Err(e) => {
                problems.push(format!("upstreams.{}.spec: {e}", upstream.name));
                continue;
            }
        };
        let listing = portcullis_core::UpstreamListing {
            upstream: upstream.name.clone(),
            prefix: upstream.prefix.clone(),
            first_seen: tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect(),
            tools,
            bridged: true,
        };
        let (_, notes) =
            portcullis_core::Catalogue::build(&config.exposure, std::slice::from_ref(&listing));
        for note in notes {
            if let portcullis_core::CatalogueNote::ReadOnlyButChangesState { .. } = note {
                problems.push(format!("expose: {note}"));
            }
        }
        listings.push(listing);
    }
    (problems, warnings, listings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_cycles_and_nullable_are_resolved() {
        let doc = json!({
            "components": {"schemas": {
                "Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}},
                "Name": {"type": "string", "nullable": true},
            }}
        });
        let node = resolve(
            &doc,
            &json!({"$ref": "#/components/schemas/Node"}),
            0,
            &mut Vec::new(),
        );
        assert_eq!(node["type"], "object");
        assert_eq!(
            node["properties"]["next"],
            json!({}),
            "a cycle ends in a schema that accepts anything"
        );
        let name = resolve(
            &doc,
            &json!({"$ref": "#/components/schemas/Name"}),
            0,
            &mut Vec::new(),
        );
        assert_eq!(name["type"], json!(["string", "null"]));
    }

    #[test]
    fn operations_whose_body_the_bridge_cannot_carry_are_left_out_and_said() {
        let doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {
            "/upload": {"post": {"operationId": "upload", "requestBody": {"content": {
                "multipart/form-data": {"schema": {"type": "object"}}}}}},
            "/login": {"post": {"operationId": "login", "requestBody": {"content": {
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}}},
            "/items": {"post": {"operationId": "create", "requestBody": {"content": {
                "application/json": {"schema": {"type": "object"}}}}}},
        }});
        let (operations, tools, skipped) = bridge_document(&doc, &BTreeMap::new(), &[]).unwrap();
        assert_eq!(operations.len(), 1);
        assert_eq!(tools[0]["name"], "create");
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped
                .iter()
                .any(|s| s.starts_with("POST /upload") && s.contains("multipart/form-data")),
            "{skipped:?}"
        );
    }

    #[test]
    fn tool_names_are_valid() {
        assert_eq!(
            tool_name("read_item_items__item_id__get"),
            "read_item_items__item_id__get"
        );
        assert_eq!(tool_name("get_/items/{id}"), "get__items__id");
    }
}
