#!/usr/bin/env bash
# The built-in agent's overhead per turn, against a loopback model stub that
# answers at once, side by side with the same request sent straight to the
# stub. Prints p50/p99/mean for both and the difference.
#
#   bash bench/agent.sh [TURNS]      (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
turns="${1:-500}"
cargo build --release --locked --quiet --bin hardshell --example agent_overhead
target="${CARGO_TARGET_DIR:-target}"
"$target/release/examples/agent_overhead" "$target/release/hardshell" "$turns"
