#!/usr/bin/env bash
# The issue-2 benchmark, in one run: seeds this server and the floor-plan server with the same users,
# runs bench/reference/compare.sh (alternating wrk loads, ratios), then measures on this server alone:
# p99 latency at 8 connections, the deep-page GET, and resident memory.
# usage: bench/run.sh [USERS=100000] [SECONDS=10]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reference=${REFERENCE_BENCH:-$root/bench/reference}
users=${1:-100000}
seconds=${2:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
cargo build --release --quiet --locked --manifest-path "$reference/floorplan/Cargo.toml" --target-dir "$root/target/floorplan"
bin="$root/target/release/scim-bridge"
floor="$root/target/floorplan/release/floorplan"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start"; exit 1; }

a_port=$(free_port); b_port=$(free_port)
export SCIM_BRIDGE__DATABASE__URL="sqlite://$work/bridge.db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$a_port"
token=$("$bin" token create bench 2>/dev/null)
RUST_LOG=warn "$bin" serve >"$work/bridge.log" 2>&1 & pids+=($!); a_pid=$!
"$floor" "$b_port" "$work/floor.db" >"$work/floor.log" 2>&1 & pids+=($!)
A="http://127.0.0.1:$a_port/scim/v2"; B="http://127.0.0.1:$b_port"
wait_up "http://127.0.0.1:$a_port/healthz"; wait_up "$B/Users?count=1"

python3 "$root/bench/seed.py" "$A" "$token" "$users"
python3 "$root/bench/seed.py" "$B" floorplan-token "$users"
echo
echo "== compare.sh (A = scim-bridge, B = floor-plan), ${seconds}s per load"
bash "$reference/compare.sh" "$A" "$token" "$B" floorplan-token "$seconds"

echo
echo "== scim-bridge alone: latency at 8 connections"
p99() { SCIM_TOKEN=$token BENCH_PREFIX=$RANDOM$RANDOM BENCH_IDS="$work/ids" wrk -t2 -c8 -d"${seconds}s" --latency -s "$reference/$1" "$2" | awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {printf "req/s %s  p50 %s  p99 %s\n", rps, p50, p99}'; }
curl -fsS -H "Authorization: Bearer $token" "$A/Users?count=50&attributes=id" | python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' >"$work/ids"
printf '%-14s ' "filter-eq";    p99 get_auth.lua "$A/Users?filter=userName%20eq%20%22seed-004242%40example.com%22"
printf '%-14s ' "create";       p99 create_users.lua "$A/Users"
printf '%-14s ' "patch-active"; p99 patch_active.lua "$A/Users"

echo
echo "== GET /Users?startIndex=99001&count=1000 (5 runs, seconds)"
for _ in 1 2 3 4 5; do
  curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$A/Users?startIndex=99001&count=1000"
done | sort -n | awk '{t[NR]=$1} END {printf "min %s  median %s  max %s\n", t[1], t[3], t[5]}'

echo
total=$(curl -fsS -H "Authorization: Bearer $token" "$A/Users?count=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalResults"])')
echo "== resident memory of scim-bridge with $total users stored: $(( $(ps -o rss= -p "$a_pid") / 1024 )) MiB"
