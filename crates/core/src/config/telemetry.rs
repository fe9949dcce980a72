//! `[telemetry]`: OpenTelemetry over OTLP (HTTP, JSON): spans of every call and its phases,
//! continuing the client's W3C `traceparent`, and optionally every audit record as an OTLP log
//! record. Off unless `otlp_endpoint` is set.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawTelemetry {
    pub(super) otlp_endpoint: Option<String>,
    pub(super) headers: Option<BTreeMap<String, RawSecret>>,
    pub(super) service_name: Option<String>,
    pub(super) traces: Option<bool>,
    pub(super) audit_logs: Option<bool>,
}

/// `[telemetry]`, when an endpoint is set.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// The collector's base URL (`http://127.0.0.1:4318`); spans go to `/v1/traces`, logs to
    /// `/v1/logs`.
    pub endpoint: String,
    /// Headers sent to the collector (its credentials).
    pub headers: Vec<(String, SecretSource)>,
    /// `service.name` of the spans and logs. Default `portcullis`.
    pub service_name: String,
    /// Export spans. Default true.
    pub traces: bool,
    /// Export every audit record as a log record, forwarded from the log like `[audit.http]`
    /// (none is lost while the collector is down). Default false.
    pub audit_logs: bool,
}

pub(super) fn telemetry(raw: RawTelemetry, p: &mut Problems<'_>) -> Option<Telemetry> {
    let Some(endpoint) = raw.otlp_endpoint else {
        if raw.headers.is_some() || raw.traces.is_some() || raw.audit_logs.is_some() {
            p.add(
                "telemetry.otlp_endpoint",
                "missing: give the collector's base URL, like `http://127.0.0.1:4318`",
            );
        }
        return None;
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        p.add(
            "telemetry.otlp_endpoint",
            format!("`{endpoint}` is not an http(s) URL; write it like `http://127.0.0.1:4318` (OTLP over HTTP)"),
        );
    }
    let service_name = raw.service_name.unwrap_or_else(|| "portcullis".into());
    if service_name.trim().is_empty() {
        p.add("telemetry.service_name", "must not be empty");
    }
    Some(Telemetry {
        endpoint: endpoint.trim_end_matches('/').to_string(),
        headers: upstream_headers(raw.headers, false, "telemetry", p),
        service_name,
        traces: raw.traces.unwrap_or(true),
        audit_logs: raw.audit_logs.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "[upstreams.demo]\nkind = \"stdio\"\ncommand = \"x\"\n";

    #[test]
    fn off_by_default_and_checked_when_set() {
        assert!(Config::from_toml(UPSTREAM).unwrap().telemetry.is_none());
        let text = format!(
            "{UPSTREAM}[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/\"\naudit_logs = true\n"
        );
        let t = Config::from_toml(&text).unwrap().telemetry.unwrap();
        assert_eq!(
            (t.endpoint.as_str(), t.traces, t.audit_logs),
            ("http://127.0.0.1:4318", true, true)
        );
        assert_eq!(t.service_name, "portcullis");
        for (text, path) in [
            (
                "[telemetry]\notlp_endpoint = \"grpc://collector:4317\"\n",
                "telemetry.otlp_endpoint",
            ),
            ("[telemetry]\ntraces = true\n", "telemetry.otlp_endpoint"),
        ] {
            let e = Config::from_toml(&format!("{UPSTREAM}{text}")).unwrap_err();
            assert_eq!(e.problems[0].path, path, "{e}");
        }
    }
}
