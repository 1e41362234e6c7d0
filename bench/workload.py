#!/usr/bin/env python3
"""The workload benchmark (bench/workload.sh runs it): the real OpenClaw image as
`[workload]`, against the same root and command started with bubblewrap.

Three figures, each beside its baseline measured in the same run:
  start    `hardshell up` to OpenClaw's first ready answer through the edge,
           against bubblewrap starting the same root to its first answer on
           its port (runs interleaved; the image is already in the store, as
           on every start but the first). Both with the same CPU (every core:
           `[workload] cpu_percent` = 100 per core; bubblewrap sets none) and
           both keeping OpenClaw's state from one start to the next, as a
           restart does: what is measured is hardshell, not its CPU quota (the
           default, one core, starts OpenClaw about twice as slowly here)
  latency  GET /readyz through the edge (token, rate limit, audit, the
           forwarder) against GET /readyz straight at the bubblewrap copy:
           p50 and p99 of sequential requests on one kept-alive connection
  memory   idle PSS of hardshell's own processes (the edge, the shell's init
           and reaper) beside the workload's own (OpenClaw's Node)

    python3 bench/workload.py HARDSHELL_BIN IMAGE_LAYOUT DIGEST [RUNS] [REQUESTS]
"""
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "openclaw.localhost"
PORT = 18789
READY_WITHIN = 300.0


def openclaw_json():
    return {
        "gateway": {
            "mode": "local", "bind": "loopback", "port": PORT,
            "trustedProxies": ["127.0.0.1"],
            "auth": {"mode": "trusted-proxy", "trustedProxy": {
                "userHeader": "x-forwarded-user",
                "requiredHeaders": ["x-hardshell-identity"],
                "allowLoopback": True}},
        },
        "agents": {"defaults": {"skills": [], "contextInjection": "never",
                                "skipBootstrap": True}},
        "tools": {"profile": "minimal", "deny": ["*"]},
    }


def ready_status(addr, host, path, headers):
    try:
        conn = http.client.HTTPConnection(addr[0], addr[1], timeout=5)
        conn.request("GET", path, headers={"Host": host, **headers})
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return 0


def wait_ready(addr, host, headers, started):
    while time.monotonic() - started < READY_WITHIN:
        if ready_status(addr, host, "/readyz", headers) == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise SystemExit(f"not ready within {READY_WITHIN:.0f} s at {addr}")


def latencies(addr, host, headers, count):
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=10)
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("GET", "/readyz", headers={"Host": host, **headers})
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - t0)
        if response.status != 200:
            raise SystemExit(f"/readyz answered {response.status}")
    conn.close()
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def tree(pid):
    pids = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    pids += tree(int(child))
        except OSError:
            pass
    return pids


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Hardshell:
    """One data directory, `up` started and stopped per run."""

    def __init__(self, binary, image, work):
        self.binary, self.dir = binary, os.path.join(work, "hs")
        os.makedirs(self.dir)
        run = lambda *args, **kw: subprocess.run([binary, *args], cwd=self.dir, check=True,
                                                 capture_output=True, **kw)
        run("init")
        with open(os.path.join(self.dir, "hardshell.toml")) as f:
            text = f.read()
        text = (text.replace("127.0.0.1:8787", "127.0.0.1:0")
                .replace('# public_url = "https://agent.example.com"',
                         'public_url = "http://localhost:8787"')
                .replace("requests_per_minute = 60\nburst = 10",
                         "requests_per_minute = 6000000\nburst = 1000000")
                .replace("trusted_proxies = []", 'trusted_proxies = ["127.0.0.1/32"]'))
        text += (f'\n[workload]\nimage = "{image}"\nhost = "{HOST}"\nport = {PORT}\n'
                 f'cpu_percent = {100 * os.cpu_count()}\n'
                 'health_path = "/readyz"\nidentity_header = "X-Forwarded-User"\n'
                 'memory_mb = 2048\nready_timeout_secs = 300\nstop_grace_secs = 5\n'
                 'state_dir = "/home/node/.openclaw"\n')
        with open(os.path.join(self.dir, "hardshell.toml"), "w") as f:
            f.write(text)
        state = os.path.join(self.dir, "data/workloads/workload/state")
        os.makedirs(state, exist_ok=True)
        with open(os.path.join(state, "openclaw.json"), "w") as f:
            json.dump(openclaw_json(), f)
        self.token = run("token", "create", "--name", "bench", "--scope", "chat",
                         text=True).stdout.strip()
        self.headers = {"Authorization": f"Bearer {self.token}",
                        # A client the edge names, as OpenClaw needs one it can attribute.
                        "X-Forwarded-For": "203.0.113.9"}
        self.proc = None

    def start(self):
        sock_path = os.path.join(self.dir, "notify.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(sock_path)
        started = time.monotonic()
        self.proc = subprocess.Popen([self.binary, "up"], cwd=self.dir,
                                     env={**os.environ, "NOTIFY_SOCKET": sock_path},
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "up.log"), "ab"))
        notify.settimeout(READY_WITHIN)
        while True:
            fields = dict(line.split("=", 1) for line in notify.recv(4096).decode().splitlines()
                          if "=" in line)
            if fields.get("READY") == "1":
                break
        notify.close()
        listening = fields.get("STATUS", "").rsplit("://", 1)[-1]
        host, port = listening.rsplit(":", 1)
        self.addr = (host, int(port))
        self.ready = wait_ready(self.addr, f"{HOST}:8787", self.headers, started)
        return self.ready

    def pids(self):
        return tree(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


class Bubblewrap:
    """The same root (hardshell's unpacked copy of the digest) and command."""

    def __init__(self, root, argv, work):
        self.root, self.argv = root, argv
        # Made once and kept, as hardshell keeps its local copy across starts.
        self.state = os.path.join(work, "bwrap-state")
        os.makedirs(self.state)
        with open(os.path.join(self.state, "openclaw.json"), "w") as f:
            json.dump(openclaw_json(), f)
        self.proc = None

    def start(self):
        started = time.monotonic()
        # The image's files as they are: bubblewrap 0.8 cannot make mount
        # points in a read-only root (no overlays), so each top-level entry
        # is bound in read-only on its tmpfs root, and /home (the image's
        # holds only an empty /home/node) is a tmpfs where the state is bound.
        # Root, but bubblewrap drops every capability: the store's files
        # belong to the shell's host uid, and reading them (as the shell does,
        # as their owner) needs DAC_READ_SEARCH here.
        binds = []
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name)
            if name in ("dev", "proc", "tmp", "home"):
                continue
            if os.path.islink(path):
                binds += ["--symlink", os.readlink(path), f"/{name}"]
            else:
                binds += ["--ro-bind", path, f"/{name}"]
        self.proc = subprocess.Popen(
            ["bwrap", "--cap-add", "CAP_DAC_READ_SEARCH", "--tmpfs", "/", *binds,
             "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/home",
             "--bind", self.state, "/home/node/.openclaw",
             "--unshare-pid", "--die-with-parent", "--clearenv",
             "--setenv", "HOME", "/home/node", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
             "--setenv", "XDG_CACHE_HOME", "/tmp/.cache", "--setenv", "NODE_ENV", "production",
             "--chdir", "/home/node", *self.argv],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addr = ("127.0.0.1", PORT)
        return wait_ready(self.addr, "127.0.0.1", {}, started)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def main():
    binary, layout, digest = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    requests = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    work = tempfile.mkdtemp(prefix="hardshell-workload-bench-")
    try:
        hs = Hardshell(binary, f"oci:{layout}@{digest}", work)
        # The first start pulls and unpacks the image: not a start to time.
        pulled = time.monotonic()
        hs.start()
        print(f"first start (pull and unpack into the store, then ready): "
              f"{time.monotonic() - pulled:.1f} s")
        hs.stop()
        roots = os.path.join(hs.dir, "data/images/roots")
        # The unpacked root is the one directory there; its record
        # (`<digest>.record.json`) sits beside it.
        unpacked = [e for e in os.listdir(roots) if os.path.isdir(os.path.join(roots, e))]
        if len(unpacked) != 1:
            sys.exit(f"expected one unpacked root under {roots}, found {unpacked}")
        root = os.path.join(roots, unpacked[0])
        config = json.load(open(os.path.join(layout, "blobs/sha256",
                                             json.load(open(os.path.join(
                                                 layout, "blobs/sha256", digest[7:])))["config"]["digest"][7:])))
        argv = config["config"]["Entrypoint"] + config["config"]["Cmd"]
        bw = Bubblewrap(root, argv, work)
        # Its first start makes OpenClaw's state, as hardshell's first did.
        bw.start()
        bw.stop()

        starts = {"hardshell": [], "bubblewrap": []}
        for _ in range(runs):
            for name, runner in (("hardshell", hs), ("bubblewrap", bw)):
                starts[name].append(runner.start())
                runner.stop()
        h, b = statistics.median(starts["hardshell"]), statistics.median(starts["bubblewrap"])
        print(f"start to first ready answer, median of {runs}: hardshell {h:.2f} s "
              f"(through the edge), bubblewrap {b:.2f} s (direct); ratio {h / b:.2f}")

        hs.start()
        bw.start()
        time.sleep(5)
        edge = latencies(hs.addr, f"{HOST}:8787", hs.headers, requests)
        direct = latencies(bw.addr, "127.0.0.1", {}, requests)
        print(f"GET /readyz, {requests} sequential requests: through the edge p50 "
              f"{edge[0] * 1e3:.2f} ms p99 {edge[1] * 1e3:.2f} ms; direct p50 "
              f"{direct[0] * 1e3:.2f} ms p99 {direct[1] * 1e3:.2f} ms; the edge adds "
              f"{(edge[0] - direct[0]) * 1e6:.0f} us at p50 (ratio {edge[0] / direct[0]:.2f})")
        bw.stop()

        time.sleep(5)
        own, workload = 0, 0
        for pid in hs.pids():
            line = cmdline(pid)
            if pid == hs.proc.pid or "shell-init" in line or line.startswith(binary):
                own += pss_kib(pid)
            else:
                workload += pss_kib(pid)
        print(f"idle PSS: hardshell's own processes {own / 1024:.1f} MiB beside the "
              f"workload's {workload / 1024:.1f} MiB ({own / max(workload, 1) * 100:.1f} %)")
        hs.stop()
    finally:
        for proc in ("hs", "bw"):
            runner = locals().get(proc)
            if runner is not None and runner.proc is not None and runner.proc.poll() is None:
                runner.proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
