//! Upstream logins (`portcullis login`), in SQLite, each sealed with ChaCha20-Poly1305 under
//! the key `[tokens] key` names: a copy of the database alone gives no token. The upstream's
//! name is the sealed record's associated data, so a record moved to another upstream's row
//! does not open.

use std::path::Path;
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use portcullis_core::ports::{LoginStore, StoreFailure, UpstreamLogin};
use rusqlite::{Connection, OptionalExtension, params};

use crate::keys::StoreError;

/// Shortest key material accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

const NONCE_BYTES: usize = 12;

pub struct LoginFile {
    conn: Mutex<Connection>,
    cipher: ChaCha20Poly1305,
}

/// Why the key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the tokens key is {0} bytes; use {MIN_KEY_BYTES} random bytes or more (`openssl rand -hex 32`)"
)]
pub struct WeakKey(usize);

impl LoginFile {
    /// Opens (creating if needed) the table in the database at `path`; `key` is the key
    /// material (its SHA-256 is the cipher key).
    pub fn open(path: &Path, key: &[u8]) -> Result<LoginFile, StoreError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(StoreError::Invalid(WeakKey(key.len()).to_string()));
        }
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(key).into();
        let cipher = ChaCha20Poly1305::new(&Key::from(digest));
        let conn = crate::open_database(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS upstream_logins (
                 upstream TEXT PRIMARY KEY,
                 sealed BLOB NOT NULL
             );",
        )?;
        Ok(LoginFile {
            conn: Mutex::new(conn),
            cipher,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn aad(upstream: &str) -> Vec<u8> {
        format!("portcullis upstream login v1 {upstream}").into_bytes()
    }

    fn seal(&self, upstream: &str, login: &UpstreamLogin) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| StoreError::Invalid(format!("no random nonce: {e}")))?;
        let plain = serde_json::to_vec(login).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let aad = Self::aad(upstream);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Invalid("cannot seal the login".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn open_sealed(&self, upstream: &str, sealed: &[u8]) -> Result<UpstreamLogin, StoreError> {
        if sealed.len() < NONCE_BYTES {
            return Err(StoreError::Invalid("a sealed login is cut short".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| StoreError::Invalid("a sealed login is cut short".into()))?;
        let aad = Self::aad(upstream);
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad: &aad })
            .map_err(|_| {
                StoreError::Invalid(format!(
                    "the login of `{upstream}` does not open with this tokens key (another key, or the record was changed); log in again"
                ))
            })?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Invalid(e.to_string()))
    }

    pub fn load(&self, upstream: &str) -> Result<Option<UpstreamLogin>, StoreError> {
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT sealed FROM upstream_logins WHERE upstream = ?1",
                params![upstream],
                |r| r.get(0),
            )
            .optional()?;
        sealed.map(|s| self.open_sealed(upstream, &s)).transpose()
    }

    pub fn store(&self, upstream: &str, login: &UpstreamLogin) -> Result<(), StoreError> {
        let sealed = self.seal(upstream, login)?;
        self.conn().execute(
            "INSERT INTO upstream_logins (upstream, sealed) VALUES (?1, ?2)
             ON CONFLICT (upstream) DO UPDATE SET sealed = excluded.sealed",
            params![upstream, sealed],
        )?;
        Ok(())
    }

    pub fn forget(&self, upstream: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM upstream_logins WHERE upstream = ?1",
            params![upstream],
        )?;
        Ok(n > 0)
    }
}

impl LoginStore for LoginFile {
    fn get(&self, upstream: &str) -> Result<Option<UpstreamLogin>, StoreFailure> {
        self.load(upstream).map_err(crate::pins::failure)
    }

    fn put(&self, upstream: &str, login: &UpstreamLogin) -> Result<(), StoreFailure> {
        self.store(upstream, login).map_err(crate::pins::failure)
    }

    fn remove(&self, upstream: &str) -> Result<bool, StoreFailure> {
        self.forget(upstream).map_err(crate::pins::failure)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn login() -> UpstreamLogin {
        UpstreamLogin {
            access_token: "at-secret-123".into(),
            refresh_token: Some("rt-secret-456".into()),
            client_id: "client".into(),
            ..UpstreamLogin::default()
        }
    }

    #[test]
    fn a_login_is_sealed_at_rest_and_opens_only_with_its_key_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("portcullis.db");
        let key = [7u8; 32];
        let file = LoginFile::open(&db, &key).unwrap();
        file.store("hosted", &login()).unwrap();
        assert_eq!(
            file.load("hosted").unwrap().unwrap().access_token,
            "at-secret-123"
        );
        // Not in the clear on disk.
        let bytes = std::fs::read(&db).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("at-secret-123") && !text.contains("rt-secret-456"));
        // Another key does not open it.
        let other = LoginFile::open(&db, &[8u8; 32]).unwrap();
        let refused = other.load("hosted").unwrap_err().to_string();
        assert!(refused.contains("does not open"), "{refused}");
        // Moved to another upstream's row, it does not open either.
        let conn = Connection::open(&db).unwrap();
        conn.execute(
            "INSERT INTO upstream_logins (upstream, sealed) SELECT 'other', sealed FROM upstream_logins WHERE upstream = 'hosted'",
            [],
        )
        .unwrap();
        assert!(file.load("other").is_err());
        assert!(file.forget("hosted").unwrap());
        assert!(file.load("hosted").unwrap().is_none());
        assert!(!file.forget("hosted").unwrap());
    }

    #[test]
    fn a_short_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let refused = LoginFile::open(&dir.path().join("db"), b"short")
            .err()
            .unwrap();
        assert!(refused.to_string().contains("32 random bytes"), "{refused}");
    }
}
