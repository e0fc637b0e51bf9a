#!/usr/bin/env bash
# Issue-3 benchmark: a group of 100,000 members must cost no more per change than a group of ten.
# Seeds 100,050 users into a fresh server, then runs bench/groups.py (timings at the client).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/scim-bridge"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SCIM_BRIDGE__DATABASE__URL="sqlite://$work/groups.db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$port" SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off
token=$("$bin" token create bench 2>/dev/null)
RUST_LOG=warn "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
base="http://127.0.0.1:$port/scim/v2"
python3 "$root/bench/seed.py" "$base" "$token" 100050
python3 "$root/bench/groups.py" "$base" "$token"
echo "resident memory: $(( $(ps -o rss= -p "$pid") / 1024 )) MiB"
