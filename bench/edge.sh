#!/usr/bin/env bash
# The edge benchmark: one upstream, one load tool, three ways to reach the upstream,
# all on 127.0.0.1 and all in one run:
#
#   direct     wrk straight at the upstream (the floor)
#   hardshell  a release build of `hardshell up`: API-token auth, rate limits set
#              high enough never to refuse, audit as the code does it today, the
#              default log level, [upstream] pointing at the upstream
#   nginx      Debian nginx with HTTP basic auth (htpasswd, apr1) proxying to the
#              same upstream: the seed article's "better than nothing" baseline
#   nginx-sha1 the same with a {SHA} password hash, the cheapest nginx checks: a
#              reference that separates nginx's proxying from apr1's 1000 rounds
#              of MD5 per request (the targets are judged against "nginx")
#
# It prints requests/s, p50, p99 and the proxy's CPU per request for each, the
# ratios against the baselines measured in the same run, and MET/MISSED for the
# targets. It exits 0 when the bench ran, whatever the figures; non-zero only
# when it could not run.
#
# Environment: BENCH_DURATION (10s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (32),
# BENCH_ROUNDS (3; each figure is the median over rounds), BENCH_KEEP=1 keeps the
# work directory (logs, wrk outputs), BENCH_LOG_COST=1 adds a hardshell run at
# log level warn to show what the per-request info lines cost. CARGO_TARGET_DIR
# is respected; TOKIO_WORKER_THREADS, if set, reaches hardshell; HARDSHELL_BIN
# names a binary to measure instead of building this tree's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
# One wrk thread: on a small machine every core wrk takes is one the servers lose.
THREADS=1
# Highest quota hardshell-ratelimit accepts (Quota::MAX_PER_MINUTE, MAX_BURST):
# 100,000 requests a second per key, far above what one machine sends here.
RATE_PER_MINUTE=6000000
RATE_BURST=1000000

as_root() {
    if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

# --- installs ---------------------------------------------------------------

install_packages() {
    local missing=() package
    for package in wrk nginx openssl curl; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$package")
    done
    # Any python3 will do (picking ports, printing the table), Debian's or not.
    command -v python3 >/dev/null || missing+=(python3)
    ((${#missing[@]})) || return 0
    echo "install: Debian packages ${missing[*]}"
    # Debian starts a freshly installed nginx on port 80 unless policy-rc.d says
    # no. The bench leaves nothing listening, so without a policy of the machine's
    # own, a temporary one denies service starts for the length of the install.
    local policy=/usr/sbin/policy-rc.d ours=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        ours=1
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" || {
        ((ours)) && as_root rm -f "$policy"
        return 1
    }
    ((ours)) && as_root rm -f "$policy"
    return 0
}

# --- processes we start, stopped by PID on exit -------------------------------

pids=()
work=""

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        # hardshell drains for up to 10 s; nginx stops at once on TERM.
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    if [[ -n $work && -d $work ]]; then
        if [[ ${BENCH_KEEP:-0} == 1 ]]; then
            echo "kept $work"
        else
            rm -rf "$work"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports, chosen by the kernel (bind to port 0) all at once so they
# are distinct. Another process could take one before we bind it; the start-up
# checks below would then fail loudly rather than measure the wrong server.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Waits until $2 answers HTTP on loopback; fails if process $1 died first.
wait_http() {
    local pid=$1 url=$2
    for _ in $(seq 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "edge.sh: the server for $url exited during start-up" >&2
            return 1
        fi
        if curl -s -o /dev/null --max-time 1 "$url"; then
            return 0
        fi
        sleep 0.05
    done
    echo "edge.sh: nothing answered at $url" >&2
    return 1
}

# Fails unless `curl ARGS` answers with status $1 (and body "ok" for 200).
expect() {
    local want=$1 label=$2 got body
    shift 2
    body=$(curl -s --max-time 5 -w '\n%{http_code}' "$@")
    got=${body##*$'\n'}
    body=${body%$'\n'*}
    body=${body%$'\n'}
    if [[ $got != "$want" || ($want == 200 && $body != ok) ]]; then
        echo "edge.sh: $label: expected $want, got $got: $body" >&2
        return 1
    fi
}

# Starts nginx in the foreground (as our child, stopped by PID) with its own
# prefix directory; sets started_pid.
started_pid=""
start_nginx() {
    local dir=$1 template=$2 port=$3 upstream_port=${4:-}
    mkdir -p "$dir"
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@UPSTREAM_PORT@|$upstream_port|g" \
        "$template" >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
        >"$dir/stderr.log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
}

# CPU time (clock ticks, user + system) of process $1 and its children: the
# nginx master and its worker, or hardshell and all its threads.
cpu_ticks() {
    local total=0 pid fields
    for pid in "$1" $(pgrep -P "$1" || true); do
        [[ -r /proc/$pid/stat ]] || continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        read -r -a fields <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# --- main ---------------------------------------------------------------------

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
install_packages
if [[ -n ${HARDSHELL_BIN:-} ]]; then
    # Another build (an earlier commit's, to compare): used as it is.
    bin=$(realpath "$HARDSHELL_BIN")
else
    echo "== building hardshell (release)"
    cargo build --release --locked -p hardshell
    target_dir=${CARGO_TARGET_DIR:-$repo/target}
    [[ $target_dir == /* ]] || target_dir=$repo/$target_dir
    bin=$target_dir/release/hardshell
fi

work=$(mktemp -d -t hardshell-bench.XXXXXX)
# nginx workers run as an unprivileged user and read their config directory.
chmod 755 "$work"
results=$work/results
mkdir -p "$results"
read -r upstream_port nginx_port nginx_sha_port hardshell_port hardshell_warn_port \
    <<<"$(free_ports 5)"

echo "== upstream: nginx on 127.0.0.1:$upstream_port"
start_nginx "$work/upstream" "$here/upstream.nginx.conf" "$upstream_port"
upstream_pid=$started_pid
wait_http "$upstream_pid" "http://127.0.0.1:$upstream_port/"
expect 200 "upstream" "http://127.0.0.1:$upstream_port/"

echo "== nginx + basic auth on 127.0.0.1:$nginx_port"
mkdir -p "$work/nginx"
basic_password=$(openssl rand -hex 16)
printf 'bench:%s\n' "$(openssl passwd -apr1 "$basic_password")" >"$work/nginx/htpasswd"
chmod 644 "$work/nginx/htpasswd"
start_nginx "$work/nginx" "$here/proxy.nginx.conf" "$nginx_port" "$upstream_port"
nginx_pid=$started_pid
wait_http "$nginx_pid" "http://127.0.0.1:$nginx_port/"
basic_header="Authorization: Basic $(printf 'bench:%s' "$basic_password" | base64 -w0)"
expect 401 "nginx without credentials" "http://127.0.0.1:$nginx_port/"
expect 200 "nginx with basic auth" -H "$basic_header" "http://127.0.0.1:$nginx_port/"

echo "== nginx + basic auth ({SHA}) on 127.0.0.1:$nginx_sha_port"
mkdir -p "$work/nginx-sha1"
printf 'bench:{SHA}%s\n' "$(printf '%s' "$basic_password" | openssl dgst -sha1 -binary | base64 -w0)" \
    >"$work/nginx-sha1/htpasswd"
chmod 644 "$work/nginx-sha1/htpasswd"
start_nginx "$work/nginx-sha1" "$here/proxy.nginx.conf" "$nginx_sha_port" "$upstream_port"
nginx_sha_pid=$started_pid
wait_http "$nginx_sha_pid" "http://127.0.0.1:$nginx_sha_port/"
expect 401 "nginx-sha1 without credentials" "http://127.0.0.1:$nginx_sha_port/"
expect 200 "nginx-sha1 with basic auth" -H "$basic_header" "http://127.0.0.1:$nginx_sha_port/"

# Starts hardshell as row $1 on port $2, at log level $3 (empty: the default),
# with its own directory and chat token; sets hs_pid, hs_port and hs_header[$1].
declare -A hs_pid hs_header hs_port
start_hardshell() {
    local row=$1 port=$2 level=$3 dir=$work/$1
    echo "== $row on 127.0.0.1:$port"
    "$bin" init "$dir" >"$dir.init.log" 2>&1 || { cat "$dir.init.log" >&2; exit 1; }
    # Everything not named here keeps its default, the log level included.
    cat >"$dir/hardshell.toml" <<EOF
data_dir = "data"

[edge]
listen = "127.0.0.1:$port"

[ratelimit]
requests_per_minute = $RATE_PER_MINUTE
burst = $RATE_BURST

[upstream]
url = "http://127.0.0.1:$upstream_port"
EOF
    if [[ -n $level ]]; then
        printf '\n[log]\nlevel = "%s"\n' "$level" >>"$dir/hardshell.toml"
    fi
    local token
    token=$("$bin" -c "$dir/hardshell.toml" token create --name bench --scope chat --expires-in 1d)
    hs_header[$row]="Authorization: Bearer $token"
    hs_port[$row]=$port
    "$bin" -c "$dir/hardshell.toml" up 2>"$dir/up.log" &
    hs_pid[$row]=$!
    pids+=("${hs_pid[$row]}")
    wait_http "${hs_pid[$row]}" "http://127.0.0.1:$port/healthz"
    expect 401 "$row without credentials" "http://127.0.0.1:$port/"
    expect 200 "$row with a chat token" -H "${hs_header[$row]}" "http://127.0.0.1:$port/"
}
start_hardshell hardshell "$hardshell_port" ""
hardshell_rows=(hardshell)
if [[ ${BENCH_LOG_COST:-0} == 1 ]]; then
    # A second instance, idle while the others are measured, so its rounds
    # interleave with the rest and drift on the machine hits both alike.
    start_hardshell hardshell-warn "$hardshell_warn_port" warn
    hardshell_rows+=(hardshell-warn)
fi

# One measured run: warm-up, then wrk with latency distribution, then CPU used by
# the proxy (if any) and the upstream during the measured part.
measure() {
    local name=$1 conns=$2 round=$3 url=$4 proxy_pid=$5
    shift 5
    wrk -t"$THREADS" -c"$conns" -d"$WARMUP" "$@" "$url" >/dev/null
    local proxy_before=0 proxy_after=0 up_before up_after
    [[ -n $proxy_pid ]] && proxy_before=$(cpu_ticks "$proxy_pid")
    up_before=$(cpu_ticks "$upstream_pid")
    wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "$@" "$url" \
        >"$results/$name.c$conns.r$round.wrk"
    [[ -n $proxy_pid ]] && proxy_after=$(cpu_ticks "$proxy_pid")
    up_after=$(cpu_ticks "$upstream_pid")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$conns" "$round" \
        $((proxy_after - proxy_before)) $((up_after - up_before)) >>"$results/cpu.tsv"
}

run_round() {
    local round=$1 conns row
    for conns in "$CONNECTIONS" 1; do
        echo "   round $round, -c$conns: direct, ${hardshell_rows[*]}, nginx, nginx-sha1"
        measure direct "$conns" "$round" "http://127.0.0.1:$upstream_port/" ""
        for row in "${hardshell_rows[@]}"; do
            measure "$row" "$conns" "$round" "http://127.0.0.1:${hs_port[$row]}/" \
                "${hs_pid[$row]}" -H "${hs_header[$row]}"
        done
        measure nginx "$conns" "$round" "http://127.0.0.1:$nginx_port/" \
            "$nginx_pid" -H "$basic_header"
        measure nginx-sha1 "$conns" "$round" "http://127.0.0.1:$nginx_sha_port/" \
            "$nginx_sha_pid" -H "$basic_header"
    done
}

echo "== measuring: wrk -t$THREADS -c$CONNECTIONS and -c1, $DURATION each after a $WARMUP warm-up, $ROUNDS round(s)"
for round in $(seq "$ROUNDS"); do
    run_round "$round"
done

cores=$(nproc)
cat >"$results/machine.txt" <<EOF
cpu: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)
load tool: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), -t$THREADS; $DURATION per run after $WARMUP warm-up; median of $ROUNDS round(s)
upstream: nginx $(nginx -v 2>&1 | cut -d/ -f2), worker_processes 1, return 200 "ok"
nginx proxies: worker_processes 1, auth_basic (apr1; nginx-sha1: {SHA}), access log on, upstream keepalive 64
hardshell: release build, tokio runtime with ${TOKIO_WORKER_THREADS:-$cores} worker threads (default: one per core), token auth, audit lines at the default log level
load average (1/5/15 min) before the bench: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)
EOF
python3 "$here/report.py" "$results" "$CONNECTIONS" "$(getconf CLK_TCK)"
