#!/usr/bin/env bash
# What Entra's steady state costs at the vendors (examples/touch_cycle.rs): USERS users linked at
# the stateful fakes of eSign, CyberArk, DocuSign and Eloqua, then a PATCH of every user's unmapped
# nickName, then of its mapped title. Prints the vendor calls of each cycle per target.
# usage: bench/touch.sh [USERS=1000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUST_LOG=${RUST_LOG:-error} cargo run --release --quiet --manifest-path "$root/Cargo.toml" --example touch_cycle -- "${1:-1000}"
