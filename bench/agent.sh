#!/usr/bin/env bash
# The built-in agent's overhead per turn, against a loopback model stub that
# answers at once, side by side with the same request sent straight to the
# stub. Prints p50/p99/mean for both and the difference.
#
#   bash bench/agent.sh [TURNS]      (default 500)
#   HARDSHELL_BIN=path/to/hardshell bash bench/agent.sh   (that binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
turns="${1:-500}"
target="${CARGO_TARGET_DIR:-target}"
# The driver is built either way; with HARDSHELL_BIN it drives that binary,
# so two builds can be compared by one driver (bench/agent-compare.sh).
if [[ -n ${HARDSHELL_BIN:-} ]]; then
  cargo build --release --locked --quiet --example agent_overhead
  bin=$(realpath "$HARDSHELL_BIN")
else
  cargo build --release --locked --quiet --bin hardshell --example agent_overhead
  bin="$target/release/hardshell"
fi
"$target/release/examples/agent_overhead" "$bin" "$turns"
