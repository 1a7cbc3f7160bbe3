"""A fault-injecting HTTP proxy, for putting a misbehaving network in front of an S3 store.

Each request draws at most one fault from ``Faults`` (the probabilities of each kind):

- ``error_before``: a 500 InternalError or a 503 SlowDown, and the store never sees the request;
- ``error_after``: the store applies the request, the client gets a 500 instead of its reply;
- ``drop_after``: the store applies the request, the connection closes with no reply at all;
- ``latency``: the request waits 50–300 ms before it goes on;
- ``truncate``: the reply's headers promise the whole body, half of it comes, the connection
  closes;
- ``short``: half the body comes, with headers that say that is all of it (a store or
  middlebox that cuts objects short without the protocol noticing);
- ``hang``: nothing comes back for ``hang_seconds``, then the connection closes.

The proxy runs in the test process (a thread per connection), so a test sets its faults while
writer processes talk through it.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

KINDS = ("error_before", "error_after", "drop_after", "latency", "truncate", "short", "hang")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}
_SLOW_DOWN = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_INTERNAL = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


@dataclass
class Faults:
    """Probability of each fault kind per request (their sum must stay below 1).

    ``match`` limits faults to requests whose method and path contain it (``"PUT /"``,
    ``"/race"``; several strings: all of them), ``budget`` to that many faults in all (None:
    no limit).
    """

    rates: dict[str, float] = field(default_factory=dict)
    match: str | tuple[str, ...] = ""
    budget: int | None = None
    hang_seconds: float = 5.0
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, request: str) -> str | None:
        with self._lock:
            self.requests += 1
            wanted = (self.match,) if isinstance(self.match, str) else self.match
            if not all(w in request for w in wanted) or self.budget == 0:
                return None
            roll, edge = self._random.random(), 0.0
            for kind in KINDS:
                edge += self.rates.get(kind, 0.0)
                if roll < edge:
                    self.injected[kind] += 1
                    if self.budget is not None:
                        self.budget -= 1
                    return kind
            return None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return  # clients that time out and hang up are the point here, not news


class FaultProxy:
    """``FaultProxy(upstream).start()`` listens on a loopback port; ``.endpoint`` is its URL."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        target = urlparse(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.faults = faults or Faults()
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _resized(headers: list[tuple[str, str]], size: int) -> list[tuple[str, str]]:
    """Headers that describe a body of ``size`` bytes (a range reply's Content-Range too)."""
    out = []
    for name, value in headers:
        if name.lower() == "content-range" and value.startswith("bytes "):
            span, _, total = value[6:].partition("/")
            start = int(span.split("-")[0])
            value = f"bytes {start}-{start + size - 1}/{total}"
        out.append((name, value))
    return out


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._relay()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.owner.faults.draw(f"{self.command} {self.path}")
        if fault == "error_before":
            slow = random.random() < 0.5
            self._reply(503 if slow else 500, _SLOW_DOWN if slow else _INTERNAL)
            return
        if fault == "hang":
            time.sleep(self.owner.faults.hang_seconds)
            self.close_connection = True
            return
        if fault == "latency":
            time.sleep(random.uniform(0.05, 0.3))
        status, headers, payload = self._forward(body)
        if fault == "error_after":
            self._reply(500, _INTERNAL)
        elif fault == "drop_after":
            self.close_connection = True  # the store applied it; the client hears nothing
        elif fault == "truncate" and len(payload) > 1:
            self._send(status, headers, payload, len(payload) // 2)
            self.close_connection = True
        elif fault == "short" and len(payload) > 1:
            half = payload[: len(payload) // 2]
            self._send(status, _resized(headers, len(half)), half, len(half))
        else:
            self._send(status, headers, payload, len(payload))

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            connection.close()

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes, sent: int) -> None:
        self.send_response_only(status)
        head = self.command == "HEAD"  # its Content-Length is the object's, not this body's
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and (head or name.lower() != "content-length"):
                self.send_header(name, value)
        if not head:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not head:
            self.wfile.write(payload[:sent])

    def _reply(self, status: int, payload: bytes) -> None:
        headers = [("Content-Type", "application/xml")]
        self._send(status, headers, payload, len(payload))
