//! API keys in SQLite: issued, listed, rotated and revoked from the CLI, found by the gateway
//! (through the [`ApiKeyStore`] port) on every request.
//!
//! Only a token's SHA-256 is stored ([`portcullis_core::keys`] says why that is enough), and a
//! token is looked up by its hash, so an unknown token costs the same whether or not anything
//! like it exists. Keys already looked up are remembered until the database changes: every
//! lookup asks SQLite whether any connection has written since (`PRAGMA data_version`), so a
//! revocation or the end of a rotation grace period still takes effect at once in every running
//! gateway. Whether a found key is still good is decided in core, with the time passed in.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use portcullis_core::keys::{KeyInfo, TOKEN_PREFIX, check_key, token_hash};
use portcullis_core::ports::{ApiKeyStore, StoreFailure};
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("no key with id `{0}`")]
    NotFound(String),
    #[error("no pin for a tool named `{0}`; `portcullis pins list` shows them")]
    NoPin(String),
    #[error("no parked call with id `{0}`; `portcullis approvals list` shows them")]
    NoApproval(String),
    #[error("call `{id}` cannot be decided: it is {state}")]
    AlreadyDecided { id: String, state: String },
    #[error("`{0}` has no definition waiting for a decision")]
    NothingWaits(String),
    #[error("key `{id}` cannot be rotated: it is {state}")]
    NotRotatable { id: String, state: &'static str },
    #[error("the system's random number generator failed: {0}")]
    Random(String),
    #[error("cannot set permissions on `{path}`: {source}")]
    Permissions {
        path: String,
        source: std::io::Error,
    },
}

/// A new key and its token, which is shown once and never stored.
#[derive(Debug)]
pub struct IssuedKey {
    pub info: KeyInfo,
    pub token: String,
}

/// The key table in the gateway's SQLite database.
pub struct KeyStore {
    conn: Mutex<Connection>,
    known: Mutex<Known>,
}

/// Keys found by token hash, valid while the database is at `version`.
#[derive(Default)]
struct Known {
    version: i64,
    keys: HashMap<[u8; 32], KeyInfo>,
}

/// More keys than this remembered, and the memory starts over.
const MAX_KNOWN: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

const COLUMNS: &str =
    "id, name, scopes, created_at, expires_at, revoked_at, valid_until, replaced_by";

fn row_to_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyInfo> {
    let scopes: String = row.get(2)?;
    let opt = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
    };
    Ok(KeyInfo {
        id: row.get(0)?,
        name: row.get(1)?,
        scopes: scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: row.get::<_, i64>(3)?.max(0) as u64,
        expires_at: opt(4)?,
        revoked_at: opt(5)?,
        valid_until: opt(6)?,
        replaced_by: row.get(7)?,
    })
}

fn as_sql(t: Option<u64>) -> Option<i64> {
    t.map(|v| v.min(i64::MAX as u64) as i64)
}

impl KeyStore {
    /// Opens (creating if needed) the database at `path`, readable by its owner only.
    pub fn open(path: &Path) -> Result<KeyStore, StoreError> {
        let conn = crate::open_database(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_keys (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL,
                 token_hash BLOB NOT NULL UNIQUE,
                 scopes TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 expires_at INTEGER,
                 revoked_at INTEGER,
                 valid_until INTEGER,
                 replaced_by TEXT
             );",
        )?;
        Ok(KeyStore {
            conn: Mutex::new(conn),
            known: Mutex::default(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Runs a statement that changes keys. SQLite's data version does not move for this
    /// connection's own writes, so what was remembered is dropped here, before the connection
    /// is released: no verification can run between the write and the forgetting.
    fn write(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        let conn = self.conn();
        let changed = conn.execute(sql, params)?;
        lock(&self.known).keys.clear();
        Ok(changed)
    }

    /// Issues a key. Scopes are kept sorted and without duplicates.
    pub fn create(
        &self,
        name: &str,
        scopes: &[String],
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<IssuedKey, StoreError> {
        let mut scopes: Vec<String> = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let token = format!("{TOKEN_PREFIX}{}", random_hex(32)?);
        let id = format!("key_{}", random_hex(6)?);
        self.write(
            "INSERT INTO api_keys (id, name, token_hash, scopes, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                name,
                token_hash(&token).to_vec(),
                scopes.join(" "),
                now as i64,
                as_sql(expires_at)
            ],
        )?;
        Ok(IssuedKey {
            info: self.get(&id)?,
            token,
        })
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([], row_to_info)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, id: &str) -> Result<KeyInfo, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                [id],
                row_to_info,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Revokes a key at once.
    pub fn revoke(&self, id: &str, now: u64) -> Result<KeyInfo, StoreError> {
        let changed = self.write(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, now as i64],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        self.get(id)
    }

    /// Issues a replacement with the same name, scopes and expiry; the old token keeps working
    /// for `grace_secs`, then stops.
    pub fn rotate(&self, id: &str, grace_secs: u64, now: u64) -> Result<IssuedKey, StoreError> {
        let old = self.get(id)?;
        match check_key(&old, now) {
            Ok(()) if old.replaced_by.is_none() => {}
            Ok(()) => {
                return Err(StoreError::NotRotatable {
                    id: id.into(),
                    state: "already rotated",
                });
            }
            Err(_) => {
                return Err(StoreError::NotRotatable {
                    id: id.into(),
                    state: old.state(now),
                });
            }
        }
        let new = self.create(&old.name, &old.scopes, old.expires_at, now)?;
        let until = now.saturating_add(grace_secs);
        self.write(
            "UPDATE api_keys SET valid_until = ?2, replaced_by = ?3 WHERE id = ?1",
            params![id, as_sql(Some(until)), new.info.id],
        )?;
        Ok(new)
    }

    /// The key whose token hashes to `hash`, if there is one.
    pub fn find(&self, hash: &[u8; 32]) -> Result<Option<KeyInfo>, StoreError> {
        // The connection stays locked from the version check to the end, so a key read here
        // is never remembered under an older version than the one it was read at.
        let conn = self.conn();
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        {
            let mut known = lock(&self.known);
            if known.version != version {
                known.keys.clear();
                known.version = version;
            }
            if let Some(info) = known.keys.get(hash) {
                return Ok(Some(info.clone()));
            }
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, token_hash FROM api_keys WHERE token_hash = ?1"
        ))?;
        let found = stmt
            .query_row([hash.to_vec()], |row| {
                Ok((row_to_info(row)?, row.get::<_, Vec<u8>>(8)?))
            })
            .optional()?;
        let Some((info, stored)) = found else {
            return Ok(None);
        };
        if !constant_time_eq(&stored, hash) {
            return Ok(None);
        }
        let mut known = lock(&self.known);
        if known.keys.len() >= MAX_KNOWN {
            known.keys.clear();
        }
        known.keys.insert(*hash, info.clone());
        Ok(Some(info))
    }
}

impl ApiKeyStore for KeyStore {
    fn find(&self, token_hash: &[u8; 32]) -> Result<Option<KeyInfo>, StoreFailure> {
        KeyStore::find(self, token_hash).map_err(|e| StoreFailure(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::keys::{KeyFailure, KeyRejection, verify_key};
    use portcullis_core::ports::{Clock, ClockError};

    use super::*;

    /// Verification as the gateway does it, at `now` (Unix seconds).
    trait VerifyAt {
        fn verify(&self, token: &str, now: u64) -> Result<Result<KeyInfo, KeyRejection>, String>;
    }

    struct At(u64);

    impl Clock for At {
        fn unix_ms(&self) -> Result<u64, ClockError> {
            Ok(self.0 * 1000)
        }
        fn elapsed(&self) -> std::time::Duration {
            std::time::Duration::ZERO
        }
    }

    impl VerifyAt for KeyStore {
        fn verify(&self, token: &str, now: u64) -> Result<Result<KeyInfo, KeyRejection>, String> {
            match verify_key(self, &At(now), token) {
                Ok(info) => Ok(Ok(info)),
                Err(KeyFailure::Rejected(r)) => Ok(Err(r)),
                Err(other) => Err(other.to_string()),
            }
        }
    }

    fn store() -> (tempfile::TempDir, KeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("keys.db")).unwrap();
        (dir, store)
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn issued_tokens_verify_and_only_their_hash_is_stored() {
        let (dir, s) = store();
        let k = s
            .create("alice", &scopes(&["b", "a", "a"]), None, 100)
            .unwrap();
        assert!(k.token.starts_with(TOKEN_PREFIX) && k.token.len() == 68);
        assert_eq!(k.info.scopes, ["a", "b"]);
        let info = s.verify(&k.token, 101).unwrap().unwrap();
        assert_eq!(info.id, k.info.id);
        drop(s);
        let db = std::fs::read(dir.path().join("keys.db")).unwrap();
        let hex = &k.token[TOKEN_PREFIX.len()..];
        assert!(
            !db.windows(hex.len()).any(|w| w == hex.as_bytes()),
            "token stored in clear"
        );
    }

    #[test]
    fn bad_tokens_are_told_apart_only_internally() {
        let (_dir, s) = store();
        let k = s.create("alice", &[], None, 100).unwrap();
        assert_eq!(s.verify("", 100).unwrap(), Err(KeyRejection::Malformed));
        assert_eq!(
            s.verify("Bearer x", 100).unwrap(),
            Err(KeyRejection::Malformed)
        );
        let mut other = k.token.clone();
        other.replace_range(10..11, if &other[10..11] == "0" { "1" } else { "0" });
        assert_eq!(s.verify(&other, 100).unwrap(), Err(KeyRejection::Unknown));
        assert_eq!(
            s.verify(&k.token.to_uppercase(), 100).unwrap(),
            Err(KeyRejection::Malformed)
        );
    }

    #[test]
    fn expiry_and_revocation_apply_at_once() {
        let (_dir, s) = store();
        let k = s.create("a", &[], Some(200), 100).unwrap();
        assert!(s.verify(&k.token, 199).unwrap().is_ok());
        assert_eq!(s.verify(&k.token, 200).unwrap(), Err(KeyRejection::Expired));
        let r = s.create("b", &[], None, 100).unwrap();
        // Verified once, so remembered: the revocation must still apply to the next call.
        assert!(s.verify(&r.token, 149).unwrap().is_ok());
        s.revoke(&r.info.id, 150).unwrap();
        assert_eq!(s.verify(&r.token, 150).unwrap(), Err(KeyRejection::Revoked));
        assert_eq!(s.get(&r.info.id).unwrap().state(150), "revoked");
        assert!(matches!(
            s.revoke("key_nope", 1),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn rotation_keeps_scopes_and_expiry_and_ends_the_old_token_after_grace() {
        let (_dir, s) = store();
        let old = s.create("a", &scopes(&["x"]), Some(10_000), 100).unwrap();
        assert!(s.verify(&old.token, 999).unwrap().is_ok());
        let new = s.rotate(&old.info.id, 60, 1000).unwrap();
        assert_eq!(new.info.scopes, ["x"]);
        assert_eq!(new.info.expires_at, Some(10_000));
        assert_eq!(new.info.name, "a");
        assert!(s.verify(&old.token, 1059).unwrap().is_ok());
        assert_eq!(
            s.verify(&old.token, 1060).unwrap(),
            Err(KeyRejection::Rotated)
        );
        assert!(s.verify(&new.token, 1060).unwrap().is_ok());
        let old_info = s.get(&old.info.id).unwrap();
        assert_eq!(old_info.replaced_by.as_deref(), Some(new.info.id.as_str()));
        assert!(matches!(
            s.rotate(&old.info.id, 60, 1001),
            Err(StoreError::NotRotatable { .. })
        ));
        s.revoke(&new.info.id, 2000).unwrap();
        assert!(matches!(
            s.rotate(&new.info.id, 60, 2001),
            Err(StoreError::NotRotatable {
                state: "revoked",
                ..
            })
        ));
    }

    #[test]
    fn a_second_handle_sees_changes_at_once() {
        let (dir, a) = store();
        let b = KeyStore::open(&dir.path().join("keys.db")).unwrap();
        let k = a.create("a", &[], None, 100).unwrap();
        assert!(b.verify(&k.token, 100).unwrap().is_ok());
        a.revoke(&k.info.id, 100).unwrap();
        assert_eq!(b.verify(&k.token, 100).unwrap(), Err(KeyRejection::Revoked));
        // A change made outside Portcullis's own code counts the same.
        let raw = Connection::open(dir.path().join("keys.db")).unwrap();
        raw.execute(
            "UPDATE api_keys SET revoked_at = NULL WHERE id = ?1",
            [&k.info.id],
        )
        .unwrap();
        assert!(b.verify(&k.token, 100).unwrap().is_ok());
        raw.execute("DELETE FROM api_keys WHERE id = ?1", [&k.info.id])
            .unwrap();
        assert_eq!(b.verify(&k.token, 100).unwrap(), Err(KeyRejection::Unknown));
    }
}
