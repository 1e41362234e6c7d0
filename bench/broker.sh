#!/usr/bin/env bash
# Latency and throughput of a request through the egress broker against the
# same request straight to the server, interleaved on loopback: plain HTTP,
# a TLS route (the client's own TLS against plain HTTP to the broker, which
# speaks TLS on), and inspected HTTPS (the client's TLS through a CONNECT the
# broker terminates with a leaf from the egress CA, then TLS on): on a kept
# connection with a secret bound and with none, and with a new connection and
# full handshake per request.
#
#   bash bench/broker.sh [REQUESTS]      (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-5000}"
cargo build --release --locked --quiet -p hardshell-broker --example broker_overhead
target="${CARGO_TARGET_DIR:-target}"
"$target/release/examples/broker_overhead" "$requests"
