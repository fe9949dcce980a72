//! Who is calling: turns a presented credential into a [`Principal`], or refuses it.
//!
//! Credentials are API keys (found through the [`ApiKeyStore`] port on every request, so
//! revocation is immediate, and judged in core with the time from the [`Clock`]), OAuth bearer
//! JWTs on HTTP (see [`crate::jwt`]) and, under `serve --dev`, one throwaway key held in memory.
//! No credential gives the anonymous principal only where the config allows it. Any failure to
//! check — a store error, a clock that cannot be read — refuses: there is no path on which an
//! unverified caller is treated as verified.

use std::collections::BTreeSet;
use std::sync::Arc;

use portcullis_core::audit::{Decision, Outcome};
use portcullis_core::keys::{KeyFailure, KeyRejection, TOKEN_PREFIX, verify_key};
use portcullis_core::ports::{ApiKeyStore, Clock};
use portcullis_core::{Answer, Principal, PrincipalKind, Refusal};

use crate::jwt::{TokenFailure, TokenVerifier, looks_like_jwt};
use sha2::{Digest, Sha256};

/// Why a caller was not authenticated. Only [`AuthFailure::client_message`] reaches the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no credentials")]
    Missing,
    #[error("credentials are not a bearer token")]
    NotBearer,
    #[error("{0}")]
    Rejected(KeyRejection),
    #[error("the key store failed: {0}")]
    Store(String),
    #[error("the clock cannot be read, so no key can be checked for expiry")]
    Clock,
    #[error("bearer JWT refused: {0}")]
    Token(TokenFailure),
    #[error("a token was sent in the query string")]
    TokenInQuery,
}

impl AuthFailure {
    /// What the client is told: that its token is missing or not accepted, never why.
    pub fn client_message(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "authentication required",
            AuthFailure::Token(failure) => failure.client_description(),
            AuthFailure::TokenInQuery => {
                "tokens are accepted in the Authorization header only, never in the URL"
            }
            _ => "invalid token",
        }
    }

    /// The refusal: 401 (400 for a token in the query) with a challenge.
    pub fn refusal(&self) -> Refusal {
        let error = match self {
            AuthFailure::Missing => None,
            AuthFailure::TokenInQuery => Some("invalid_request"),
            _ => Some("invalid_token"),
        };
        Refusal::new(
            Answer::Unauthenticated {
                error,
                message: self.client_message(),
            },
            Decision::Unauthenticated,
            Outcome::Unauthenticated,
            self.to_string(),
        )
    }
}

/// The throwaway key of `serve --dev`.
struct DevKey {
    hash: [u8; 32],
    scopes: BTreeSet<String>,
}

/// Checks credentials.
#[derive(Clone)]
pub struct Authenticator {
    keys: Option<Arc<dyn ApiKeyStore>>,
    clock: Arc<dyn Clock>,
    tokens: Option<Arc<TokenVerifier>>,
    dev: Option<Arc<DevKey>>,
    allow_anonymous: bool,
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of a `Bearer` credential.
fn bearer(header: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Authenticator {
    /// `keys` is the key store when API keys are enabled.
    pub fn new(
        keys: Option<Arc<dyn ApiKeyStore>>,
        clock: Arc<dyn Clock>,
        allow_anonymous: bool,
    ) -> Authenticator {
        Authenticator {
            keys,
            clock,
            tokens: None,
            dev: None,
            allow_anonymous,
        }
    }

    /// Accepts bearer JWTs on HTTP, as `verifier` checks them.
    pub fn with_tokens(mut self, verifier: Arc<TokenVerifier>) -> Authenticator {
        self.tokens = Some(verifier);
        self
    }

    /// The JWT verifier, when OAuth is configured.
    pub fn tokens(&self) -> Option<&Arc<TokenVerifier>> {
        self.tokens.as_ref()
    }

    /// Authenticates an HTTP request's `Authorization` header: a bearer JWT when OAuth is
    /// configured and the token is one, else an API key.
    pub async fn http(&self, header: Option<&[u8]>) -> Result<Principal, AuthFailure> {
        if let (Some(verifier), Some(raw)) = (&self.tokens, header)
            && let Some(token) = bearer(raw)
            && looks_like_jwt(token)
        {
            return verifier.verify(token).await.map_err(AuthFailure::Token);
        }
        self.from_header(header)
    }

    /// Adds a throwaway key holding `scopes`, valid for this process only; returns its token.
    pub fn with_dev_key(
        mut self,
        scopes: BTreeSet<String>,
    ) -> Result<(Authenticator, String), String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the dev key: {e}"))?;
        let token = format!("{TOKEN_PREFIX}{}", portcullis_core::hex(&bytes));
        self.dev = Some(Arc::new(DevKey {
            hash: sha256(&token),
            scopes,
        }));
        Ok((self, token))
    }

    /// Authenticates an HTTP `Authorization` header value.
    pub fn from_header(&self, header: Option<&[u8]>) -> Result<Principal, AuthFailure> {
        let Some(raw) = header else {
            return if self.allow_anonymous {
                Ok(Principal::anonymous())
            } else {
                Err(AuthFailure::Missing)
            };
        };
        self.token(bearer(raw).ok_or(AuthFailure::NotBearer)?)
    }

    /// Authenticates a bearer token.
    pub fn token(&self, token: &str) -> Result<Principal, AuthFailure> {
        if let Some(dev) = &self.dev {
            let hash = sha256(token);
            if hash
                .iter()
                .zip(dev.hash)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
            {
                return Ok(Principal {
                    id: "dev".into(),
                    kind: PrincipalKind::DevKey,
                    scopes: dev.scopes.clone(),
                    claims: serde_json::Value::Null,
                });
            }
        }
        let Some(keys) = &self.keys else {
            return Err(AuthFailure::Rejected(KeyRejection::Unknown));
        };
        match verify_key(keys.as_ref(), self.clock.as_ref(), token) {
            Ok(info) => Ok(Principal {
                id: info.id,
                kind: PrincipalKind::ApiKey,
                scopes: info.scopes.into_iter().collect(),
                claims: serde_json::Value::Null,
            }),
            Err(KeyFailure::Rejected(rejection)) => Err(AuthFailure::Rejected(rejection)),
            Err(KeyFailure::Store(e)) => Err(AuthFailure::Store(e.0)),
            Err(KeyFailure::Clock(_)) => Err(AuthFailure::Clock),
        }
    }
}
