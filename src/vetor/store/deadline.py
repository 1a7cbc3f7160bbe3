"""Time bounds for store calls: a deadline per service call, carried by a context variable.

Inside ``call_deadline(seconds)`` a request to a remote store runs on a worker thread and the
caller stops waiting for it at the deadline, with a StoreError (503, retryable). The request
may still land, like any request whose reply is lost; vetor's commit protocol is built for
that. Locks that a call must take are waited for within the same deadline (``bounded``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from ..errors import StoreError

T = TypeVar("T")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "vetor_store_deadline", default=None
)


@contextlib.contextmanager
def call_deadline(seconds: float | None) -> Iterator[None]:
    """Bound the store requests made inside (also those the store fans out to its threads):
    none waits past ``seconds`` from now, or past an enclosing deadline if that comes first."""
    outer = _deadline.get()
    mine = None if seconds is None else time.monotonic() + seconds
    token = _deadline.set(mine if outer is None else outer if mine is None else min(outer, mine))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current call's deadline (None: no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def bounded(lock: threading.Lock, what: str) -> Iterator[None]:
    """Hold ``lock``, waiting for it no longer than the current call's deadline allows."""
    left = remaining()
    if not lock.acquire(timeout=-1 if left is None else max(left, 0.0)):
        raise StoreError(f"Timed out waiting for {what}; retry the request")
    try:
        yield
    finally:
        lock.release()


def within_deadline(request: Callable[[], T]) -> T:
    """Run one request, abandoning it when the call's deadline does not leave time for it."""
    left = remaining()
    if left is None:
        return request()
    if left <= 0:
        raise _timed_out()
    future = _waiting_pool().submit(request)
    try:
        return future.result(timeout=left)
    except FutureTimeout:
        future.cancel()  # one still queued never runs: a late write could undo a newer one
        raise _timed_out() from None


def _timed_out() -> StoreError:
    return StoreError("The object store did not answer within the call's time bound")


@functools.cache
def _waiting_pool() -> ThreadPoolExecutor:
    """Where requests under a deadline run, so that the caller can stop waiting for them."""
    return ThreadPoolExecutor(max_workers=64, thread_name_prefix="vetor-store-call")
