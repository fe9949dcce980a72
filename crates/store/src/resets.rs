//! Requests to reset a caller's limits, in SQLite: `portcullis limits reset` and the admin API
//! add one; every gateway serving from the data directory applies each new one to its own
//! limiter within a second (limits live in each process's memory).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::keys::StoreError;

pub struct LimitResets {
    conn: Mutex<Connection>,
}

impl LimitResets {
    /// Opens (creating if needed) the table in the database at `path`.
    pub fn open(path: &Path) -> Result<LimitResets, StoreError> {
        let conn = crate::open_database(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS limit_resets (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 principal TEXT NOT NULL,
                 requested_by TEXT NOT NULL,
                 requested_at INTEGER NOT NULL
             );",
        )?;
        Ok(LimitResets {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks every gateway to let `principal` start afresh; returns the request's id.
    pub fn request(&self, principal: &str, by: &str, now_ms: u64) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO limit_resets (principal, requested_by, requested_at) VALUES (?1, ?2, ?3)",
            params![principal, by, now_ms as i64],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The id of the newest request (0 when there is none): a gateway starting applies only
    /// those after it.
    pub fn newest(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM limit_resets", [], |r| {
                r.get(0)
            })?)
    }

    /// The requests after `id`, oldest first: `(id, principal)`.
    pub fn after(&self, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, principal FROM limit_resets WHERE id > ?1 ORDER BY id")?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_seen_once_in_order_by_every_reader() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let writer = LimitResets::open(&db).unwrap();
        let reader = LimitResets::open(&db).unwrap();
        assert_eq!(reader.newest().unwrap(), 0);
        let a = writer.request("key_a", "ops", 1).unwrap();
        let b = writer.request("key_b", "ops", 2).unwrap();
        assert_eq!(
            reader.after(0).unwrap(),
            [(a, "key_a".to_string()), (b, "key_b".to_string())]
        );
        assert_eq!(reader.after(a).unwrap(), [(b, "key_b".to_string())]);
        assert_eq!(reader.newest().unwrap(), b);
        assert!(reader.after(b).unwrap().is_empty());
    }
}
