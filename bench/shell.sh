#!/usr/bin/env bash
# Start of `true` in a full hardshell shell (namespaces, mount tree, cgroups,
# capabilities, Landlock, seccomp), cold and prepared ahead (pooled, as the
# exec tool's pool keeps them: timed from the handover), against bubblewrap's
# sandbox and a plain fork+exec, interleaved in one run. Prints p50/p99 and
# the ratios.
#
#   bash bench/shell.sh [RUNS]      (default 300; needs root, like the shell)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
command -v bwrap >/dev/null || {
  echo "installing bubblewrap" >&2
  apt-get install -y -qq bubblewrap >/dev/null
}
cargo build --release --locked --quiet -p hardshell-sandbox --bin shell-init --example shell_start
target="${CARGO_TARGET_DIR:-target}"
if grep -Eq '^cgroup2? .* cgroup2? [^ ]*favordynmods' /proc/mounts; then
  echo "cgroup favordynmods: on (cgroup moves skip the RCU grace period)"
else
  echo "cgroup favordynmods: off (a start may wait an RCU grace period; see README)"
fi
"$target/release/examples/shell_start" "$target/release/shell-init" "$runs"
