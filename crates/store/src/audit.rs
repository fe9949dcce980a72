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
//! # Rotation
//!
//! With `[audit] max_file_bytes` or `max_file_age`, the writer that finds the current file due
//! (holding its lock) renames it to `audit.<UTC time>.jsonl` beside it, starts a new
//! `audit.jsonl`, and chains its first record — an `audit/rotate` record naming the file before
//! — to the last hash of the old one: one chain across every file, which [`verify_files`] walks.
//! Other writers notice at their next burst that the path names another file, and reopen it.
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

use portcullis_core::audit::{
    AuditRecord, Chain, ChainBreak, Decision, GENESIS, Outcome, line_hash, parse_rfc3339, rfc3339,
    seal, verify_text,
};
use portcullis_core::config::Rotation;
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

/// Opens (creating, owner-only) the log file at `path` for appending.
fn open_log(path: &Path) -> Result<File, AuditFileError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(|source| AuditFileError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(file)
}

/// Whether two handles are one file (after a rotation, the path names another).
pub(crate) fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// Every file of the log whose current file is `path`, oldest first: the rotated ones
/// (`<stem>.<UTC time>.<ext>` beside it, in name order, which is time order), then `path`
/// itself if it exists.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(stem), Some(ext)) = (
        path.parent().map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        }),
        path.file_stem().and_then(|s| s.to_str()),
        path.extension().and_then(|s| s.to_str()),
    ) else {
        return vec![path.to_path_buf()];
    };
    let prefix = format!("{stem}.");
    let suffix = format!(".{ext}");
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let middle = name.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
            middle
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| dir.join(&name))
        })
        .collect();
    rotated.sort();
    if path.exists() {
        rotated.push(path.to_path_buf());
    }
    rotated
}

/// Where a file rotated at `now_ms` goes: `<stem>.<UTC time>.<ext>`, never over another.
fn rotated_name(path: &Path, now_ms: u64) -> PathBuf {
    let stamp: String = rfc3339(now_ms)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("jsonl");
    let mut candidate = path.with_file_name(format!("{stem}.{stamp}.{ext}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{stem}.{stamp}-{n}.{ext}"));
        n += 1;
    }
    candidate
}

/// What [`verify_files`] found: every file's records chained into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesCheck {
    pub files: usize,
    pub records: usize,
    /// Bytes of an unfinished last line of the current file.
    pub unfinished: usize,
}

/// Where [`verify_files`] found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesBreak {
    pub file: PathBuf,
    /// The record's line in that file (from 1).
    pub line: usize,
    pub reason: String,
}

/// Checks the chain through every file of the log whose current file is `path` (see
/// [`log_files`]): each file must continue the one before it, the first must start the chain,
/// and only the last may end in an unfinished line.
pub fn verify_files(path: &Path) -> Result<Result<FilesCheck, FilesBreak>, AuditFileError> {
    let files = log_files(path);
    let mut chain = Chain::default();
    let mut unfinished = 0;
    for (i, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(file).map_err(|source| AuditFileError::Read {
            path: file.clone(),
            source,
        })?;
        let before = chain.records();
        let broken = |e: ChainBreak| FilesBreak {
            file: file.clone(),
            line: e.record - before,
            reason: e.reason,
        };
        match verify_text(&text, &mut chain) {
            Ok(0) => {}
            Ok(left) if i + 1 == files.len() => unfinished = left,
            Ok(_) => {
                return Ok(Err(FilesBreak {
                    file: file.clone(),
                    line: chain.records() - before + 1,
                    reason: "a rotated file ends in an unfinished line".into(),
                }));
            }
            Err(e) => return Ok(Err(broken(e))),
        }
    }
    Ok(Ok(FilesCheck {
        files: files.len(),
        records: chain.records(),
        unfinished,
    }))
}

impl AuditFile {
    /// Opens (creating if needed) the log at `path`, checks that its chain can be continued,
    /// and starts the writer thread, which ends when every handle is dropped. The log is one
    /// file that grows.
    pub fn open(path: PathBuf) -> Result<AuditFile, AuditFileError> {
        AuditFile::open_rotating(path, Rotation::default())
    }

    /// Like [`AuditFile::open`], rotating the file as `rotation` says.
    pub fn open_rotating(path: PathBuf, rotation: Rotation) -> Result<AuditFile, AuditFileError> {
        let file = open_log(&path)?;
        let lag_micros = Arc::new(AtomicU64::new(0));
        let mut writer = Writer {
            file,
            path,
            last: None,
            lag_micros: lag_micros.clone(),
            rotation,
            first_at: None,
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

/// Calls `each` with every record of the log whose current file is `path` — its rotated files
/// first — oldest first, until it returns `false`. A line that is not a JSON object (an
/// unfinished last line) is skipped.
pub fn read_records(
    path: &Path,
    mut each: impl FnMut(serde_json::Value) -> bool,
) -> Result<(), AuditFileError> {
    use std::io::BufRead;
    for file in log_files(path) {
        let read_error = |source| AuditFileError::Read {
            path: file.clone(),
            source,
        };
        let handle = File::open(&file).map_err(read_error)?;
        for line in io::BufReader::new(handle).split(b'\n') {
            let line = line.map_err(read_error)?;
            match serde_json::from_slice::<serde_json::Value>(&line) {
                Ok(record) if record.is_object() => {
                    if !each(record) {
                        return Ok(());
                    }
                }
                _ => continue,
            }
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
    rotation: Rotation,
    /// When the current file's first record was written (Unix ms), once known.
    first_at: Option<u64>,
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
        self.lock_current()?;
        let appended = self
            .rotate_if_due()
            .and_then(|()| self.append_locked(records));
        if let Err(e) = self.file.unlock() {
            tracing::error!(error = %e, "cannot release the audit log's lock");
        }
        appended
    }

    /// Locks the file the path names now: when another writer rotated the log, the handle
    /// held is to the file moved aside, and the current one is opened instead.
    fn lock_current(&mut self) -> Result<(), AuditFileError> {
        loop {
            self.file.lock().map_err(|e| self.read_error(e))?;
            let held = self.file.metadata().map_err(|e| self.read_error(e))?;
            match std::fs::metadata(&self.path) {
                Ok(now) if same_file(&held, &now) => return Ok(()),
                _ => {
                    let _ = self.file.unlock();
                    self.file = open_log(&self.path)?;
                    self.last = None;
                    self.first_at = None;
                }
            }
        }
    }

    /// Moves the current file aside and starts a new one, when the config's rotation says so;
    /// the new file's first record continues the chain. Called holding the lock.
    fn rotate_if_due(&mut self) -> Result<(), AuditFileError> {
        let Rotation { max_bytes, max_age } = self.rotation;
        if max_bytes.is_none() && max_age.is_none() {
            return Ok(());
        }
        let len = self.file.metadata().map_err(|e| self.read_error(e))?.len();
        if len == 0 {
            return Ok(());
        }
        let now = now_ms();
        let too_big = max_bytes.is_some_and(|max| len >= max);
        let too_old = max_age.is_some_and(|age| {
            let first = *self
                .first_at
                .get_or_insert_with(|| first_record_time(&self.path).unwrap_or(now));
            now.saturating_sub(first) >= u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
        });
        if !too_big && !too_old {
            return Ok(());
        }
        let (prev, repair) = match &self.last {
            Some((at, hash)) if *at == len => (hash.clone(), Vec::new()),
            _ => self.tail(len)?,
        };
        if !repair.is_empty() {
            // Finish the old file's last line before it is moved aside, then start over from
            // what is on disk.
            self.file
                .write_all(&repair)
                .map_err(|e| self.read_error(e))?;
            self.last = None;
            return self.rotate_if_due();
        }
        let aside = rotated_name(&self.path, now);
        std::fs::rename(&self.path, &aside).map_err(|e| self.read_error(e))?;
        let new = open_log(&self.path)?;
        new.lock().map_err(|e| self.read_error(e))?;
        let old = std::mem::replace(&mut self.file, new);
        let _ = old.unlock();
        let name = aside
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tracing::info!(file = %name, bytes = len, "rotated the audit log");
        let (line, hash) = seal(&rotate_record(&name, len, now), &prev);
        let mut out = line.into_bytes();
        out.push(b'\n');
        self.file.write_all(&out).map_err(|e| self.read_error(e))?;
        self.last = Some((out.len() as u64, hash));
        self.first_at = Some(now);
        Ok(())
    }

    fn append_locked(&mut self, records: &[AuditRecord]) -> Result<(), AuditFileError> {
        let len = self.file.metadata().map_err(|e| self.read_error(e))?.len();
        let (mut prev, mut out) = match &self.last {
            Some((at, hash)) if *at == len => (hash.clone(), Vec::new()),
            _ => self.tail(len)?,
        };
        if len == 0 && out.is_empty() && self.first_at.is_none() && !records.is_empty() {
            self.first_at = Some(now_ms());
        }
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
            return Ok((self.previous_file_hash()?, Vec::new()));
        }
        let hash = hash_of(whole).ok_or_else(|| self.not_sealed())?;
        Ok((hash, Vec::new()))
    }

    /// What an empty current file continues from: the last hash of the newest rotated file
    /// (a writer stopped between moving the old file aside and writing the new one's first
    /// record), or the start of the chain.
    fn previous_file_hash(&self) -> Result<String, AuditFileError> {
        let files = log_files(&self.path);
        let Some(previous) = files.iter().rev().find(|f| **f != self.path) else {
            return Ok(GENESIS.to_string());
        };
        let text = std::fs::read_to_string(previous).map_err(|source| AuditFileError::Read {
            path: previous.clone(),
            source,
        })?;
        text.lines()
            .last()
            .and_then(line_hash)
            .map(str::to_string)
            .ok_or_else(|| AuditFileError::NotSealed {
                path: previous.clone(),
            })
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The time of the first record of the file at `path`.
fn first_record_time(path: &Path) -> Option<u64> {
    use std::io::BufRead;
    let mut first = String::new();
    io::BufReader::new(File::open(path).ok()?)
        .read_line(&mut first)
        .ok()?;
    let record: serde_json::Value = serde_json::from_str(first.trim_end()).ok()?;
    parse_rfc3339(record.get("time")?.as_str()?)
}

/// The first record of a file begun by rotation.
fn rotate_record(previous: &str, bytes: u64, now_ms: u64) -> AuditRecord {
    AuditRecord {
        time: rfc3339(now_ms),
        request_id: "audit-rotate".into(),
        transport: "internal",
        principal: "portcullis".into(),
        principal_kind: "gateway",
        method: "audit/rotate".into(),
        decision: Decision::Allowed,
        outcome: Outcome::Ok,
        reason: format!("continues the chain from `{previous}` ({bytes} bytes)"),
        ..AuditRecord::default()
    }
}

/// The record chained where an unfinished one was cut off.
fn repair_record(dropped: u64) -> AuditRecord {
    AuditRecord {
        time: rfc3339(now_ms()),
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

    fn by_size(bytes: u64) -> Rotation {
        Rotation {
            max_bytes: Some(bytes),
            max_age: None,
        }
    }

    /// Request ids of every record of the log, in order.
    fn ids(path: &Path) -> Vec<String> {
        let mut ids = Vec::new();
        read_records(path, |r| {
            ids.push(r["request_id"].as_str().unwrap_or_default().to_string());
            true
        })
        .unwrap();
        ids
    }

    #[tokio::test]
    async fn a_rotated_log_is_one_chain_across_its_files() {
        let (path, _gone) = temp_log();
        let a = AuditFile::open_rotating(path.clone(), by_size(4096)).unwrap();
        let b = AuditFile::open_rotating(path.clone(), by_size(4096)).unwrap();
        for n in 0..300 {
            if n % 3 == 0 { &b } else { &a }.record(record(n));
            if n % 10 == 0 {
                a.flush().await;
                b.flush().await;
            }
        }
        a.flush().await;
        b.flush().await;
        let files = log_files(&path);
        assert!(files.len() >= 5, "{files:?}");
        assert_eq!(files.last(), Some(&path), "the current file comes last");
        for rotated in &files[..files.len() - 1] {
            let name = rotated.file_name().unwrap().to_str().unwrap();
            assert!(
                name.starts_with("audit.2") && name.ends_with("Z.jsonl") || name.contains("Z-"),
                "{name}"
            );
            // A file is moved aside once it reaches the size (by at most one burst more).
            assert!(std::fs::metadata(rotated).unwrap().len() >= 4096);
        }
        let check = verify_files(&path).unwrap().unwrap();
        let rotations = files.len() - 1;
        assert_eq!((check.files, check.records), (files.len(), 300 + rotations));
        let ids = ids(&path);
        let calls: Vec<&String> = ids.iter().filter(|id| id.starts_with("r-")).collect();
        assert_eq!(calls.len(), 300, "every record once, across the files");
        assert_eq!(
            ids.iter().filter(|id| *id == "audit-rotate").count(),
            rotations
        );
        // Each file alone does not start the chain: only the walk through all of them verifies.
        let second = std::fs::read_to_string(&files[1]).unwrap();
        assert!(verify_log(&second).is_err());
    }

    #[tokio::test]
    async fn a_change_or_a_missing_file_in_the_middle_is_found() {
        let (path, _gone) = temp_log();
        let log = AuditFile::open_rotating(path.clone(), by_size(4096)).unwrap();
        for n in 0..120 {
            log.record(record(n));
            log.flush().await;
        }
        let files = log_files(&path);
        assert!(files.len() >= 3, "{files:?}");
        let middle = files[1].clone();
        let text = std::fs::read_to_string(&middle).unwrap();
        std::fs::write(&middle, text.replacen("\"r-", "\"x-", 1)).unwrap();
        let broken = verify_files(&path).unwrap().unwrap_err();
        assert_eq!(broken.file, middle);
        assert!(broken.reason.contains("changed"), "{broken:?}");
        std::fs::remove_file(&middle).unwrap();
        let broken = verify_files(&path).unwrap().unwrap_err();
        assert_eq!(
            (broken.file.clone(), broken.line),
            (files[2].clone(), 1),
            "{broken:?}"
        );
        assert!(broken.reason.contains("removed"), "{broken:?}");
    }

    #[tokio::test]
    async fn an_old_file_rotates_by_age_and_an_empty_current_file_continues_the_chain() {
        let (path, _gone) = temp_log();
        let log = AuditFile::open(path.clone()).unwrap();
        log.record(AuditRecord {
            time: "2020-01-01T00:00:00.000Z".into(),
            ..record(0)
        });
        log.flush().await;
        drop(log);
        let log = AuditFile::open_rotating(
            path.clone(),
            Rotation {
                max_bytes: None,
                max_age: Some(Duration::from_secs(3600)),
            },
        )
        .unwrap();
        log.record(record(1));
        log.flush().await;
        drop(log);
        assert_eq!(
            log_files(&path).len(),
            2,
            "the file from 2020 was moved aside"
        );
        // A writer that stopped right after moving the file aside leaves an empty one.
        std::fs::write(&path, "").unwrap();
        let log = AuditFile::open_rotating(path.clone(), Rotation::default()).unwrap();
        log.record(record(2));
        log.flush().await;
        // It continues the chain from the newest rotated file (what was emptied away is lost,
        // as when lines are cut off the end: keep the last hash elsewhere to notice that).
        let check = verify_files(&path).unwrap().unwrap();
        assert_eq!((check.files, check.records), (2, 2));
        assert_eq!(ids(&path), ["r-0", "r-2"]);
    }
}
