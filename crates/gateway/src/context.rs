//! Where a request's context starts: its id, the system clock, and the [`Exchange`] that
//! carries its audit record to the end.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portcullis_core::audit::AuditRecord;
use portcullis_core::ports::{AuditSink, Clock, ClockError};
use portcullis_core::{Exchange, Origin};

/// The system's clocks: wall time for records and key expiry, a monotonic one for limits.
pub struct SystemClock {
    started: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            started: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn unix_ms(&self) -> Result<u64, ClockError> {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| ClockError)
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
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

/// A sink that keeps nothing, for runs that serve no one (`check --live`).
pub struct Discard;

impl portcullis_core::ports::AuditSink for Discard {
    fn record(&self, _record: portcullis_core::audit::AuditRecord) {}
    fn flush(&self) -> portcullis_core::ports::BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// The sink and clock every request's [`Exchange`] is made with.
#[derive(Clone)]
pub struct Recorder {
    pub sink: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
}

impl Recorder {
    /// Records an event that is not a request — a catalogue decision, a parked call, an
    /// operator's decision made with the CLI — stamped now, with a fresh request id.
    pub fn event(&self, transport: &'static str, record: AuditRecord) {
        let now = self.clock.unix_ms().unwrap_or(0);
        self.sink.record(AuditRecord {
            time: portcullis_core::audit::rfc3339(now),
            request_id: request_id(),
            transport,
            ..record
        });
    }

    /// Starts the record of a request that came in on `transport`.
    pub fn begin(
        &self,
        transport: &'static str,
        source: Option<std::net::IpAddr>,
        method: String,
    ) -> Exchange {
        Exchange::begin(
            Origin {
                request_id: request_id(),
                transport,
                source,
                method,
            },
            self.sink.clone(),
            self.clock.clone(),
        )
    }
}
