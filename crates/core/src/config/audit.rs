//! `[audit]`: when the audit log is rotated, and where else its records go (`[audit.http]`, a
//! webhook or SIEM that receives every sealed record).

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAudit {
    pub(super) max_file_bytes: Option<u64>,
    pub(super) max_file_age: Option<String>,
    pub(super) http: Option<RawHttpSink>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawHttpSink {
    pub(super) url: String,
    pub(super) headers: Option<BTreeMap<String, RawSecret>>,
    pub(super) batch: Option<usize>,
    pub(super) timeout: Option<String>,
}

/// When the current log file is moved aside and a new one begun; the hash chain continues
/// across files. Both off by default (one file that grows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate once the file's first record is this old.
    pub max_age: Option<Duration>,
}

/// `[audit.http]`: every record, as sealed in the log, POSTed to a receiver.
#[derive(Debug, Clone)]
pub struct HttpSink {
    pub url: String,
    /// Headers sent with every request (credentials for the receiver).
    pub headers: Vec<(String, SecretSource)>,
    /// Most records in one request. Default 100.
    pub batch: usize,
    /// Longest wait for the receiver's answer. Default 10 s.
    pub timeout: Duration,
}

/// `[audit]`.
#[derive(Debug, Clone, Default)]
pub struct AuditSettings {
    pub rotation: Rotation,
    pub http: Option<HttpSink>,
}

pub(super) fn audit_settings(raw: RawAudit, p: &mut Problems<'_>) -> AuditSettings {
    if raw.max_file_bytes.is_some_and(|b| b < 4096) {
        p.add(
            "audit.max_file_bytes",
            "must be at least 4096 (a record can take a few hundred bytes)",
        );
    }
    let max_age = raw.max_file_age.as_deref().map(|text| {
        positive_duration(
            Some(text),
            "audit.max_file_age",
            Duration::from_secs(86_400),
            p,
        )
    });
    let http = raw.http.map(|h| {
        if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
            p.add(
                "audit.http.url",
                format!(
                    "`{}` is not an http(s) URL; write it like `https://siem.example.com/ingest`",
                    h.url
                ),
            );
        }
        let batch = h.batch.unwrap_or(100);
        if batch == 0 || batch > 10_000 {
            p.add("audit.http.batch", "must be 1 to 10000 records");
        }
        HttpSink {
            headers: upstream_headers(h.headers, false, "audit.http", p),
            timeout: positive_duration(
                h.timeout.as_deref(),
                "audit.http.timeout",
                Duration::from_secs(10),
                p,
            ),
            url: h.url,
            batch,
        }
    });
    AuditSettings {
        rotation: Rotation {
            max_bytes: raw.max_file_bytes,
            max_age,
        },
        http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "[upstreams.demo]\nkind = \"stdio\"\ncommand = \"x\"\n";

    #[test]
    fn one_growing_file_and_no_sink_by_default() {
        let config = Config::from_toml(UPSTREAM).unwrap();
        assert_eq!(config.audit.rotation, Rotation::default());
        assert!(config.audit.http.is_none());
    }

    #[test]
    fn rotation_and_the_http_sink_are_read_and_checked() {
        let text = format!(
            "{UPSTREAM}[audit]\nmax_file_bytes = 1048576\nmax_file_age = \"1d\"\n\
             [audit.http]\nurl = \"https://siem.example.com/in\"\nbatch = 50\n\
             headers = {{ Authorization = {{ env = \"SIEM_TOKEN\" }} }}\n"
        );
        let config = Config::from_toml(&text).unwrap();
        assert_eq!(config.audit.rotation.max_bytes, Some(1_048_576));
        assert_eq!(
            config.audit.rotation.max_age,
            Some(Duration::from_secs(86_400))
        );
        let http = config.audit.http.unwrap();
        assert_eq!((http.batch, http.timeout), (50, Duration::from_secs(10)));
        assert_eq!(http.headers.len(), 1);

        let text = format!(
            "{UPSTREAM}[audit]\nmax_file_bytes = 10\nmax_file_age = \"soon\"\n\
             [audit.http]\nurl = \"siem\"\nbatch = 0\n"
        );
        let e = Config::from_toml(&text).unwrap_err();
        let paths: Vec<&str> = e.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "audit.max_file_bytes",
                "audit.max_file_age",
                "audit.http.url",
                "audit.http.batch"
            ],
            "{e}"
        );
    }
}
