"""A client in a session hears `notifications/tools/list_changed` when what it may see changes:
here the upstream (tests/fixtures/raw_upstream.py) adds a tool the config names exactly, and
says its list changed; the gateway republishes and tells the client, which lists it."""

import json
import pathlib
import subprocess
import sys
import tempfile

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BIN, RAW_UPSTREAM, serve


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_a_client_hears_when_its_tools_change():
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(f"""
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
""")
        out = subprocess.run([BIN, "keys", "create", "--config", str(path), "--name", "c", "--json"],
                             check=True, capture_output=True, text=True).stdout
        key = json.loads(out)["token"]
        proc, addr = serve(str(path))
        try:
            changed = anyio.Event()

            async def on_message(message):
                if getattr(message, "method", None) == "notifications/tools/list_changed":
                    changed.set()

            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
            async with Client(streamable_http_client(f"http://{addr}/mcp", http_client=http),
                              mode="legacy", message_handler=on_message) as client:
                before = sorted(t.name for t in (await client.list_tools()).tools)
                assert before == ["raw_grow", "raw_plain"]
                await client.call_tool("raw_grow", {})
                with anyio.fail_after(20):
                    await changed.wait()
                after = sorted(t.name for t in (await client.list_tools()).tools)
                assert after == ["raw_grow", "raw_late_exact", "raw_plain"]
        finally:
            proc.kill()
            proc.wait()
