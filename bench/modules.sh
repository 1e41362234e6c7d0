#!/usr/bin/env bash
# A module tool call's added latency over the same tool as a native Rust
# function: cold (compile and link the component, then its first call) and
# warm (prepared once, a fresh instance per call), in process and then on
# the path `hardshell up` gives it (its host process in a shell of its own).
# Prints medians, p99 and ratios against native, measured in the same run;
# target <= 1 ms warm.
#
#   bash bench/modules.sh [WARM_CALLS] [COLD_CALLS]      (default 2000 10)
set -euo pipefail
cd "$(dirname "$0")/.."
warm="${1:-2000}"
cold="${2:-10}"
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
guests_target="$target/module-guests"
(cd crates/hardshell-module-host/guests &&
  CARGO_TARGET_DIR="$guests_target" cargo build --release --locked --quiet --target wasm32-wasip2)
# The example is not the shipped binary: it is built without fat LTO and with
# the default codegen units, which saves minutes of build on 2 cores and
# leaves wasmtime's own code (what is measured) as it is.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --release --locked --quiet -p hardshell-module-host --example module_overhead
"$target/release/examples/module_overhead" \
  "$guests_target/wasm32-wasip2/release/echo.wasm" "$warm" "$cold"

# The same call on the path `hardshell up` gives it: the module's host
# process in a shell of its own, a line in and a line out on its pipes.
# HARDSHELL_BIN: that binary as the shells' init, and HARDSHELL_MODULE_HOST
# the module host program it carries (default: the file beside it named
# <bin>.module-host), with no build. Otherwise both are built, and the program
# is copied before the example's build (made with other profile settings)
# can build another over it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -n ${HARDSHELL_BIN:-} ]]; then
  bin=$(realpath "$HARDSHELL_BIN")
  host=$(realpath "${HARDSHELL_MODULE_HOST:-$bin.module-host}")
else
  cargo build --release --locked --quiet --bin hardshell
  bin="$target/release/hardshell"
  host="$work/module-host"
  cp "$target/module-host/release/hardshell-module-host" "$host"
fi
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --release --locked --quiet -p hardshell --example module_path
"$target/release/examples/module_path" \
  "$bin" "$host" "$guests_target/wasm32-wasip2/release/echo.wasm" "$warm" 5
