"""The pre-flight audit (`portcullis lint`) on real FastAPI apps: one with login, token,
registration, admin and debug endpoints, secret parameters and personal data in responses,
and one that only looks dangerous by name. Text, JSON and SARIF (validated against the SARIF
2.1.0 schema), exit codes by --fail-on, and `serve` refusing to start until the critical
findings are acknowledged."""

import json
import pathlib
import subprocess
import sys
import tempfile
import time

import jsonschema
import pytest

from conftest import BIN, ROOT, serve

APP = ROOT / "tests" / "fixtures" / "lint_app.py"
SARIF_SCHEMA = ROOT / ".tools" / "sarif" / "node_modules" / "@microsoft" / "jest-sarif" / "lib" / "schemas" / "sarif-2.1.0-rtm.5.json"

CONFIG = """
[auth]
api_keys = true

[upstreams.api]
kind = "openapi"
spec = "{base}/openapi.json"
base_url = "{base}"

[[expose]]
upstream = "api"
tools = [{read}]
read_only = true

[[expose]]
upstream = "api"
tools = [{write}]
destructive = true
{extra}
"""

DANGEROUS = {
    "read": ["list_all_users", "vars", "get_customer", "reports"],
    "write": ["login", "issue_token", "sign_up"],
}
LOOKALIKE = {
    "read": ["rootbeer", "management_report", "list_authors"],
    "write": ["tokenize", "register_product"],
}
CRITICAL = [
    "admin-endpoint:api_list_all_users",
    "auth-endpoint:api_issue_token",
    "auth-endpoint:api_login",
    "auth-endpoint:api_sign_up",
]


def start_app(kind):
    d = tempfile.TemporaryDirectory()
    port_file = pathlib.Path(d.name) / "port"
    proc = subprocess.Popen([sys.executable, str(APP), "--kind", kind, "--port-file", str(port_file)])
    for _ in range(200):
        if port_file.exists():
            return d, proc, f"http://127.0.0.1:{port_file.read_text()}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the {kind} app did not start")


@pytest.fixture(scope="module", params=["dangerous", "lookalike"])
def app(request):
    d, proc, base = start_app(request.param)
    try:
        yield request.param, base
    finally:
        proc.kill()
        proc.wait()
        d.cleanup()


def write_config(base, ops, extra=""):
    d = tempfile.TemporaryDirectory()
    path = pathlib.Path(d.name) / "portcullis.toml"
    quoted = lambda names: ", ".join(json.dumps(n) for n in names)  # noqa: E731
    path.write_text(CONFIG.format(base=base, read=quoted(ops["read"]), write=quoted(ops["write"]), extra=extra))
    return d, str(path)


def lint(path, *flags):
    return subprocess.run([BIN, "lint", "--config", path, *flags], capture_output=True, text=True, timeout=60)


def test_findings_in_every_format_and_exit_codes(app):
    kind, base = app
    d, path = write_config(base, DANGEROUS if kind == "dangerous" else LOOKALIKE)
    with d:
        found = json.loads(lint(path, "--format", "json").stdout)
        ids = {f["id"] for f in found}
        rules = {f["rule"] for f in found}
        critical = sorted(f["id"] for f in found if f["severity"] == "critical")
        if kind == "dangerous":
            assert critical == CRITICAL
            assert "debug-endpoint:api_vars" in ids
            for secret in [
                "secret-parameter:api_login:body.password",
                "secret-parameter:api_issue_token:client_secret",
                "secret-parameter:api_reports:api_key",
            ]:
                assert secret in ids, found
            pii = next(f for f in found if f["rule"] == "pii-in-response")
            assert pii["tool"] == "api_get_customer"
            for field in ["`email`", "`phone_number`", "`address`"]:
                assert field in pii["message"], pii
            assert "public-destructive-tool" in rules
            assert lint(path).returncode == 1
            assert lint(path, "--fail-on", "critical").returncode == 1
        else:
            # Nothing here is an auth, admin or debug endpoint, or a secret.
            assert not rules & {"auth-endpoint", "admin-endpoint", "debug-endpoint", "secret-parameter"}, found
            assert all(f["severity"] in ("medium", "low", "info") for f in found), found
            assert lint(path).returncode == 0
            assert lint(path, "--fail-on", "low").returncode == 1

        text = lint(path).stdout
        for f in found:
            assert f"{f['severity']:<8} {f['id']}" in text
        assert text.rstrip().splitlines()[-1].startswith(f"{len(found)} findings")

        sarif = json.loads(lint(path, "--format", "sarif").stdout)
        schema = json.loads(SARIF_SCHEMA.read_text())
        jsonschema.validate(sarif, schema, cls=jsonschema.Draft7Validator)
        results = sarif["runs"][0]["results"]
        assert len(results) == len(found)
        driver_rules = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
        for r in results:
            assert driver_rules[r["ruleIndex"]] == r["ruleId"]
        assert {r["partialFingerprints"]["portcullisFindingId/v1"] for r in results} == ids


def test_serve_refuses_to_start_until_the_critical_findings_are_acknowledged():
    d_app, proc, base = start_app("dangerous")
    try:
        d, path = write_config(base, DANGEROUS)
        with d:
            refused = subprocess.run([BIN, "serve", "--config", path, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
            assert refused.returncode != 0
            assert "refusing to start" in refused.stderr
            for finding in CRITICAL:
                assert f'id = "{finding}"' in refused.stderr, refused.stderr
            # The refusal is on the audit record, finding by finding.
            records = [json.loads(line) for line in (pathlib.Path(d.name) / ".portcullis" / "audit.jsonl").read_text().splitlines()]
            refusals = sorted(r["tool"] for r in records if r["method"] == "catalogue/refuse")
            assert refusals == sorted(f.split(":")[1] for f in CRITICAL), records
            # `check` says the same without starting anything.
            check = subprocess.run([BIN, "check", "--config", path], capture_output=True, text=True, timeout=60)
            assert check.returncode != 0 and "auth-endpoint:api_login" in check.stderr

        acknowledged = "".join(
            f'\n[[lint.acknowledge]]\nid = "{finding}"\nreason = "internal tooling, reviewed"\n' for finding in CRITICAL
        )
        d, path = write_config(base, DANGEROUS, acknowledged)
        with d:
            gateway, _addr = serve(path)
            gateway.kill()
            gateway.wait()
            found = json.loads(lint(path, "--format", "json", "--fail-on", "critical").stdout)
            assert all(f["acknowledged"] == "internal tooling, reviewed" for f in found if f["severity"] == "critical")
            assert lint(path, "--fail-on", "critical").returncode == 0
    finally:
        proc.kill()
        proc.wait()
        d_app.cleanup()
