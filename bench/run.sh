#!/usr/bin/env bash
# The issue-2 benchmark, in one run: seeds this server and the floor-plan server with the same users,
# runs bench/reference/compare.sh (alternating wrk loads, ratios), then measures on this server alone:
# p99 latency at 8 connections, the deep-page GET, and resident memory. Then the same loads on
# scim-bridge over PostgreSQL (a throwaway server from scripts/postgres.sh) against SQLite and the
# floor-plan, and the throughput of one PostgreSQL replica against two sharing the database, with
# every core and with one worker each (BENCH_POSTGRES=0 skips that part).
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
pg=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$pg" ] && bash "$root/scripts/postgres.sh" --stop "$pg"
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start"; exit 1; }

a_port=$(free_port); b_port=$(free_port)
export SCIM_BRIDGE__DATABASE__URL="sqlite://$work/bridge.db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$a_port" SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off
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

echo
echo "== over TLS: A (plain HTTP) against E (the same binary on the same database, server.tls from files)"
# wrk keeps its connections open, so this is the per-request cost of TLS (record encryption), not
# of handshakes. curl and seed.py trust the self-signed certificate through CURL_CA_BUNDLE/SSL_CERT_FILE.
e_port=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls-key.pem" -out "$work/tls-cert.pem" 2>/dev/null
SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$e_port" SCIM_BRIDGE__SERVER__TLS__CERT_FILE="$work/tls-cert.pem" \
  SCIM_BRIDGE__SERVER__TLS__KEY_FILE="$work/tls-key.pem" RUST_LOG=warn "$bin" serve >"$work/tls.log" 2>&1 & pids+=($!)
E="https://127.0.0.1:$e_port/scim/v2"
export CURL_CA_BUNDLE="$work/tls-cert.pem" SSL_CERT_FILE="$work/tls-cert.pem"
wait_up "https://127.0.0.1:$e_port/healthz"
bash "$reference/compare.sh" "$A" "$token" "$E" "$token" "$seconds" | sed 's#A/B#plain/TLS#'
unset CURL_CA_BUNDLE SSL_CERT_FILE

[ "${BENCH_POSTGRES:-1}" = 0 ] && exit 0
echo
pg=$(bash "$root/scripts/postgres.sh")
serve_on_pg() { # port [workers] -> starts a replica on the PostgreSQL database
  env SCIM_BRIDGE__DATABASE__URL="$pg" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$1" SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off ${2:+SCIM_BRIDGE__SERVER__WORKERS=$2} \
    RUST_LOG=warn "$bin" serve >>"$work/pg.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$1/healthz"
}
c_port=$(free_port); d_port=$(free_port)
pg_token=$(SCIM_BRIDGE__DATABASE__URL="$pg" "$bin" token create bench 2>/dev/null)
serve_on_pg "$c_port"
C="http://127.0.0.1:$c_port/scim/v2"
python3 "$root/bench/seed.py" "$C" "$pg_token" "$users"
echo
echo "== compare.sh (A = scim-bridge on PostgreSQL, B = scim-bridge on SQLite), ${seconds}s per load"
bash "$reference/compare.sh" "$C" "$pg_token" "$A" "$token" "$seconds"
echo
echo "== compare.sh (A = scim-bridge on PostgreSQL, B = floor-plan), ${seconds}s per load"
bash "$reference/compare.sh" "$C" "$pg_token" "$B" floorplan-token "$seconds"

echo
# Each replica alone has every core here, so a second one on the same two cores cannot add any:
# the first part shows that. A replica in a pod is given a share of the machine instead (one
# worker, as with a one-CPU limit): the second part shows what a second such replica adds. The
# client has two wrk threads in both cases (one wrk of two threads, or two of one).
filter='/Users?filter=userName%20eq%20%22seed-004242%40example.com%22'
rps() { SCIM_TOKEN=$pg_token BENCH_PREFIX=$RANDOM$RANDOM BENCH_IDS="$work/pg_ids" wrk -t"$1" -c"$2" -d"${seconds}s" -s "$reference/$3" "$4" | awk '/Requests\/sec/ {print $2}'; }
curl -fsS -H "Authorization: Bearer $pg_token" "$C/Users?count=50&attributes=id" | python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' >"$work/pg_ids"
one_against_two() { # first-replica-url second-replica-url
  for load in "filter-eq get_auth.lua $filter" "patch-active patch_active.lua /Users"; do
    read -r name script path <<<"$load"
    one=$(rps 2 8 "$script" "$1$path")
    rps 1 4 "$script" "$1$path" >"$work/c.rps" & first=$!
    rps 1 4 "$script" "$2$path" >"$work/d.rps"
    wait "$first"
    two=$(echo "$(cat "$work/c.rps") + $(cat "$work/d.rps")" | bc -l)
    printf '%-14s one replica %10s req/s   two replicas %10.2f req/s   %5.2fx\n' "$name" "$one" "$two" "$(echo "$two / $one" | bc -l)"
  done
}
echo "== one replica against two on the same PostgreSQL database (8 connections in all)"
echo "-- replicas with every core (server.workers unset)"
serve_on_pg "$d_port"
one_against_two "$C" "http://127.0.0.1:$d_port/scim/v2"
for p in "${pids[@]: -2}"; do kill "$p"; done
echo "-- replicas with one worker each (a pod with one CPU)"
e_port=$(free_port); f_port=$(free_port)
serve_on_pg "$e_port" 1; serve_on_pg "$f_port" 1
one_against_two "http://127.0.0.1:$e_port/scim/v2" "http://127.0.0.1:$f_port/scim/v2"
