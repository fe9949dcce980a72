//! Who is calling: turns a presented credential into a [`Principal`], or refuses it.
//!
//! Credentials are API keys (checked against the key store on every request, so revocation is
//! immediate) and, under `serve --dev`, one throwaway key held in memory. No credential gives the
//! anonymous principal only where the config allows it. Any failure to check — including a
//! store error — refuses: there is no path on which an unverified caller is treated as verified.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_core::{Principal, PrincipalKind};
use portcullis_store::{KeyRejection, KeyStore, TOKEN_PREFIX};
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
}

impl AuthFailure {
    /// What the client is told: that its token is missing or not accepted, never why.
    pub fn client_message(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "authentication required",
            _ => "invalid token",
        }
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
    keys: Option<Arc<KeyStore>>,
    dev: Option<Arc<DevKey>>,
    allow_anonymous: bool,
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authenticator {
    /// `keys` is the key store when API keys are enabled.
    pub fn new(keys: Option<Arc<KeyStore>>, allow_anonymous: bool) -> Authenticator {
        Authenticator {
            keys,
            dev: None,
            allow_anonymous,
        }
    }

    /// Adds a throwaway key holding `scopes`, valid for this process only; returns its token.
    pub fn with_dev_key(
        mut self,
        scopes: BTreeSet<String>,
    ) -> Result<(Authenticator, String), String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the dev key: {e}"))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("{TOKEN_PREFIX}{hex}");
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
        let text = std::str::from_utf8(raw).map_err(|_| AuthFailure::NotBearer)?;
        let (scheme, token) = text.trim().split_once(' ').ok_or(AuthFailure::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::NotBearer);
        }
        self.token(token.trim())
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
                });
            }
        }
        let Some(keys) = &self.keys else {
            return Err(AuthFailure::Rejected(KeyRejection::Unknown));
        };
        match keys.verify(token, now_secs()) {
            Ok(Ok(info)) => Ok(Principal {
                id: info.id,
                kind: PrincipalKind::ApiKey,
                scopes: info.scopes.into_iter().collect(),
            }),
            Ok(Err(rejection)) => Err(AuthFailure::Rejected(rejection)),
            Err(e) => Err(AuthFailure::Store(e.to_string())),
        }
    }
}
