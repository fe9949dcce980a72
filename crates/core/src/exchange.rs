//! One request on the record: the [`Exchange`] is made where a request comes in (the HTTP edge,
//! or the stdio handler), travels with the request through every phase that handles it, and
//! writes exactly one [`AuditRecord`] when the last phase lets go of it — the final logging
//! phase, which runs on every exit: success, refusal, error, panic (unwinding drops it), client
//! gone (the request's future is dropped).
//!
//! The first [`Exchange::settle`] decides the record's decision and outcome; later ones are
//! ignored, so a phase that refused cannot be overwritten by the layers it returns through. An
//! exchange nobody settled is written with the outcome the edge set as its default from the
//! HTTP status, or else as cancelled.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::audit::{AuditRecord, Decision, Outcome, rfc3339, shape};
use crate::catalogue::printable_name;
use crate::guardrail::Finding;
use crate::policy::Principal;
use crate::ports::{AuditSink, Clock};
use crate::redact::Counts;
use crate::refusal::Refusal;

/// Findings kept in one record; a scan of a huge result may find more.
pub const MAX_RECORDED_FINDINGS: usize = 32;

/// Where a request came in.
#[derive(Debug, Clone)]
pub struct Origin {
    pub request_id: String,
    /// `http` or `stdio`.
    pub transport: &'static str,
    /// The client's address, when the transport has one.
    pub source: Option<IpAddr>,
    /// `METHOD /path` for HTTP; replaced by the MCP method once the body is read.
    pub method: String,
}

/// A request's record in progress; cheap to clone, written once when the last clone drops.
#[derive(Clone)]
pub struct Exchange(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    started: Duration,
}

struct State {
    record: AuditRecord,
    settled: bool,
    /// Used when nothing settled the exchange.
    fallback: Option<(Decision, Outcome, String)>,
}

impl Exchange {
    pub fn begin(origin: Origin, sink: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) -> Exchange {
        let time = clock
            .unix_ms()
            .map_or_else(|_| "unknown".to_string(), rfc3339);
        let record = AuditRecord {
            time,
            request_id: origin.request_id,
            transport: origin.transport,
            principal: "unauthenticated".into(),
            principal_kind: "none",
            method: origin.method,
            source: origin.source.map(|ip| ip.to_canonical().to_string()),
            ..AuditRecord::default()
        };
        let started = clock.elapsed();
        Exchange(Arc::new(Shared {
            state: Mutex::new(State {
                record,
                settled: false,
                fallback: None,
            }),
            sink,
            clock,
            started,
        }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn request_id(&self) -> String {
        self.state().record.request_id.clone()
    }

    /// The request id, the principal's id and the time the request came in.
    pub fn identity(&self) -> (String, String, String) {
        let state = self.state();
        let r = &state.record;
        (r.request_id.clone(), r.principal.clone(), r.time.clone())
    }

    /// Who is calling, once authentication knows.
    pub fn principal(&self, principal: &Principal) {
        let mut state = self.state();
        state.record.principal = principal.id.clone();
        state.record.principal_kind = principal.kind.as_str();
    }

    /// The MCP method the body asks for.
    pub fn method(&self, method: &str) {
        self.state().record.method = printable_method(method);
    }

    pub fn group(&self, group: &str) {
        self.state().record.group = Some(group.to_string());
    }

    /// The tool a `tools/call` names (as the log may show it).
    pub fn tool(&self, name: &str) {
        self.state().record.tool = Some(printable_name(name));
    }

    /// The published prompt, resource or resource template a request is for, by its published
    /// name (a template, never the concrete URI the caller read through it).
    pub fn item(&self, published: &str) {
        self.state().record.tool = Some(published.to_string());
    }

    /// The arguments of a call: their shape, never their values.
    pub fn arguments(&self, arguments: Option<&Value>) {
        self.state().record.arguments = arguments.map(shape);
    }

    pub fn upstream(&self, upstream: &str) {
        self.state().record.upstream = Some(upstream.to_string());
    }

    pub fn bytes_in(&self, bytes: u64) {
        self.state().record.bytes_in = bytes;
    }

    pub fn findings(&self, findings: &[Finding]) {
        let mut state = self.state();
        let room = MAX_RECORDED_FINDINGS.saturating_sub(state.record.guardrail.len());
        state
            .record
            .guardrail
            .extend(findings.iter().take(room).cloned());
    }

    pub fn redactions(&self, counts: Counts) {
        let mut state = self.state();
        for (kind, n) in counts {
            *state.record.redactions.entry(kind).or_insert(0) += n;
        }
    }

    /// Decides the record: the first call wins.
    pub fn settle(&self, decision: Decision, outcome: Outcome, reason: String, bytes_out: u64) {
        let mut state = self.state();
        if state.settled {
            return;
        }
        state.settled = true;
        state.record.decision = decision;
        state.record.outcome = outcome;
        state.record.reason = reason;
        state.record.bytes_out = bytes_out;
    }

    /// Settles with a refusal.
    pub fn refuse(&self, refusal: &Refusal) {
        self.settle(refusal.decision, refusal.outcome, refusal.detail.clone(), 0);
    }

    /// What to write if nothing settles the exchange (the edge's view of the response).
    pub fn fallback(&self, decision: Decision, outcome: Outcome, reason: String) {
        self.state().fallback = Some((decision, outcome, reason));
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let latency = self.clock.elapsed().saturating_sub(self.started);
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut record = std::mem::take(&mut state.record);
        if !state.settled {
            let (decision, outcome, reason) = state.fallback.take().unwrap_or_else(|| {
                let decision = if record.upstream.is_some() {
                    Decision::Allowed
                } else {
                    Decision::Denied
                };
                let reason = "the request ended before it was answered (the client went away, \
                              or the handler failed)";
                (decision, Outcome::Cancelled, reason.to_string())
            });
            record.decision = decision;
            record.outcome = outcome;
            record.reason = reason;
        }
        record.latency_ms = latency.as_secs_f64() * 1000.0;
        self.sink.record(record);
    }
}

/// An MCP method as the log may show it: the caller chose it.
fn printable_method(method: &str) -> String {
    let plain = !method.is_empty()
        && method.len() <= 64
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'));
    if plain {
        method.to_string()
    } else {
        "(invalid method)".into()
    }
}
