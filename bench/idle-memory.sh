#!/usr/bin/env bash
# Idle memory of `hardshell up` with the built-in agent in its shell: the edge,
# the shell's init processes and the agent, after start-up settles. Prints the
# RSS and PSS of each process and the total (PSS shares the pages of the one
# binary fairly between the processes that map it; RSS counts them in each).
#
#   bash bench/idle-memory.sh [SECONDS_TO_SETTLE]      (default 5)
# Needs root (the shell's cgroups), like `hardshell up` itself.
set -euo pipefail
cd "$(dirname "$0")/.."
settle="${1:-5}"
cargo build --release --locked --quiet --bin hardshell
target="${CARGO_TARGET_DIR:-target}"
bin="$(cd "$target/release" && pwd)/hardshell"

dir="$(mktemp -d)"
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill -TERM "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

wait_ready="$(pwd)/bench/wait-ready.py"
cd "$dir"
"$bin" init >/dev/null
sed -i 's/127.0.0.1:8787/127.0.0.1:0/' hardshell.toml
# Started the way systemd starts a Type=notify service: `up` says READY=1 on
# the socket once the edge serves and the agent answers.
python3 "$wait_ready" "$dir/notify.sock" 30 >/dev/null &
ready_pid=$!
for _ in $(seq 1 100); do [ -S "$dir/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET="$dir/notify.sock" "$bin" up >"$dir/up.log" 2>&1 &
up_pid=$!
wait "$ready_pid" || { cat "$dir/up.log"; echo "hardshell up was not ready" >&2; exit 1; }
sleep "$settle"

# Every process under `hardshell up`, itself included.
tree() {
  local pid=$1
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree "$child"; done
}
total_rss=0
total_pss=0
printf '%-8s %-40s %10s %10s\n' pid command rss_kib pss_kib
for pid in $(tree "$up_pid"); do
  rollup=/proc/$pid/smaps_rollup
  [ -r "$rollup" ] || continue
  rss=$(awk '/^Rss:/ {print $2}' "$rollup")
  pss=$(awk '/^Pss:/ {print $2}' "$rollup")
  cmd=$(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-40)
  printf '%-8s %-40s %10s %10s\n' "$pid" "$cmd" "$rss" "$pss"
  total_rss=$((total_rss + rss))
  total_pss=$((total_pss + pss))
done
printf '%-49s %10s %10s\n' "total (edge + shell + agent)" "$total_rss" "$total_pss"
awk -v pss="$total_pss" -v rss="$total_rss" \
  'BEGIN { printf "idle memory: %.1f MiB PSS (%.1f MiB RSS summed)\n", pss / 1024, rss / 1024 }'
