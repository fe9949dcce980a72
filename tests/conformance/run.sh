#!/usr/bin/env bash
# The official MCP conformance suite, run against the upstream in upstream.py directly and
# against Portcullis fronting the same upstream, for the 0.1 line (2025 revisions) and the 0.2
# line (--spec-version 2026-07-28). Fails when Portcullis fails a check the upstream passes
# directly, unless expected-failures.txt lists that check with its reason.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${PORTCULLIS_BIN:-$ROOT/target/debug/portcullis}"
TOOLS="$ROOT/.tools"
NODE="$TOOLS/node22"
WORK="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_CONFORMANCE:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

for need in "$NODE" "$TOOLS/venv/bin/python" "$BIN"; do
  [ -x "$need" ] || { echo "conformance: $need is missing; run scripts/install-test-tools and cargo build" >&2; exit 1; }
done

wait_for_file() {
  for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "conformance: timed out waiting for $1" >&2; return 1
}

"$TOOLS/venv/bin/python" "$ROOT/tests/conformance/upstream.py" "$WORK/upstream.port" 2>"$WORK/upstream.log" &
pids+=($!)
wait_for_file "$WORK/upstream.port"
UPSTREAM="http://127.0.0.1:$(cat "$WORK/upstream.port")/mcp"

# The suite sends no credentials: the tools are public and anonymous callers allowed.
cat > "$WORK/portcullis.toml" <<TOML
[auth]
api_keys = true
allow_anonymous = true

# Every check of the suite comes from the one anonymous caller.
[limits]
per_caller = "off"
per_caller_tool = "off"

[upstreams.conf]
kind = "http"
url = "$UPSTREAM"
prefix = ""
# The suite's sampling scenario: the upstream asks the client's model to write.
sampling = true

[[expose]]
upstream = "conf"
tools = ["test_*"]
read_only = true

[[resources]]
upstream = "conf"
uris = ["test://*"]

[[prompts]]
upstream = "conf"
prompts = ["test_*"]
TOML
"$BIN" serve --config "$WORK/portcullis.toml" --listen 127.0.0.1:0 >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
pids+=($!)
for _ in $(seq 1 200); do grep -q '^listening on ' "$WORK/gateway.out" 2>/dev/null && break; sleep 0.1; done
GATEWAY="http://$(sed -n 's/^listening on //p' "$WORK/gateway.out" | head -n1)/mcp"
[ "$GATEWAY" != "http:///mcp" ] || { echo "conformance: portcullis did not start" >&2; cat "$WORK/gateway.log" >&2; exit 1; }

run_suite() { # line target outdir [extra args]
  local line="$1" url="$2" out="$3"; shift 3
  local cli="$TOOLS/conformance-$line/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  # The suite exits 1 when any check fails; the comparison below decides.
  timeout 600 "$NODE" "$cli" server --url "$url" -o "$out" "$@" >"$out.log" 2>&1 || true
}

run_suite 0.1 "$UPSTREAM" "$WORK/0.1-direct"
run_suite 0.1 "$GATEWAY" "$WORK/0.1-gateway"
run_suite 0.2 "$UPSTREAM" "$WORK/0.2-direct" --spec-version 2026-07-28
run_suite 0.2 "$GATEWAY" "$WORK/0.2-gateway" --spec-version 2026-07-28

"$TOOLS/venv/bin/python" "$ROOT/tests/conformance/compare.py" \
  "$ROOT/tests/conformance/expected-failures.txt" "$WORK" 0.1 0.2 || {
  status=$?
  # What a failure needs to be understood once the work directory is gone: the failing
  # checks through the gateway, and what the gateway logged above INFO.
  for checks in "$WORK"/0.*-gateway/*/checks.json; do
    grep -q '"FAILURE"' "$checks" && { echo "== $checks" >&2; cat "$checks" >&2; }
  done
  echo "== gateway warnings and errors" >&2
  grep -E 'WARN|ERROR' "$WORK/gateway.log" | tail -n 50 >&2 || true
  exit "$status"
}
