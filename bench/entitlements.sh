#!/usr/bin/env bash
# Entitlement propagation (examples/entitlements_bench.rs, issue 30): ADDED linked users join a
# SCIM group of MEMBERS that a rule maps to the DocuSign group "Senders" (rows queued, vendor
# calls, drain time), then join a group no rule names (rows queued and vendor calls: both 0).
# The mock DocuSign answers in LATENCY ms; batch_size as given.
# usage: bench/entitlements.sh [MEMBERS=100000] [ADDED=1000] [LATENCY_MS=20] [BATCH_SIZE=100]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example entitlements_bench -- \
    "${1:-100000}" "${2:-1000}" "${3:-20}" "${4:-100}"
