"""The OpenAPI bridge in front of a real FastAPI app (examples/shop/app.py), driven by the
official MCP Python SDK: only named operations become tools, calls go through the app's own
front door (its own auth still applies), path parameters cannot climb the path, and invalid
arguments never reach the app."""

import pathlib
import subprocess
import sys
import tempfile
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import BIN, ROOT, create_key, serve

pytestmark = pytest.mark.anyio

APP = ROOT / "examples" / "shop" / "app.py"

CONFIG = """
[auth]
api_keys = true

[limits]
per_caller = "6000/min"
per_caller_tool = "6000/min"

[upstreams.shop]
kind = "openapi"
spec = "{base}/openapi.json"
base_url = "{base}"
headers.X-Shop-Key = {{ env = "SHOP_KEY" }}
operations.list_items = {{ description = "List the shop's items." }}

[[expose]]
upstream = "shop"
tools = ["list_items", "GET /items/{{item_id}}", "read_note"]
read_only = true

[[expose]]
upstream = "shop"
tools = ["create_item"]
destructive = true
approval = "none"
scopes = ["shop:write"]
"""


@pytest.fixture(scope="module")
def shop():
    """The example FastAPI app on a free port; yields its base URL and its request log."""
    with tempfile.TemporaryDirectory() as d:
        port_file, log = pathlib.Path(d) / "port", pathlib.Path(d) / "requests.log"
        log.touch()
        proc = subprocess.Popen(
            [sys.executable, str(APP), "--port-file", str(port_file), "--request-log", str(log)],
            env={"SHOP_KEY": "shop-secret", "PATH": "/usr/bin:/bin"},
        )
        try:
            for _ in range(200):
                if port_file.exists():
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the shop did not start")
            yield f"http://127.0.0.1:{port_file.read_text()}", log
        finally:
            proc.kill()
            proc.wait()


def gateway(base, shop_key):
    d = tempfile.TemporaryDirectory()
    path = pathlib.Path(d.name) / "portcullis.toml"
    path.write_text(CONFIG.format(base=base))
    proc, addr = serve(str(path), env={"SHOP_KEY": shop_key})
    key = create_key(str(path), "agent", "shop:write")
    return d, proc, f"http://{addr}/mcp", key


@pytest.fixture(scope="module")
def bridged(shop):
    base, log = shop
    d, proc, url, key = gateway(base, "shop-secret")
    try:
        yield url, key, log
    finally:
        proc.kill()
        proc.wait()
        d.cleanup()


def client(url, key, mode="2026-07-28"):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(url, http_client=http), mode=mode)


def requests_seen(log):
    return [line for line in log.read_text().splitlines() if not line.endswith("/openapi.json")]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_only_named_operations_are_tools(bridged, mode):
    url, key, _ = bridged
    async with client(url, key, mode) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert sorted(tools) == ["shop_create_item", "shop_get_item", "shop_list_items", "shop_read_note"]
    assert tools["shop_list_items"].description == "List the shop's items."
    assert tools["shop_get_item"].annotations.read_only_hint is True
    assert tools["shop_create_item"].annotations.destructive_hint is True
    body = tools["shop_create_item"].input_schema["properties"]["body"]
    assert body["properties"]["price"]["exclusiveMinimum"] == 0, body
    assert "x-shop-key" not in tools["shop_create_item"].input_schema["properties"]


async def test_reads_and_writes_go_through_the_apps_front_door(bridged):
    url, key, log = bridged
    async with client(url, key) as c:
        listed = await c.call_tool("shop_list_items", {"tag": "electric"})
        assert [i["name"] for i in listed.structured_content["items"]] == ["Blender"]
        item = await c.call_tool("shop_get_item", {"item_id": 1})
        assert item.structured_content["name"] == "Kettle"
        missing = await c.call_tool("shop_get_item", {"item_id": 999})
        assert missing.is_error and "HTTP 404" in missing.content[0].text
        created = await c.call_tool("shop_create_item", {"body": {"name": "Mug", "price": 7.5}})
        assert not created.is_error, created
        assert created.structured_content["name"] == "Mug"
    assert "POST /items" in requests_seen(log)


async def test_the_apps_own_auth_still_refuses_a_call_without_its_credential(shop):
    base, log = shop
    d, proc, url, key = gateway(base, "wrong-key")
    try:
        async with client(url, key) as c:
            refused = await c.call_tool("shop_create_item", {"body": {"name": "Mug", "price": 7.5}})
        assert refused.is_error
        assert "HTTP 401" in refused.content[0].text and "X-Shop-Key" in refused.content[0].text
    finally:
        proc.kill()
        proc.wait()
        d.cleanup()


async def test_path_parameters_cannot_climb_the_path(bridged):
    url, key, log = bridged
    async with client(url, key) as c:
        for name in ["../admin/stats", "..%2Fadmin%2Fstats", "a/../../admin/stats"]:
            result = await c.call_tool("shop_read_note", {"name": name})
            if not result.is_error:
                assert result.structured_content["name"] == name, result
        for name in ["..", ".", ""]:
            result = await c.call_tool("shop_read_note", {"name": name})
            assert result.is_error and "nothing was sent" in result.content[0].text
    assert "GET /admin/stats" not in requests_seen(log)


async def test_invalid_arguments_never_reach_the_app(bridged):
    url, key, log = bridged
    before = list(requests_seen(log))
    async with client(url, key) as c:
        for name, args in [
            ("shop_create_item", {"body": {"name": "Mug", "price": -1}}),
            ("shop_create_item", {"body": {"price": 3}}),
            ("shop_create_item", {}),
            ("shop_get_item", {"item_id": "1/../../admin/stats"}),
            ("shop_list_items", {"limit": 5, "unexpected": True}),
        ]:
            result = await c.call_tool(name, args)
            assert result.is_error, (name, args)
            assert "invalid arguments, nothing was sent" in result.content[0].text
    assert requests_seen(log) == before


def test_exposing_a_write_operation_as_read_only_fails_config_load(shop):
    base, _ = shop
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(CONFIG.format(base=base).replace(
            'tools = ["list_items", "GET /items/{item_id}", "read_note"]',
            'tools = ["list_items", "GET /items/{item_id}", "read_note", "DELETE /items/*"]'))
        done = subprocess.run([BIN, "check", "--config", str(path)], capture_output=True, text=True)
        assert done.returncode != 0
        assert "`delete_item` of upstream `shop` changes state" in done.stderr
        assert "destructive = true" in done.stderr
