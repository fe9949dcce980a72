//! Writing the audit log: one thread owns the file and appends the records, sealed into the hash
//! chain, in bursts a few milliseconds apart. Callers hand records over without waiting.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_core::audit::{AuditRecord, Decision, GENESIS, Outcome, line_hash, rfc3339, seal};
use tokio::sync::mpsc;

/// How long the writer lets records gather after writing a burst.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// The sending side of the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<Message>,
}

enum Message {
    Record(Box<AuditRecord>),
    /// Answered once every record sent before it is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The current time as the audit log writes it.
pub fn now_rfc3339() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    rfc3339(ms)
}

/// A fresh request id: a random prefix chosen once per process, and a counter.
pub fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        portcullis_core::hex(&bytes)
    });
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n}")
}

/// The record of a caller turned away before any tool call was read (credentials, the edge).
pub fn refusal(
    transport: &'static str,
    method: String,
    decision: Decision,
    outcome: Outcome,
    reason: String,
) -> AuditRecord {
    AuditRecord {
        time: now_rfc3339(),
        request_id: request_id(),
        transport,
        principal: "unauthenticated".into(),
        principal_kind: "none",
        method,
        tool: None,
        upstream: None,
        group: None,
        arguments: None,
        decision,
        outcome,
        reason,
        latency_ms: 0.0,
        bytes_in: 0,
        bytes_out: 0,
        redactions: Default::default(),
        guardrail: Vec::new(),
    }
}

/// The hash the next record must chain to: the last line's, or the genesis value.
fn last_hash(path: &Path) -> Result<String, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(GENESIS.into()),
        Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
    };
    let mut last = None;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    match last {
        None => Ok(GENESIS.into()),
        Some(line) => line_hash(&line).map(str::to_string).ok_or_else(|| {
            format!(
                "the last line of `{}` is not a sealed audit record; move the file aside to start a new log",
                path.display()
            )
        }),
    }
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` and starts the writer task, which ends
    /// when every `AuditLog` handle is dropped.
    pub fn open(path: PathBuf) -> Result<AuditLog, String> {
        let mut prev = last_hash(&path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open the audit log `{}`: {e}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::new(file);
            // Write whatever has queued up, then flush once: one write for a burst of records.
            while let Some(first) = rx.blocking_recv() {
                let mut flushed = Vec::new();
                let mut next = Some(first);
                while let Some(message) = next {
                    match message {
                        Message::Record(record) => {
                            let (line, hash) = seal(&record, &prev);
                            match out
                                .write_all(line.as_bytes())
                                .and_then(|()| out.write_all(b"\n"))
                            {
                                Ok(()) => prev = hash,
                                Err(e) => tracing::error!(error = %e, "cannot write the audit log"),
                            }
                        }
                        Message::Flush(done) => flushed.push(done),
                    }
                    next = rx.try_recv().ok();
                }
                if let Err(e) = out.flush() {
                    tracing::error!(error = %e, "cannot write the audit log");
                }
                for done in flushed {
                    let _ = done.send(());
                }
                // Let the next records gather instead of waking this thread for each one: under
                // load the wake-ups cost more than the writing. A record waits at most this long.
                std::thread::sleep(GATHER);
            }
        });
        Ok(AuditLog { tx })
    }

    /// Hands a record to the writer.
    pub fn record(&self, record: AuditRecord) {
        if self.tx.send(Message::Record(Box::new(record))).is_err() {
            tracing::error!("the audit log writer has stopped; a record was lost");
        }
    }

    /// Waits until every record handed over so far is written.
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}
