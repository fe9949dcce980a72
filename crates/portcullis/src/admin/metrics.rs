//! Prometheus metrics for `/metrics` on the admin listener. What a call did is counted from
//! its audit record ([`Metered`] sits in front of the audit sink, so every exit path of every
//! call is counted exactly once, as it is recorded); the state of upstreams, approvals and pins
//! is read when the metrics are scraped.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use portcullis_core::audit::{AuditRecord, Outcome};
use portcullis_core::limits::LimitKind;
use portcullis_core::ports::{AuditSink, BoxFuture};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    tool: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabels {
    upstream: String,
}

pub(crate) fn upstream(name: &str) -> UpstreamLabels {
    UpstreamLabels {
        upstream: name.to_string(),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: &'static str,
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// The methods counted as calls; their `tool` is a published name (or, for an unknown one,
/// left out of the labels, so that callers cannot grow the series without bound).
const CALLS: [&str; 4] = [
    "tools/call",
    "resources/read",
    "prompts/get",
    "completion/complete",
];

const LIMITS: [LimitKind; 6] = [
    LimitKind::PerCaller,
    LimitKind::PerCallerTool,
    LimitKind::PerTool,
    LimitKind::Global,
    LimitKind::Budget,
    LimitKind::Unauthenticated,
];

fn latency_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    calls: Family<CallLabels, Counter>,
    latency: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    limited: Family<LimitLabels, Counter>,
    findings: Family<RuleLabels, Counter>,
    redactions: Family<KindLabels, Counter>,
    pub(crate) upstream_up: Family<UpstreamLabels, Gauge>,
    pub(crate) upstream_restarts: Family<UpstreamLabels, Gauge>,
    pub(crate) upstream_failures: Family<UpstreamLabels, Gauge>,
    pub(crate) approvals_pending: Gauge,
    pub(crate) tools_quarantined: Gauge,
    pub(crate) tools_published: Gauge,
    pub(crate) audit_lag: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portcullis");
        let m = Metrics {
            requests: Family::default(),
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            limited: Family::default(),
            findings: Family::default(),
            redactions: Family::default(),
            upstream_up: Family::default(),
            upstream_restarts: Family::default(),
            upstream_failures: Family::default(),
            approvals_pending: Gauge::default(),
            tools_quarantined: Gauge::default(),
            tools_published: Gauge::default(),
            audit_lag: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Audited requests and events, by outcome",
            m.requests.clone(),
        );
        registry.register(
            "calls",
            "Calls of published tools, resources, prompts and completions, by outcome",
            m.calls.clone(),
        );
        registry.register(
            "call_duration_seconds",
            "Time from request to answer of calls that reached an upstream, by upstream",
            m.latency.clone(),
        );
        registry.register(
            "limit_refusals",
            "Calls refused by a rate limit or budget, by limit",
            m.limited.clone(),
        );
        registry.register(
            "guardrail_findings",
            "Prompt-injection findings in arguments and results, by rule",
            m.findings.clone(),
        );
        registry.register(
            "redactions",
            "Values masked in answers, by kind",
            m.redactions.clone(),
        );
        registry.register(
            "upstream_up",
            "1 while the upstream is connected (its document loaded), else 0",
            m.upstream_up.clone(),
        );
        registry.register(
            "upstream_restarts",
            "Reconnections of the upstream since the gateway started",
            m.upstream_restarts.clone(),
        );
        registry.register(
            "upstream_failures",
            "Lost connections and failed attempts since the gateway started",
            m.upstream_failures.clone(),
        );
        registry.register(
            "approvals_pending",
            "Calls waiting for an operator's decision",
            m.approvals_pending.clone(),
        );
        registry.register(
            "tools_quarantined",
            "Pinned tools withheld until an operator accepts their definition",
            m.tools_quarantined.clone(),
        );
        registry.register(
            "tools_published",
            "Tools published now",
            m.tools_published.clone(),
        );
        registry.register(
            "audit_write_lag_seconds",
            "How long the last audit record written had waited to be written",
            m.audit_lag.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts what `record` says happened.
    pub fn observe(&self, record: &AuditRecord) {
        self.requests
            .get_or_create(&OutcomeLabels {
                outcome: record.outcome.as_str(),
            })
            .inc();
        if let Some(method) = CALLS.iter().find(|m| **m == record.method) {
            let known = !matches!(
                record.outcome,
                Outcome::UnknownTool | Outcome::Unauthenticated
            );
            let tool = match (&record.tool, known) {
                (Some(tool), true) => tool.clone(),
                _ => String::new(),
            };
            self.calls
                .get_or_create(&CallLabels {
                    method,
                    tool,
                    outcome: record.outcome.as_str(),
                })
                .inc();
            if let Some(upstream) = &record.upstream
                && known
            {
                self.latency
                    .get_or_create(&UpstreamLabels {
                        upstream: upstream.clone(),
                    })
                    .observe(record.latency_ms / 1000.0);
            }
        }
        if record.outcome == Outcome::Limited {
            // The refusal's reason names its limit: "rate limited (per_caller_tool); …".
            let limit = LIMITS
                .iter()
                .find(|k| record.reason.contains(&format!("({})", k.as_str())))
                .map_or("other", |k| k.as_str());
            self.limited.get_or_create(&LimitLabels { limit }).inc();
        }
        for finding in &record.guardrail {
            self.findings
                .get_or_create(&RuleLabels {
                    rule: finding.rule,
                    category: finding.category.as_str(),
                })
                .inc();
        }
        for (kind, n) in &record.redactions {
            self.redactions
                .get_or_create(&KindLabels { kind: kind.clone() })
                .inc_by(*n);
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

/// An audit sink that counts each record in [`Metrics`], then hands it on.
pub struct Metered {
    pub inner: Arc<dyn AuditSink>,
    pub metrics: Arc<Metrics>,
}

impl AuditSink for Metered {
    fn record(&self, record: AuditRecord) {
        self.metrics.observe(&record);
        self.inner.record(record);
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        self.inner.flush()
    }

    fn write_lag(&self) -> Option<std::time::Duration> {
        self.inner.write_lag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_counted_by_outcome_tool_upstream_rule_and_kind() {
        let metrics = Metrics::new();
        let mut record = AuditRecord {
            method: "tools/call".into(),
            tool: Some("demo_echo".into()),
            upstream: Some("demo".into()),
            outcome: Outcome::Ok,
            latency_ms: 12.0,
            ..AuditRecord::default()
        };
        record.redactions.insert("email".into(), 2);
        metrics.observe(&record);
        metrics.observe(&AuditRecord {
            method: "tools/call".into(),
            tool: Some("anything-a-caller-typed".into()),
            outcome: Outcome::UnknownTool,
            ..AuditRecord::default()
        });
        metrics.observe(&AuditRecord {
            method: "tools/call".into(),
            tool: Some("demo_echo".into()),
            outcome: Outcome::Limited,
            reason: "rate limited (per_caller_tool); retry in 6s".into(),
            ..AuditRecord::default()
        });
        let text = metrics.encode();
        for line in [
            r#"portcullis_calls_total{method="tools/call",tool="demo_echo",outcome="ok"} 1"#,
            r#"portcullis_calls_total{method="tools/call",tool="",outcome="unknown_tool"} 1"#,
            r#"portcullis_limit_refusals_total{limit="per_caller_tool"} 1"#,
            r#"portcullis_redactions_total{kind="email"} 2"#,
            r#"portcullis_call_duration_seconds_count{upstream="demo"} 1"#,
            r#"portcullis_requests_total{outcome="ok"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("anything-a-caller-typed"), "{text}");
    }
}
