#!/usr/bin/env bash
# Before/after in server CPU a request: this build (A) against another build (B), both seeded with
# the same users, under one wrk load at a time, alternating A and B for ROUNDS rounds. Prints each
# round's req/s and CPU (user + system, from /proc) a request, then the medians of B/A's CPU and
# A/B's req/s. CPU a request is steadier than req/s on a small, shared machine (docs/audit.md).
# usage: bench/cpu.sh LOAD(create|filter|patch) OTHER_BINARY [ROUNDS=8] [USERS=20000] [SECONDS=8]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reference=${REFERENCE_BENCH:-$root/bench/reference}
load=$1; other=$2; rounds=${3:-8}; users=${4:-20000}; seconds=${5:-8}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
bins=("$root/target/release/scim-bridge" "$other"); names=(A B); urls=(); tokens=()
for i in 0 1; do
  port=$(free_port)
  export SCIM_BRIDGE__DATABASE__URL="sqlite://$work/$i.db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$port"
  # No console port, on builds that have one (older builds refuse the unknown key).
  if grep -q admin_listen "${bins[$i]}"; then export SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off; else unset SCIM_BRIDGE__SERVER__ADMIN_LISTEN; fi
  tokens[i]=$("${bins[$i]}" token create bench 2>/dev/null)
  RUST_LOG=warn "${bins[$i]}" serve >"$work/$i.log" 2>&1 & pids+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  urls[i]="http://127.0.0.1:$port/scim/v2"
  python3 "$root/bench/seed.py" "${urls[$i]}" "${tokens[$i]}" "$users" >/dev/null
  curl -fsS -H "Authorization: Bearer ${tokens[$i]}" "${urls[$i]}/Users?count=50" |
    python3 -c 'import json, sys; [print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' >"$work/ids$i"
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)
echo "== $load: A = this build, B = $other ($users users, ${seconds}s a load)"
for round in $(seq 1 "$rounds"); do
  for i in 0 1; do
    case $load in
      filter) url="${urls[$i]}/Users?filter=userName%20eq%20%22nobody-here%40example.com%22"; script=get_auth.lua;;
      patch) url="${urls[$i]}/Users"; script=patch_active.lua;;
      create) url="${urls[$i]}/Users"; script=create_users.lua;;
      *) echo "unknown load $load (create, filter or patch)" >&2; exit 2;;
    esac
    before=$(cpu_ticks "${pids[$i]}")
    out=$(SCIM_TOKEN=${tokens[$i]} BENCH_IDS=$work/ids$i BENCH_PREFIX=$RANDOM$RANDOM wrk -t2 -c8 -d"${seconds}s" -s "$reference/$script" "$url")
    sleep 0.3
    after=$(cpu_ticks "${pids[$i]}")
    n=$(echo "$out" | awk '/requests in/ {print $1}'); rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    us=$(python3 -c "print(round(($after - $before) / $ticks * 1e6 / $n, 1))")
    echo "round $round ${names[$i]}: $rps req/s, $us us CPU a request"
  done
done | tee "$work/rounds"
python3 - "$work/rounds" <<'PY'
import re, statistics, sys
rows = {"A": [], "B": []}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (A|B): ([\d.]+) req/s, ([\d.]+) us", line)
    if m:
        rows[m[1]].append((float(m[2]), float(m[3])))
rps = [a[0] / b[0] for a, b in zip(rows["A"], rows["B"])]
cpu = [b[1] / a[1] for a, b in zip(rows["A"], rows["B"])]
print(f"A/B req/s: median {statistics.median(rps):.3f} (rounds {min(rps):.2f}-{max(rps):.2f})")
print(f"B/A CPU a request: median {statistics.median(cpu):.3f} (rounds {min(cpu):.2f}-{max(cpu):.2f})")
PY
