#!/usr/bin/env bash
# DocuSign update batching: USERS due updates drained with batch_size 1 and 100 against a mock
# DocuSign answering in LATENCY ms (concurrency 4). Prints calls, time and users per call.
# usage: bench/docusign.sh [USERS=2000] [LATENCY_MS=100]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example docusign_batch -- "${1:-2000}" "${2:-100}"
