"""Prints edge.sh's table from the wrk outputs and CPU counts in a results directory.

Usage: report.py RESULTS_DIR CONNECTIONS CLK_TCK

Each figure is the median over the rounds, taken per figure. Targets are judged
and printed as MET/MISSED lines; this never fails on a missed target.
"""

import pathlib
import re
import statistics
import sys

TARGETS = ["direct", "hardshell", "hardshell-warn", "nginx", "nginx-sha1"]
UNITS_US = {"us": 1.0, "ms": 1_000.0, "s": 1_000_000.0, "m": 60_000_000.0}
# The goal: hardshell adds at most this much to the median request.
ADDED_P50_TARGET_US = 50.0


def micros(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * UNITS_US[match.group(2)]


def parse_wrk(path):
    text = path.read_text()
    run = {"errors": 0}
    for line in text.splitlines():
        line = line.strip()
        if m := re.match(r"Requests/sec:\s+([\d.]+)", line):
            run["rps"] = float(m.group(1))
        elif m := re.match(r"(\d+) requests in ([\d.]+\w+),", line):
            run["requests"] = int(m.group(1))
        elif m := re.match(r"(50|99)(?:\.000)?%\s+(\S+)", line):
            run[f"p{m.group(1)}"] = micros(m.group(2))
        elif m := re.match(r"Non-2xx or 3xx responses: (\d+)", line):
            run["errors"] += int(m.group(1))
        elif m := re.match(r"Socket errors: (.*)", line):
            run["errors"] += sum(int(n) for n in re.findall(r"\d+", m.group(1)))
    missing = {"rps", "requests", "p50", "p99"} - run.keys()
    if missing:
        raise ValueError(f"{path.name}: no {', '.join(sorted(missing))} in wrk's output")
    return run


def load(results, clk_tck):
    cpu = {}
    for line in (results / "cpu.tsv").read_text().splitlines():
        name, conns, round_, proxy, upstream = line.split("\t")
        cpu[(name, int(conns), int(round_))] = (int(proxy), int(upstream))
    runs = {}
    for path in sorted(results.glob("*.wrk")):
        name, conns, round_ = re.fullmatch(r"(.+)\.c(\d+)\.r(\d+)\.wrk", path.name).groups()
        key = (name, int(conns), int(round_))
        run = parse_wrk(path)
        proxy_ticks, upstream_ticks = cpu[key]
        run["proxy_cpu_us"] = proxy_ticks / clk_tck * 1e6 / run["requests"]
        run["upstream_cpu_us"] = upstream_ticks / clk_tck * 1e6 / run["requests"]
        runs.setdefault((name, int(conns)), []).append(run)
    return runs


def median(runs, field):
    return statistics.median(run[field] for run in runs)


def summary(runs):
    return {
        field: median(runs, field)
        for field in ("rps", "p50", "p99", "proxy_cpu_us", "upstream_cpu_us")
    } | {"errors": sum(run["errors"] for run in runs), "rounds": len(runs)}


def table(figures, conns):
    rows = [name for name in TARGETS if (name, conns) in figures]
    print(f"\n-c{conns}")
    print(
        f"  {'target':<15}{'req/s':>10}{'p50 µs':>10}{'p99 µs':>10}"
        f"{'proxy CPU/req':>15}{'errors':>8}"
    )
    for name in rows:
        f = figures[(name, conns)]
        cpu = "-" if name == "direct" else f"{f['proxy_cpu_us']:.1f} µs"
        print(
            f"  {name:<15}{f['rps']:>10.0f}{f['p50']:>10.0f}{f['p99']:>10.0f}"
            f"{cpu:>15}{f['errors']:>8}"
        )


def main():
    results = pathlib.Path(sys.argv[1])
    conns = int(sys.argv[2])
    clk_tck = int(sys.argv[3])
    figures = {key: summary(runs) for key, runs in load(results, clk_tck).items()}

    print("\n== edge benchmark")
    print((results / "machine.txt").read_text().rstrip())
    for c in sorted({c for _, c in figures}, reverse=True):
        table(figures, c)

    def get(name, c, field):
        return figures[(name, c)][field]

    print("\nratios (same run)")
    for c in sorted({c for _, c in figures}, reverse=True):
        line = f"  -c{c}:"
        for proxy in ("nginx", "nginx-sha1"):
            if (proxy, c) in figures:
                line += f"  hardshell/{proxy} req/s {get('hardshell', c, 'rps') / get(proxy, c, 'rps'):.2f}"
        print(line)
        line = f"  -c{c}:"
        for proxy in ("hardshell", "nginx", "nginx-sha1"):
            if (proxy, c) in figures:
                line += f"  {proxy}-direct p50 {get(proxy, c, 'p50') - get('direct', c, 'p50'):+.0f} µs"
        print(line)
    if ("hardshell-warn", conns) in figures:
        for c in sorted({c for n, c in figures if n == "hardshell-warn"}, reverse=True):
            info, warn = figures[("hardshell", c)], figures[("hardshell-warn", c)]
            print(
                f"  -c{c}: per-request info log lines cost {info['proxy_cpu_us'] - warn['proxy_cpu_us']:+.1f} µs CPU/req,"
                f" throughput info/warn {info['rps'] / warn['rps']:.2f}"
            )

    print("\ntargets")
    added = get("hardshell", 1, "p50") - get("direct", 1, "p50")
    verdict = "MET" if added <= ADDED_P50_TARGET_US else "MISSED"
    print(f"  {verdict}: added p50 latency over direct (-c1) {added:.0f} µs <= {ADDED_P50_TARGET_US:.0f} µs")
    ratio = get("hardshell", conns, "rps") / get("nginx", conns, "rps")
    verdict = "MET" if ratio >= 1.0 else "MISSED"
    print(f"  {verdict}: hardshell at least as fast as nginx (-c{conns} req/s ratio {ratio:.2f} >= 1.00)")
    broken = [f"{n} -c{c}" for (n, c), f in figures.items() if f["errors"]]
    if broken:
        print(f"  WARNING: non-2xx responses or socket errors in {', '.join(broken)}: those figures are suspect")


if __name__ == "__main__":
    main()
