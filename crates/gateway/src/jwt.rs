//! OAuth 2.1 resource-server duties: bearer JWTs from configured authorization servers,
//! checked against each issuer's published keys, bound to this gateway's resource identifier.
//!
//! A token is accepted only when every check passes: its issuer is configured (exact `iss`),
//! its algorithm is on that issuer's allow-list (asymmetric only: never `none`, never HMAC),
//! its key is in the issuer's JWKS (fetched over HTTP, cached, refreshed on a schedule and when
//! an unknown `kid` arrives — at most once per [`MIN_REFETCH`]), its signature verifies, `exp`
//! and `nbf` hold within the issuer's leeway, and `aud` names this gateway's resource
//! identifier (RFC 8707), so a token minted for any other resource — another Portcullis
//! included — is refused. The client learns only "invalid token", "token expired" or "wrong
//! audience"; the log and the audit record learn which check failed; the token appears nowhere.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use portcullis_core::config::{IssuerSettings, ScopeMapping};
use portcullis_core::{Principal, PrincipalKind};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

/// Fastest the JWKS of one issuer is fetched again on an unknown `kid`.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Which check a token failed. Only [`TokenFailure::client_description`] reaches the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFailure {
    #[error("not a well-formed JWT")]
    Malformed,
    #[error("issuer not configured")]
    UnknownIssuer,
    #[error("algorithm {0} not allowed for this issuer")]
    Algorithm(String),
    #[error("no key in the issuer's JWKS matches the token")]
    UnknownKey,
    #[error("the issuer's JWKS is unavailable: {0}")]
    KeysUnavailable(String),
    #[error("signature does not verify")]
    Signature,
    #[error("expired")]
    Expired,
    #[error("not valid yet (nbf)")]
    NotYetValid,
    #[error("audience is not this gateway's resource")]
    WrongAudience,
    #[error("no audience")]
    NoAudience,
    #[error("issuer does not match")]
    WrongIssuer,
    #[error("claim `{0}` missing or invalid")]
    Claim(String),
}

impl TokenFailure {
    /// What the client is told (`error_description`).
    pub fn client_description(&self) -> &'static str {
        match self {
            TokenFailure::WrongAudience | TokenFailure::NoAudience => "wrong audience",
            TokenFailure::Expired => "token expired",
            _ => "invalid token",
        }
    }
}

/// Whether `token` is shaped like a JWT (three base64url parts), as opposed to an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The cached keys of one issuer.
struct Keys {
    set: Vec<Jwk>,
    /// When the set was last fetched; past `max_key_age` it is not used.
    fetched: Option<Instant>,
    /// When an unknown key last made the JWKS be fetched (for the refetch bound).
    refetched: Option<Instant>,
}

struct Issuer {
    settings: IssuerSettings,
    algorithms: Vec<Algorithm>,
    keys: RwLock<Keys>,
    /// Held while fetching, so that concurrent requests fetch once.
    fetching: Mutex<()>,
}

/// Validates bearer JWTs for one resource.
pub struct TokenVerifier {
    resource: String,
    issuers: Vec<Arc<Issuer>>,
    client: reqwest::Client,
}

impl TokenVerifier {
    /// `resource` is this gateway's resource identifier; tokens must name it in `aud`.
    pub fn new(resource: String, issuers: &[IssuerSettings]) -> Result<TokenVerifier, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        let issuers = issuers
            .iter()
            .map(|settings| {
                let algorithms = settings
                    .algorithms
                    .iter()
                    .map(|a| a.parse::<Algorithm>().map_err(|e| format!("{a}: {e}")))
                    .collect::<Result<_, _>>()?;
                Ok(Arc::new(Issuer {
                    settings: settings.clone(),
                    algorithms,
                    keys: RwLock::new(Keys {
                        set: Vec::new(),
                        fetched: None,
                        refetched: None,
                    }),
                    fetching: Mutex::new(()),
                }))
            })
            .collect::<Result<_, String>>()?;
        Ok(TokenVerifier {
            resource,
            issuers,
            client,
        })
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path of the protected resource metadata (RFC 9728 §3.1): the well-known prefix,
    /// then the resource's own path (`/.well-known/oauth-protected-resource/mcp`).
    pub fn metadata_path(&self) -> String {
        let path = reqwest::Url::parse(&self.resource)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        format!("/.well-known/oauth-protected-resource{path}")
    }

    /// The metadata's absolute URL, for `WWW-Authenticate: Bearer resource_metadata="…"`.
    pub fn metadata_url(&self) -> String {
        let origin = reqwest::Url::parse(&self.resource)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        format!("{origin}{}", self.metadata_path())
    }

    /// The issuers, as the protected resource metadata lists them.
    pub fn issuer_names(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|i| i.settings.issuer.as_str())
    }

    /// Fetches every issuer's keys once: each issuer with how it went (for `doctor`).
    pub async fn fetch_now(&self) -> Vec<(String, Result<(), String>)> {
        let mut fetched = Vec::new();
        for issuer in &self.issuers {
            let result = issuer.fetch(&self.client).await;
            fetched.push((issuer.settings.issuer.clone(), result));
        }
        fetched
    }

    /// Fetches every issuer's keys now and then every `refresh`, until `shutdown`.
    pub fn keep_fresh(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        for issuer in &self.issuers {
            let issuer = issuer.clone();
            let client = self.client.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = issuer.fetch(&client).await {
                        tracing::warn!(issuer = %issuer.settings.issuer, error = %e, "cannot fetch the JWKS");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(issuer.settings.refresh) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            });
        }
    }

    /// Checks `token`; on success, the principal it proves.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenFailure::Malformed)?;
        // The issuer decides which keys to trust; its claim is read unverified only to pick
        // them, and verified with the signature below.
        let claims: HashMap<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| TokenFailure::Malformed)?;
        let iss = claims.get("iss").and_then(Value::as_str);
        let issuer = self
            .issuers
            .iter()
            .find(|i| Some(i.settings.issuer.as_str()) == iss)
            .ok_or(TokenFailure::UnknownIssuer)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(TokenFailure::Algorithm(format!("{:?}", header.alg)));
        }
        let jwk = issuer
            .key(&self.client, header.kid.as_deref(), header.alg)
            .await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| TokenFailure::UnknownKey)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = issuer.settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer.settings.issuer]);
        validation.set_audience(&[&self.resource]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenFailure::Signature,
                ErrorKind::ExpiredSignature => TokenFailure::Expired,
                ErrorKind::ImmatureSignature => TokenFailure::NotYetValid,
                ErrorKind::InvalidAudience => TokenFailure::WrongAudience,
                ErrorKind::InvalidIssuer => TokenFailure::WrongIssuer,
                ErrorKind::MissingRequiredClaim(c) if c == "aud" => TokenFailure::NoAudience,
                ErrorKind::MissingRequiredClaim(c) => TokenFailure::Claim(c.clone()),
                ErrorKind::InvalidAlgorithm => TokenFailure::Algorithm(format!("{:?}", header.alg)),
                _ => TokenFailure::Malformed,
            })?;
        let claims = data.claims;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenFailure::Claim("sub".into()))?;
        Ok(Principal {
            id: format!("{}#{sub}", issuer.settings.issuer),
            kind: PrincipalKind::OAuth {
                step_up: issuer.settings.step_up,
            },
            scopes: scopes(&claims, &issuer.settings),
            claims: Value::Object(claims.into_iter().collect()),
        })
    }
}

impl Issuer {
    /// The key for `kid` (or, without one, the only key fit for `alg`). An unknown key makes
    /// the JWKS be fetched again (the issuer may have rotated), at most once per
    /// [`MIN_REFETCH`]: a flood of made-up `kid`s costs the issuer one request.
    async fn key(
        &self,
        client: &reqwest::Client,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Jwk, TokenFailure> {
        if let Some(jwk) = self.fresh(&*self.keys.read().await, kid, alg) {
            return Ok(jwk);
        }
        let _one_at_a_time = self.fetching.lock().await;
        {
            // Another request may have fetched while this one waited.
            let keys = self.keys.read().await;
            if let Some(jwk) = self.fresh(&keys, kid, alg) {
                return Ok(jwk);
            }
            if keys.refetched.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
                return Err(if self.stale(&keys) {
                    TokenFailure::KeysUnavailable("the issuer's keys are out of date".into())
                } else {
                    TokenFailure::UnknownKey
                });
            }
        }
        self.keys.write().await.refetched = Some(Instant::now());
        self.store(download(client, &self.settings.jwks_url).await)
            .await
            .map_err(TokenFailure::KeysUnavailable)?;
        pick(&self.keys.read().await.set, kid, alg).ok_or(TokenFailure::UnknownKey)
    }

    /// Whether the cached keys were fetched too long ago to be trusted.
    fn stale(&self, keys: &Keys) -> bool {
        keys.fetched
            .is_none_or(|t| t.elapsed() > self.settings.max_key_age)
    }

    /// The key for `kid` and `alg` from the cache, unless the cache is stale.
    fn fresh(&self, keys: &Keys, kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
        if self.stale(keys) {
            return None;
        }
        pick(&keys.set, kid, alg)
    }

    /// The scheduled fetch.
    async fn fetch(&self, client: &reqwest::Client) -> Result<(), String> {
        let _one_at_a_time = self.fetching.lock().await;
        self.store(download(client, &self.settings.jwks_url).await)
            .await
    }

    async fn store(&self, downloaded: Result<Vec<Jwk>, String>) -> Result<(), String> {
        let set = downloaded?;
        tracing::info!(issuer = %self.settings.issuer, keys = set.len(), "fetched the JWKS");
        let mut keys = self.keys.write().await;
        keys.set = set;
        keys.fetched = Some(Instant::now());
        Ok(())
    }
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<Jwk>, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    // Refused while it is read: a huge document costs at most the cap.
    let bytes = crate::bounded::read_body(response, MAX_JWKS_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    let document: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let Some(Value::Array(entries)) = document.get("keys") else {
        return Err("no `keys` array".into());
    };
    // Keys of kinds this gateway does not use are skipped, not fatal.
    let set: Vec<Jwk> = entries
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .collect();
    Ok(set)
}

/// The key a token names, if the set holds it and it may sign with `alg`.
fn pick(set: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    let fits = |k: &&Jwk| {
        k.common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == jsonwebtoken::jwk::PublicKeyUse::Signature)
            && k.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == format!("{alg:?}"))
    };
    match kid {
        Some(kid) => set
            .iter()
            .filter(fits)
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .cloned(),
        None => {
            let mut candidates = set.iter().filter(fits);
            let only = candidates.next()?;
            candidates.next().is_none().then(|| only.clone())
        }
    }
}

/// The scopes a token grants: its scope claim, plus whatever the issuer's mappings add.
fn scopes(claims: &HashMap<String, Value>, settings: &IssuerSettings) -> BTreeSet<String> {
    let words = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut out = BTreeSet::new();
    let claim_names: Vec<&str> = match &settings.scope_claim {
        Some(name) => vec![name.as_str()],
        None => vec!["scope", "scp"],
    };
    if let Some(v) = claim_names.iter().find_map(|n| claim(claims, n)) {
        out.extend(words(v));
    }
    for ScopeMapping {
        claim: name,
        value,
        scopes,
    } in &settings.scope_map
    {
        if claim(claims, name).is_some_and(|v| words(v).iter().any(|w| w == value)) {
            out.extend(scopes.iter().cloned());
        }
    }
    out
}

/// A claim by dotted path (`realm_access.roles`).
fn claim<'a>(claims: &'a HashMap<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}
