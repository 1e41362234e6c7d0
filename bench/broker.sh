#!/usr/bin/env bash
# Latency and throughput of a plain-HTTP request through the egress broker
# against the same request straight to the server, interleaved on loopback.
#
#   bash bench/broker.sh [REQUESTS]      (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-5000}"
cargo build --release --locked --quiet -p hardshell-broker --example broker_overhead
target="${CARGO_TARGET_DIR:-target}"
"$target/release/examples/broker_overhead" "$requests"
