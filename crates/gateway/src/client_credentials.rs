//! The gateway's own OAuth token for an upstream: obtained with the client-credentials grant,
//! cached until shortly before it expires, and fetched again when the upstream refuses it.
//! The client's token is never used for an upstream; this one is the gateway's.

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_core::config::ClientCredentials;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::secrets::resolve_secret;

/// Largest token endpoint answer read.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// A token is renewed this long before it expires.
const RENEW_EARLY: Duration = Duration::from_secs(30);

/// Used when the token response gives no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A bearer token for one upstream, kept fresh.
pub struct TokenSource {
    settings: ClientCredentials,
    secret: String,
    client: reqwest::Client,
    cached: Mutex<Option<(http::HeaderValue, Instant)>>,
}

impl TokenSource {
    /// Reads the client secret now, so that a missing one stops the upstream from starting.
    pub fn new(settings: &ClientCredentials, base_dir: &Path) -> Result<TokenSource, String> {
        let secret = resolve_secret(&settings.client_secret, base_dir)
            .map_err(|e| format!("oauth.client_secret: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the token client: {e}"))?;
        Ok(TokenSource {
            settings: settings.clone(),
            secret,
            client,
            cached: Mutex::new(None),
        })
    }

    /// The `Authorization` value to send: the cached token, or a new one.
    pub async fn authorization(&self) -> Result<http::HeaderValue, String> {
        let mut cached = self.cached.lock().await;
        if let Some((value, expires)) = &*cached
            && Instant::now() + RENEW_EARLY < *expires
        {
            return Ok(value.clone());
        }
        let (value, lifetime) = self.fetch().await?;
        *cached = Some((value.clone(), Instant::now() + lifetime));
        Ok(value)
    }

    /// Forgets the cached token (the upstream refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(http::HeaderValue, Duration), String> {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !self.settings.scopes.is_empty() {
            form.push(("scope", self.settings.scopes.join(" ")));
        }
        if let Some(resource) = &self.settings.resource {
            form.push(("resource", resource.clone()));
        }
        if let Some(audience) = &self.settings.audience {
            form.push(("audience", audience.clone()));
        }
        let response = self
            .client
            .post(&self.settings.token_url)
            .basic_auth(&self.settings.client_id, Some(&self.secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("the token request failed: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the token endpoint answered HTTP {status}"));
        }
        let body = crate::bounded::read_body(response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|e| format!("the token endpoint's answer: {e}"))?;
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("the token endpoint's answer is not a token: {e}"))?;
        if token
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err("the token endpoint issued a token that is not a bearer token".into());
        }
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.access_token))
            .map_err(|_| "the token endpoint issued an unusable token".to_string())?;
        value.set_sensitive(true);
        let lifetime = token
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        tracing::info!(token_url = %self.settings.token_url, lifetime_s = lifetime.as_secs(), "obtained an upstream token");
        Ok((value, lifetime))
    }
}
