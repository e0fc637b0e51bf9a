#!/usr/bin/env bash
# Runs scim2-tester (through scim2-cli) against the release binary, on a free port with a fresh
# database and token. Prints the tally of results and fails on any result that is not SUCCESS.
# The Python tools live in a venv under target/, made on first use. The database is a fresh SQLite
# file, or the (empty) PostgreSQL database CONFORMANCE_DATABASE_URL names.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/conformance-venv"
bin="$root/target/release/scim-bridge"

if [ ! -x "$venv/bin/scim2" ]; then
  echo "conformance: installing scim2-cli into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check scim2-cli
fi
[ -x "$bin" ] || (cd "$root" && cargo build --release --quiet)

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SCIM_BRIDGE__DATABASE__URL="${CONFORMANCE_DATABASE_URL:-sqlite://$work/conformance.db}"
export SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$port" SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off
token=$("$bin" token create conformance 2>/dev/null)
"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!

base="http://127.0.0.1:$port/scim/v2"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "conformance: the server exited"; exit 1; }
  sleep 0.1
done

echo "conformance: scim2 test against $base (database ${SCIM_BRIDGE__DATABASE__URL%%:*})"
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $token" "$venv/bin/scim2" --url "$base" test >"$work/result.txt" 2>&1
tester_status=$?
set -e

# Result lines start with the status word: SUCCESS, ERROR, CRITICAL, WARNING, SKIPPED …
grep -E '^[A-Z]+ ' "$work/result.txt" | awk '{print $1}' | sort | uniq -c | sed 's/^/conformance: /'
passed=$(grep -cE '^SUCCESS ' "$work/result.txt" || true)
failed=$(grep -E '^[A-Z]+ ' "$work/result.txt" | grep -vcE '^SUCCESS ' || true)
if [ "$failed" -ne 0 ] || [ "$tester_status" -ne 0 ] || [ "$passed" -eq 0 ]; then
  grep -vE '^SUCCESS |^  ' "$work/result.txt" | head -50 || true
  grep -A3 -E '^[A-Z]+ ' "$work/result.txt" | grep -vE '^SUCCESS ' | head -80 || true
  echo "conformance: $passed passed, $failed failed"
  exit 1
fi
echo "conformance: $passed passed, $failed failed"
