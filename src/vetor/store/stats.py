"""What one store has been asked: requests per operation, failures, time and bytes.

Plain counters, cheap to keep on every request; ``GET /metrics`` reads them. Retries happen
inside the object-store client (obstore) and are not seen here: a request that succeeded after
retries counts once, with the time the retries took.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

from .. import tracing


class StoreStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.bytes_read = 0
        self.bytes_written = 0

    @contextlib.contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        started, failed = time.perf_counter(), False
        try:
            with tracing.child_span(f"store.{operation}"):
                yield
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.requests[operation] += 1
                self.seconds[operation] += elapsed
                if failed:
                    self.errors[operation] += 1

    def moved(self, read: int = 0, written: int = 0) -> None:
        with self._lock:
            self.bytes_read += read
            self.bytes_written += written
