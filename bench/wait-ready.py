#!/usr/bin/env python3
"""Waits for `hardshell up` to say it is ready, as systemd would hear it.

    python3 bench/wait-ready.py SOCKET SECONDS

Binds a unix datagram socket at SOCKET (start `up` with NOTIFY_SOCKET=SOCKET
once it exists), waits at most SECONDS for a notification with READY=1, prints
its STATUS (where the edge listens) and exits 0; exits 1 if none came in time.
"""
import socket
import sys
import time


def main() -> int:
    path, seconds = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            datagram = sock.recv(4096)
        except TimeoutError:
            break
        fields = dict(
            line.split("=", 1) for line in datagram.decode().splitlines() if "=" in line
        )
        if fields.get("READY") == "1":
            print(fields.get("STATUS", ""))
            return 0
    print(f"no READY=1 within {seconds:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
