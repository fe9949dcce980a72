"""An upstream that speaks 2026-07-28 only (tests/fixtures/raw_upstream.py --modern: it refuses
`initialize`, answers `server/discover`, and asks for the client's input with input-required
results), behind Portcullis over stdio and over HTTP, called with the official Python SDK in a
legacy session and in 2026-07-28 mode.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from conftest import BIN, RAW_UPSTREAM, serve


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def http_upstream():
    with tempfile.TemporaryDirectory() as d:
        portfile = pathlib.Path(d) / "port"
        proc = subprocess.Popen([sys.executable, str(RAW_UPSTREAM), "--modern", "--http", str(portfile)])
        try:
            for _ in range(200):
                if portfile.exists():
                    break
                time.sleep(0.05)
            yield f"http://127.0.0.1:{portfile.read_text()}/mcp"
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module", params=["stdio", "http"])
def gateway(request):
    if request.param == "stdio":
        upstream = f'kind = "stdio"\ncommand = "{sys.executable}"\nargs = ["{RAW_UPSTREAM}", "--modern"]'
    else:
        upstream = f'kind = "http"\nurl = "{request.getfixturevalue("http_upstream")}"'
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(f"""
[auth]
api_keys = true

[upstreams.modern]
{upstream}

[[expose]]
upstream = "modern"
tools = ["plain", "ask", "seen_headers"]
read_only = true
""")
        out = subprocess.run([BIN, "keys", "create", "--config", str(path), "--name", "m", "--json"],
                             check=True, capture_output=True, text=True).stdout
        proc, addr = serve(str(path))
        try:
            yield f"http://{addr}/mcp", json.loads(out)["token"], request.param
        finally:
            proc.kill()
            proc.wait()


def client(url, key, mode, **kw):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode, **kw)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_modern_only_upstream_is_served(gateway, mode):
    url, key, transport = gateway
    async with client(url, key, mode) as c:
        names = sorted(t.name for t in (await c.list_tools()).tools)
        assert names == ["modern_ask", "modern_plain", "modern_seen_headers"]
        result = await c.call_tool("modern_plain", {})
        assert result.content[0].text == "plain answer"
        if transport == "http":
            seen = json.loads((await c.call_tool("modern_seen_headers", {})).content[0].text)
            assert seen["mcp-method"] == "tools/call" and seen["mcp-name"] == "seen_headers", seen
            assert seen["mcp-protocol-version"] == "2026-07-28" and "mcp-session-id" not in seen, seen


@pytest.mark.anyio
async def test_its_input_requests_reach_a_client_that_can_answer(gateway):
    url, key, _ = gateway
    asked = []

    async def elicitation(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"color": "teal"})

    async with client(url, key, "legacy", elicitation_callback=elicitation) as c:
        result = await c.call_tool("modern_ask", {})
        assert asked == ["Favourite colour?"]
        assert result.content[0].text == 'answered {"action": "accept", "content": {"color": "teal"}}', result
    # A client that declared no elicitation cannot answer: the call fails, saying why.
    async with client(url, key, "legacy") as c:
        result = await c.call_tool("modern_ask", {})
        assert result.is_error and "elicitation" in result.content[0].text, result
