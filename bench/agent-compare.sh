#!/usr/bin/env bash
# The agent's overhead per turn for two builds of hardshell, compared:
# bench/agent.sh run for each in turn, ROUNDS times (so drift on the machine,
# a disk's fsync latency among it, hits both alike), and the median of each
# round's p50 overhead, on disk and on tmpfs.
#
#   bash bench/agent-compare.sh OLD_BINARY NEW_BINARY [ROUNDS] [TURNS]   (default 3, 300)
set -euo pipefail
old="$(realpath "$1")"
new="$(realpath "$2")"
rounds="${3:-3}"
turns="${4:-300}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    bin=$old
    [ "$build" = new ] && bin=$new
    echo "round $round/$rounds: $build" >&2
    HARDSHELL_BIN="$bin" bash "$here/agent.sh" "$turns" | sed "s/^/$build /" >>"$out"
  done
done
python3 - "$out" <<'PY'
import collections, statistics, sys

# build -> medium -> p50 overhead of each round, in ms
seen = collections.defaultdict(lambda: collections.defaultdict(list))
medium = {}
for line in open(sys.argv[1]):
    build, _, rest = line.partition(" ")
    if rest.startswith("data on"):
        medium[build] = "disk" if "disk" in rest else "tmpfs"
    elif rest.strip().startswith("overhead (turn - direct)"):
        p50 = float(rest.split()[4])
        seen[build][medium[build]].append(p50)
print("agent overhead p50 (ms), median of rounds; each round's in brackets")
for where in ("disk", "tmpfs"):
    old, new = seen["old"][where], seen["new"][where]
    print(f"  {where:6} old {statistics.median(old):.2f} {old}  new {statistics.median(new):.2f} {new}  "
          f"new - old {statistics.median(new) - statistics.median(old):+.2f}")
PY
