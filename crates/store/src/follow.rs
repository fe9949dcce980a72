//! Reading the audit log as it grows, from a given record on, across rotations: what the HTTP
//! sink forwards from. The log itself is the spool — a record is on disk before anything
//! forwards it, and a reader resumes after the last record it handed on.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use portcullis_core::audit::line_hash;

use crate::audit::{AuditFileError, log_files, same_file};

/// Most bytes read at a time.
const CHUNK: usize = 1 << 20;

/// A position in the log: a file of it and an offset in that file.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    offset: u64,
}

impl Follower {
    /// A reader of the log whose current file is `path`, just after the record whose hash is
    /// `after`; at the log's first record when `after` is `None` or names no record (then
    /// the second value is false).
    pub fn after(path: &Path, after: Option<&str>) -> Result<(Follower, bool), AuditFileError> {
        let mut follower = Follower {
            path: path.to_path_buf(),
            file: None,
            offset: 0,
        };
        let Some(wanted) = after else {
            return Ok((follower, false));
        };
        for file in log_files(path) {
            let text = std::fs::read(&file).map_err(|source| AuditFileError::Read {
                path: file.clone(),
                source,
            })?;
            let mut at = 0usize;
            for line in text.split_inclusive(|b| *b == b'\n') {
                at += line.len();
                let whole = line.strip_suffix(b"\n").unwrap_or(line);
                if std::str::from_utf8(whole).ok().and_then(line_hash) == Some(wanted) {
                    follower.file = Some(open(&file)?);
                    follower.offset = at as u64;
                    return Ok((follower, true));
                }
            }
        }
        Ok((follower, false))
    }

    /// Up to `max` whole lines that follow (without their newlines); none when nothing new is
    /// written yet. Moves on to the next file when the one being read was rotated out.
    pub fn next_lines(&mut self, max: usize) -> Result<Vec<String>, AuditFileError> {
        loop {
            if self.file.is_none() {
                let Some(first) = log_files(&self.path).into_iter().next() else {
                    return Ok(Vec::new());
                };
                self.file = Some(open(&first)?);
                self.offset = 0;
            }
            let lines = self.read_lines(max)?;
            if !lines.is_empty() || !self.next_file()? {
                return Ok(lines);
            }
        }
    }

    fn read_lines(&mut self, max: usize) -> Result<Vec<String>, AuditFileError> {
        let path = self.path.clone();
        let read_error = |source| AuditFileError::Read {
            path: path.clone(),
            source,
        };
        let Some(file) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        file.seek(SeekFrom::Start(self.offset))
            .map_err(read_error)?;
        let mut buf = Vec::new();
        file.take(CHUNK as u64)
            .read_to_end(&mut buf)
            .map_err(read_error)?;
        let mut lines = Vec::new();
        let mut used = 0usize;
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if lines.len() == max || !line.ends_with(b"\n") {
                break;
            }
            used += line.len();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            if !text.trim().is_empty() {
                lines.push(text);
            }
        }
        self.offset += used as u64;
        Ok(lines)
    }

    /// When the file being read is no longer the current one (it was rotated out) and all of
    /// it is read, moves to the file after it; returns whether it moved.
    fn next_file(&mut self) -> Result<bool, AuditFileError> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let read_error = |source| AuditFileError::Read {
            path: self.path.clone(),
            source,
        };
        let held = file.metadata().map_err(read_error)?;
        if std::fs::metadata(&self.path).is_ok_and(|now| same_file(&held, &now)) {
            return Ok(false);
        }
        if self.offset < held.len() {
            return Ok(false);
        }
        let files = log_files(&self.path);
        let mine = files
            .iter()
            .position(|f| std::fs::metadata(f).is_ok_and(|m| same_file(&held, &m)));
        let next = match mine {
            Some(i) => files.get(i + 1),
            // Its file is gone (moved elsewhere): go on with the oldest left.
            None => files.first(),
        };
        let Some(next) = next.cloned() else {
            return Ok(false);
        };
        self.file = Some(open(&next)?);
        self.offset = 0;
        Ok(true)
    }
}

fn open(path: &Path) -> Result<File, AuditFileError> {
    File::open(path).map_err(|source| AuditFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use portcullis_core::audit::AuditRecord;
    use portcullis_core::config::Rotation;
    use portcullis_core::ports::AuditSink;

    use super::*;
    use crate::AuditFile;

    fn record(n: usize) -> AuditRecord {
        AuditRecord {
            request_id: format!("r-{n}"),
            method: "tools/call".into(),
            ..AuditRecord::default()
        }
    }

    fn ids(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_follower_reads_every_record_once_across_rotations_and_resumes_after_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let rotation = Rotation {
            max_bytes: Some(4096),
            max_age: None,
        };
        let log = AuditFile::open_rotating(path.clone(), rotation).unwrap();
        let (mut follower, found) = Follower::after(&path, None).unwrap();
        assert!(!found);
        let mut seen = Vec::new();
        for n in 0..150 {
            log.record(record(n));
            log.flush().await;
            if n % 7 == 0 {
                seen.extend(follower.next_lines(5).unwrap());
            }
        }
        loop {
            let more = follower.next_lines(5).unwrap();
            if more.is_empty() {
                break;
            }
            seen.extend(more);
        }
        assert!(log_files(&path).len() > 3);
        let calls: Vec<String> = ids(&seen)
            .into_iter()
            .filter(|i| i.starts_with("r-"))
            .collect();
        assert_eq!(
            calls,
            (0..150).map(|n| format!("r-{n}")).collect::<Vec<_>>()
        );

        // From the hash of the 100th record on, in a rotated file: the rest, once.
        let hundredth = seen.iter().find(|l| l.contains("\"r-99\"")).unwrap();
        let (mut resumed, found) = Follower::after(&path, line_hash(hundredth)).unwrap();
        assert!(found);
        let mut rest = Vec::new();
        loop {
            let more = resumed.next_lines(1000).unwrap();
            if more.is_empty() {
                break;
            }
            rest.extend(more);
        }
        let calls: Vec<String> = ids(&rest)
            .into_iter()
            .filter(|i| i.starts_with("r-"))
            .collect();
        assert_eq!(
            calls,
            (100..150).map(|n| format!("r-{n}")).collect::<Vec<_>>()
        );
        let (_, found) = Follower::after(&path, Some(&"0".repeat(64))).unwrap();
        assert!(!found, "an unknown hash starts over");
    }
}
