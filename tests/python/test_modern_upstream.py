"""An upstream that speaks 2026-07-28 only (tests/fixtures/raw_upstream.py --modern: it refuses
`initialize`, answers `server/discover`, and asks for the client's input with input-required
results), behind Portcullis over stdio and over HTTP, called with the official Python SDK in a
legacy session and in 2026-07-28 mode.
"""

import json
import sys

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from conftest import RAW_UPSTREAM, listening, running


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def http_upstream():
    with listening([sys.executable, str(RAW_UPSTREAM), "--modern", "--http", "{portfile}"]) as port:
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module", params=["stdio", "http"])
def gateway(request):
    if request.param == "stdio":
        upstream = f'kind = "stdio"\ncommand = "{sys.executable}"\nargs = ["{RAW_UPSTREAM}", "--modern"]'
    else:
        upstream = f'kind = "http"\nurl = "{request.getfixturevalue("http_upstream")}"'
    config = f"""
[auth]
api_keys = true

[upstreams.modern]
{upstream}

[[expose]]
upstream = "modern"
tools = ["plain", "ask", "seen_headers"]
read_only = true
"""
    with running(config) as (url, [key]):
        yield url, key, request.param


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
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_its_input_requests_reach_a_client_that_can_answer(gateway, mode):
    """In a legacy session the gateway asks the client in the middle of the call; a 2026-07-28
    client gets the input-required result itself (the upstream's state sealed to the call)
    and calls again with its answers."""
    url, key, _ = gateway
    asked = []

    async def elicitation(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"color": "teal"})

    async with client(url, key, mode, elicitation_callback=elicitation) as c:
        result = await c.call_tool("modern_ask", {})
        assert asked == ["Favourite colour?"]
        assert result.content[0].text == 'answered {"action": "accept", "content": {"color": "teal"}}', result
    # A client that declared no elicitation cannot answer: the call fails, saying why.
    async with client(url, key, "legacy") as c:
        result = await c.call_tool("modern_ask", {})
        assert result.is_error and "elicitation" in result.content[0].text, result


MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
               "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}}


def post(url, key, params):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {**params, "_meta": MODERN_META}}
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream",
               "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": params["name"]}
    response = httpx2.post(url, json=body, headers=headers, timeout=30)
    text = response.text
    if text.startswith("event:") or text.startswith("data:"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    return json.loads(text)["result"]


def test_a_sealed_state_opens_only_for_its_own_call(gateway):
    url, key, _ = gateway
    first = post(url, key, {"name": "modern_ask", "arguments": {}})
    assert first["resultType"] == "input_required", first
    state = first["requestState"]
    assert state.startswith("pu1.") and state != "asked-once", "the upstream's state goes out sealed"
    answers = {"color": {"action": "accept", "content": {"color": "red"}}}
    # Tampered, or for another call (other arguments): refused before the upstream sees it.
    for forged, arguments in [(state[:-2] + "00", {}), (state, {"other": 1})]:
        refused = post(url, key, {"name": "modern_ask", "arguments": arguments,
                                  "inputResponses": answers, "requestState": forged})
        assert refused["isError"] and "request state" in refused["content"][0]["text"], refused
    done = post(url, key, {"name": "modern_ask", "arguments": {}, "inputResponses": answers,
                           "requestState": state})
    assert done["content"][0]["text"] == 'answered {"action": "accept", "content": {"color": "red"}}', done
