"""The MCP reference server `@modelcontextprotocol/server-everything` behind Portcullis, with
`examples/everything.toml` as it ships: every tool, resource, template, prompt, completion,
sampling, elicitation, roots and logging request the config publishes, made through the
gateway with the official Python SDK (declaring every client capability) and compared with the
same calls made to the server directly. The server runs over stdio (as the example has it)
and, in a second pass, in its Streamable HTTP mode on 127.0.0.1.
"""

import base64
import json
import os
import pathlib
import re
import subprocess
import tempfile

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import (
    CreateMessageResult,
    ElicitResult,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    Root,
    TextContent,
)

from conftest import ROOT, create_key, listening, serve

EXAMPLE = ROOT / "examples" / "everything.toml"
NODE = ROOT / ".tools" / "node22"
SERVER = ROOT / ".tools/everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
LOOPBACK = ROOT / "tests" / "fixtures" / "loopback.cjs"
PREFIX = "everything_"

TOOLS = [
    "echo", "get-annotated-message", "get-resource-links", "get-resource-reference",
    "get-structured-content", "get-sum", "get-tiny-image", "trigger-long-running-operation",
    "get-roots-list", "trigger-elicitation-request", "trigger-sampling-request",
    "toggle-simulated-logging", "toggle-subscriber-updates",
]
PROMPTS = ["args-prompt", "completable-prompt", "resource-prompt", "simple-prompt"]

# What each tool is called with (the same both ways).
CALLS = {
    "echo": {"message": "hello through the gate"},
    "get-annotated-message": {"messageType": "error", "includeImage": True},
    "get-resource-links": {"count": 3},
    "get-resource-reference": {"resourceType": "Text", "resourceId": 2},
    "get-structured-content": {"location": "New York"},
    "get-sum": {"a": 2, "b": 40},
    "get-tiny-image": {},
    "trigger-long-running-operation": {"duration": 1, "steps": 2},
}


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Callbacks:
    """The client's side of the server's requests, keeping what it was asked."""

    def __init__(self):
        self.sampled = []
        self.elicited = []
        self.roots_asked = 0
        self.logs = []

    async def sampling(self, context, params):
        self.sampled.append(params)
        return CreateMessageResult(role="assistant", model="test-model",
                                   content=TextContent(type="text", text="sampled by the client"))

    async def elicitation(self, context, params):
        self.elicited.append(params)
        return ElicitResult(action="accept", content={"color": "blue"})

    async def roots(self, context):
        self.roots_asked += 1
        return ListRootsResult(roots=[Root(uri="file:///work/project", name="project")])

    async def logging(self, params):
        self.logs.append(params)

    def client_args(self):
        return dict(sampling_callback=self.sampling, elicitation_callback=self.elicitation,
                    list_roots_callback=self.roots, logging_callback=self.logging)


@pytest.fixture(scope="module")
def data_env():
    assert NODE.exists() and SERVER.exists(), "run scripts/install-test-tools (Node 22, server-everything)"
    with tempfile.TemporaryDirectory() as d:
        yield {**os.environ, "PORTCULLIS_DATA_DIR": d}


@pytest.fixture(scope="module")
def everything_http():
    """server-everything in Streamable HTTP mode on 127.0.0.1, stopped by its PID."""
    with listening([str(NODE), "-r", str(LOOPBACK), str(SERVER), "streamableHttp"], {"PORT": "0"}) as port:
        yield f"http://127.0.0.1:{port}/mcp"


def http_config(url):
    """examples/everything.toml with the server over HTTP instead of stdio."""
    text = EXAMPLE.read_text()
    stdio = re.search(r'kind = "stdio"\n(?:.*\n)*?inherit_env = .*\n', text).group(0)
    return text.replace(stdio, f'kind = "http"\nurl = "{url}"\n')


@pytest.fixture(scope="module", params=["stdio", "http"])
def gateway(request, data_env):
    """(gateway URL, key, direct client target) for the upstream over stdio or HTTP."""
    if request.param == "stdio":
        config = EXAMPLE
        direct = StdioServerParameters(command=str(NODE), args=[str(SERVER)],
                                       env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")})
        tmp = None
    else:
        url = request.getfixturevalue("everything_http")
        tmp = tempfile.TemporaryDirectory()
        config = pathlib.Path(tmp.name) / "everything.toml"
        config.write_text(http_config(url))
        direct = url
    key = create_key(config, "everything", "", env={"PORTCULLIS_DATA_DIR": data_env["PORTCULLIS_DATA_DIR"]})
    proc, addr = serve(str(config), env={"PORTCULLIS_DATA_DIR": data_env["PORTCULLIS_DATA_DIR"]})
    try:
        yield f"http://{addr}/mcp", key, direct
    finally:
        proc.kill()
        proc.wait()
        if tmp:
            tmp.cleanup()


def through(gateway_url, key, callbacks, **kw):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Client(streamable_http_client(gateway_url, http_client=http), mode="legacy",
                  **callbacks.client_args(), **kw)


def direct_client(target, callbacks):
    return Client(target, mode="legacy", **callbacks.client_args())


# server-everything stamps dynamic resources with the time of the read.
CLOCK = re.compile(r"\d{1,2}:\d{2}:\d{2}\s?[AP]M")


def comparable(value):
    """JSON with what differs between two reads of the same thing made equal: blobs decoded,
    times of day blanked, `resultType` and `_meta` taken out."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("resultType", "_meta"):
                continue
            if k == "blob" and isinstance(v, str):
                v = base64.b64decode(v).decode("utf-8", "replace")
            out[k] = comparable(v)
        return out
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, str):
        return CLOCK.sub("<time>", value)
    return value


def plain(value):
    """A result as comparable JSON."""
    return comparable(value.model_dump(mode="json", exclude_none=True, by_alias=True))


@pytest.mark.anyio
async def test_every_published_item_reads_as_it_does_directly(gateway):
    url, key, direct_target = gateway
    via_cb, direct_cb = Callbacks(), Callbacks()
    async with through(url, key, via_cb) as via, direct_client(direct_target, direct_cb) as direct:
        # Tools: exactly the published ones, the capability-dependent ones included (the
        # gateway declared sampling, elicitation and roots upstream).
        names = sorted(t.name for t in (await via.list_tools()).tools)
        assert names == sorted(PREFIX + t for t in TOOLS)
        for tool, args in CALLS.items():
            got = await via.call_tool(PREFIX + tool, args)
            want = await direct.call_tool(tool, args)
            assert plain(got) == plain(want), tool

        # Resources and templates: the same list, the same contents.
        want_resources = [r for r in (await direct.list_resources()).resources
                          if r.uri.startswith("demo://resource/static/document/")]
        got_resources = (await via.list_resources()).resources
        assert [plain(r) for r in got_resources] == [plain(r) for r in sorted(want_resources, key=lambda r: r.uri)]
        assert got_resources, "server-everything lists documents"
        for resource in got_resources:
            assert plain(await via.read_resource(resource.uri)) == plain(await direct.read_resource(resource.uri))
        got_templates = (await via.list_resource_templates()).resource_templates
        want_templates = (await direct.list_resource_templates()).resource_templates
        assert sorted(t.uri_template for t in got_templates) == sorted(t.uri_template for t in want_templates)
        for uri in ["demo://resource/dynamic/text/1", "demo://resource/dynamic/blob/2"]:
            assert plain(await via.read_resource(uri)) == plain(await direct.read_resource(uri))

        # Resource links a tool returns are readable through the gateway.
        links = await via.call_tool(PREFIX + "get-resource-links", {"count": 2})
        linked = [c.uri for c in links.content if c.type == "resource_link"]
        assert linked
        for uri in linked:
            assert (await via.read_resource(uri)).contents

        # Prompts, their messages, and completions.
        prompts = sorted(p.name for p in (await via.list_prompts()).prompts)
        assert prompts == [PREFIX + p for p in PROMPTS]
        for prompt, args in [("simple-prompt", None), ("args-prompt", {"city": "Paris", "state": "TX"}),
                             ("completable-prompt", {"department": "Engineering", "name": "Alice"}),
                             ("resource-prompt", {"resourceType": "Text", "resourceId": "3"})]:
            got = await via.get_prompt(PREFIX + prompt, args)
            want = await direct.get_prompt(prompt, args)
            assert plain(got) == plain(want), prompt

        got = await via.complete(PromptReference(type="ref/prompt", name=PREFIX + "completable-prompt"),
                                 {"name": "department", "value": "E"})
        want = await direct.complete(PromptReference(type="ref/prompt", name="completable-prompt"),
                                     {"name": "department", "value": "E"})
        assert got.completion.values == want.completion.values and got.completion.values
        ref = ResourceTemplateReference(type="ref/resource", uri="demo://resource/dynamic/text/{resourceId}")
        got = await via.complete(ref, {"name": "resourceId", "value": "1"})
        want = await direct.complete(ref, {"name": "resourceId", "value": "1"})
        assert got.completion.values == want.completion.values

        # The server's requests reach this client, and its answers the server.
        result = await via.call_tool(PREFIX + "trigger-sampling-request", {"prompt": "Say hi", "maxTokens": 20})
        assert via_cb.sampled and "sampled by the client" in str(result.content), result
        result = await via.call_tool(PREFIX + "trigger-elicitation-request", {})
        assert via_cb.elicited and "blue" in str(result.content), result
        result = await via.call_tool(PREFIX + "get-roots-list", {})
        assert via_cb.roots_asked and "file:///work/project" in str(result.content), result


TS_SDK = ROOT / ".tools/ts-sdk/node_modules/@modelcontextprotocol/sdk"
TS_CLIENT = ROOT / "tests" / "ts" / "everything_client.mjs"


def ts_client(*args):
    assert TS_SDK.exists(), "run scripts/install-test-tools (the TypeScript SDK)"
    out = subprocess.run([str(NODE), str(TS_CLIENT), str(TS_SDK), *args], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def test_the_typescript_sdk_client_gets_through_the_gateway_what_it_gets_directly(gateway):
    url, key, _ = gateway
    via = ts_client("gateway", url, key)
    direct = ts_client("direct", str(NODE), str(SERVER))
    assert via["tools"] == sorted(TOOLS)
    assert set(via["tools"]) <= set(direct["tools"])
    for field in ["tool echo", "tool get-sum", "tool get-resource-reference", "tool get-structured-content",
                  "resources", "read", "template", "templates", "prompt", "completion"]:
        assert comparable(via[field]) == comparable(direct[field]), field
    assert via["prompts"] == PROMPTS
    assert via["completion"]["completion"]["values"], via["completion"]
    assert "sampled by the TypeScript client" in json.dumps(via["sampling"])
    assert "green" in json.dumps(via["elicitation"])
    assert via["asked"]["sampling"] == 1 and via["asked"]["elicitation"] == 1, via["asked"]
    # Roots: see the next test.
    assert "Current MCP Roots" in json.dumps(via["roots"])


@pytest.mark.anyio
async def test_a_server_that_keeps_roots_shows_the_first_clients_to_the_next(gateway):
    """Why `roots` is off by default: the upstream's session is shared by every client, and
    server-everything asks for the roots once per session. What the second client sees are
    the first client's roots, exactly as documented in examples/everything.toml."""
    url, key, _ = gateway
    first, second = Callbacks(), Callbacks()
    async with through(url, key, first) as a:
        await a.call_tool(PREFIX + "get-roots-list", {})

    async def other_roots(context):
        second.roots_asked += 1
        return ListRootsResult(roots=[Root(uri="file:///someone/else", name="else")])

    second.roots = other_roots
    async with through(url, key, second) as b:
        seen = await b.call_tool(PREFIX + "get-roots-list", {})
    assert "file:///work/project" in str(seen.content) and second.roots_asked == 0, seen


@pytest.mark.anyio
async def test_log_messages_and_resource_updates_reach_the_client_that_asked(gateway):
    url, key, _ = gateway
    cb, other_cb = Callbacks(), Callbacks()
    updated = anyio.Event()
    seen_updates = []

    async def on_message(message):
        if getattr(message, "method", None) == "notifications/resources/updated":
            seen_updates.append(message.params.uri)
            updated.set()

    async with through(url, key, cb, message_handler=on_message) as client, through(url, key, other_cb) as other:
        await client.set_logging_level("debug")
        await client.call_tool(PREFIX + "toggle-simulated-logging", {})
        await client.subscribe_resource("demo://resource/dynamic/text/1")
        await client.call_tool(PREFIX + "toggle-subscriber-updates", {})
        with anyio.fail_after(30):
            await updated.wait()
        assert seen_updates[0] == "demo://resource/dynamic/text/1"
        await client.call_tool(PREFIX + "toggle-simulated-logging", {})
        await client.call_tool(PREFIX + "toggle-subscriber-updates", {})
        await client.unsubscribe_resource("demo://resource/dynamic/text/1")
        await other.list_tools()
    assert other_cb.logs == [], "another client's logs never reach this one"
