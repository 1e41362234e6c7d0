#!/usr/bin/env bash
# Idle memory of `hardshell up` with the built-in agent in its shell: the edge,
# the shell's init processes and the agent, after start-up settles. Prints the
# RSS and PSS of each process and the total (PSS shares the pages of the one
# binary fairly between the processes that map it; RSS counts them in each),
# PSS split into anonymous memory (heap, stacks: what the code allocates) and
# file pages (mostly the binary's own code and read-only data, mapped from
# the page cache), and each process's threads.
#
#   bash bench/idle-memory.sh [SECONDS_TO_SETTLE]      (default 5)
#   HARDSHELL_BIN=path/to/hardshell bash bench/idle-memory.sh   (that binary, no build)
# Needs root (the shell's cgroups), like `hardshell up` itself.
#
# The file part depends on how the binary sits in the page cache, not only on
# the code: the kernel maps whole cached folios around each page a process
# touches, and their sizes depend on how the file got into the cache (written
# by the linker or cp, or read back from disk): the same binary measured
# 18.3-18.9 MiB PSS started from no cached pages and 20.0 MiB after the file
# was read whole (medians of 4-5 runs, December 2026). So the binary's cached
# pages are dropped first: every run starts as after a reboot. The file part
# also moves by a few hundred KiB between processes when code is added
# anywhere, as the code that runs lands on other folios: compare two builds
# with bench/idle-memory-compare.sh, which interleaves runs and takes medians.
set -euo pipefail
bin="${HARDSHELL_BIN:+$(realpath "$HARDSHELL_BIN")}"
cd "$(dirname "$0")/.."
settle="${1:-5}"
if [ -z "$bin" ]; then
  cargo build --release --locked --quiet --bin hardshell
  target="${CARGO_TARGET_DIR:-target}"
  bin="$(cd "$target/release" && pwd)/hardshell"
fi
# Drop the binary's clean cached pages (a no-op for pages another running
# process maps), as after a reboot.
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$bin"

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
printf '%-8s %-11s %-34s %8s %8s %8s %8s %7s\n' \
  pid role command rss_kib pss_kib anon_kib file_kib threads
for pid in $(tree "$up_pid"); do
  rollup=/proc/$pid/smaps_rollup
  [ -r "$rollup" ] || continue
  read -r rss pss anon file < <(awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Pss_Anon:/ {a=$2}
    /^Pss_File:/ {f=$2} END {print r, p, a, f}' "$rollup")
  threads=$(awk '/^Threads:/ {print $2}' /proc/"$pid"/status)
  cmd=$(tr '\0' ' ' </proc/"$pid"/cmdline)
  case "$pid:$cmd" in
    "$up_pid":*) role=edge ;;
    *shell-init*) role=shell-init ;;
    *" agent "*) role=agent ;;
    *) role=other ;;
  esac
  printf '%-8s %-11s %-34s %8s %8s %8s %8s %7s\n' \
    "$pid" "$role" "${cmd:0:34}" "$rss" "$pss" "$anon" "$file" "$threads"
  total_rss=$((total_rss + rss))
  total_pss=$((total_pss + pss))
done
printf '%-55s %8s %8s\n' "total (edge + shell + agent)" "$total_rss" "$total_pss"
awk -v pss="$total_pss" -v rss="$total_rss" \
  'BEGIN { printf "idle memory: %.1f MiB PSS (%.1f MiB RSS summed)\n", pss / 1024, rss / 1024 }'
