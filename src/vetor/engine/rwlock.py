"""A readers-writer lock: searches share the view, catch-up and appends take it alone.

numpy releases the GIL while it scores vectors, so searches of one index can use every core;
writers are preferred so that a stream of queries cannot starve a catch-up. Not re-entrant.
A call under a deadline (``store.call_deadline``) waits for the lock no longer than it allows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import StoreError
from ..store import remaining


class ReadWriteLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._wait(lambda: self._writing or self._writers_waiting > 0)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._wait(lambda: self._writing or self._readers > 0)
            finally:
                self._writers_waiting -= 1
                self._cond.notify_all()  # readers held back by a writer that gave up
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def _wait(self, blocked: Callable[[], bool]) -> None:
        """Wait (holding ``_cond``) until not ``blocked``, within the call's deadline."""
        left = remaining()
        until = None if left is None else time.monotonic() + left
        while blocked():
            timeout = None if until is None else until - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise StoreError("Timed out waiting for the index's view; retry the request")
            self._cond.wait(timeout)
