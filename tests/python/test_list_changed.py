"""A client in a session hears `notifications/tools/list_changed` when what it may see changes:
here the upstream (tests/fixtures/raw_upstream.py) adds a tool the config names exactly, and
says its list changed; the gateway republishes and tells the client, which lists it."""

import sys

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import RAW_UPSTREAM, running


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_a_client_hears_when_its_tools_change():
    config = f"""
[auth]
api_keys = true

[upstreams.raw]
kind = "stdio"
command = "{sys.executable}"
args = ["{RAW_UPSTREAM}"]

[[expose]]
upstream = "raw"
tools = ["plain", "grow", "late_exact"]
read_only = true
"""
    with running(config) as (url, [key]):
        changed = anyio.Event()

        async def on_message(message):
            if getattr(message, "method", None) == "notifications/tools/list_changed":
                changed.set()

        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http),
                          mode="legacy", message_handler=on_message) as client:
            before = sorted(t.name for t in (await client.list_tools()).tools)
            assert before == ["raw_grow", "raw_plain"]
            await client.call_tool("raw_grow", {})
            with anyio.fail_after(20):
                await changed.wait()
            after = sorted(t.name for t in (await client.list_tools()).tools)
            assert after == ["raw_grow", "raw_late_exact", "raw_plain"]
