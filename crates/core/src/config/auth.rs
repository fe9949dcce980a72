//! `[auth]`: API keys, anonymous callers, and the OAuth issuers whose bearer tokens are accepted
//! (their keys, audiences, algorithms and scope mappings), and the gateway's own OAuth client
//! credentials for upstreams.

use super::*;

/// How long an issuer's keys are trusted after the last time its JWKS was fetched.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAuth {
    pub(super) api_keys: Option<bool>,
    pub(super) allow_anonymous: Option<bool>,
    pub(super) resource: Option<String>,
    pub(super) issuers: Option<Vec<RawIssuer>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawIssuer {
    pub(super) issuer: String,
    pub(super) jwks_url: String,
    pub(super) algorithms: Option<Vec<String>>,
    pub(super) scope_claim: Option<String>,
    pub(super) leeway: Option<String>,
    pub(super) refresh: Option<String>,
    pub(super) max_key_age: Option<String>,
    pub(super) step_up: Option<bool>,
    pub(super) scope_map: Option<Vec<RawScopeMap>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawScopeMap {
    pub(super) claim: String,
    pub(super) value: String,
    pub(super) scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawClientCredentials {
    pub(super) token_url: String,
    pub(super) client_id: String,
    pub(super) client_secret: RawSecret,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) resource: Option<String>,
    pub(super) audience: Option<String>,
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
    /// How long keys stay usable after the last successful fetch; past it (the issuer has not
    /// answered since), its tokens get 401 until it answers again. Default 1 h, at least
    /// `refresh`.
    pub max_key_age: Duration,
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

pub(super) fn auth_settings(raw: RawAuth, p: &mut Problems<'_>) -> AuthSettings {
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
        let max_key_age = positive_duration(
            r.max_key_age.as_deref(),
            &format!("{path}.max_key_age"),
            DEFAULT_MAX_KEY_AGE.max(refresh),
            p,
        );
        if max_key_age < refresh {
            p.add(
                format!("{path}.max_key_age"),
                "must be at least `refresh`, or keys would expire between two fetches",
            );
        }
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
            max_key_age,
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

pub(super) fn client_credentials(
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
