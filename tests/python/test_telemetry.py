"""OpenTelemetry from outside: a client's W3C `traceparent` is continued by the span of its
call (with one child span per phase), the call's own context reaches the HTTP upstream, and
the spans arrive at an OTLP/HTTP JSON collector (tests/fixtures/otlp_and_api.py); with
`audit_logs`, every audit record arrives there as a log record too.
"""

import json
import pathlib
import secrets
import sys
import tempfile
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import ROOT, create_key, listening, serve_all

FIXTURE = ROOT / "tests" / "fixtures" / "otlp_and_api.py"


def config(collector, api):
    return f"""
[auth]
api_keys = true

[upstreams.shop]
kind = "openapi"
spec = "http://127.0.0.1:{api}/openapi.json"
base_url = "http://127.0.0.1:{api}"

[[expose]]
upstream = "shop"
tools = ["list_items"]
read_only = true

[telemetry]
otlp_endpoint = "http://127.0.0.1:{collector}"
service_name = "portcullis-test"
audit_logs = true
"""


def log_attributes(collector):
    """The attributes of every log record the collector received."""
    received = httpx2.get(f"http://127.0.0.1:{collector}/").json()
    logs = [r for batch in received["logs"] for rl in batch["resourceLogs"]
            for sl in rl["scopeLogs"] for r in sl["logRecords"]]
    return [{a["key"]: list(a["value"].values())[0] for a in r["attributes"]} for r in logs]


def spans_of(received):
    for batch in received["traces"]:
        for resource in batch["resourceSpans"]:
            service = {a["key"]: a["value"] for a in resource["resource"]["attributes"]}
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    yield service, span


@pytest.mark.anyio
async def test_a_call_continues_the_clients_trace_and_passes_it_on():
    with listening([sys.executable, str(FIXTURE), "collector"]) as collector, \
            listening([sys.executable, str(FIXTURE), "api"]) as api, \
            tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(config(collector, api))
        key = create_key(path, "tracer", "")
        # The batch exporter sends every 100 ms instead of every 5 s.
        proc, found = serve_all(str(path), env={"OTEL_BSP_SCHEDULE_DELAY": "100"})
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        try:
            headers = {"Authorization": f"Bearer {key}", "traceparent": f"00-{trace_id}-{parent_id}-01"}
            http = httpx2.AsyncClient(headers=headers, timeout=30)
            async with Client(streamable_http_client(f"http://{found['addr']}/mcp", http_client=http), mode="legacy") as c:
                result = await c.call_tool("shop_list_items", {})
                assert "kettle" in result.content[0].text
            # The audit records are forwarded from the log as it grows.
            deadline = time.monotonic() + 30
            while not any(a.get("method") == "tools/call" for a in log_attributes(collector)):
                assert time.monotonic() < deadline, "no audit log record reached the collector"
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # The upstream was called within the client's trace, by the gateway's own span.
        seen = httpx2.get(f"http://127.0.0.1:{api}/seen").json()
        assert len(seen) == 1 and seen[0] is not None, seen
        version, upstream_trace, upstream_parent, flags = seen[0].split("-")
        assert upstream_trace == trace_id
        assert upstream_parent != parent_id, "the gateway's span, not the client's"

        received = httpx2.get(f"http://127.0.0.1:{collector}/").json()
        spans = [(service, span) for service, span in spans_of(received) if span["traceId"] == trace_id]
        assert spans, received
        assert all(service["service.name"]["stringValue"] == "portcullis-test" for service, _ in spans)
        by_name = {span["name"]: span for _, span in spans}
        call = by_name["tools/call shop_list_items"]
        assert call["parentSpanId"] == parent_id, "the client's span is the call's parent"
        phases = {name for name, span in by_name.items() if span.get("parentSpanId") == call["spanId"]}
        assert {"policy", "guard_arguments", "upstream", "guard_result", "redact"} <= phases, phases
        upstream = by_name["upstream"]
        assert upstream_parent == upstream["spanId"], "the upstream saw the upstream phase's span"

        # Audit records became log records, the call's among them, with its fields.
        attributes = log_attributes(collector)
        calls = [a for a in attributes if a.get("method") == "tools/call"]
        assert calls and calls[0]["tool"] == "shop_list_items" and calls[0]["outcome"] == "ok", attributes
        assert all(len(a["hash"]) == 64 for a in attributes)
