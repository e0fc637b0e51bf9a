#!/usr/bin/env bash
# The vendor-weather benchmark (examples/weather_bench.rs): time to converge for USERS users x 5
# targets at fault rates 0, 10, 30 and 50%, next to the ideal (no-fault time + the waits the vendors
# asked for), and how often a target sat idle with due rows while neither open nor paused.
# usage: bench/weather.sh [USERS=200]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example weather_bench -- "${1:-200}"
