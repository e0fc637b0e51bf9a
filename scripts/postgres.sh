#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests and benchmarks, and prints its URL
# (postgres://scim@127.0.0.1:PORT/postgres). The cluster lives in a temporary directory, runs as an
# unprivileged account when started by root, trusts local connections, and skips fsync (it is
# thrown away). Debian's `postgresql` package is installed with apt-get when no server is found.
#
#   url=$(bash scripts/postgres.sh)          # start
#   bash scripts/postgres.sh --stop "$url"   # stop (the directory is removed)
set -euo pipefail

server_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

if [ "${1:-}" = "--stop" ]; then
  port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$2")
  dir=/tmp/scim-bridge-pg.$port
  [ -d "$dir" ] || exit 0
  as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
  as_owner "$(server_bin)/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi

if [ -z "$(server_bin)" ]; then
  echo "installing PostgreSQL (Debian package postgresql)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin=$(server_bin)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=/tmp/scim-bridge-pg.$port
mkdir -p "$dir"
run=()
if [ "$(id -u)" = 0 ]; then
  chown nobody "$dir"
  run=(runuser -u nobody --)
fi
"${run[@]}" "$bin/initdb" -D "$dir/data" -U scim --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=400" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://scim@127.0.0.1:$port/postgres"
