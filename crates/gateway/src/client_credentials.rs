//! The gateway's OAuth token for an upstream: its own, obtained with the client-credentials
//! grant, or a user's, obtained by `portcullis login` and refreshed here with its refresh
//! token (the rotated one is stored again). Either is cached until shortly before it expires,
//! and renewed when the upstream refuses it. The client's token is never used for an
//! upstream, and a login's token goes to its own upstream only.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portcullis_core::config::ClientCredentials;
use portcullis_core::ports::{LoginStore, UpstreamLogin};
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
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// The token endpoint's answer, if it is a bearer token.
    pub fn parse(body: &[u8]) -> Result<TokenResponse, String> {
        let token: TokenResponse = serde_json::from_slice(body)
            .map_err(|e| format!("the token endpoint's answer is not a token: {e}"))?;
        if token
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err("the token endpoint issued a token that is not a bearer token".into());
        }
        Ok(token)
    }
}

/// A bearer token for one upstream, kept fresh.
pub struct TokenSource {
    grant: Grant,
    client: reqwest::Client,
    cached: Mutex<Option<(http::HeaderValue, Instant)>>,
    /// The upstream refused the token: the next request renews it whatever its expiry says.
    refused: AtomicBool,
}

enum Grant {
    ClientCredentials {
        settings: ClientCredentials,
        secret: String,
    },
    Login {
        upstream: String,
        store: Arc<dyn LoginStore>,
    },
}

fn token_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the token client: {e}"))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenSource {
    /// Reads the client secret now, so that a missing one stops the upstream from starting.
    pub fn new(settings: &ClientCredentials, base_dir: &Path) -> Result<TokenSource, String> {
        let secret = resolve_secret(&settings.client_secret, base_dir)
            .map_err(|e| format!("oauth.client_secret: {e}"))?;
        Ok(TokenSource {
            grant: Grant::ClientCredentials {
                settings: settings.clone(),
                secret,
            },
            client: token_client()?,
            cached: Mutex::new(None),
            refused: AtomicBool::new(false),
        })
    }

    /// The tokens `portcullis login` obtained for `upstream`, from `store`.
    pub fn login(upstream: &str, store: Arc<dyn LoginStore>) -> Result<TokenSource, String> {
        Ok(TokenSource {
            grant: Grant::Login {
                upstream: upstream.to_string(),
                store,
            },
            client: token_client()?,
            cached: Mutex::new(None),
            refused: AtomicBool::new(false),
        })
    }

    /// The `Authorization` value to send: the cached token, or a new one.
    pub async fn authorization(&self) -> Result<http::HeaderValue, String> {
        let mut cached = self.cached.lock().await;
        let refused = self.refused.swap(false, Ordering::AcqRel);
        if let Some((value, expires)) = &*cached
            && !refused
            && Instant::now() + RENEW_EARLY < *expires
        {
            return Ok(value.clone());
        }
        let (value, lifetime) = match &self.grant {
            Grant::ClientCredentials { settings, secret } => self.fetch(settings, secret).await?,
            Grant::Login { upstream, store } => {
                self.login_token(upstream, store.as_ref(), refused).await?
            }
        };
        *cached = Some((value.clone(), Instant::now() + lifetime));
        Ok(value)
    }

    /// Forgets the cached token (the upstream refused it).
    pub async fn invalidate(&self) {
        self.refused.store(true, Ordering::Release);
        *self.cached.lock().await = None;
    }

    /// The stored login's access token, refreshed first when it expires soon (or was refused).
    async fn login_token(
        &self,
        upstream: &str,
        store: &dyn LoginStore,
        refused: bool,
    ) -> Result<(http::HeaderValue, Duration), String> {
        let again = format!("run `portcullis login {upstream}`");
        let load = || {
            store
                .get(upstream)
                .map_err(|e| format!("cannot read the login of `{upstream}`: {}", e.0))?
                .ok_or_else(|| format!("upstream `{upstream}` needs a login: {again}"))
        };
        let mut login = load()?;
        if let Some(why) = &login.broken {
            return Err(format!(
                "the login of `{upstream}` no longer works ({why}): {again}"
            ));
        }
        let now = now_secs();
        let expiring = login
            .expires_at
            .is_some_and(|at| at <= now + RENEW_EARLY.as_secs());
        if expiring || refused {
            login = match self.refresh(upstream, &login).await {
                Ok(fresh) => fresh,
                Err(Refresh::Refused(why)) => {
                    // Another process may have refreshed it first (refresh tokens rotate).
                    let stored = load()?;
                    if stored.refresh_token != login.refresh_token && stored.broken.is_none() {
                        stored
                    } else {
                        let mut broken = stored;
                        broken.broken = Some(why.clone());
                        let _ = store.put(upstream, &broken);
                        tracing::error!(
                            upstream,
                            "the upstream login can no longer be refreshed ({why}); {again}"
                        );
                        return Err(format!(
                            "the login of `{upstream}` no longer works ({why}): {again}"
                        ));
                    }
                }
                Err(Refresh::Failed(why)) => return Err(why),
            };
            store.put(upstream, &login).map_err(|e| {
                format!("cannot store the refreshed login of `{upstream}`: {}", e.0)
            })?;
            tracing::info!(upstream, "refreshed the upstream login's access token");
        }
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", login.access_token))
            .map_err(|_| format!("the login of `{upstream}` holds an unusable token: {again}"))?;
        value.set_sensitive(true);
        let lifetime = login.expires_at.map_or(DEFAULT_LIFETIME, |at| {
            Duration::from_secs(at.saturating_sub(now_secs()))
        });
        Ok((value, lifetime))
    }

    /// The refresh token grant (RFC 6749 §6), with the upstream as `resource` (RFC 8707).
    async fn refresh(
        &self,
        upstream: &str,
        login: &UpstreamLogin,
    ) -> Result<UpstreamLogin, Refresh> {
        let Some(refresh_token) = &login.refresh_token else {
            return Err(Refresh::Refused(
                "the access token expired and there is no refresh token".into(),
            ));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", login.client_id.as_str()),
            ("resource", login.resource.as_str()),
        ];
        let mut request = self.client.post(&login.token_endpoint).form(&form);
        if let Some(secret) = &login.client_secret {
            request = request.basic_auth(&login.client_id, Some(secret));
        }
        let response = request.send().await.map_err(|e| {
            Refresh::Failed(format!("the refresh request of `{upstream}` failed: {e}"))
        })?;
        let status = response.status();
        let body = crate::bounded::read_body(response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|e| Refresh::Failed(format!("the token endpoint's answer: {e}")))?;
        if status == reqwest::StatusCode::BAD_REQUEST || status == reqwest::StatusCode::UNAUTHORIZED
        {
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(Refresh::Refused(format!(
                "the authorization server refused the refresh token: {error}"
            )));
        }
        if !status.is_success() {
            return Err(Refresh::Failed(format!(
                "the token endpoint answered the refresh of `{upstream}` with HTTP {status}"
            )));
        }
        let token = TokenResponse::parse(&body).map_err(Refresh::Failed)?;
        let now = now_secs();
        Ok(UpstreamLogin {
            access_token: token.access_token,
            refresh_token: token.refresh_token.or_else(|| login.refresh_token.clone()),
            expires_at: token.expires_in.map(|s| now + s),
            scope: token.scope.or_else(|| login.scope.clone()),
            obtained_at: now,
            broken: None,
            ..login.clone()
        })
    }

    async fn fetch(
        &self,
        settings: &ClientCredentials,
        secret: &str,
    ) -> Result<(http::HeaderValue, Duration), String> {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !settings.scopes.is_empty() {
            form.push(("scope", settings.scopes.join(" ")));
        }
        if let Some(resource) = &settings.resource {
            form.push(("resource", resource.clone()));
        }
        if let Some(audience) = &settings.audience {
            form.push(("audience", audience.clone()));
        }
        let response = self
            .client
            .post(&settings.token_url)
            .basic_auth(&settings.client_id, Some(secret))
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
        let token = TokenResponse::parse(&body)?;
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.access_token))
            .map_err(|_| "the token endpoint issued an unusable token".to_string())?;
        value.set_sensitive(true);
        let lifetime = token
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        tracing::info!(token_url = %settings.token_url, lifetime_s = lifetime.as_secs(), "obtained an upstream token");
        Ok((value, lifetime))
    }
}

/// Why a refresh did not give a token.
enum Refresh {
    /// The authorization server said no: the login is over.
    Refused(String),
    /// It could not be asked (network, server error): try again later.
    Failed(String),
}
