#!/usr/bin/env bash
# The issue-4 benchmark: propagation latency (SCIM response → vendor receives the call, idle queue)
# and the drain rate of 10,000 queued creates against a 20 ms mock vendor at concurrency 8.
# usage: bench/sync.sh [CHANGES=1000] [USERS=10000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example sync_bench -- "${1:-1000}" "${2:-10000}"
