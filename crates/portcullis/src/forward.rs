//! The audit sinks besides the log: `[audit.http]`, every record as sealed in the log POSTed
//! to a webhook or SIEM, and `[telemetry] audit_logs`, every record as an OTLP log record.
//!
//! The log is the spool. A record is on disk before it is forwarded; the forwarder reads the
//! log from the last record the receiver accepted (its hash is kept in the data directory,
//! `audit-http.cursor`) and sends what follows in batches of JSON lines, each record with its
//! `hash`, the batch's last hash as `Idempotency-Key`. A receiver that is down, slow or
//! refusing gets the same batch again, with backoff, until it accepts it; calls never wait for
//! any of this, and a restart resumes where the receiver left off. A receiver that dedupes by
//! record hash sees each record exactly once. One process per data directory forwards to each
//! sink at a time (a lock file); the others stand by. The OTLP sink works alike, with its own
//! cursor (`audit-otlp.cursor`), sending `ExportLogsServiceRequest`s in OTLP's JSON form.

use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_core::SecretSource;
use portcullis_core::audit::{line_hash, parse_rfc3339};
use portcullis_core::config::{HttpSink, Telemetry};
use portcullis_store::DataDir;
use portcullis_store::follow::Follower;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the log is looked at for new records.
const POLL: Duration = Duration::from_millis(250);

/// Where a sink sends the records, and in what form.
pub struct Destination {
    /// `http` or `otlp`: names the sink in logs and its cursor and lock files.
    name: &'static str,
    url: String,
    headers: Vec<(String, SecretSource)>,
    batch: usize,
    timeout: Duration,
    encoding: Encoding,
}

enum Encoding {
    /// The sealed lines as they are, one JSON object per line.
    JsonLines,
    /// An OTLP `ExportLogsServiceRequest` (JSON), one log record per audit record.
    OtlpLogs { service_name: String },
}

impl Destination {
    /// `[audit.http]`.
    pub fn http(sink: HttpSink) -> Destination {
        Destination {
            name: "http",
            url: sink.url,
            headers: sink.headers,
            batch: sink.batch,
            timeout: sink.timeout,
            encoding: Encoding::JsonLines,
        }
    }

    /// `[telemetry]` with `audit_logs`: the collector's `/v1/logs`.
    pub fn otlp_logs(telemetry: &Telemetry) -> Destination {
        Destination {
            name: "otlp",
            url: format!("{}/v1/logs", telemetry.endpoint),
            headers: telemetry.headers.clone(),
            batch: 100,
            timeout: Duration::from_secs(10),
            encoding: Encoding::OtlpLogs {
                service_name: telemetry.service_name.clone(),
            },
        }
    }
}

/// Starts forwarding the audit log of `dir` to `to`; the task ends with `shutdown`. Fails at
/// once when the sink's headers cannot be read (`base_dir`: where relative secret files are).
pub fn spawn(
    to: Destination,
    base_dir: &Path,
    dir: &DataDir,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let what = format!("audit sink `{}`", to.name);
    let headers = portcullis_gateway::secrets::resolve_headers(&to.headers, base_dir)
        .map_err(|e| format!("{what}: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(to.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .map_err(|e| format!("{what}: cannot build the HTTP client: {e}"))?;
    let forwarder = Forwarder {
        client,
        what,
        url: to.url,
        batch: to.batch,
        encoding: to.encoding,
        log: dir.audit_log(),
        cursor: dir.path().join(format!("audit-{}.cursor", to.name)),
        lock: dir.path().join(format!("audit-{}.lock", to.name)),
    };
    Ok(tokio::spawn(forwarder.run(shutdown)))
}

struct Forwarder {
    client: reqwest::Client,
    /// The sink, in log lines.
    what: String,
    url: String,
    batch: usize,
    encoding: Encoding,
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
                tracing::error!(error = %e, "{}: cannot read the audit log; nothing is forwarded", self.what);
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
                    tracing::error!(error = %e, "{}: cannot read the audit log", self.what);
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
                    tracing::error!(error = %e, "{}: cannot open the lock file; nothing is forwarded", self.what);
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
        let (body, kind) = match &self.encoding {
            Encoding::JsonLines => {
                let mut body = lines.join("\n");
                body.push('\n');
                (body, "application/x-ndjson")
            }
            Encoding::OtlpLogs { service_name } => {
                (otlp_logs(lines, service_name), "application/json")
            }
        };
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0u32;
        loop {
            let sent = self
                .client
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, kind)
                .header("idempotency-key", &last)
                .body(body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(answer) if answer.status().is_success() => {
                    if failures > 0 {
                        tracing::info!(
                            failures,
                            "{}: the receiver accepts records again",
                            self.what
                        );
                    }
                    if let Err(e) = write_cursor(&self.cursor, &last) {
                        tracing::error!(error = %e, "{}: cannot keep the cursor; a restart sends some records again", self.what);
                    }
                    return true;
                }
                Ok(answer) => format!("answered HTTP {}", answer.status().as_u16()),
                Err(e) if e.is_timeout() => "did not answer in time".to_string(),
                Err(e) => format!("is unreachable ({e})"),
            };
            failures += 1;
            if failures == 1 || failures.is_power_of_two() {
                tracing::warn!(failures, retry_in = ?backoff, "{}: the receiver {failure}; records wait in the log", self.what);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return false,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Sealed audit lines as an OTLP `ExportLogsServiceRequest` in its JSON form: one log record
/// per audit record, stamped with its time, its reason as the body, and its fields (the
/// `hash` among them) as attributes; nested fields (argument shapes, findings, redaction
/// counts) as JSON text.
fn otlp_logs(lines: &[String], service_name: &str) -> String {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::logs::v1::{
        LogRecord, ResourceLogs, ScopeLogs, SeverityNumber,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let text = |s: String| AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    };
    let records = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|record| {
            let field = |name: &str| record.get(name).and_then(Value::as_str).unwrap_or("");
            let nanos = parse_rfc3339(field("time"))
                .unwrap_or(0)
                .saturating_mul(1_000_000);
            let (severity, severity_text) = match field("outcome") {
                "ok" | "tool_error" | "cancelled" => (SeverityNumber::Info, "INFO"),
                "upstream_error" | "timeout" | "unavailable" => (SeverityNumber::Error, "ERROR"),
                _ => (SeverityNumber::Warn, "WARN"),
            };
            let attributes = record
                .as_object()
                .into_iter()
                .flatten()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: Some(AnyValue {
                        value: Some(match value {
                            Value::String(s) => any_value::Value::StringValue(s.clone()),
                            Value::Bool(b) => any_value::Value::BoolValue(*b),
                            Value::Number(n) if n.is_u64() || n.is_i64() => {
                                any_value::Value::IntValue(n.as_i64().unwrap_or(i64::MAX))
                            }
                            Value::Number(n) => {
                                any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0))
                            }
                            other => any_value::Value::StringValue(other.to_string()),
                        }),
                    }),
                })
                .collect();
            LogRecord {
                time_unix_nano: nanos,
                observed_time_unix_nano: nanos,
                severity_number: severity as i32,
                severity_text: severity_text.into(),
                body: Some(text(field("reason").to_string())),
                attributes,
                ..LogRecord::default()
            }
        })
        .collect();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(text(service_name.to_string())),
                }],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "portcullis.audit".into(),
                    ..InstrumentationScope::default()
                }),
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    serde_json::to_string(&request).unwrap_or_default()
}

fn write_cursor(path: &Path, hash: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, hash)?;
    std::fs::rename(&tmp, path)
}
