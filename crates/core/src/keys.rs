//! Whether a presented API key is good: well formed, known, not expired, not revoked, not past
//! its rotation grace. The store ([`ApiKeyStore`]) only finds keys by the hash of their token;
//! the decision is made here, with the time from a [`Clock`] — and a clock that cannot be read
//! refuses the key.
//!
//! A token is `pcs_` followed by 64 hex digits (256 random bits). Only its SHA-256 is stored:
//! with that much entropy a fast hash is as strong as a slow one.

use sha2::{Digest, Sha256};

use crate::ports::{ApiKeyStore, Clock, ClockError, StoreFailure};

/// Every token starts with this, so a leaked one is recognisable (and scannable).
pub const TOKEN_PREFIX: &str = "pcs_";
const TOKEN_HEX_LEN: usize = 64;

/// Why a token was not accepted. The client is told only that it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("malformed token")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("expired token")]
    Expired,
    #[error("revoked token")]
    Revoked,
    #[error("token replaced by rotation, and its grace period is over")]
    Rotated,
}

/// A key as stored, without its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
    /// Set on rotation: the old token works until then.
    pub valid_until: Option<u64>,
    /// Set on rotation: the key that replaced this one.
    pub replaced_by: Option<String>,
}

impl KeyInfo {
    /// `active`, `expired`, `revoked`, `rotating` or `rotated` at `now` (Unix seconds).
    pub fn state(&self, now: u64) -> &'static str {
        match check_key(self, now) {
            Ok(()) if self.valid_until.is_some() => "rotating",
            Ok(()) => "active",
            Err(KeyRejection::Revoked) => "revoked",
            Err(KeyRejection::Rotated) => "rotated",
            Err(_) => "expired",
        }
    }
}

/// Whether `key` may be used at `now` (Unix seconds). Revocation wins over everything.
pub fn check_key(key: &KeyInfo, now: u64) -> Result<(), KeyRejection> {
    if key.revoked_at.is_some_and(|t| t <= now) {
        return Err(KeyRejection::Revoked);
    }
    if key.valid_until.is_some_and(|t| t <= now) {
        return Err(KeyRejection::Rotated);
    }
    if key.expires_at.is_some_and(|t| t <= now) {
        return Err(KeyRejection::Expired);
    }
    Ok(())
}

/// Whether `token` has the form of a Portcullis token.
pub fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|hex| hex.len() == TOKEN_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why a key check did not accept a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFailure {
    #[error("{0}")]
    Rejected(KeyRejection),
    #[error("{0}")]
    Store(StoreFailure),
    #[error("{0}; keys cannot be checked for expiry")]
    Clock(ClockError),
}

/// Checks a presented token: its form, then the store, then the time.
pub fn verify_key(
    store: &dyn ApiKeyStore,
    clock: &dyn Clock,
    token: &str,
) -> Result<KeyInfo, KeyFailure> {
    if !well_formed(token) {
        return Err(KeyFailure::Rejected(KeyRejection::Malformed));
    }
    let key = store
        .find(&token_hash(token))
        .map_err(KeyFailure::Store)?
        .ok_or(KeyFailure::Rejected(KeyRejection::Unknown))?;
    let now = clock.unix_ms().map_err(KeyFailure::Clock)? / 1000;
    check_key(&key, now).map_err(KeyFailure::Rejected)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    struct Keys(HashMap<[u8; 32], KeyInfo>);

    impl ApiKeyStore for Keys {
        fn find(&self, hash: &[u8; 32]) -> Result<Option<KeyInfo>, StoreFailure> {
            Ok(self.0.get(hash).cloned())
        }
    }

    struct Broken;

    impl ApiKeyStore for Broken {
        fn find(&self, _: &[u8; 32]) -> Result<Option<KeyInfo>, StoreFailure> {
            Err(StoreFailure("disk I/O error".into()))
        }
    }

    /// A clock set by hand; `None` cannot be read.
    struct HandClock(Mutex<Option<u64>>);

    impl Clock for HandClock {
        fn unix_ms(&self) -> Result<u64, ClockError> {
            self.0.lock().unwrap().ok_or(ClockError)
        }
        fn elapsed(&self) -> Duration {
            Duration::ZERO
        }
    }

    const TOKEN: &str = "pcs_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn key(expires_at: Option<u64>) -> KeyInfo {
        KeyInfo {
            id: "key_1".into(),
            name: "alice".into(),
            scopes: vec![],
            created_at: 100,
            expires_at,
            revoked_at: None,
            valid_until: None,
            replaced_by: None,
        }
    }

    fn store(info: KeyInfo) -> Keys {
        Keys(HashMap::from([(token_hash(TOKEN), info)]))
    }

    #[test]
    fn a_clock_that_cannot_be_read_refuses_the_key() {
        let keys = store(key(None));
        let clock = HandClock(Mutex::new(Some(200_000)));
        assert_eq!(verify_key(&keys, &clock, TOKEN).unwrap().id, "key_1");
        *clock.0.lock().unwrap() = None;
        assert_eq!(
            verify_key(&keys, &clock, TOKEN),
            Err(KeyFailure::Clock(ClockError)),
            "no time, no key: even one that never expires"
        );
    }

    #[test]
    fn expiry_revocation_and_rotation_are_decided_with_the_time_passed_in() {
        let clock = |secs: u64| HandClock(Mutex::new(Some(secs * 1000)));
        let keys = store(key(Some(200)));
        assert!(verify_key(&keys, &clock(199), TOKEN).is_ok());
        assert_eq!(
            verify_key(&keys, &clock(200), TOKEN),
            Err(KeyFailure::Rejected(KeyRejection::Expired))
        );
        let mut rotating = key(None);
        rotating.valid_until = Some(300);
        rotating.revoked_at = Some(400);
        assert_eq!(rotating.state(299), "rotating");
        assert_eq!(rotating.state(300), "rotated");
        assert_eq!(rotating.state(400), "revoked", "revocation wins");
        assert_eq!(key(None).state(1), "active");
    }

    #[test]
    fn malformed_unknown_and_store_failures_refuse() {
        let keys = store(key(None));
        let clock = HandClock(Mutex::new(Some(0)));
        for bad in ["", "Bearer x", &TOKEN.to_uppercase(), &TOKEN[..20]] {
            assert_eq!(
                verify_key(&keys, &clock, bad),
                Err(KeyFailure::Rejected(KeyRejection::Malformed)),
                "{bad}"
            );
        }
        let other = TOKEN.replace("pcs_0", "pcs_1");
        assert_eq!(
            verify_key(&keys, &clock, &other),
            Err(KeyFailure::Rejected(KeyRejection::Unknown))
        );
        assert!(matches!(
            verify_key(&Broken, &clock, TOKEN),
            Err(KeyFailure::Store(_))
        ));
    }
}
