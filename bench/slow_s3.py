#!/usr/bin/env python3
"""An S3-compatible server on loopback with added per-request latency, for cold-query figures.

``python3 bench/slow_s3.py FAST_PORT SLOW_PORT DELAY_MS`` serves one in-memory moto S3 on two
ports: FAST_PORT answers at once (to upload the data), SLOW_PORT waits DELAY_MS before each
request (what a remote object store costs). ``GET /__requests`` on SLOW_PORT returns and resets
how many requests it served (that one excluded). Runs until killed.

moto reads (and copies) a whole object under a per-object lock for every request, ranged
GETs included — about 0.1 s per request on a 150 MB segment, serialised, where S3 or MinIO
reads only the range. The server here keeps each object's bytes once read, so a ranged GET
costs its range, as on a real store.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from moto.s3.models import FakeKey
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def _serve_ranges_without_copies() -> None:
    """``FakeKey.value``: the bytes read once and kept (objects are written once here)."""
    read, write = FakeKey.value.fget, FakeKey.value.fset

    def value(key: FakeKey) -> bytes:
        kept = key.__dict__.get("_kept")
        if kept is None:
            kept = key.__dict__["_kept"] = read(key)
        return kept

    def set_value(key: FakeKey, new: bytes) -> None:
        key.__dict__.pop("_kept", None)
        write(key, new)

    FakeKey.value = property(value, set_value)  # type: ignore[method-assign]


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
    _serve_ranges_without_copies()
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
