#!/usr/bin/env bash
# Runs schemathesis (PyPI, pinned) against the OpenAPI document the running
# okcc-server serves: no 5xx answer and no answer that contradicts the
# schema. Any finding fails the script (and CI).
#
# Usage: examples/okcc-server/tests/schemathesis.sh [path/to/okcc-server]
# (default: target/debug/okcc-server, built first). Env:
#   SCHEMATHESIS_VERSION  the pinned version (default below)
#   ST_MAX_EXAMPLES       test cases per operation (default 30)
#   ST_VENV               where the virtualenv lives (default target/schemathesis-venv)
set -euo pipefail
cd "$(dirname "$0")/../../.."

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-30}"
ST_VENV="${ST_VENV:-target/schemathesis-venv}"
BIN="${1:-}"
if [ -z "$BIN" ]; then
  cargo build -q -p okcc-server
  BIN=target/debug/okcc-server
fi

if [ ! -x "$ST_VENV/bin/schemathesis" ] \
  || [ "$("$ST_VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

data=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

http_port=$(free_port)
sip_port=$(free_udp_port)
base="http://127.0.0.1:$http_port"
RUST_LOG=warn "$BIN" serve --data-dir "$data" --http "127.0.0.1:$http_port" \
  --sip-udp "127.0.0.1:$sip_port" --sip-tcp off >"$data/stdout" 2>"$data/stderr" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$data/stderr" >&2
    echo "okcc-server did not start" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null

# The admin password is set headlessly with the CLI (the bootstrap one is
# never read), then a session token is taken.
password="Schema-Thesis-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')-Run9"
printf '%s\n' "$password" | "$BIN" admin set-password --user admin --password-stdin --data-dir "$data" >/dev/null
token=$(curl -fsS -X POST "$base/api/v1/sessions" -H 'content-type: application/json' \
  -d "{\"user\":\"admin\",\"password\":\"$password\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# Every operation but logout (it would end the token mid-run) and the
# password change (it would change the password mid-run).
status=0
"$ST_VENV/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --url "$base" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance \
  --exclude-path /api/v1/sessions/current \
  --exclude-path /api/v1/me/password \
  --max-examples "$ST_MAX_EXAMPLES" \
  --workers 1 \
  --seed 20261123 \
  --no-color \
  --warnings off || status=$?
if [ "$status" != 0 ]; then
  echo "--- okcc-server stderr (last 50 lines)" >&2
  tail -n 50 "$data/stderr" >&2
  echo "schemathesis found problems (exit $status)" >&2
fi
exit "$status"
