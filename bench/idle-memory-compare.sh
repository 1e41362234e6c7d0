#!/usr/bin/env bash
# Idle memory of two builds of hardshell, compared: bench/idle-memory.sh run
# for each in turn, ROUNDS times (drift on the machine hits both alike), and
# the median of each figure per process and of the total.
#
#   bash bench/idle-memory-compare.sh OLD_BINARY NEW_BINARY [ROUNDS]   (default 5)
#
# Build each from its own worktree and CARGO_TARGET_DIR, then copy the
# binaries somewhere no other process runs them from (PSS shares a page between
# every process that maps it). Read `anon` for what the code allocates and
# `file` for the binary's pages (see bench/idle-memory.sh on why that moves
# with where code lands). Needs root, like bench/idle-memory.sh.
set -euo pipefail
old="$(realpath "$1")"
new="$(realpath "$2")"
rounds="${3:-5}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    bin=$old
    [ "$build" = new ] && bin=$new
    echo "round $round/$rounds: $build" >&2
    HARDSHELL_BIN="$bin" bash "$here/idle-memory.sh" | sed "s/^/$build /" >>"$out"
  done
done
python3 - "$out" <<'PY'
import collections, statistics, sys

# build -> role -> figure -> values; a run's processes are numbered by role.
runs = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
seen = collections.Counter()
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 2 and f[1] == "total":
        runs[f[0]]["total"]["pss"].append(int(f[-1]))
        seen.clear()
        continue
    if len(f) < 9 or not f[1].isdigit():
        continue
    build, role = f[0], f[2]
    seen[role] += 1
    name = f"{role}.{seen[role]}" if role == "shell-init" else role
    for figure, value in zip(("rss", "pss", "anon", "file", "threads"), f[-5:]):
        runs[build][name][figure].append(int(value))
print(f"{'process':13} {'build':5} {'pss':>7} {'anon':>7} {'file':>7} {'threads':>7}   pss of each run (KiB)")
for name in ("edge", "shell-init.1", "shell-init.2", "agent", "total"):
    for build in ("old", "new"):
        figures = runs[build][name]
        if not figures["pss"]:
            continue
        med = lambda k: f"{statistics.median(figures[k]):7.0f}" if figures[k] else f"{'':7}"
        print(f"{name:13} {build:5} {med('pss')} {med('anon')} {med('file')} {med('threads')}   "
              + " ".join(map(str, figures["pss"])))
old, new = (statistics.median(runs[b]["total"]["pss"]) for b in ("old", "new"))
print(f"total PSS, medians: old {old / 1024:.2f} MiB, new {new / 1024:.2f} MiB, new - old {new - old:+.0f} KiB")
PY
