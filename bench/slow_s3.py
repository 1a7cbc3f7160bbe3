#!/usr/bin/env python3
"""An S3-compatible server on loopback with added per-request latency, for cold-query figures.

``python3 bench/slow_s3.py FAST_PORT SLOW_PORT DELAY_MS`` serves one in-memory moto S3 on two
ports: FAST_PORT answers at once (to upload the data), SLOW_PORT waits DELAY_MS before each
request (what a remote object store costs). ``GET /__requests`` on SLOW_PORT returns and resets
how many requests it served (that one excluded). Runs until killed.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


class Delayed:
    def __init__(self, app: Any, delay: float) -> None:
        self.app, self.delay = app, delay
        self.requests = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/__requests":
            with self.lock:
                count, self.requests = self.requests, 0
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(count).encode()]
        with self.lock:
            self.requests += 1
        time.sleep(self.delay)
        return self.app(environ, start_response)


def main(fast_port: int, slow_port: int, delay_ms: float) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    app = DomainDispatcherApplication(create_backend_app)  # moto's backends are per process
    servers = [
        make_server("127.0.0.1", fast_port, app, threaded=True),
        make_server("127.0.0.1", slow_port, Delayed(app, delay_ms / 1000), threaded=True),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
