#!/usr/bin/env bash
# Heavy requests against light ones (bench/hostile.py): /healthz and a one-user GET while clients
# send 1,000-operation PATCHes and 1,000-clause searches. With OTHER=path/to/scim-bridge, the same
# load runs against that binary too (e.g. a build of an older commit), one after the other.
# usage: bench/hostile.sh [SECONDS=10] [THREADS=4]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}; threads=${2:-4}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
work=$(mktemp -d); pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run() { # name binary
  local port; port=$(free_port)
  export SCIM_BRIDGE__DATABASE__URL="sqlite://$work/$1.db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$port"
  # No console port, on builds that have one (older builds refuse the unknown key).
  if grep -q admin_listen "$2"; then export SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off; else unset SCIM_BRIDGE__SERVER__ADMIN_LISTEN; fi
  local token; token=$("$2" token create bench 2>/dev/null)
  RUST_LOG=warn "$2" serve >"$work/$1.log" 2>&1 & pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  echo "== $1 ($2), ${seconds}s, $threads heavy clients"
  python3 "$root/bench/hostile.py" "http://127.0.0.1:$port/scim/v2" "$token" "$seconds" "$threads"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}
run this "$root/target/release/scim-bridge"
if [ -n "${OTHER:-}" ]; then run other "$OTHER"; fi
