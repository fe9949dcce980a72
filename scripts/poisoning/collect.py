"""Lists the tools of real MCP servers over stdio with the official Python SDK and prints one
JSON line per tool definition: {"tool": {...}, "label": "benign", "source": "<package>@<version>"}.

The benign half of tests/corpus/poisoning.jsonl comes from this script (see
scripts/poisoning/README.md for the exact packages and versions). Usage:

    python collect.py NODE_MODULES_DIR PYTHON_VENV_BIN > benign.jsonl
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

# package, how to start it, dummy environment the server needs to start at all.
NODE = [
    ("@modelcontextprotocol/server-everything", ["dist/index.js", "stdio"], {}),
    ("@modelcontextprotocol/server-filesystem", ["dist/index.js", "/tmp"], {}),
    ("@modelcontextprotocol/server-memory", ["dist/index.js"], {}),
    ("@modelcontextprotocol/server-sequential-thinking", ["dist/index.js"], {}),
    ("@modelcontextprotocol/server-github", ["dist/index.js"], {"GITHUB_PERSONAL_ACCESS_TOKEN": "x"}),
    ("@modelcontextprotocol/server-gitlab", ["dist/index.js"], {"GITLAB_PERSONAL_ACCESS_TOKEN": "x"}),
    ("@modelcontextprotocol/server-slack", ["dist/index.js"], {"SLACK_BOT_TOKEN": "x", "SLACK_TEAM_ID": "x"}),
    ("@modelcontextprotocol/server-brave-search", ["dist/index.js"], {"BRAVE_API_KEY": "x"}),
    ("@modelcontextprotocol/server-google-maps", ["dist/index.js"], {"GOOGLE_MAPS_API_KEY": "x"}),
    ("@modelcontextprotocol/server-redis", ["dist/index.js", "redis://127.0.0.1:1"], {}),
    ("@modelcontextprotocol/server-everart", ["dist/index.js"], {"EVERART_API_KEY": "x"}),
    ("@modelcontextprotocol/server-aws-kb-retrieval", ["dist/index.js"], {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1"}),
    ("@modelcontextprotocol/server-puppeteer", ["dist/index.js"], {}),
    ("@playwright/mcp", ["cli.js"], {}),
    ("@notionhq/notion-mcp-server", ["bin/cli.mjs"], {"NOTION_TOKEN": "x"}),
]
PYTHON = ["mcp-server-fetch", "mcp-server-git", "mcp-server-time", "mcp-server-sqlite"]


async def tools_of(command, args, env):
    params = StdioServerParameters(command=command, args=args, env={"PATH": os.environ["PATH"], **env})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await asyncio.wait_for(session.initialize(), 30)
            listed = await asyncio.wait_for(session.list_tools(), 30)
            return [t.model_dump(mode="json", exclude_none=True, by_alias=True) for t in listed.tools]


def version_of(package_json):
    with open(package_json) as f:
        return json.load(f)["version"]


async def main():
    modules, venv_bin = sys.argv[1], sys.argv[2]
    node = os.environ.get("NODE", "node")
    jobs = []
    for package, args, env in NODE:
        root = os.path.join(modules, package)
        source = f"{package}@{version_of(os.path.join(root, 'package.json'))}"
        jobs.append((source, node, [os.path.join(root, args[0]), *args[1:]], env))
    from importlib.metadata import version  # this script runs in the servers' venv

    for package in PYTHON:
        jobs.append((f"{package}@{version(package)}", os.path.join(venv_bin, package), [], {}))
    for source, command, args, env in jobs:
        try:
            tools = await tools_of(command, args, env)
        except Exception as e:  # a server that will not start is left out, and said so
            print(f"{source}: {e!r}", file=sys.stderr)
            continue
        for tool in tools:
            print(json.dumps({"tool": tool, "label": "benign", "source": source}, ensure_ascii=False))


asyncio.run(main())
