"""Per-access-key request limits: a rate (token bucket) and requests at once.

A key over either gets a 429 in its service's words (S3 Vectors' TooManyRequestsException,
Bedrock's ThrottlingException) before its body is read. The counters live in the process (and
run on its event loop, so they need no lock): with N workers or replicas a key may make N times
the rate, as with any per-node limiter.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from ..errors import ThrottlingException, TooManyRequestsException


class KeyLimits:
    def __init__(self, rate: float, concurrent: int) -> None:
        self.rate, self.concurrent = rate, concurrent
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._running: dict[str, int] = {}

    @contextlib.contextmanager
    def enter(self, key: str | None, scheme: str) -> Iterator[None]:
        """Hold one of ``key``'s request slots for the block, or raise a 429."""
        if key is None or not (self.rate or self.concurrent):
            yield
            return
        error = ThrottlingException if scheme == "bedrock" else TooManyRequestsException
        if self.rate and not self._take(key):
            raise error(f"Rate exceeded: at most {self.rate:g} requests per second per access key")
        running = self._running.get(key, 0)
        if self.concurrent and running >= self.concurrent:
            raise error(f"Too many requests at once: at most {self.concurrent} per access key")
        self._running[key] = running + 1
        try:
            yield
        finally:
            self._running[key] -= 1

    def _take(self, key: str) -> bool:
        now, capacity = time.monotonic(), max(self.rate, 1.0)  # a second's worth, at least one
        tokens, then = self._tokens.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._tokens[key] = (tokens, now)
            return False
        self._tokens[key] = (tokens - 1.0, now)
        return True
