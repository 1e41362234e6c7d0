"""moto's S3 server for hardshell's tests, one request at a time.

moto's conditional PutObject (If-Match / If-None-Match) checks and then writes
without a lock, and `moto_server` runs threaded, so concurrent conditional
writes can both win. Served single-threaded, each request runs to completion
before the next starts, which makes its compare-and-swap atomic. SeaweedFS is
the suite's target for real concurrency; moto is there for its S3 dialect.

    python moto-server.py HOST PORT
"""

import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    if host not in ("127.0.0.1", "::1"):
        sys.exit("moto-server.py listens on loopback only")
    run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False)


if __name__ == "__main__":
    main()
