//! W3C trace context at the gateway's edges: a call's span continues the client's
//! `traceparent` (and `tracestate`), and requests to HTTP upstreams carry the call's own. The
//! spans are `tracing` spans at the [`TRACE_TARGET`]; unless telemetry is on (the `portcullis`
//! binary's `[telemetry]`, or an embedder's OpenTelemetry layer) they are disabled and cost a
//! check of a static flag.

use http::HeaderMap;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use portcullis_core::pipeline::TRACE_TARGET;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The span of one request an upstream answers (`tools/call`, `resources/read`, …), a child of
/// the client's trace when its HTTP request carried one.
pub fn call_span(method: &'static str, item: &str, headers: Option<&HeaderMap>) -> Span {
    let span = tracing::trace_span!(
        target: TRACE_TARGET,
        "call",
        otel.name = %format!("{method} {item}"),
        otel.kind = "server",
        rpc.system = "mcp",
        rpc.method = method,
        mcp.item = %item,
    );
    if let Some(headers) = headers
        && !span.is_disabled()
    {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(headers))
        });
        // A missing or malformed `traceparent` leaves the span a root.
        let _ = span.set_parent(parent);
    }
    span
}

/// Adds the current span's `traceparent` to a request the gateway sends upstream (nothing when
/// no span is being recorded).
pub fn inject(headers: &mut HeaderMap) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers));
    });
}
