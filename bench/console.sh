#!/usr/bin/env bash
# The console benchmark (issue 15): each page of /admin on a big database. Seeds USERS users (each
# linked to three targets, with a work and a home e-mail), EVENTS vendor calls over the last two
# hours, as many logged SCIM requests (one in twenty refused, some of them the same request again and
# again), DEAD dead rows and PENDING pending rows straight into SQLite (after the bridge's own
# migrations), starts the bridge, signs in with an admin token, and asks for each page RUNS times.
# Server time is curl's time to first byte over loopback; the page must be under 100 ms (the script
# exits 1 when a page's median is not).
# usage: bench/console.sh [USERS=1000000] [EVENTS=100000] [DEAD=10000] [RUNS=20]
# BENCH_DIR=DIR keeps the seeded database in DIR and reuses it on the next run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
users=${1:-1000000}
events=${2:-100000}
dead=${3:-10000}
runs=${4:-20}
pending=2000
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/scim-bridge"
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="$work/bridge.db"
# The vendors are never called: every row is dead or due tomorrow.
cat >"$work/bridge.toml" <<EOF
[database]
url = "sqlite://$db"
[server]
listen = "127.0.0.1:$port"
admin_listen = "same"
[[target]]
name = "w365"
kind = "workspace365"
base_url = "http://127.0.0.1:9/Provisioning"
environment = "bench"
provisioning_key_env = "BENCH_SECRET"
[[target]]
name = "vault"
kind = "cyberark"
base_url = "http://127.0.0.1:9/PasswordVault"
username_env = "BENCH_SECRET"
password_env = "BENCH_SECRET"
[[target]]
name = "esign"
kind = "esign"
base_url = "http://127.0.0.1:9/"
api_key_env = "BENCH_SECRET"
salt_env = "BENCH_SECRET"
EOF
export BENCH_SECRET=bench-secret
run() { "$bin" --config "$work/bridge.toml" "$@"; }
seeded=$([ -f "$db" ] && echo yes || echo no)
admin=$(run token create "ops-$RANDOM$RANDOM" --scope admin 2>/dev/null)

if [ "$seeded" = no ]; then
echo "== seeding $users users (3 links each), $events events, $dead dead rows (and $(( dead / 2 )) of deleted users) and $pending pending rows"
started=$(date +%s)
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO users (id, user_name, external_id, doc, version, created, last_modified)
SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('user%07d@example.com', i), 'ext-' || i,
       json_object('schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                   'userName', printf('user%07d@example.com', i), 'externalId', 'ext-' || i,
                   'name', json_object('givenName', 'Bench', 'familyName', 'User' || i),
                   'displayName', 'Bench User ' || i,
                   'emails', json_array(json_object('value', printf('user%07d@example.com', i), 'type', 'work', 'primary', json('true')),
                                        json_object('value', printf('u%d@home.example', i), 'type', 'home')),
                   'active', json('true')),
       1, '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'
FROM n;
INSERT INTO links (resource_id, target, state, remote_id, remote_key, pushed_hash, pushed_active, updated_at)
SELECT u.id, t.name, 'linked', 'r' || u.rowid, u.user_name, 'h', 1, '2026-12-01T00:00:00.000Z'
FROM users u, (SELECT 'w365' AS name UNION ALL SELECT 'vault' UNION ALL SELECT 'esign') t;
INSERT INTO sync_queue (resource_id, target, state, due_at, attempts, last_error, enqueued_at)
SELECT id, 'w365', 'dead', '2026-12-01T01:00:00.000Z', 8, 'HTTP 400: The domain is not allowed', '2026-12-01T00:00:00.000Z'
FROM users WHERE rowid % ($users / $dead) = 0 LIMIT $dead;
INSERT INTO sync_queue (resource_id, target, state, due_at, enqueued_at)
SELECT id, 'vault', 'pending', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 day', '+' || rowid || ' seconds'), '2026-12-01T00:00:00.000Z'
FROM users WHERE rowid % ($users / $pending) = 1 LIMIT $pending;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $dead / 2)
INSERT INTO user_tombstones (id, doc, deleted_at)
SELECT printf('deleted-%d', i), json_object('userName', printf('gone%d@example.com', i)), '2026-12-01T02:00:00.000Z' FROM n;
INSERT INTO sync_queue (resource_id, target, state, due_at, attempts, last_error, enqueued_at)
SELECT id, 'esign', 'dead', '2026-12-01T03:00:00.000Z', 8, 'HTTP 500: internal error', '2026-12-01T02:00:00.000Z'
FROM user_tombstones;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $events)
INSERT INTO events (at, target, resource_id, action, http_status, latency_ms, error)
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', (($events - i) * 7200) / $events)),
       CASE i % 3 WHEN 0 THEN 'w365' WHEN 1 THEN 'vault' ELSE 'esign' END,
       printf('%08x-0000-4000-8000-%012x', 1 + (i * 7919) % $users, 1 + (i * 7919) % $users),
       'reconcile', CASE WHEN i % 20 = 0 THEN 400 ELSE 200 END, 20.0 + i % 30,
       CASE WHEN i % 20 = 0 THEN 'HTTP 400: The domain is not allowed' END
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $events)
INSERT INTO requests (at, request_id, token, method, path, status, scim_type, detail, latency_ms, resource_type, resource_id, user_name)
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', (($events - i) * 7200) / $events)),
       printf('req-%d', i), CASE i % 2 WHEN 0 THEN 'okta' ELSE 'entra' END,
       CASE i % 4 WHEN 0 THEN 'GET' ELSE 'PATCH' END,
       printf('/scim/v2/Users/%08x-0000-4000-8000-%012x', 1 + (i * 7919) % (CASE WHEN i % 20 = 0 THEN 50 ELSE $users END),
                                                         1 + (i * 7919) % (CASE WHEN i % 20 = 0 THEN 50 ELSE $users END)),
       CASE WHEN i % 20 = 0 THEN 400 ELSE 200 END,
       CASE WHEN i % 20 = 0 THEN 'invalidValue' END,
       CASE WHEN i % 20 = 0 THEN 'a refused value' END,
       1.5, 'User',
       printf('%08x-0000-4000-8000-%012x', 1 + (i * 7919) % (CASE WHEN i % 20 = 0 THEN 50 ELSE $users END),
                                           1 + (i * 7919) % (CASE WHEN i % 20 = 0 THEN 50 ELSE $users END)),
       printf('user%07d@example.com', 1 + (i * 7919) % $users)
FROM n;
COMMIT;
ANALYZE;
SQL
echo "seeded in $(( $(date +%s) - started )) s; database $(( $(stat -c %s "$db") / 1048576 )) MiB"
fi

RUST_LOG=warn "$bin" --config "$work/bridge.toml" serve >"$work/bridge.log" 2>&1 & pid=$!
origin="http://127.0.0.1:$port"
for _ in $(seq 1 200); do curl -s -o /dev/null "$origin/healthz" && break; sleep 0.1; done
jar="$work/cookies"
curl -fsS -o /dev/null -c "$jar" --data-urlencode "token=$admin" "$origin/admin/login"

some_user=$(printf '%08x-0000-4000-8000-%012x' $(( users / 2 )) $(( users / 2 )))
mid_event=$(( events / 2 ))
event_user=$(printf '%08x-0000-4000-8000-%012x' $(( 1 + 7919 % users )) $(( 1 + 7919 % users )))  # event 1's
# Each page with a text it must show (so that a fast page is not a fast "not found").
pages=(
  "/admin|last hour"
  "/admin/users?q=user$(printf '%07d' $(( users / 2 )))@example.com|Per target"
  "/admin/users?q=u$(( users / 3 ))@home.example|Per target"
  "/admin/users?q=$some_user|Per target"
  "/admin/users?q=nobody@example.com|No user has that"
  "/admin/users?q=gone$(( dead / 4 ))@example.com|still being fanned out"
  "/admin/dead|Retry"
  "/admin/dead?target=w365|Retry"
  "/admin/dead?target=w365&page=$(( dead / 50 - 1 ))|Retry"
  "/admin/dead?target=vault|No dead row."
  "/admin/events|reconcile"
  "/admin/events?before=$mid_event|reconcile"
  "/admin/events?target=vault|reconcile"
  "/admin/events?outcome=failed|not allowed"
  "/admin/events?target=esign&outcome=failed&before=$mid_event|not allowed"
  "/admin/events?outcome=ok|reconcile"
  "/admin/events?outcome=unchanged|No event."
  "/admin/events?user=$event_user|reconcile"
  "/admin/events?request=req-$mid_event|No event."
  "/admin/users|user0000001@example.com"
  "/admin/users?q=user05000|these start with it"
  "/admin/users?q=u3333|these start with it"
  "/admin/users?q=Bench|these start with it"
  "/admin/users?q=zed|none starts with it"
  "/admin/requests|Repeated failures"
  "/admin/requests?failed=1|invalidValue"
  "/admin/requests?token=okta|okta"
  "/admin/requests?since=1h|PATCH"
  "/admin/requests?request=req-$mid_event|/scim/v2/Users/"
  "/admin/requests?user=$event_user|/scim/v2/Users/"
  "/admin/requests?before=$mid_event&failed=1|invalidValue"
)
echo
printf '%-62s %6s %9s %9s\n' page status "median ms" "max ms"
slow=0
for entry in "${pages[@]}"; do
  page=${entry%|*} expect=${entry##*|}
  status=$(curl -s -o "$work/page.html" -b "$jar" -w '%{http_code}' "$origin$page")
  grep -qF "$expect" "$work/page.html" || status="$status, without \"$expect\""
  times=$(for _ in $(seq 1 "$runs"); do curl -s -o /dev/null -b "$jar" -w '%{time_starttransfer}\n' "$origin$page"; done | sort -n)
  median=$(echo "$times" | awk -v n="$runs" 'NR == int((n + 1) / 2) {printf "%.1f", $1 * 1000}')
  max=$(echo "$times" | tail -1 | awk '{printf "%.1f", $1 * 1000}')
  printf '%-62s %6s %9s %9s\n' "$page" "$status" "$median" "$max"
  if [ "$status" != 200 ] || [ "$(echo "$median >= 100" | bc)" = 1 ]; then slow=1; fi
done
echo
echo "== resident memory of scim-bridge: $(( $(ps -o rss= -p "$pid") / 1024 )) MiB"
exit "$slow"
