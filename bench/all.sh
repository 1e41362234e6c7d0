#!/usr/bin/env bash
# Every bench in bench/, one after another, each started only once the machine
# is quiet: a ratio against a baseline holds only when nothing else competes
# for the cores (a run beside two builds once halved the edge's figures).
#
#   bash bench/all.sh                 # builds what each bench needs first
#   HARDSHELL_BIN=path bash bench/all.sh
#   QUIET_LOAD=0.5 QUIET_WAIT=900 bash bench/all.sh
#
# Before each bench it waits until the one-minute load average is below
# QUIET_LOAD (default 1.0 on any machine: the benches themselves leave some
# behind) and gives up after QUIET_WAIT seconds (default 600) with a non-zero
# exit, rather than print figures no one should read. Each bench's header line
# names the load it started at. idle-memory-compare.sh is not run: it needs
# two builds, named by whoever compares.
set -uo pipefail
cd "$(dirname "$0")/.."
threshold="${QUIET_LOAD:-1.0}"
patience="${QUIET_WAIT:-600}"

quiet() {
  local waited=0
  while awk -v t="$threshold" '{ exit !($1 >= t) }' /proc/loadavg; do
    if ((waited >= patience)); then
      echo "== the load stayed at $(cut -d' ' -f1-3 /proc/loadavg) for ${patience}s (QUIET_LOAD=$threshold): stopping" >&2
      exit 1
    fi
    sleep 10
    waited=$((waited + 10))
  done
}

failed=0
for bench in edge agent shell broker channels idle-memory workload browser modules; do
  quiet
  echo "== $bench.sh  $(date -u +%FT%TZ)  load $(cut -d' ' -f1-3 /proc/loadavg)"
  bash "bench/$bench.sh" || { echo "== $bench.sh failed ($?)"; failed=1; }
done
exit "$failed"
