#!/usr/bin/env bash
# The vendor-weather benchmark (examples/weather_bench.rs): time to converge for USERS users x 5
# targets at fault rates 0, 10, 30 and 50%, next to the ideal (no-fault time + the waits the vendors
# asked for), and how often a target sat idle with due rows while neither open nor paused.
# usage: bench/weather.sh [USERS=200]
#        bench/weather.sh --kills [RUNS=10]
#   --kills: the real binary under 30% faults (25% errors and hangs, 5% connection resets) at all
#   five vendors, SIGKILLed twice (tests/api/weather_e2e.rs), RUNS times in a row; stops at the
#   first run where a vendor does not end exactly as the store says or holds a user twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "--kills" ]; then
    runs=${2:-10}
    cargo test --quiet --manifest-path "$root/Cargo.toml" --test api --no-run
    for run in $(seq 1 "$runs"); do
        start=$(date +%s)
        if ! cargo test --quiet --manifest-path "$root/Cargo.toml" --test api weather_e2e >/tmp/weather-kills.log 2>&1; then
            echo "run $run/$runs: FAILED after $(($(date +%s) - start)) s (log: /tmp/weather-kills.log)"
            exit 1
        fi
        echo "run $run/$runs: converged, no duplicate user, in $(($(date +%s) - start)) s"
    done
    echo "$runs/$runs runs converged"
    exit 0
fi
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example weather_bench -- "${1:-200}"
