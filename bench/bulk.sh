#!/usr/bin/env bash
# The bulk benchmark (issue 16): one POST /Bulk of N user creates against N separate POSTs on eight
# keep-alive connections, alternating, ROUNDS times, on one server (release build, fresh SQLite).
# TARGETS=1 configures one target (its vendor unreachable and rate-limited, so the worker stays
# idle) so that every create also queues its fan-out.
# usage: bench/bulk.sh [N=1000] [ROUNDS=5]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
rounds=${2:-5}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/scim-bridge"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  printf '[database]\nurl = "sqlite://%s/bridge.db"\n[server]\nlisten = "127.0.0.1:%s"\nadmin_listen = "off"\n' "$work" "$port"
  if [ "${TARGETS:-0}" = 1 ]; then
    printf '[[target]]\nname = "w365"\nkind = "workspace365"\nbase_url = "http://127.0.0.1:9/Provisioning"\n'
    printf 'environment = "bench"\nprovisioning_key_env = "BENCH_SECRET"\nrate_limit = 0.01\n'
  fi
} >"$work/bridge.toml"
export BENCH_SECRET=bench-secret
token=$("$bin" --config "$work/bridge.toml" token create bench 2>/dev/null)
RUST_LOG=warn "$bin" --config "$work/bridge.toml" serve >"$work/bridge.log" 2>&1 & pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
python3 "$root/bench/bulk.py" "http://127.0.0.1:$port/scim/v2" "$token" "$n" "$rounds"
