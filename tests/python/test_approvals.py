"""User approval through MCP elicitation, with the official Python SDK, in both eras: a client
that declares elicitation is asked (with the tool and the redacted arguments) — on a legacy
session with `elicitation/create`, on a 2026-07-28 request with an input-required result the
client answers on its retry — and only an explicit yes runs the call; a client that cannot be
asked falls back to an operator, never to running the call."""

import json
import pathlib
import subprocess
import tempfile

import anyio
import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client

from conftest import BIN, create_key, serve

pytestmark = pytest.mark.anyio

CONFIG = """
[auth]
api_keys = true

# Every 2026-07-28 retry is a call of its own; these tests make many.
[limits]
per_caller = "6000/min"
per_caller_tool = "6000/min"

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[[expose]]
upstream = "demo"
tools = ["refund"]
destructive = true
approval = "user"
scopes = ["invoices:write"]

[approvals]
timeout = "30s"
"""

REFUND = {"invoice_id": "INV-1001", "amount_cents": 250}


@pytest.fixture(scope="module")
def gateway():
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(CONFIG)
        agent = create_key(str(path), "agent", "invoices:write")
        ops = create_key(str(path), "ops", "portcullis:approve")
        proc, addr = serve(str(path))
        try:
            yield f"http://{addr}/mcp", str(path), agent, ops
        finally:
            proc.kill()
            proc.wait()


def client(url, key, mode="legacy", elicitation=None):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(url, http_client=http), mode=mode, elicitation_callback=elicitation)


def answering(content, action="accept", asked=None):
    async def callback(context, params):
        if asked is not None:
            asked.append(params.message)
        return types.ElicitResult(action=action, content=content)

    return callback


def approvals(config, ops, *args):
    return subprocess.run(
        [BIN, "approvals", *args, "--config", config],
        capture_output=True, text=True, timeout=30, env={"PORTCULLIS_API_KEY": ops},
    )


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_user_is_asked_and_an_explicit_yes_runs_the_call(gateway, mode):
    url, _, agent, _ = gateway
    asked = []
    async with client(url, agent, mode=mode, elicitation=answering({"approve": True}, asked=asked)) as c:
        result = await c.call_tool("demo_refund", REFUND)
    assert not result.is_error, result
    assert result.content[0].text == "refunded 250 cents on INV-1001"
    assert len(asked) == 1
    assert "demo_refund" in asked[0] and "INV-1001" in asked[0] and "destructive" in asked[0]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("action,content", [("accept", {"approve": False}), ("decline", None), ("cancel", None)])
async def test_anything_but_a_yes_refuses(gateway, mode, action, content):
    url, _, agent, _ = gateway
    async with client(url, agent, mode=mode, elicitation=answering(content, action)) as c:
        result = await c.call_tool("demo_refund", REFUND)
    assert result.is_error
    assert "the user did not allow it" in result.content[0].text


@pytest.mark.parametrize("mode,elicitation", [("legacy", None), ("2026-07-28", None)])
async def test_a_client_that_cannot_be_asked_waits_for_an_operator(gateway, mode, elicitation):
    url, config, agent, ops = gateway
    async with client(url, agent, mode=mode, elicitation=elicitation) as c:
        async with anyio.create_task_group() as tg:
            results = []

            async def call():
                results.append(await c.call_tool("demo_refund", REFUND))

            tg.start_soon(call)
            parked = []
            for _ in range(200):
                listed = approvals(config, ops, "list", "--json")
                assert listed.returncode == 0, listed.stderr
                parked = json.loads(listed.stdout)
                if parked:
                    break
                await anyio.sleep(0.05)
            assert len(parked) == 1 and parked[0]["tool"] == "demo_refund"
            assert approvals(config, ops, "deny", parked[0]["id"], "--reason", "not today").returncode == 0
    assert results[0].is_error
    assert "not today" in results[0].content[0].text


OPERATOR_CONFIG = """
[auth]
api_keys = true

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[[expose]]
upstream = "demo"
tools = ["refund"]
destructive = true
scopes = ["invoices:write"]

[approvals]
webhook = "{webhook}"
"""


@pytest.fixture
def webhook():
    """An HTTP endpoint on a free loopback port that keeps the JSON bodies POSTed to it."""
    import http.server
    import threading

    bodies = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_parked_call_says_it_waits_and_the_webhook_hears_of_it_without_values(webhook, mode):
    url_hook, bodies = webhook
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(OPERATOR_CONFIG.format(webhook=url_hook))
        agent = create_key(str(path), "agent", "invoices:write")
        ops = create_key(str(path), "ops", "portcullis:approve")
        proc, addr = serve(str(path))
        try:
            waiting = []

            async def on_progress(progress, total, message):
                waiting.append(message)

            async with client(f"http://{addr}/mcp", agent, mode=mode) as c:
                async with anyio.create_task_group() as tg:
                    results = []

                    async def call():
                        results.append(await c.call_tool("demo_refund", REFUND, progress_callback=on_progress))

                    tg.start_soon(call)
                    for _ in range(200):
                        if waiting and bodies:
                            break
                        await anyio.sleep(0.05)
                    assert waiting and waiting[0].startswith("waiting for approval (apr_"), waiting
                    parked = json.loads(approvals(str(path), ops, "list", "--json").stdout)
                    assert approvals(str(path), ops, "approve", parked[0]["id"]).returncode == 0
            assert results[0].content[0].text == "refunded 250 cents on INV-1001"
            event = bodies[0]
            assert event["event"] == "portcullis.approval.parked"
            assert event["tool"] == "demo_refund" and event["id"] == parked[0]["id"]
            assert "INV-1001" not in json.dumps(event), event
            assert event["arguments"]["object"]["len"] == 2
        finally:
            proc.kill()
            proc.wait()
