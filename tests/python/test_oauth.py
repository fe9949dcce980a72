"""The official MCP Python SDK as an OAuth client of Portcullis: it is refused with a 401, finds
the authorization server through the protected resource metadata that 401 points to, obtains a
token for this resource with the client-credentials grant, and calls tools with it."""

import json
import pathlib
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from mcp import Client
from mcp.client.auth import TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from conftest import ROOT, serve

pytestmark = pytest.mark.anyio

KEY_PEM = (ROOT / "tests" / "fixtures" / "oauth" / "rsa1.pem").read_bytes()
CLIENT_ID, CLIENT_SECRET = "python-agent", "python-secret"


def public_jwk():
    key = serialization.load_pem_private_key(KEY_PEM, password=None).public_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": "rsa1", "alg": "RS256", "use": "sig"}


class AuthorizationServer:
    """RFC 8414 metadata, a JWKS, and a token endpoint for the client-credentials grant that
    mints RS256 tokens for the `resource` the client names (RFC 8707)."""

    def __init__(self):
        server = self
        self.token_requests = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/.well-known/oauth-authorization-server":
                    self.reply(200, {
                        "issuer": server.url,
                        "authorization_endpoint": f"{server.url}/authorize",
                        "token_endpoint": f"{server.url}/token",
                        "jwks_uri": f"{server.url}/jwks",
                        "response_types_supported": ["code"],
                        "grant_types_supported": ["client_credentials"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                    })
                elif self.path == "/jwks":
                    self.reply(200, {"keys": [public_jwk()]})
                else:
                    self.reply(404, {"error": "not found"})

            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                server.token_requests.append(form)
                auth = httpx2.BasicAuth(CLIENT_ID, CLIENT_SECRET)
                expected = next(auth.auth_flow(httpx2.Request("POST", "http://x"))).headers["authorization"]
                if self.headers.get("authorization") != expected or form.get("grant_type") != "client_credentials":
                    return self.reply(401, {"error": "invalid_client"})
                claims = {"iss": server.url, "sub": CLIENT_ID, "aud": form.get("resource"),
                          "scope": form.get("scope", ""), "iat": int(time.time()),
                          "exp": int(time.time()) + 600}
                token = jwt.encode(claims, KEY_PEM, algorithm="RS256", headers={"kid": "rsa1"})
                self.reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 600,
                                 "scope": form.get("scope", "")})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


class MemoryStorage(TokenStorage):
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture(scope="module")
def oauth_gateway():
    issuer = AuthorizationServer()
    config = f"""
[[auth.issuers]]
issuer = "{issuer.url}"
jwks_url = "{issuer.url}/jwks"
algorithms = ["RS256"]

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[[expose]]
upstream = "demo"
tools = ["get_invoice"]
read_only = true
scopes = ["invoices:read"]
"""
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "portcullis.toml"
        path.write_text(config)
        proc, addr = serve(str(path))
        try:
            yield issuer, f"http://{addr}/mcp"
        finally:
            proc.kill()
            proc.wait()
            issuer.stop()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_sdk_discovers_the_authorization_server_from_the_401_and_gets_in(oauth_gateway, mode):
    issuer, url = oauth_gateway
    before = len(issuer.token_requests)
    provider = ClientCredentialsOAuthProvider(
        server_url=url,
        storage=MemoryStorage(),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope="invoices:read",
        issuer=issuer.url,
    )
    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(auth=provider))
    async with Client(transport, mode=mode) as client:
        result = await client.call_tool("demo_get_invoice", {"invoice_id": "INV-3"})
        assert result.structured_content["invoice_id"] == "INV-3"
    requests = issuer.token_requests[before:]
    assert requests, "the SDK never asked the authorization server for a token"
    assert requests[-1]["resource"] == url, requests[-1]


async def test_a_token_for_another_resource_is_refused(oauth_gateway):
    issuer, url = oauth_gateway
    claims = {"iss": issuer.url, "sub": "x", "aud": "http://127.0.0.1:1/mcp", "scope": "invoices:read",
              "exp": int(time.time()) + 600}
    token = jwt.encode(claims, KEY_PEM, algorithm="RS256", headers={"kid": "rsa1"})
    async with httpx2.AsyncClient() as http:
        response = await http.post(url, json={}, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error_description="wrong audience"' in response.headers["www-authenticate"]
