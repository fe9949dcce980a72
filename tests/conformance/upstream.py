#!/usr/bin/env python3
"""The upstream for the conformance comparison: a Python SDK (MCPServer) server with what the
conformance suite's server scenarios call: the `test_*` tools (sampling and elicitation ones
included), the `test://` resources and template, the `test_*` prompts and a completion.

Serves Streamable HTTP on 127.0.0.1 at a free port, which it writes to the file named by its
only argument. The suite runs once against this server directly and once against Portcullis
fronting it; see run.sh.
"""

import asyncio
import base64
import os
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    AudioContent,
    Completion,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    SamplingMessage,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from mcp.server.mcpserver.prompts.base import Message

# A 1x1 red PNG and a tiny silent WAV.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
        "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
    )
).decode()
WAV = base64.b64encode(
    b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    + (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    + b"data" + (0).to_bytes(4, "little")
).decode()

server = MCPServer("conformance-upstream", version="1.0.0")


def resource():
    return EmbeddedResource(
        type="resource",
        resource=TextResourceContents(uri="test://embedded-resource", mimeType="text/plain",
                                      text="This is an embedded resource content."),
    )


@server.tool(description="Returns simple text content.")
def test_simple_text() -> list[TextContent]:
    return [TextContent(type="text", text="This is a simple text response for testing.")]


@server.tool(description="Returns an image.")
def test_image_content() -> list[ImageContent]:
    return [ImageContent(type="image", data=PNG, mimeType="image/png")]


@server.tool(description="Returns audio.")
def test_audio_content() -> list[AudioContent]:
    return [AudioContent(type="audio", data=WAV, mimeType="audio/wav")]


@server.tool(description="Returns an embedded resource.")
def test_embedded_resource() -> list[EmbeddedResource]:
    return [resource()]


@server.tool(description="Returns text, an image and a resource.")
def test_multiple_content_types() -> list:
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG, mimeType="image/png"),
        resource(),
    ]


@server.tool(description="Always fails.")
def test_error_handling() -> str:
    raise ToolError("This tool intentionally returns an error for testing")


@server.tool(description="Reports progress three times.")
async def test_tool_with_progress(ctx: Context) -> str:
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100, f"at {step}")
        await asyncio.sleep(0.05)
    return "progress done"


@server.tool(description="Sends three log messages.")
async def test_tool_with_logging(ctx: Context) -> str:
    for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(message)
        await asyncio.sleep(0.05)
    return "logging done"


@server.tool(description="Asks the client's model to write.")
async def test_sampling(ctx: Context, prompt: str) -> str:
    result = await ctx.session.create_message(
        [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=100, related_request_id=ctx.request_id)
    return f"LLM response: {getattr(result.content, 'text', result.content)}"


@server.tool(description="Asks the client's user for their name and e-mail.")
async def test_elicitation(ctx: Context, message: str) -> str:
    result = await ctx.session.elicit_form(
        message,
        {"type": "object", "properties": {"username": {"type": "string"}, "email": {"type": "string"}},
         "required": ["username", "email"]},
        related_request_id=ctx.request_id)
    return f"User response: action={result.action}, content={result.content}"


@server.tool(description="Asks the client's user with defaults for every primitive type.")
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True},
    }}
    result = await ctx.session.elicit_form("Defaults", schema, related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={result.content}"


@server.tool(description="Asks the client's user with every kind of enum.")
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    schema = {"type": "object", "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "oneOf": [
            {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"},
            {"const": "value3", "title": "Third Option"}]},
        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                       "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "items": {"anyOf": [
            {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"},
            {"const": "value3", "title": "Third Choice"}]}},
    }}
    result = await ctx.session.elicit_form("Enums", schema, related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={result.content}"


@server.resource("test://static-text", name="static-text", mime_type="text/plain")
def static_text() -> str:
    return "This is the content of the static text resource."


@server.resource("test://static-binary", name="static-binary", mime_type="image/png")
def static_binary() -> bytes:
    return base64.b64decode(PNG)


@server.resource("test://watched-resource", name="watched-resource", mime_type="text/plain")
def watched() -> str:
    return "A resource clients subscribe to."


@server.resource("test://template/{id}/data", name="template", mime_type="application/json")
def template(id: str) -> str:
    return '{"id":"%s","templateTest":true,"data":"Data for ID: %s"}' % (id, id)


@server.prompt(description="A simple prompt.")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@server.prompt(description="A prompt with arguments.")
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@server.prompt(description="A prompt with an embedded resource.")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
    return [
        Message(role="user", content=EmbeddedResource(type="resource", resource=TextResourceContents(
            uri=resourceUri, mimeType="text/plain", text="Embedded resource content for testing."))),
        Message(role="user", content=TextContent(type="text", text="Please process the embedded resource above.")),
    ]


@server.prompt(description="A prompt with an image.")
def test_prompt_with_image() -> list[Message]:
    return [
        Message(role="user", content=ImageContent(type="image", data=PNG, mimeType="image/png")),
        Message(role="user", content=TextContent(type="text", text="Please analyze the image above.")),
    ]


@server.completion()
async def complete(ref, argument, context):
    return Completion(values=[v for v in ("test1", "test2", "test3") if v.startswith(argument.value or "")])


async def subscription(ctx, params) -> EmptyResult:
    return EmptyResult()


server._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscription)
server._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, subscription)


def main():
    portfile = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with open(portfile + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(portfile + ".tmp", portfile)
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
