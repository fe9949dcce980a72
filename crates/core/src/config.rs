//! The configuration file: what an operator writes, and the validated form the gateway runs on.
//!
//! Loading happens in two stages. The TOML text is deserialized into the `Raw*` structs, with
//! every key that no struct knows collected (not skipped); then [`Config::from_raw`] checks the
//! whole thing and reports *every* problem at once, each with its path (`upstreams.demo.command`)
//! and what to do about it. Only a configuration with no problem becomes a [`Config`].
//!
//! Secure defaults live here, in code, and are documented per field: nothing is exposed unless an
//! `[[expose]]` entry names it, and an exposed tool is destructive unless declared read-only.
//!
//! This module never touches the file system: secrets named by path or environment variable are
//! carried as [`SecretSource`] and resolved by the gateway.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use ipnet::IpNet;

use crate::duration::parse_duration;
use crate::exposure::{ExposeRule, Exposure, ToolPattern};
use crate::guardrail::{Guardrail, Mode, ToolModes};
use crate::limits::Rate;
use crate::policy::{AccessRules, Group};
use crate::redact::{RedactionSettings, Redactor};

/// Default per-upstream timeout for a single request.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);
/// Default number of tools per `tools/list` page.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Default cap on an HTTP request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where the problem is, as a dotted path (`upstreams.demo.command`, `expose[0].tools[1]`).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a configuration file; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "the configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default)]
    expose: Vec<RawExpose>,
    #[serde(default)]
    groups: BTreeMap<String, RawGroup>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    redaction: RawRedaction,
    #[serde(default)]
    guardrail: RawGuardrail,
}

#[derive(Debug, Default, Deserialize)]
struct RawGuardrail {
    arguments: Option<String>,
    results: Option<String>,
    disable_rules: Option<Vec<String>>,
    webhook: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawToolModes {
    arguments: Option<String>,
    results: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRedaction {
    keys: Option<Vec<String>>,
    default_keys: Option<bool>,
    disable: Option<Vec<String>>,
    patterns: Option<Vec<RawPattern>>,
}

#[derive(Debug, Deserialize)]
struct RawPattern {
    name: String,
    regex: String,
}

#[derive(Debug, Default, Deserialize)]
struct RawLimits {
    per_caller: Option<String>,
    per_caller_tool: Option<String>,
    per_tool: Option<String>,
    global: Option<String>,
    budget: Option<String>,
    unauthenticated: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawAuth {
    api_keys: Option<bool>,
    allow_anonymous: Option<bool>,
    resource: Option<String>,
    issuers: Option<Vec<RawIssuer>>,
}

#[derive(Debug, Deserialize)]
struct RawIssuer {
    issuer: String,
    jwks_url: String,
    algorithms: Option<Vec<String>>,
    scope_claim: Option<String>,
    leeway: Option<String>,
    refresh: Option<String>,
    step_up: Option<bool>,
    scope_map: Option<Vec<RawScopeMap>>,
}

#[derive(Debug, Deserialize)]
struct RawScopeMap {
    claim: String,
    value: String,
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: RawSecret,
    scopes: Option<Vec<String>>,
    resource: Option<String>,
    audience: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawGroup {
    tools: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawGateway {
    listen: Option<String>,
    separator: Option<String>,
    page_size: Option<usize>,
    max_body_bytes: Option<usize>,
    allowed_hosts: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    allowed_ips: Option<Vec<String>>,
    denied_ips: Option<Vec<String>>,
    max_concurrent_requests: Option<usize>,
    request_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawUpstream {
    kind: String,
    // stdio
    command: Option<String>,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    inherit_env: Option<Vec<String>>,
    cwd: Option<String>,
    // http
    url: Option<String>,
    headers: Option<BTreeMap<String, RawSecret>>,
    oauth: Option<RawClientCredentials>,
    // openapi
    spec: Option<String>,
    base_url: Option<String>,
    refresh: Option<String>,
    max_response_bytes: Option<usize>,
    embedded: Option<bool>,
    operations: Option<BTreeMap<String, RawOperation>>,
    // all
    timeout: Option<String>,
    prefix: Option<String>,
    deny: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct RawOperation {
    name: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSecret {
    env: Option<String>,
    file: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawExpose {
    upstream: String,
    tools: Vec<String>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    destructive: bool,
    #[serde(default)]
    scopes: Vec<String>,
    rate: Option<String>,
    cost: Option<u32>,
    guardrail: Option<RawToolModes>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub auth: AuthSettings,
    /// Upstreams in name order.
    pub upstreams: Vec<UpstreamSpec>,
    pub exposure: Exposure,
    /// Deny rules and groups, applied on top of exposure.
    pub access: AccessRules,
    pub limits: LimitSettings,
    /// The compiled `[redaction]` rules, applied to every result and error leaving the gateway.
    pub redaction: Arc<Redactor>,
    pub guardrail: GuardrailSettings,
}

/// `[guardrail]`: prompt-injection scanning of arguments and results.
#[derive(Debug, Clone)]
pub struct GuardrailSettings {
    /// Mode for arguments, unless a tool sets its own. Default block.
    pub arguments: Mode,
    /// Mode for results. Default block.
    pub results: Mode,
    /// Where `alert` findings are POSTed as JSON, if anywhere.
    pub webhook: Option<String>,
    /// The compiled rules.
    pub engine: Arc<Guardrail>,
}

/// `[limits]`: rate limits and budgets. Each is `COUNT/UNIT`, or `"off"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSettings {
    /// Calls per caller. Default 60/min.
    pub per_caller: Option<Rate>,
    /// Calls per caller to one tool (a tool's own `rate` replaces it). Default 10/min.
    pub per_caller_tool: Option<Rate>,
    /// Calls to one tool from everyone. Default off.
    pub per_tool: Option<Rate>,
    /// Calls through the gateway. Default off.
    pub global: Option<Rate>,
    /// Cost units per caller (each tool's `cost`, default 1). Default off.
    pub budget: Option<Rate>,
    /// Refused credentials per client address; past it, 429. Default 30/min.
    pub unauthenticated: Option<Rate>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let rate = |count, secs| {
            Some(Rate {
                count,
                per: Duration::from_secs(secs),
            })
        };
        LimitSettings {
            per_caller: rate(60, 60),
            per_caller_tool: rate(10, 60),
            per_tool: None,
            global: None,
            budget: None,
            unauthenticated: rate(30, 60),
        }
    }
}

/// `[auth]`: how callers prove who they are.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Accept API keys made with `portcullis keys create`. Default false.
    pub api_keys: bool,
    /// Let callers without credentials call public (scopeless) tools. Default false: they get
    /// 401.
    pub allow_anonymous: bool,
    /// This gateway's resource identifier (RFC 8707): the URL clients reach `/mcp` at, and
    /// the audience every accepted token must name. Default: `http://<bound address>/mcp`.
    pub resource: Option<String>,
    /// Authorization servers whose bearer JWTs are accepted.
    pub issuers: Vec<IssuerSettings>,
}

impl AuthSettings {
    /// Whether any way for a caller to authenticate is configured.
    pub fn any_configured(&self) -> bool {
        self.api_keys || !self.issuers.is_empty()
    }
}

/// The JWS algorithms an issuer may be allowed: asymmetric only. An HMAC algorithm would need
/// a shared secret, which a JWKS cannot publish, and would let a public key be used as one.
pub const ALLOWED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// `[[auth.issuers]]`: one authorization server.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// Where its signing keys are published.
    pub jwks_url: String,
    /// Algorithms accepted from it. Default RS256, ES256 and EdDSA.
    pub algorithms: Vec<String>,
    /// The claim holding scopes; default `scope` (space-separated), else `scp`.
    pub scope_claim: Option<String>,
    /// Scopes granted by other claims (roles, groups).
    pub scope_map: Vec<ScopeMapping>,
    /// Clock skew tolerated on `exp` and `nbf`. Default 30 s, at most 5 min.
    pub leeway: Duration,
    /// How often the JWKS is fetched again. Default 10 min.
    pub refresh: Duration,
    /// Show callers every exposed tool and answer a call lacking scopes with 403
    /// `insufficient_scope` (the spec's incremental consent). Default true.
    pub step_up: bool,
}

/// A claim value that grants scopes: `roles` containing `billing-admin` grants these.
#[derive(Debug, Clone)]
pub struct ScopeMapping {
    /// The claim, with `.` for nesting (`realm_access.roles`).
    pub claim: String,
    pub value: String,
    pub scopes: Vec<String>,
}

/// `[upstreams.NAME.oauth]`: a token the gateway obtains for itself (client credentials).
#[derive(Clone)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretSource,
    pub scopes: Vec<String>,
    /// RFC 8707 `resource` sent with the request, if any.
    pub resource: Option<String>,
    /// `audience` sent with the request (some servers want it), if any.
    pub audience: Option<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// `[gateway]`: how the gateway serves its clients.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Address to listen on. Default `127.0.0.1:8080`: loopback only.
    pub listen: String,
    /// Between upstream name and tool name in a published name. Default `_`.
    pub separator: String,
    /// Tools per `tools/list` page. Default 100.
    pub page_size: usize,
    /// Largest accepted HTTP request body. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Accepted `Host` header values (DNS-rebinding defence). Default: loopback names only.
    pub allowed_hosts: Vec<String>,
    /// Accepted browser `Origin`s. Default: only the gateway's own origin, so a request from any
    /// other page is refused.
    pub allowed_origins: Vec<String>,
    /// Client addresses served, as CIDR blocks or single addresses. Default: any.
    pub allowed_ips: Vec<IpNet>,
    /// Client addresses refused, even when also allowed. Default: none.
    pub denied_ips: Vec<IpNet>,
    /// HTTP requests served at once; more get 503. Default 256.
    pub max_concurrent_requests: usize,
    /// Longest time to receive a request body. Default 30 s.
    pub request_timeout: Duration,
}

/// One upstream MCP server.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    /// Put before each of its tool names when published. Default `<name><separator>`; may be
    /// empty when tool names are unique across upstreams (collisions are never published).
    pub prefix: String,
    /// Published names (globs, exact case) refused even though exposed.
    pub deny: Vec<ToolPattern>,
    pub transport: UpstreamTransport,
    /// Longest wait for one upstream request. Default 60 s.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum UpstreamTransport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// Program to run; `$PORTCULLIS` means this very binary.
        command: String,
        args: Vec<String>,
        /// Variables set for the child, which otherwise starts with an empty environment.
        env: Vec<(String, String)>,
        /// Names of the gateway's own variables passed through to the child.
        inherit_env: Vec<String>,
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP MCP endpoint.
    Http {
        url: String,
        /// Headers the gateway sends with its own credentials; never the client's.
        headers: Vec<(String, SecretSource)>,
        /// A bearer token the gateway obtains for itself, if configured.
        oauth: Option<ClientCredentials>,
    },
    /// An HTTP API described by an OpenAPI 3.0/3.1 document, its operations bridged to tools.
    OpenApi(OpenApiSpec),
}

/// `kind = "openapi"`: where the document is, where the API is, and how to reach it.
#[derive(Debug, Clone)]
pub struct OpenApiSpec {
    /// The document: an http(s) URL, or a file relative to the config; `None` when embedded.
    pub spec: Option<String>,
    /// Where requests go (`https://api.example.com`); `None` when embedded.
    pub base_url: Option<String>,
    /// The API is an axum router in this process, handed over by the embedding app.
    pub embedded: bool,
    /// Sent with every request, as for HTTP upstreams.
    pub headers: Vec<(String, SecretSource)>,
    pub oauth: Option<ClientCredentials>,
    /// How often the document is fetched again. Default 10 min.
    pub refresh: Duration,
    /// Largest response body read. Default 4 MiB.
    pub max_response_bytes: usize,
    /// Tool names and descriptions replacing the operation's, by operationId.
    pub operations: BTreeMap<String, OperationOverride>,
}

#[derive(Debug, Clone, Default)]
pub struct OperationOverride {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Where a header value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The named environment variable of the gateway process.
    Env(String),
    /// The contents of a file (trailing newline removed), relative to the config file.
    File(PathBuf),
    /// A literal, for values that are not secret.
    Value(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "Env({name})"),
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::Value(_) => f.write_str("Value(..)"),
        }
    }
}

impl Config {
    /// Parses and validates a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut unknown = Vec::new();
        let deserializer = toml::Deserializer::parse(text).map_err(|e| single("(file)", e))?;
        let raw: RawConfig = serde_ignored::deserialize(deserializer, |path| {
            unknown.push(path.to_string());
        })
        .map_err(|e| single("(file)", e))?;
        let mut problems: Vec<ConfigProblem> = unknown
            .into_iter()
            .map(|path| ConfigProblem {
                path,
                message: "unknown key; remove it or check its spelling".into(),
            })
            .collect();
        match Config::from_raw(raw, &mut problems) {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError { problems }),
        }
    }

    fn from_raw(raw: RawConfig, problems: &mut Vec<ConfigProblem>) -> Option<Config> {
        let mut p = Problems(problems);
        let gateway = gateway_settings(raw.gateway, &mut p);
        let auth = auth_settings(raw.auth, &mut p);
        let upstreams: Vec<UpstreamSpec> = raw
            .upstreams
            .into_iter()
            .filter_map(|(name, up)| upstream_spec(name, up, &gateway.separator, &mut p))
            .collect();
        let mut rules = Vec::new();
        for (i, e) in raw.expose.into_iter().enumerate() {
            let path = format!("expose[{i}]");
            if !upstreams.iter().any(|u| u.name == e.upstream) {
                p.add(
                    format!("{path}.upstream"),
                    format!(
                        "no upstream named `{}`; define [upstreams.{}] or fix the name",
                        e.upstream, e.upstream
                    ),
                );
            }
            if e.tools.is_empty() {
                p.add(
                    format!("{path}.tools"),
                    "empty list; name at least one tool (exact name or glob)",
                );
            }
            let patterns = patterns(&e.tools, &format!("{path}.tools"), &mut p);
            for (j, scope) in e.scopes.iter().enumerate() {
                if !is_valid_scope(scope) {
                    p.add(
                        format!("{path}.scopes[{j}]"),
                        format!(
                            "`{}` is not a scope; scopes are non-empty and printable, without spaces or quotes",
                            scope.escape_debug()
                        ),
                    );
                }
            }
            match (e.read_only, e.destructive) {
                (true, true) => p.add(
                    path.clone(),
                    "`read_only` and `destructive` are both true; a tool is one or the other",
                ),
                (false, false) => p.add(
                    path.clone(),
                    "tools are treated as destructive unless declared read-only: set \
                     `read_only = true` if they only read, or `destructive = true` to expose \
                     them as destructive on purpose",
                ),
                _ => {}
            }
            let rate = e.rate.as_deref().and_then(|r| match Rate::parse(r) {
                Ok(rate) => Some(rate),
                Err(msg) => {
                    p.add(format!("{path}.rate"), msg);
                    None
                }
            });
            if e.cost == Some(0) {
                p.add(format!("{path}.cost"), "must be at least 1");
            }
            let guardrail = e.guardrail.map_or_else(ToolModes::default, |m| ToolModes {
                arguments: mode(m.arguments, &format!("{path}.guardrail.arguments"), &mut p),
                results: mode(m.results, &format!("{path}.guardrail.results"), &mut p),
            });
            rules.push(ExposeRule {
                upstream: e.upstream,
                patterns,
                read_only: e.read_only && !e.destructive,
                scopes: e.scopes.into_iter().collect(),
                rate,
                cost: e.cost.unwrap_or(1).max(1),
                guardrail,
            });
        }
        let mut groups = BTreeMap::new();
        for (name, g) in raw.groups {
            let path = format!("groups.{name}");
            if !is_valid_group_name(&name) {
                p.add(
                    path.clone(),
                    "group names are 1 to 32 ASCII letters, digits, `_` or `-` (they name a URL path)",
                );
            }
            if g.tools.is_empty() {
                p.add(
                    format!("{path}.tools"),
                    "empty list; name the published tools (exact names or globs) the group offers",
                );
            }
            let allow = patterns(&g.tools, &format!("{path}.tools"), &mut p);
            let deny = patterns(&g.deny, &format!("{path}.deny"), &mut p);
            groups.insert(name, Group { allow, deny });
        }
        let access = AccessRules::new(
            upstreams
                .iter()
                .map(|u| (u.name.clone(), u.deny.clone()))
                .collect(),
            groups,
        );
        let limits = limit_settings(raw.limits, &mut p);
        let redaction = redaction(raw.redaction, &mut p)?;
        let guardrail = guardrail_settings(raw.guardrail, &mut p)?;
        Some(Config {
            gateway,
            auth,
            upstreams,
            exposure: Exposure::new(rules),
            access,
            limits,
            redaction,
            guardrail,
        })
    }
}

/// Whether `url` is http(s), and https unless its host is a loopback address.
fn url_problem(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Some("not an http(s) URL");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
    if host.is_empty() {
        Some("has no host")
    } else if url.starts_with("http://") && !loopback {
        Some("must be https (plain http is accepted for loopback addresses only)")
    } else {
        None
    }
}

fn auth_settings(raw: RawAuth, p: &mut Problems<'_>) -> AuthSettings {
    if let Some(resource) = &raw.resource
        && let Some(problem) =
            url_problem(resource).or(resource.contains('#').then_some("must not have a fragment"))
    {
        p.add(
            "auth.resource",
            format!("{problem}; write the URL clients reach the MCP endpoint at, like `https://mcp.example.com/mcp`"),
        );
    }
    let mut issuers: Vec<IssuerSettings> = Vec::new();
    for (i, r) in raw.issuers.unwrap_or_default().into_iter().enumerate() {
        let path = format!("auth.issuers[{i}]");
        if let Some(problem) = url_problem(&r.issuer) {
            p.add(
                format!("{path}.issuer"),
                format!("{problem}; use the `iss` value its tokens carry"),
            );
        }
        if issuers.iter().any(|o| o.issuer == r.issuer) {
            p.add(format!("{path}.issuer"), "this issuer is configured twice");
        }
        if let Some(problem) = url_problem(&r.jwks_url) {
            p.add(format!("{path}.jwks_url"), problem);
        }
        let algorithms = r
            .algorithms
            .unwrap_or_else(|| vec!["RS256".into(), "ES256".into(), "EdDSA".into()]);
        if algorithms.is_empty() {
            p.add(format!("{path}.algorithms"), "empty; name at least one");
        }
        for (j, alg) in algorithms.iter().enumerate() {
            if !ALLOWED_ALGORITHMS.contains(&alg.as_str()) {
                let why = if alg.starts_with("HS") {
                    "HMAC algorithms are never accepted: a JWKS cannot publish a shared secret"
                } else if alg.eq_ignore_ascii_case("none") {
                    "unsigned tokens are never accepted"
                } else {
                    "unknown algorithm"
                };
                p.add(
                    format!("{path}.algorithms[{j}]"),
                    format!("`{alg}`: {why}; use {}", ALLOWED_ALGORITHMS.join(", ")),
                );
            }
        }
        let leeway = positive_duration(
            r.leeway.as_deref(),
            &format!("{path}.leeway"),
            Duration::from_secs(30),
            p,
        );
        if leeway > Duration::from_secs(300) {
            p.add(format!("{path}.leeway"), "at most 5m");
        }
        let refresh = positive_duration(
            r.refresh.as_deref(),
            &format!("{path}.refresh"),
            Duration::from_secs(600),
            p,
        );
        let scope_map = r
            .scope_map
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(j, m)| {
                for (k, scope) in m.scopes.iter().enumerate() {
                    if !is_valid_scope(scope) {
                        p.add(
                            format!("{path}.scope_map[{j}].scopes[{k}]"),
                            "not a valid scope",
                        );
                    }
                }
                ScopeMapping {
                    claim: m.claim,
                    value: m.value,
                    scopes: m.scopes,
                }
            })
            .collect();
        issuers.push(IssuerSettings {
            issuer: r.issuer,
            jwks_url: r.jwks_url,
            algorithms,
            scope_claim: r.scope_claim,
            scope_map,
            leeway,
            refresh,
            step_up: r.step_up.unwrap_or(true),
        });
    }
    AuthSettings {
        api_keys: raw.api_keys.unwrap_or(false),
        allow_anonymous: raw.allow_anonymous.unwrap_or(false),
        resource: raw.resource,
        issuers,
    }
}

fn secret(raw: RawSecret, path: &str, p: &mut Problems<'_>) -> Option<SecretSource> {
    match (raw.env, raw.file, raw.value) {
        (Some(v), None, None) => Some(SecretSource::Env(v)),
        (None, Some(f), None) => Some(SecretSource::File(f.into())),
        (None, None, Some(v)) => Some(SecretSource::Value(v)),
        _ => {
            p.add(
                path,
                "give exactly one of `env = \"VAR\"`, `file = \"path\"` or `value = \"…\"`",
            );
            None
        }
    }
}

/// The static headers of an HTTP or OpenAPI upstream (`path` is the upstream's).
fn upstream_headers(
    raw: Option<BTreeMap<String, RawSecret>>,
    oauth: bool,
    path: &str,
    p: &mut Problems<'_>,
) -> Vec<(String, SecretSource)> {
    let mut headers = Vec::new();
    for (h, s) in raw.unwrap_or_default() {
        let hpath = format!("{path}.headers.{h}");
        if h.eq_ignore_ascii_case("host") || h.eq_ignore_ascii_case("content-length") {
            p.add(hpath.clone(), "this header is set by the gateway itself");
        }
        if oauth && h.eq_ignore_ascii_case("authorization") {
            p.add(
                hpath.clone(),
                "`oauth` sets Authorization; remove one of them",
            );
        }
        headers.extend(secret(s, &hpath, p).map(|source| (h, source)));
    }
    headers
}

fn client_credentials(
    raw: RawClientCredentials,
    path: &str,
    p: &mut Problems<'_>,
) -> Option<ClientCredentials> {
    if let Some(problem) = url_problem(&raw.token_url) {
        p.add(format!("{path}.token_url"), problem);
    }
    let client_secret = secret(raw.client_secret, &format!("{path}.client_secret"), p)?;
    Some(ClientCredentials {
        token_url: raw.token_url,
        client_id: raw.client_id,
        client_secret,
        scopes: raw.scopes.unwrap_or_default(),
        resource: raw.resource,
        audience: raw.audience,
    })
}

fn mode(text: Option<String>, path: &str, p: &mut Problems<'_>) -> Option<Mode> {
    match Mode::parse(text.as_deref()?) {
        Ok(mode) => Some(mode),
        Err(msg) => {
            p.add(path, msg);
            None
        }
    }
}

fn guardrail_settings(raw: RawGuardrail, p: &mut Problems<'_>) -> Option<GuardrailSettings> {
    let arguments = mode(raw.arguments, "guardrail.arguments", p).unwrap_or(Mode::Block);
    let results = mode(raw.results, "guardrail.results", p).unwrap_or(Mode::Block);
    if let Some(url) = &raw.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        p.add(
            "guardrail.webhook",
            "give an http:// or https:// URL to POST alerts to",
        );
    }
    match Guardrail::new(&raw.disable_rules.unwrap_or_default()) {
        Ok(engine) => Some(GuardrailSettings {
            arguments,
            results,
            webhook: raw.webhook,
            engine: Arc::new(engine),
        }),
        Err(e) => {
            p.add(
                "guardrail.disable_rules",
                format!("{e}; `portcullis eval guardrail --rules` lists them"),
            );
            None
        }
    }
}

fn redaction(raw: RawRedaction, p: &mut Problems<'_>) -> Option<Arc<Redactor>> {
    let mut patterns = Vec::new();
    for (i, pat) in raw.patterns.unwrap_or_default().into_iter().enumerate() {
        if pat.name.is_empty()
            || !pat
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            p.add(
                format!("redaction.patterns[{i}].name"),
                "use ASCII letters, digits and `_` (it names the mask)",
            );
        }
        if let Err(e) = regex::Regex::new(&pat.regex) {
            p.add(
                format!("redaction.patterns[{i}].regex"),
                format!("not a valid pattern: {e}"),
            );
            continue;
        }
        patterns.push((pat.name, pat.regex));
    }
    let settings = RedactionSettings {
        keys: raw.keys.unwrap_or_default(),
        default_keys: raw.default_keys.unwrap_or(true),
        disabled: raw.disable.unwrap_or_default(),
        patterns,
    };
    match Redactor::new(&settings) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            p.add("redaction", e);
            None
        }
    }
}

fn limit_settings(raw: RawLimits, p: &mut Problems<'_>) -> LimitSettings {
    let defaults = LimitSettings::default();
    let mut one = |key: &str, text: Option<String>, default: Option<Rate>| match text.as_deref() {
        None => default,
        Some("off") => None,
        Some(t) => match Rate::parse(t) {
            Ok(rate) => Some(rate),
            Err(msg) => {
                p.add(format!("limits.{key}"), format!("{msg}, or \"off\""));
                default
            }
        },
    };
    LimitSettings {
        per_caller: one("per_caller", raw.per_caller, defaults.per_caller),
        per_caller_tool: one(
            "per_caller_tool",
            raw.per_caller_tool,
            defaults.per_caller_tool,
        ),
        per_tool: one("per_tool", raw.per_tool, defaults.per_tool),
        global: one("global", raw.global, defaults.global),
        budget: one("budget", raw.budget, defaults.budget),
        unauthenticated: one(
            "unauthenticated",
            raw.unauthenticated,
            defaults.unauthenticated,
        ),
    }
}

/// A duration above zero at `path`, or `default` when absent (or wrong, with the problem noted).
fn positive_duration(
    text: Option<&str>,
    path: &str,
    default: Duration,
    p: &mut Problems<'_>,
) -> Duration {
    match text.map(parse_duration) {
        None => default,
        Some(Ok(d)) if !d.is_zero() => d,
        Some(Ok(_)) => {
            p.add(path, "must be longer than zero");
            default
        }
        Some(Err(msg)) => {
            p.add(path, msg);
            default
        }
    }
}

fn patterns(texts: &[String], path: &str, p: &mut Problems<'_>) -> Vec<ToolPattern> {
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        match ToolPattern::parse(t) {
            Ok(pat) => out.push(pat),
            Err(msg) => p.add(format!("{path}[{i}]"), msg),
        }
    }
    out
}

/// RFC 6749 `scope-token`: printable ASCII without space, `"` or `\`.
fn is_valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn is_valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn single(path: &str, e: impl fmt::Display) -> ConfigError {
    ConfigError {
        problems: vec![ConfigProblem {
            path: path.into(),
            message: e.to_string().trim_end().to_string(),
        }],
    }
}

struct Problems<'a>(&'a mut Vec<ConfigProblem>);

impl Problems<'_> {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn gateway_settings(raw: RawGateway, p: &mut Problems<'_>) -> GatewaySettings {
    let listen = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        p.add(
            "gateway.listen",
            format!("`{listen}` is not an address; write it like `127.0.0.1:8080`"),
        );
    }
    let separator = raw.separator.unwrap_or_else(|| "_".into());
    if separator.is_empty()
        || separator.len() > 3
        || !separator.chars().all(|c| matches!(c, '_' | '-' | '.'))
    {
        p.add(
            "gateway.separator",
            format!("`{separator}` is not allowed; use 1 to 3 of `_`, `-` or `.`"),
        );
    }
    let page_size = raw.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 {
        p.add("gateway.page_size", "must be at least 1");
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        p.add(
            "gateway.max_body_bytes",
            "must be at least 1024; MCP requests do not fit in less",
        );
    }
    let allowed_hosts = raw
        .allowed_hosts
        .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
    let allowed_origins = raw.allowed_origins.unwrap_or_default();
    for (i, o) in allowed_origins.iter().enumerate() {
        if o != "null" && !(o.starts_with("http://") || o.starts_with("https://")) {
            p.add(
                format!("gateway.allowed_origins[{i}]"),
                format!("`{o}` has no scheme; write it like `https://app.example.com`"),
            );
        }
    }
    let mut nets = |key: &str, list: Option<Vec<String>>| -> Vec<IpNet> {
        let mut out = Vec::new();
        for (i, text) in list.unwrap_or_default().iter().enumerate() {
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(net) => out.push(net),
                Err(_) => p.add(
                    format!("gateway.{key}[{i}]"),
                    format!("`{text}` is not an address or CIDR block; write it like `10.0.0.0/8` or `::1`"),
                ),
            }
        }
        out
    };
    let allowed_ips = nets("allowed_ips", raw.allowed_ips);
    let denied_ips = nets("denied_ips", raw.denied_ips);
    let max_concurrent_requests = raw.max_concurrent_requests.unwrap_or(256);
    if max_concurrent_requests == 0 {
        p.add("gateway.max_concurrent_requests", "must be at least 1");
    }
    let request_timeout = positive_duration(
        raw.request_timeout.as_deref(),
        "gateway.request_timeout",
        Duration::from_secs(30),
        p,
    );
    GatewaySettings {
        listen,
        separator,
        page_size,
        max_body_bytes,
        allowed_hosts,
        allowed_origins,
        allowed_ips,
        denied_ips,
        max_concurrent_requests,
        request_timeout,
    }
}

fn is_valid_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn upstream_spec(
    name: String,
    raw: RawUpstream,
    separator: &str,
    p: &mut Problems<'_>,
) -> Option<UpstreamSpec> {
    let path = format!("upstreams.{name}");
    if !is_valid_upstream_name(&name) {
        p.add(
            path.clone(),
            "upstream names are 1 to 32 ASCII letters, digits or `-` (they prefix tool names)",
        );
    }
    let prefix = raw.prefix.unwrap_or_else(|| format!("{name}{separator}"));
    if prefix.len() > 64
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        p.add(
            format!("{path}.prefix"),
            "use at most 64 ASCII letters, digits, `_`, `-` or `.` (it starts tool names)",
        );
    }
    let deny = patterns(&raw.deny.unwrap_or_default(), &format!("{path}.deny"), p);
    let timeout = positive_duration(
        raw.timeout.as_deref(),
        &format!("{path}.timeout"),
        DEFAULT_UPSTREAM_TIMEOUT,
        p,
    );
    let not_for = |p: &mut Problems<'_>, key: &str, present: bool, kind: &str| {
        if present {
            p.add(
                format!("{path}.{key}"),
                format!("not used by kind = \"{kind}\"; remove it"),
            );
        }
    };
    if raw.kind != "openapi" {
        for (key, present) in [
            ("spec", raw.spec.is_some()),
            ("base_url", raw.base_url.is_some()),
            ("refresh", raw.refresh.is_some()),
            ("max_response_bytes", raw.max_response_bytes.is_some()),
            ("embedded", raw.embedded.is_some()),
            ("operations", raw.operations.is_some()),
        ] {
            not_for(p, key, present, &raw.kind);
        }
    }
    let transport = match raw.kind.as_str() {
        "stdio" => {
            not_for(p, "url", raw.url.is_some(), "stdio");
            not_for(p, "headers", raw.headers.is_some(), "stdio");
            not_for(p, "oauth", raw.oauth.is_some(), "stdio");
            let command = raw.command.unwrap_or_default();
            if command.trim().is_empty() {
                p.add(
                    format!("{path}.command"),
                    "missing; name the program that runs the MCP server",
                );
            }
            let inherit_env = raw.inherit_env.unwrap_or_default();
            for (i, v) in inherit_env.iter().enumerate() {
                if v.is_empty() || v.contains('=') {
                    p.add(format!("{path}.inherit_env[{i}]"), "not a variable name");
                }
            }
            UpstreamTransport::Stdio {
                command,
                args: raw.args.unwrap_or_default(),
                env: raw.env.unwrap_or_default().into_iter().collect(),
                inherit_env,
                cwd: raw.cwd.map(PathBuf::from),
            }
        }
        "http" => {
            for (key, present) in [
                ("command", raw.command.is_some()),
                ("args", raw.args.is_some()),
                ("env", raw.env.is_some()),
                ("inherit_env", raw.inherit_env.is_some()),
                ("cwd", raw.cwd.is_some()),
            ] {
                not_for(p, key, present, "http");
            }
            let url = raw.url.unwrap_or_default();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                p.add(
                    format!("{path}.url"),
                    "missing or not an http(s) URL; write it like `https://mcp.example.com/mcp`",
                );
            }
            let headers = upstream_headers(raw.headers, raw.oauth.is_some(), &path, p);
            let oauth = raw
                .oauth
                .and_then(|o| client_credentials(o, &format!("{path}.oauth"), p));
            UpstreamTransport::Http {
                url,
                headers,
                oauth,
            }
        }
        "openapi" => {
            for (key, present) in [
                ("command", raw.command.is_some()),
                ("args", raw.args.is_some()),
                ("env", raw.env.is_some()),
                ("inherit_env", raw.inherit_env.is_some()),
                ("cwd", raw.cwd.is_some()),
                ("url", raw.url.is_some()),
            ] {
                not_for(p, key, present, "openapi");
            }
            let embedded = raw.embedded.unwrap_or(false);
            if !embedded {
                if raw.spec.as_deref().is_none_or(str::is_empty) {
                    p.add(
                        format!("{path}.spec"),
                        "missing; give the OpenAPI document's URL (`http://127.0.0.1:8000/openapi.json`) or file",
                    );
                }
                match raw.base_url.as_deref() {
                    Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                    _ => p.add(
                        format!("{path}.base_url"),
                        "missing or not an http(s) URL; write where the API is served, like `http://127.0.0.1:8000`",
                    ),
                }
            }
            let headers = upstream_headers(raw.headers, raw.oauth.is_some(), &path, p);
            let oauth = raw
                .oauth
                .and_then(|o| client_credentials(o, &format!("{path}.oauth"), p));
            let refresh = positive_duration(
                raw.refresh.as_deref(),
                &format!("{path}.refresh"),
                Duration::from_secs(600),
                p,
            );
            let operations = raw
                .operations
                .unwrap_or_default()
                .into_iter()
                .map(|(id, o)| {
                    if let Some(name) = &o.name
                        && (name.is_empty()
                            || !name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                    {
                        p.add(
                            format!("{path}.operations.{id}.name"),
                            "use ASCII letters, digits, `_`, `-` or `.`",
                        );
                    }
                    (
                        id,
                        OperationOverride {
                            name: o.name,
                            description: o.description,
                        },
                    )
                })
                .collect();
            UpstreamTransport::OpenApi(OpenApiSpec {
                spec: raw.spec.filter(|_| !embedded),
                base_url: raw.base_url.filter(|_| !embedded),
                embedded,
                headers,
                oauth,
                refresh,
                max_response_bytes: raw.max_response_bytes.unwrap_or(4 << 20),
                operations,
            })
        }
        other => {
            p.add(
                format!("{path}.kind"),
                format!("unknown kind `{other}`; use \"stdio\", \"http\" or \"openapi\""),
            );
            return None;
        }
    };
    Some(UpstreamSpec {
        name,
        prefix,
        deny,
        transport,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml(text) {
            Ok(_) => vec![],
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn empty_config_is_valid_and_exposes_nothing() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.gateway.listen, "127.0.0.1:8080");
        assert!(c.gateway.allowed_origins.is_empty());
        assert!(c.exposure.decide("any", "tool").is_none());
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let p = problems(
            r#"
            [gateway]
            listen = "everywhere"
            colour = "blue"

            [upstreams.demo]
            kind = "stdio"
            comand = "x"

            [upstreams.web]
            kind = "http"
            url = "ftp://x"
            command = "y"
            headers.Authorization = { env = "A", file = "b" }

            [[expose]]
            upstream = "nope"
            tools = ["echo", "[bad"]
            "#,
        );
        let joined = p.join("\n");
        for needle in [
            "gateway.colour: unknown key",
            "upstreams.demo.comand: unknown key",
            "gateway.listen: `everywhere` is not an address",
            "upstreams.demo.command: missing",
            "upstreams.web.url: missing or not an http(s) URL",
            "upstreams.web.command: not used by kind = \"http\"",
            "upstreams.web.headers.Authorization: give exactly one of",
            "expose[0].upstream: no upstream named `nope`",
            "expose[0].tools[1]:",
            "expose[0]: tools are treated as destructive unless declared read-only",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in\n{joined}");
        }
        assert_eq!(p.len(), 10, "{joined}");
    }

    #[test]
    fn prefixes_default_to_name_and_separator() {
        let c = Config::from_toml(
            r#"
            gateway.separator = "__"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [upstreams.b]
            kind = "stdio"
            command = "x"
            prefix = ""
            "#,
        )
        .unwrap();
        let prefixes: Vec<&str> = c.upstreams.iter().map(|u| u.prefix.as_str()).collect();
        assert_eq!(prefixes, ["a__", ""]);
        let p = problems("[upstreams.a]\nkind = \"stdio\"\ncommand = \"x\"\nprefix = \"a b\"");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("upstreams.a.prefix:"), "{p:?}");
    }

    #[test]
    fn limits_default_to_limiting_every_caller_and_reject_bad_rates() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.limits, LimitSettings::default());
        assert_eq!(c.limits.per_caller.unwrap().count, 60);
        let c = Config::from_toml("[limits]\nper_caller = \"off\"\nglobal = \"5/s\"").unwrap();
        assert!(c.limits.per_caller.is_none());
        assert_eq!(c.limits.global.unwrap().count, 5);
        let p = problems(
            r#"
            [limits]
            per_caller = "0/min"
            budget = "lots"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [[expose]]
            upstream = "a"
            tools = ["t"]
            read_only = true
            rate = "-1/min"
            cost = 0
            "#,
        );
        let joined = p.join("\n");
        for needle in [
            "limits.per_caller:",
            "limits.budget:",
            "expose[0].rate:",
            "expose[0].cost:",
        ] {
            assert!(joined.contains(needle), "{needle} missing in {joined}");
        }
    }

    #[test]
    fn redaction_settings_are_checked() {
        let p = problems(
            r#"
            [redaction]
            disable = ["phone", "telepathy"]
            [[redaction.patterns]]
            name = "bad name"
            regex = "("
            "#,
        );
        let joined = p.join("\n");
        assert!(joined.contains("redaction.patterns[0].name:"), "{joined}");
        assert!(
            joined.contains("redaction.patterns[0].regex: not a valid pattern"),
            "{joined}"
        );
        assert!(
            joined.contains("redaction: unknown detector `telepathy`"),
            "{joined}"
        );
    }

    #[test]
    fn guardrail_defaults_to_block_and_bad_settings_are_named() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.guardrail.arguments, Mode::Block);
        assert_eq!(config.guardrail.results, Mode::Block);
        let joined = problems(
            r#"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [[expose]]
            upstream = "a"
            tools = ["t"]
            read_only = true
            guardrail = { results = "loud" }
            [guardrail]
            arguments = "shout"
            webhook = "ftp://alerts"
            disable_rules = ["no.such.rule"]
            "#,
        )
        .join("\n");
        for expected in [
            "expose[0].guardrail.results: `loud` is not a mode",
            "guardrail.arguments: `shout` is not a mode",
            "guardrail.webhook:",
            "guardrail.disable_rules: unknown guardrail rule `no.such.rule`",
        ] {
            assert!(joined.contains(expected), "{expected} not in {joined}");
        }
    }

    #[test]
    fn destructive_and_read_only_are_exclusive() {
        let p = problems(
            r#"
            [upstreams.a]
            kind = "stdio"
            command = "x"
            [[expose]]
            upstream = "a"
            tools = ["t"]
            read_only = true
            destructive = true
            "#,
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("both true"));
    }

    #[test]
    fn syntax_errors_are_reported() {
        let p = problems("[gateway\nlisten=");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("(file):"), "{p:?}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = Config::from_toml(
            r#"
            [upstreams.a]
            kind = "http"
            url = "http://127.0.0.1:1/mcp"
            headers.Authorization = { value = "Bearer hunter2" }
            "#,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn bad_upstream_names_and_timeouts_are_rejected() {
        let p = problems(
            r#"
            [upstreams."a_b"]
            kind = "stdio"
            command = "x"
            timeout = "soon"
            [upstreams.c]
            kind = "ws"
            "#,
        );
        let joined = p.join("\n");
        assert!(joined.contains("upstreams.a_b: upstream names"), "{joined}");
        assert!(joined.contains("upstreams.a_b.timeout:"), "{joined}");
        assert!(
            joined.contains("upstreams.c.kind: unknown kind `ws`"),
            "{joined}"
        );
    }
}
