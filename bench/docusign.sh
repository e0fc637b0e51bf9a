#!/usr/bin/env bash
# DocuSign batching (examples/docusign_batch.rs): USERS due updates, then USERS new users into an
# account of EXISTING users, drained with batch_size 1 and 100 against a mock DocuSign answering in
# LATENCY ms (concurrency 4). Prints vendor calls, time and users per call.
# usage: bench/docusign.sh [USERS=2000] [LATENCY_MS=100] [EXISTING=1000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example docusign_batch -- "${1:-2000}" "${2:-100}" "${3:-1000}"
