"""Starts the real `portcullis` binary for the Python SDK tests."""

import contextlib
import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("PORTCULLIS_BIN", str(ROOT / "target" / "debug" / "portcullis"))
RAW_UPSTREAM = ROOT / "tests" / "fixtures" / "raw_upstream.py"

CONFIG = f"""
[auth]
api_keys = true

# These tests call the same tools many times a minute.
[limits]
per_caller = "6000/min"
per_caller_tool = "6000/min"

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[upstreams.raw]
kind = "stdio"
command = "python3"
args = ["{RAW_UPSTREAM}"]
inherit_env = ["PATH"]

[[expose]]
upstream = "demo"
tools = ["echo", "echo_count", "fetch_page"]
read_only = true

[[expose]]
upstream = "demo"
tools = ["get_invoice", "slow_count"]
read_only = true
scopes = ["invoices:read"]

[[expose]]
upstream = "demo"
tools = ["refund"]
destructive = true
# Not about approval (test_approvals.py is): the calls run at once.
approval = "none"
scopes = ["invoices:read", "invoices:write"]

[[expose]]
upstream = "raw"
tools = ["plain", "tasky"]
read_only = true
"""


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def config_path():
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(CONFIG)
        yield str(path)


def create_key(config_path, name, scopes, env=None):
    """Issues an API key with `portcullis keys create --json`; returns its token."""
    args = [BIN, "keys", "create", "--config", str(config_path), "--name", name, "--json"]
    if scopes:
        args += ["--scopes", scopes]
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         env=None if env is None else {**os.environ, **env}).stdout
    return json.loads(out)["token"]


@pytest.fixture(scope="session")
def full_key(config_path):
    return create_key(config_path, "python-full", "invoices:read,invoices:write")


@pytest.fixture(scope="session")
def reader_key(config_path):
    return create_key(config_path, "python-reader", "invoices:read")


def serve(config_path, env=None):
    """Starts `portcullis serve` on a free loopback port (with `env` added to its
    environment); returns the process and its address."""
    proc, found = serve_all(config_path, env)
    return proc, found["addr"]


def serve_all(config_path, env=None):
    """Like `serve`, but returns what it printed: `addr`, and `admin` (the admin listener's
    address) when the config has one."""
    proc = subprocess.Popen(
        [BIN, "serve", "--config", config_path, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    found = {}
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            if line.startswith("admin console: http://"):
                found["admin"] = line.split("//")[1].strip().rstrip("/")
            if line.startswith("listening on "):
                found["addr"] = line.split()[-1]
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        proc.wait()
        raise RuntimeError("portcullis did not start")
    return proc, found


@contextlib.contextmanager
def listening(args, env=None):
    """Starts `args`, a server that writes the port it listens on to the file named by its
    PORTFILE variable (and by `{portfile}` in `args`); yields the port, and stops it by its
    PID at the end."""
    with tempfile.TemporaryDirectory() as d:
        portfile = pathlib.Path(d) / "port"
        proc = subprocess.Popen([a.replace("{portfile}", str(portfile)) for a in args],
                                env={**os.environ, **(env or {}), "PORTFILE": str(portfile)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not (portfile.exists() and portfile.read_text()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} did not start listening")
                time.sleep(0.05)
            yield int(portfile.read_text())
        finally:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running(config_text, scopes=()):
    """`config_text` in a temporary directory, served by `portcullis serve` on a free loopback
    port; yields the MCP URL and one key per scope list in `scopes` (the first: no scope), and
    stops the gateway by its PID."""
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(config_text)
        keys = [create_key(path, f"key-{i}", s) for i, s in enumerate(["", *scopes])]
        proc, addr = serve(str(path))
        try:
            yield f"http://{addr}/mcp", keys
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def gateway_url(config_path):
    """A `portcullis serve` on a free loopback port, stopped by its PID at the end."""
    proc, addr = serve(config_path)
    try:
        yield f"http://{addr}/mcp"
    finally:
        proc.kill()
        proc.wait()
