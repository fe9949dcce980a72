//! Pins in SQLite (the [`PinStore`] port): what the gateway pinned and what waits for an
//! operator, shared by every gateway and CLI on the data directory.

use std::path::Path;
use std::sync::Mutex;

#[cfg(test)]
use portcullis_core::pins::FIRST_SIGHT;
use portcullis_core::pins::{Candidate, Pin};
use portcullis_core::ports::{NewPin, PinStore, StoreFailure};
use rusqlite::{Connection, OptionalExtension, params};

use crate::keys::StoreError;

/// The pin table in the gateway's SQLite database.
pub struct PinFile {
    conn: Mutex<Connection>,
}

const COLUMNS: &str = "tool, upstream, hash, definition, pinned_at, accepted_by, \
                       candidate_hash, candidate, seen_at, rejected_hash";

fn row_to_pin(row: &rusqlite::Row<'_>) -> rusqlite::Result<Pin> {
    let json = |i: usize| -> rusqlite::Result<Option<serde_json::Value>> {
        Ok(row
            .get::<_, Option<String>>(i)?
            .and_then(|text| serde_json::from_str(&text).ok()))
    };
    let ms = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
    };
    let candidate = match (row.get::<_, Option<String>>(6)?, json(7)?) {
        (Some(hash), Some(definition)) => Some(Candidate {
            hash,
            definition,
            seen_at: ms(8)?.unwrap_or(0),
        }),
        _ => None,
    };
    Ok(Pin {
        tool: row.get(0)?,
        upstream: row.get(1)?,
        hash: row.get(2)?,
        definition: json(3)?,
        pinned_at: ms(4)?,
        accepted_by: row.get(5)?,
        candidate,
        rejected: row.get(9)?,
    })
}

pub(crate) fn failure(e: impl std::fmt::Display) -> StoreFailure {
    StoreFailure(e.to_string())
}

impl PinFile {
    /// Opens (creating if needed) the pin table in the database at `path`.
    pub fn open(path: &Path) -> Result<PinFile, StoreError> {
        let conn = crate::open_database(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pins (
                 tool TEXT PRIMARY KEY,
                 upstream TEXT NOT NULL,
                 hash TEXT,
                 definition TEXT,
                 pinned_at INTEGER,
                 accepted_by TEXT,
                 candidate_hash TEXT,
                 candidate TEXT,
                 seen_at INTEGER,
                 rejected_hash TEXT
             );",
        )?;
        Ok(PinFile {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn find(&self, tool: &str) -> Result<Option<Pin>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM pins WHERE tool = ?1"),
                [tool],
                row_to_pin,
            )
            .optional()?)
    }

    pub fn all(&self) -> Result<Vec<Pin>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM pins ORDER BY tool"))?;
        let rows = stmt.query_map([], row_to_pin)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The candidate of `tool` becomes its pin, accepted by `by`. Running gateways publish
    /// it again within a few seconds.
    pub fn accept(&self, tool: &str, by: &str, now: u64) -> Result<Pin, StoreError> {
        let changed = self.conn().execute(
            "UPDATE pins SET hash = candidate_hash, definition = candidate, pinned_at = ?2,
                 accepted_by = ?3, candidate_hash = NULL, candidate = NULL, seen_at = NULL,
                 rejected_hash = NULL
             WHERE tool = ?1 AND candidate_hash IS NOT NULL",
            params![tool, now as i64, by],
        )?;
        if changed == 0 {
            return Err(self.nothing_waits(tool)?);
        }
        self.find(tool)?
            .ok_or_else(|| StoreError::NoPin(tool.to_string()))
    }

    /// The candidate of `tool` is refused: the pin stays, and the tool stays quarantined while
    /// its upstream sends the refused definition.
    pub fn reject(&self, tool: &str) -> Result<Pin, StoreError> {
        let changed = self.conn().execute(
            "UPDATE pins SET rejected_hash = candidate_hash, candidate_hash = NULL,
                 candidate = NULL, seen_at = NULL
             WHERE tool = ?1 AND candidate_hash IS NOT NULL",
            [tool],
        )?;
        if changed == 0 {
            return Err(self.nothing_waits(tool)?);
        }
        self.find(tool)?
            .ok_or_else(|| StoreError::NoPin(tool.to_string()))
    }

    fn nothing_waits(&self, tool: &str) -> Result<StoreError, StoreError> {
        Ok(match self.find(tool)? {
            None => StoreError::NoPin(tool.to_string()),
            Some(_) => StoreError::NothingWaits(tool.to_string()),
        })
    }
}

impl PinStore for PinFile {
    fn get(&self, tool: &str) -> Result<Option<Pin>, StoreFailure> {
        self.find(tool).map_err(failure)
    }

    fn list(&self) -> Result<Vec<Pin>, StoreFailure> {
        self.all().map_err(failure)
    }

    fn pin(&self, pin: NewPin<'_>, by: &str) -> Result<(), StoreFailure> {
        self.conn()
            .execute(
                "INSERT INTO pins (tool, upstream, hash, definition, pinned_at, accepted_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tool) DO UPDATE SET upstream = ?2, hash = ?3, definition = ?4,
                     pinned_at = ?5, accepted_by = ?6, candidate_hash = NULL, candidate = NULL,
                     seen_at = NULL, rejected_hash = NULL",
                params![
                    pin.tool,
                    pin.upstream,
                    pin.hash,
                    pin.definition.to_string(),
                    pin.at as i64,
                    by
                ],
            )
            .map(drop)
            .map_err(failure)
    }

    fn propose(&self, pin: NewPin<'_>) -> Result<(), StoreFailure> {
        self.conn()
            .execute(
                "INSERT INTO pins (tool, upstream, candidate_hash, candidate, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tool) DO UPDATE SET candidate_hash = ?3, candidate = ?4,
                     seen_at = ?5
                 WHERE candidate_hash IS NOT ?3 AND rejected_hash IS NOT ?3",
                params![
                    pin.tool,
                    pin.upstream,
                    pin.hash,
                    pin.definition.to_string(),
                    pin.at as i64
                ],
            )
            .map(drop)
            .map_err(failure)
    }

    fn version(&self) -> Result<i64, StoreFailure> {
        self.conn()
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(failure)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn new_pin<'a>(tool: &'a str, definition: &'a serde_json::Value, hash: &'a str) -> NewPin<'a> {
        NewPin {
            tool,
            upstream: "u",
            definition,
            hash,
            at: 1000,
        }
    }

    #[test]
    fn pin_propose_accept_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.db");
        let pins = PinFile::open(&path).unwrap();
        let old = json!({"name": "t", "description": "old"});
        let new = json!({"name": "t", "description": "new"});
        pins.pin(new_pin("u_t", &old, "h1"), FIRST_SIGHT).unwrap();
        pins.propose(new_pin("u_t", &new, "h2")).unwrap();
        let pin = pins.get("u_t").unwrap().unwrap();
        assert_eq!(pin.hash.as_deref(), Some("h1"));
        assert_eq!(pin.candidate.as_ref().unwrap().definition, new);

        // Another handle (the CLI) decides; this one sees it, and its version moved.
        let before = pins.version().unwrap();
        let cli = PinFile::open(&path).unwrap();
        cli.reject("u_t").unwrap();
        assert_ne!(pins.version().unwrap(), before);
        let pin = pins.get("u_t").unwrap().unwrap();
        assert_eq!(pin.rejected.as_deref(), Some("h2"));
        assert!(pin.candidate.is_none());
        // The rejected definition is not proposed again; another one is.
        pins.propose(new_pin("u_t", &new, "h2")).unwrap();
        assert!(pins.get("u_t").unwrap().unwrap().candidate.is_none());
        pins.propose(new_pin("u_t", &new, "h3")).unwrap();
        let accepted = cli.accept("u_t", "alice", 2000).unwrap();
        assert_eq!(accepted.hash.as_deref(), Some("h3"));
        assert_eq!(accepted.accepted_by.as_deref(), Some("alice"));
        assert_eq!(accepted.pinned_at, Some(2000));
        assert!(accepted.rejected.is_none());
        assert!(matches!(
            cli.accept("u_t", "alice", 3000),
            Err(StoreError::NothingWaits(_))
        ));
        assert!(matches!(cli.reject("nope"), Err(StoreError::NoPin(_))));
    }

    #[test]
    fn a_first_sight_waiting_under_strict_has_no_pin() {
        let dir = tempfile::tempdir().unwrap();
        let pins = PinFile::open(&dir.path().join("portcullis.db")).unwrap();
        let def = json!({"name": "t"});
        pins.propose(new_pin("u_t", &def, "h1")).unwrap();
        let pin = pins.get("u_t").unwrap().unwrap();
        assert!(pin.hash.is_none());
        assert_eq!(pins.list().unwrap().len(), 1);
        pins.accept("u_t", "bob", 5).unwrap();
        assert_eq!(
            pins.get("u_t").unwrap().unwrap().hash.as_deref(),
            Some("h1")
        );
    }
}
