#!/usr/bin/env bash
# The retention benchmark (issue 31, docs/audit.md): a database holding ROWS events and ROWS logged
# requests past the policy (200 days old) is pruned by `audit.retain_days = 180` while PATCHes
# arrive at RATE a second. The same load runs first with pruning off; the script prints p50/p99 of
# both, how long pruning took, the rows and the file size before and after, and exits 1 when p99
# during pruning is more than twice p99 without, or when a row inside the policy was lost.
# usage: bench/retention.sh [ROWS=1000000] [RATE=200] [USERS=1000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-1000000}
rate=${2:-200}
users=${3:-1000}
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/scim-bridge"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="$work/bridge.db"
export SCIM_BRIDGE__DATABASE__URL="sqlite://$db" SCIM_BRIDGE__SERVER__LISTEN="127.0.0.1:$port" SCIM_BRIDGE__SERVER__ADMIN_LISTEN=off
base="http://127.0.0.1:$port/scim/v2"

serve() { # retain_days
  SCIM_BRIDGE__AUDIT__RETAIN_DAYS=$1 RUST_LOG=info "$bin" serve >>"$work/bridge.log" 2>&1 & pid=$!
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "the bridge did not start:"; cat "$work/bridge.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
count() { sqlite3 "$db" "SELECT (SELECT count(*) FROM events WHERE at < '2026-01-01') + (SELECT count(*) FROM requests WHERE at < '2026-01-01')"; }
kept() { sqlite3 "$db" "SELECT (SELECT count(*) FROM events WHERE at >= '2026-01-01') + (SELECT count(*) FROM requests WHERE at >= '2026-01-01')"; }
mib() { echo "$(( $(stat -c %s "$db") / 1048576 )) MiB"; }
percentiles() { # file [from to] -> "count p50 p99 max" in ms
  awk -v from="${2:-0}" -v to="${3:-9999999999}" '$1 >= from && $1 <= to { print $2 }' "$1" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 - - -"; exit }
      printf "%d %.1f %.1f %.1f\n", NR, v[int(NR * 0.5 + 0.5)] * 1000, v[int(NR * 0.99 + 0.5)] * 1000, v[NR] * 1000 }'
}

token=$("$bin" token create bench 2>/dev/null)
serve 0
python3 "$root/bench/seed.py" "$base" "$token" "$users" >/dev/null
curl -fsS -H "Authorization: Bearer $token" "$base/Users?count=$users&attributes=id" |
  python3 -c 'import json, sys; [print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' >"$work/ids"
stop

echo "== seeding $rows events and $rows logged requests from 200 days ago"
started=$(date +%s)
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO events (at, target, resource_id, action, outcome, http_status, latency_ms, request_id, user_name)
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', '2025-05-01', printf('+%d seconds', i)), 'w365',
       printf('%08x-0000-4000-8000-%012x', i % 50000, i % 50000), 'update', 'done', 200, 20.0,
       printf('old-%d', i), printf('user%d@example.com', i % 50000)
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO requests (at, request_id, token, method, path, status, latency_ms, resource_type, resource_id, user_name)
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', '2025-05-01', printf('+%d seconds', i)), printf('old-%d', i), 'okta',
       CASE i % 4 WHEN 0 THEN 'GET' ELSE 'PATCH' END,
       printf('/scim/v2/Users/%08x-0000-4000-8000-%012x', i % 50000, i % 50000), 200, 1.5, 'User',
       printf('%08x-0000-4000-8000-%012x', i % 50000, i % 50000), printf('user%d@example.com', i % 50000)
FROM n;
COMMIT;
SQL
echo "seeded in $(( $(date +%s) - started )) s; $(count) rows past the policy, $(kept) inside it; database $(mib)"

seconds=30
echo "== $rate PATCH/s for ${seconds} s, pruning off (retain_days = 0)"
serve 0
python3 "$root/bench/retention.py" "$base" "$token" "$work/ids" "$rate" "$seconds" "$work/without.txt"
stop
read -r n50 p50 p99 max < <(percentiles "$work/without.txt")
echo "without pruning: $n50 requests, p50 $p50 ms, p99 $p99 ms, max $max ms"
base_p99=$p99
kept_before=$(kept)

echo "== $rate PATCH/s while retain_days = 180 prunes $(count) rows"
before_size=$(mib)
serve 180
python3 "$root/bench/retention.py" "$base" "$token" "$work/ids" "$rate" 900 "$work/during.txt" &
load=$!
initial=$(count)
prune_start= prune_end=
for _ in $(seq 1 900); do
  sleep 1
  left=$(count)
  [ -z "$prune_start" ] && [ "$left" -lt "$initial" ] && prune_start=$(date +%s.%N)
  [ "$left" = 0 ] && { prune_end=$(date +%s.%N); break; }
done
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true
stop
[ -n "$prune_end" ] || { echo "pruning did not finish in 15 minutes ($(count) rows left)"; exit 1; }
# The first second of the window may predate the first batch; the poll is 1 s coarse.
read -r n99 d50 d99 dmax < <(percentiles "$work/during.txt" "$prune_start" "$prune_end")
errors=$(awk '$3 != 200' "$work/during.txt" "$work/without.txt" | wc -l)
kept_after=$(kept)
secs=$(echo "$prune_end - $prune_start" | bc)
echo "pruned $initial rows in ${secs%.*} s (+ up to 1 s of polling)"
echo "during pruning:  $n99 requests, p50 $d50 ms, p99 $d99 ms, max $dmax ms"
echo "p99 during / without: $(echo "scale=2; $d99 / $base_p99" | bc)"
echo "rows inside the policy: $kept_before before, $kept_after after (the load adds its own)"
echo "database: $before_size before pruning, $(mib) after; $(sqlite3 "$db" 'PRAGMA freelist_count') free pages for new rows"
echo "failed requests: $errors"
fail=0
[ "$(echo "$d99 > 2 * $base_p99" | bc)" = 1 ] && { echo "FAIL: p99 during pruning is more than twice p99 without"; fail=1; }
[ "$kept_after" -lt "$kept_before" ] && { echo "FAIL: rows inside the policy were lost"; fail=1; }
[ "$errors" = 0 ] || { echo "FAIL: $errors requests did not answer 200"; fail=1; }
exit "$fail"
