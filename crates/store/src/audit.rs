//! The audit log on disk: one hash-chained JSON line per record (see
//! [`portcullis_core::audit`]), appended by a writer thread in bursts a few milliseconds apart.
//! Callers hand records over without waiting.
//!
//! # Several writers, one chain
//!
//! Every process that serves from a data directory — `serve`, a second `serve`, the `stdio`
//! gateway a desktop client starts — appends to the same file, and the chain stays whole: a
//! writer takes an exclusive lock on the file (`flock`) for each burst, re-reads the hash of the
//! last line when the file is no longer the length it left it at (another writer appended),
//! appends the burst in one `write`, and lets go. The lock is advisory: tools that edit the log
//! by hand do not take it.
//!
//! # A writer that died mid-write
//!
//! A process killed while writing can leave an unfinished last line. The next writer, holding
//! the lock, repairs the tail before it appends: a last line that is a whole sealed record and
//! lacks only its newline gets the newline; anything else is cut off, and a record saying how
//! many bytes were dropped is chained in its place. `audit verify` accepts a log whose only
//! fault is such an unfinished last line, and says so.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_core::audit::{AuditRecord, Decision, GENESIS, Outcome, line_hash, rfc3339, seal};
use portcullis_core::ports::{AuditSink, BoxFuture};
use tokio::sync::{mpsc, oneshot};

/// How long the writer lets records gather after writing a burst.
const GATHER: Duration = Duration::from_millis(2);

/// How much of the end of the log is read at a time when looking for its last line.
const TAIL_BLOCK: u64 = 16 * 1024;

/// The sending side of the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditFile {
    tx: mpsc::UnboundedSender<Message>,
    /// Microseconds the oldest record of the last burst waited before it was written.
    lag_micros: Arc<AtomicU64>,
}

enum Message {
    /// A record, and when it was handed over.
    Record(Box<AuditRecord>, Instant),
    /// Answered once every record sent before it is written.
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, thiserror::Error)]
pub enum AuditFileError {
    #[error("cannot open the audit log `{path}`: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read the audit log `{path}`: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "the last line of `{path}` is not a sealed audit record, so the chain cannot be continued; move the file aside to start a new log"
    )]
    NotSealed { path: PathBuf },
}

impl AuditFile {
    /// Opens (creating if needed) the log at `path`, checks that its chain can be continued,
    /// and starts the writer thread, which ends when every handle is dropped.
    pub fn open(path: PathBuf) -> Result<AuditFile, AuditFileError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|source| AuditFileError::Open {
                path: path.clone(),
                source,
            })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        let lag_micros = Arc::new(AtomicU64::new(0));
        let mut writer = Writer {
            file,
            path,
            last: None,
            lag_micros: lag_micros.clone(),
        };
        // A log that cannot be continued stops the start, not the first write.
        writer.append(&[])?;
        let (tx, rx) = mpsc::unbounded_channel::<Message>();
        std::thread::Builder::new()
            .name("portcullis-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| AuditFileError::Open {
                path: PathBuf::new(),
                source,
            })?;
        Ok(AuditFile { tx, lag_micros })
    }
}

/// Calls `each` with every record of the log at `path`, oldest first, until it returns
/// `false`. A line that is not a JSON object (an unfinished last line) is skipped.
pub fn read_records(
    path: &Path,
    mut each: impl FnMut(serde_json::Value) -> bool,
) -> Result<(), AuditFileError> {
    use std::io::BufRead;
    let read_error = |source| AuditFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    for line in io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(read_error)?;
        match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(record) if record.is_object() => {
                if !each(record) {
                    break;
                }
            }
            _ => continue,
        }
    }
    Ok(())
}

impl AuditSink for AuditFile {
    fn record(&self, record: AuditRecord) {
        if self
            .tx
            .send(Message::Record(Box::new(record), Instant::now()))
            .is_err()
        {
            tracing::error!("the audit log writer has stopped; a record was lost");
        }
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        let (done, written) = oneshot::channel();
        let sent = self.tx.send(Message::Flush(done)).is_ok();
        Box::pin(async move {
            if sent {
                let _ = written.await;
            }
        })
    }

    fn write_lag(&self) -> Option<Duration> {
        Some(Duration::from_micros(
            self.lag_micros.load(Ordering::Relaxed),
        ))
    }
}

struct Writer {
    file: File,
    path: PathBuf,
    /// The file's length and last hash after this writer's last burst.
    last: Option<(u64, String)>,
    lag_micros: Arc<AtomicU64>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Message>) {
        // Write whatever has queued up at once: one lock and one write for a burst.
        while let Some(first) = rx.blocking_recv() {
            let mut records = Vec::new();
            let mut flushed = Vec::new();
            let mut oldest = None;
            let mut next = Some(first);
            while let Some(message) = next {
                match message {
                    Message::Record(record, at) => {
                        oldest.get_or_insert(at);
                        records.push(*record);
                    }
                    Message::Flush(done) => flushed.push(done),
                }
                next = rx.try_recv().ok();
            }
            if !records.is_empty() {
                match self.append(&records) {
                    Ok(()) => {
                        let waited = oldest.map_or(Duration::ZERO, |at| at.elapsed());
                        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
                        self.lag_micros.store(micros, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, lost = records.len(), "cannot write the audit log");
                    }
                }
            }
            for done in flushed {
                let _ = done.send(());
            }
            // Let the next records gather instead of waking this thread for each one: under
            // load the wake-ups cost more than the writing. A record waits at most this long.
            std::thread::sleep(GATHER);
        }
    }

    /// Appends `records` under the file lock, chained to whatever line is last now.
    fn append(&mut self, records: &[AuditRecord]) -> Result<(), AuditFileError> {
        self.file.lock().map_err(|e| self.read_error(e))?;
        let appended = self.append_locked(records);
        if let Err(e) = self.file.unlock() {
            tracing::error!(error = %e, "cannot release the audit log's lock");
        }
        appended
    }

    fn append_locked(&mut self, records: &[AuditRecord]) -> Result<(), AuditFileError> {
        let len = self.file.metadata().map_err(|e| self.read_error(e))?.len();
        let (mut prev, mut out) = match &self.last {
            Some((at, hash)) if *at == len => (hash.clone(), Vec::new()),
            _ => self.tail(len)?,
        };
        for record in records {
            let (line, hash) = seal(record, &prev);
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            prev = hash;
        }
        if !out.is_empty() {
            self.file.write_all(&out).map_err(|e| self.read_error(e))?;
        }
        let len = self.file.metadata().map_err(|e| self.read_error(e))?.len();
        self.last = Some((len, prev));
        Ok(())
    }

    /// The hash to chain to when the file is `len` bytes long, and what must be written
    /// before the next record to repair an unfinished last line.
    fn tail(&mut self, len: u64) -> Result<(String, Vec<u8>), AuditFileError> {
        let (start, tail) = self.read_tail(len)?;
        // `tail` holds the last whole line (if any) and whatever follows its newline.
        let body_end = tail.iter().rposition(|&b| b == b'\n');
        let (whole, unfinished) = match body_end {
            Some(end) => {
                let before = tail[..end].iter().rposition(|&b| b == b'\n');
                (&tail[before.map_or(0, |b| b + 1)..end], &tail[end + 1..])
            }
            None => (&tail[..0], &tail[..]),
        };
        let hash_of = |line: &[u8]| {
            std::str::from_utf8(line)
                .ok()
                .and_then(line_hash)
                .map(str::to_string)
        };
        if !unfinished.is_empty() {
            if let Some(hash) = hash_of(unfinished) {
                // A whole record that lacks only its newline.
                return Ok((hash, b"\n".to_vec()));
            }
            let cut = start + body_end.map_or(0, |e| e as u64 + 1);
            self.file.set_len(cut).map_err(|e| self.read_error(e))?;
            let dropped = len - cut;
            tracing::warn!(
                path = %self.path.display(),
                dropped,
                "the audit log ended in an unfinished record (a writer stopped mid-write); cut it off"
            );
            let prev = if whole.is_empty() {
                GENESIS.to_string()
            } else {
                hash_of(whole).ok_or_else(|| self.not_sealed())?
            };
            let (line, hash) = seal(&repair_record(dropped), &prev);
            let mut out = line.into_bytes();
            out.push(b'\n');
            return Ok((hash, out));
        }
        if whole.is_empty() {
            return Ok((GENESIS.to_string(), Vec::new()));
        }
        let hash = hash_of(whole).ok_or_else(|| self.not_sealed())?;
        Ok((hash, Vec::new()))
    }

    /// Reads backwards from the end until the bytes read hold a whole line before the last
    /// newline (or reach the start); returns where they start and the bytes.
    fn read_tail(&mut self, len: u64) -> Result<(u64, Vec<u8>), AuditFileError> {
        let mut start = len;
        let mut tail: Vec<u8> = Vec::new();
        loop {
            // Two newlines: the whole line before the last one is in `tail`.
            if start == 0 || tail.iter().filter(|&&b| b == b'\n').count() >= 2 {
                return Ok((start, tail));
            }
            let from = start.saturating_sub(TAIL_BLOCK);
            let mut block = vec![0u8; (start - from) as usize];
            self.file
                .seek(SeekFrom::Start(from))
                .and_then(|_| self.file.read_exact(&mut block))
                .map_err(|e| self.read_error(e))?;
            block.extend_from_slice(&tail);
            tail = block;
            start = from;
        }
    }

    fn read_error(&self, source: io::Error) -> AuditFileError {
        AuditFileError::Read {
            path: self.path.clone(),
            source,
        }
    }

    fn not_sealed(&self) -> AuditFileError {
        AuditFileError::NotSealed {
            path: self.path.clone(),
        }
    }
}

/// The record chained where an unfinished one was cut off.
fn repair_record(dropped: u64) -> AuditRecord {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    AuditRecord {
        time: rfc3339(ms),
        request_id: "audit-repair".into(),
        transport: "internal",
        principal: "portcullis".into(),
        principal_kind: "gateway",
        method: "audit/repair".into(),
        decision: Decision::Allowed,
        outcome: Outcome::Ok,
        reason: format!(
            "cut off {dropped} bytes of an unfinished record left by a writer that stopped mid-write"
        ),
        ..AuditRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::audit::verify_log;

    use super::*;

    fn record(n: usize) -> AuditRecord {
        AuditRecord {
            request_id: format!("r-{n}"),
            method: "tools/call".into(),
            ..AuditRecord::default()
        }
    }

    fn temp_log() -> (PathBuf, impl Drop) {
        struct Gone(PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let dir = std::env::temp_dir().join(format!("pc-audit-{}", portcullis_core::hex(&bytes)));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("audit.jsonl"), Gone(dir))
    }

    #[tokio::test]
    async fn two_writers_on_one_file_keep_one_chain() {
        let (path, _gone) = temp_log();
        let a = AuditFile::open(path.clone()).unwrap();
        let b = AuditFile::open(path.clone()).unwrap();
        for n in 0..200 {
            if n % 3 == 0 { &b } else { &a }.record(record(n));
            if n % 17 == 0 {
                a.flush().await;
            }
        }
        a.flush().await;
        b.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let check = verify_log(&text).unwrap();
        assert_eq!((check.records, check.unfinished), (200, 0));
    }

    #[tokio::test]
    async fn an_unfinished_last_line_is_cut_off_and_the_cut_recorded() {
        let (path, _gone) = temp_log();
        let log = AuditFile::open(path.clone()).unwrap();
        for n in 0..3 {
            log.record(record(n));
        }
        log.flush().await;
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 25]).unwrap();
        let log = AuditFile::open(path.clone()).unwrap();
        log.record(record(3));
        log.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let check = verify_log(&text).unwrap();
        assert_eq!((check.records, check.unfinished), (4, 0), "{text}");
        assert!(text.contains("\"method\":\"audit/repair\""));
        assert!(!text.contains("\"r-2\""), "the torn record is gone");
    }

    #[tokio::test]
    async fn a_last_record_missing_only_its_newline_is_kept() {
        let (path, _gone) = temp_log();
        let log = AuditFile::open(path.clone()).unwrap();
        log.record(record(0));
        log.flush().await;
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.trim_end()).unwrap();
        let log = AuditFile::open(path.clone()).unwrap();
        log.record(record(1));
        log.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(verify_log(&text).unwrap().records, 2);
        assert!(!text.contains("audit/repair"));
    }

    #[test]
    fn a_log_whose_last_line_is_not_a_record_is_refused_at_open() {
        let (path, _gone) = temp_log();
        std::fs::write(&path, "{\"hand\":\"edited\"}\n").unwrap();
        assert!(matches!(
            AuditFile::open(path),
            Err(AuditFileError::NotSealed { .. })
        ));
    }
}
