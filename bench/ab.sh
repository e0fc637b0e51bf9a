#!/usr/bin/env bash
# Before/after on the request path: this build (A) against another build of scim-bridge (B), both
# seeded with the same users, under bench/reference/compare.sh's alternating wrk loads.
# usage: bench/ab.sh OTHER_BINARY [USERS=100000] [SECONDS=10]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reference=${REFERENCE_BENCH:-$root/bench/reference}
other=$1; users=${2:-100000}; seconds=${3:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
work=$(mktemp -d); : >"$work/pids"
# start runs in a subshell (read < <(…)), so the servers' pids go through a file.
cleanup() { while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/pids"; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start() { # name binary -> "base token"
  local port; port=$(free_port)
  export SCIM_BRIDGE__DATABASE__URL="sqlite://$work/$1.db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$port"
  # No console port, on builds that have one (older builds refuse the unknown key).
  if grep -q admin_listen "$2"; then export SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off; else unset SCIM_BRIDGE__SERVER__ADMIN_LISTEN; fi
  local token; token=$("$2" token create bench 2>/dev/null)
  RUST_LOG=warn "$2" serve >"$work/$1.log" 2>&1 & echo $! >>"$work/pids"
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  echo "http://127.0.0.1:$port/scim/v2 $token"
}
read -r A AT < <(start this "$root/target/release/scim-bridge")
read -r B BT < <(start other "$other")
python3 "$root/bench/seed.py" "$A" "$AT" "$users"
python3 "$root/bench/seed.py" "$B" "$BT" "$users"
echo "== compare.sh (A = this build, B = $other), ${seconds}s per load"
bash "$reference/compare.sh" "$A" "$AT" "$B" "$BT" "$seconds"
