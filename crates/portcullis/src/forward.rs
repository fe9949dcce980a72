//! `[audit.http]`: every audit record, as sealed in the log, POSTed to a webhook or SIEM.
//!
//! The log is the spool. A record is on disk before it is forwarded; the forwarder reads the
//! log from the last record the receiver accepted (its hash is kept in the data directory,
//! `audit-http.cursor`) and sends what follows in batches of JSON lines, each record with its
//! `hash`, the batch's last hash as `Idempotency-Key`. A receiver that is down, slow or
//! refusing gets the same batch again, with backoff, until it accepts it; calls never wait for
//! any of this, and a restart resumes where the receiver left off. A receiver that dedupes by
//! record hash sees each record exactly once. One process per data directory forwards at a time
//! (a lock file); the others stand by.

use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_core::audit::line_hash;
use portcullis_core::config::HttpSink;
use portcullis_store::DataDir;
use portcullis_store::follow::Follower;
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the log is looked at for new records.
const POLL: Duration = Duration::from_millis(250);

/// Starts forwarding the audit log of `dir` to the sink; the task ends with `shutdown`.
/// Fails at once when the sink's headers cannot be read (`base_dir`: where relative secret
/// files are).
pub fn spawn(
    sink: HttpSink,
    base_dir: &Path,
    dir: &DataDir,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let headers = portcullis_gateway::secrets::resolve_headers(&sink.headers, base_dir)
        .map_err(|e| format!("audit.http: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(sink.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .map_err(|e| format!("audit.http: cannot build the HTTP client: {e}"))?;
    let forwarder = Forwarder {
        client,
        url: sink.url,
        batch: sink.batch,
        log: dir.audit_log(),
        cursor: dir.path().join("audit-http.cursor"),
        lock: dir.path().join("audit-http.lock"),
    };
    Ok(tokio::spawn(forwarder.run(shutdown)))
}

struct Forwarder {
    client: reqwest::Client,
    url: String,
    batch: usize,
    log: PathBuf,
    cursor: PathBuf,
    lock: PathBuf,
}

impl Forwarder {
    async fn run(self, shutdown: CancellationToken) {
        let Some(_lock) = self.hold_lock(&shutdown).await else {
            return;
        };
        let after = std::fs::read_to_string(&self.cursor)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let log = self.log.clone();
        let opened =
            tokio::task::spawn_blocking(move || Follower::after(&log, after.as_deref())).await;
        let mut follower = match opened {
            Ok(Ok((follower, found))) => {
                if !found && std::fs::metadata(&self.cursor).is_ok() {
                    tracing::warn!(
                        "audit.http: the last record forwarded is not in the log any more; forwarding the whole log again"
                    );
                }
                follower
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "audit.http: cannot read the audit log; nothing is forwarded");
                return;
            }
            Err(_) => return,
        };
        loop {
            let batch = self.batch;
            let read = tokio::task::spawn_blocking(move || {
                let lines = follower.next_lines(batch);
                (follower, lines)
            })
            .await;
            let Ok((back, lines)) = read else { return };
            follower = back;
            let lines = match lines {
                Ok(lines) => lines,
                Err(e) => {
                    tracing::error!(error = %e, "audit.http: cannot read the audit log");
                    Vec::new()
                }
            };
            if lines.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => continue,
                    () = shutdown.cancelled() => return,
                }
            }
            if !self.deliver(&lines, &shutdown).await {
                return;
            }
        }
    }

    /// Takes the data directory's forwarding lock, waiting while another process holds it;
    /// `None` at shutdown.
    async fn hold_lock(&self, shutdown: &CancellationToken) -> Option<std::fs::File> {
        let mut told = false;
        loop {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&self.lock);
            match file {
                Ok(f) if f.try_lock().is_ok() => return Some(f),
                Ok(_) => {
                    if !told {
                        tracing::info!(
                            "audit.http: another process forwards this data directory's log; standing by"
                        );
                        told = true;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit.http: cannot open the lock file; nothing is forwarded");
                    return None;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    /// Sends `lines` until the receiver accepts them (then keeps their last hash as the
    /// cursor); false at shutdown.
    async fn deliver(&self, lines: &[String], shutdown: &CancellationToken) -> bool {
        let last = lines
            .last()
            .and_then(|l| line_hash(l))
            .unwrap_or_default()
            .to_string();
        let mut body = lines.join("\n");
        body.push('\n');
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0u32;
        loop {
            let sent = self
                .client
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, "application/x-ndjson")
                .header("idempotency-key", &last)
                .body(body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(answer) if answer.status().is_success() => {
                    if failures > 0 {
                        tracing::info!(failures, "audit.http: the receiver accepts records again");
                    }
                    if let Err(e) = write_cursor(&self.cursor, &last) {
                        tracing::error!(error = %e, "audit.http: cannot keep the cursor; a restart sends some records again");
                    }
                    return true;
                }
                Ok(answer) => format!("answered HTTP {}", answer.status().as_u16()),
                Err(e) if e.is_timeout() => "did not answer in time".to_string(),
                Err(e) => format!("is unreachable ({e})"),
            };
            failures += 1;
            if failures == 1 || failures.is_power_of_two() {
                tracing::warn!(failures, retry_in = ?backoff, "audit.http: the receiver {failure}; records wait in the log");
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return false,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn write_cursor(path: &Path, hash: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, hash)?;
    std::fs::rename(&tmp, path)
}
