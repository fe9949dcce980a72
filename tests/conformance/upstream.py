#!/usr/bin/env python3
"""The upstream for the conformance comparison: a Python SDK (MCPServer) server with the
`test_*` tools the conformance suite's tool scenarios call.

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
from mcp_types import AudioContent, EmbeddedResource, ImageContent, TextContent, TextResourceContents

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
