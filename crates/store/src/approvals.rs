//! Parked calls in SQLite (the [`ApprovalStore`] port): the gateway parks a call that needs an
//! operator and waits for its row to be decided; `portcullis approvals` decides, once.

use std::path::Path;
use std::sync::Mutex;

use portcullis_core::approval::{ApprovalState, PendingApproval};
use portcullis_core::ports::{ApprovalStore, StoreFailure};
use rusqlite::{Connection, OptionalExtension, params};

use crate::keys::StoreError;

/// The approval table in the gateway's SQLite database.
pub struct ApprovalFile {
    conn: Mutex<Connection>,
}

const COLUMNS: &str = "id, call_hash, tool, upstream, principal, request_id, arguments, \
                       created_at, expires_at, state, decided_by, reason";

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(PendingApproval, ApprovalState)> {
    let ms = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
    let pending = PendingApproval {
        id: row.get(0)?,
        call_hash: row.get(1)?,
        tool: row.get(2)?,
        upstream: row.get(3)?,
        principal: row.get(4)?,
        request_id: row.get(5)?,
        arguments: serde_json::from_str(&row.get::<_, String>(6)?).unwrap_or_default(),
        created_at: ms(7)?,
        expires_at: ms(8)?,
    };
    let by: Option<String> = row.get(10)?;
    let reason: String = row.get::<_, Option<String>>(11)?.unwrap_or_default();
    let by = by.unwrap_or_default();
    let state = match row.get::<_, String>(9)?.as_str() {
        "approved" => ApprovalState::Approved { by, reason },
        "denied" => ApprovalState::Denied { by, reason },
        "expired" => ApprovalState::Expired { reason },
        _ => ApprovalState::Pending,
    };
    Ok((pending, state))
}

fn failure(e: impl std::fmt::Display) -> StoreFailure {
    StoreFailure(e.to_string())
}

impl ApprovalFile {
    /// Opens (creating if needed) the approval table in the database at `path`.
    pub fn open(path: &Path) -> Result<ApprovalFile, StoreError> {
        let conn = crate::open_database(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS approvals (
                 id TEXT PRIMARY KEY,
                 call_hash TEXT NOT NULL,
                 tool TEXT NOT NULL,
                 upstream TEXT NOT NULL,
                 principal TEXT NOT NULL,
                 request_id TEXT NOT NULL,
                 arguments TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 expires_at INTEGER NOT NULL,
                 state TEXT NOT NULL,
                 decided_by TEXT,
                 decided_at INTEGER,
                 reason TEXT
             );",
        )?;
        Ok(ApprovalFile {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every call, newest first; only the pending ones unless `all`.
    pub fn list(&self, all: bool) -> Result<Vec<(PendingApproval, ApprovalState)>, StoreError> {
        let conn = self.conn();
        let filter = if all { "" } else { "WHERE state = 'pending'" };
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM approvals {filter} ORDER BY created_at DESC, id"
        ))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn find(&self, id: &str) -> Result<(PendingApproval, ApprovalState), StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoApproval(id.to_string()))
    }

    /// Decides a pending call, once: `approve` or deny, by `by`, at `now` (Unix ms). A call
    /// already decided, or past its deadline, cannot be decided.
    pub fn decide(
        &self,
        id: &str,
        by: &str,
        approve: bool,
        reason: &str,
        now: u64,
    ) -> Result<PendingApproval, StoreError> {
        let state = if approve { "approved" } else { "denied" };
        let changed = self.conn().execute(
            "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, reason = ?5
             WHERE id = ?1 AND state = 'pending' AND expires_at > ?4",
            params![id, state, by, now as i64, reason],
        )?;
        let (pending, now_state) = self.find(id)?;
        if changed == 0 {
            return Err(StoreError::AlreadyDecided {
                id: id.to_string(),
                state: match now_state {
                    ApprovalState::Pending => "past its deadline".into(),
                    ApprovalState::Approved { by, .. } => format!("approved by {by}"),
                    ApprovalState::Denied { by, .. } => format!("denied by {by}"),
                    ApprovalState::Expired { reason } => format!("expired ({reason})"),
                },
            });
        }
        Ok(pending)
    }
}

impl ApprovalStore for ApprovalFile {
    fn park(&self, p: &PendingApproval) -> Result<(), StoreFailure> {
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO approvals ({COLUMNS}) VALUES
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', NULL, NULL)"
                ),
                params![
                    p.id,
                    p.call_hash,
                    p.tool,
                    p.upstream,
                    p.principal,
                    p.request_id,
                    p.arguments.to_string(),
                    p.created_at as i64,
                    p.expires_at as i64
                ],
            )
            .map(drop)
            .map_err(failure)
    }

    fn state(&self, id: &str) -> Result<Option<ApprovalState>, StoreFailure> {
        match self.find(id) {
            Ok((_, state)) => Ok(Some(state)),
            Err(StoreError::NoApproval(_)) => Ok(None),
            Err(e) => Err(failure(e)),
        }
    }

    fn expire(&self, id: &str, reason: &str) -> Result<bool, StoreFailure> {
        self.conn()
            .execute(
                "UPDATE approvals SET state = 'expired', reason = ?2
                 WHERE id = ?1 AND state = 'pending'",
                params![id, reason],
            )
            .map(|n| n > 0)
            .map_err(failure)
    }

    fn expire_all(&self, reason: &str) -> Result<Vec<PendingApproval>, StoreFailure> {
        let pending = self.list(false).map_err(failure)?;
        let conn = self.conn();
        let mut ended = Vec::new();
        for (p, _) in pending {
            let n = conn
                .execute(
                    "UPDATE approvals SET state = 'expired', reason = ?2
                     WHERE id = ?1 AND state = 'pending'",
                    params![p.id, reason],
                )
                .map_err(failure)?;
            if n > 0 {
                ended.push(p);
            }
        }
        Ok(ended)
    }

    fn version(&self) -> Result<i64, StoreFailure> {
        self.conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(failure)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parked(id: &str, expires_at: u64) -> PendingApproval {
        PendingApproval {
            id: id.into(),
            call_hash: "h".into(),
            tool: "demo_refund".into(),
            upstream: "demo".into(),
            principal: "key_agent".into(),
            request_id: "r1".into(),
            arguments: json!({"invoice": "INV-1", "card": "[redacted:card]"}),
            created_at: 1000,
            expires_at,
        }
    }

    #[test]
    fn a_call_is_decided_once_before_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.db");
        let gateway = ApprovalFile::open(&path).unwrap();
        gateway.park(&parked("a1", 10_000)).unwrap();
        gateway.park(&parked("a2", 10_000)).unwrap();
        gateway.park(&parked("a3", 2_000)).unwrap();
        let cli = ApprovalFile::open(&path).unwrap();
        assert_eq!(cli.list(false).unwrap().len(), 3);
        cli.decide("a1", "ops", true, "ok", 1500).unwrap();
        assert_eq!(
            gateway.state("a1").unwrap(),
            Some(ApprovalState::Approved {
                by: "ops".into(),
                reason: "ok".into()
            })
        );
        let again = cli.decide("a1", "ops2", false, "no", 1600).unwrap_err();
        assert!(again.to_string().contains("approved by ops"), "{again}");
        let late = cli.decide("a3", "ops", true, "", 3000).unwrap_err();
        assert!(late.to_string().contains("past its deadline"), "{late}");
        // Expiring does not undo a decision.
        assert!(!gateway.expire("a1", "timeout").unwrap());
        assert!(gateway.expire("a2", "timed out").unwrap());
        let ended = gateway.expire_all("the gateway restarted").unwrap();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].id, "a3");
        assert!(cli.list(false).unwrap().is_empty());
        assert_eq!(cli.list(true).unwrap().len(), 3);
        assert!(matches!(cli.find("nope"), Err(StoreError::NoApproval(_))));
    }
}
