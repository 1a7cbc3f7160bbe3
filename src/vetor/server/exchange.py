"""What every request shares, whatever its adapter: request id, body reading, access log.

Each request gets an id (``x-amzn-RequestId`` and the access log), its body is read under
S3 Vectors' 20 MiB limit, a per-piece timeout and a per-process budget of bytes in flight, and
one structured access-log line records its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request

from .. import tracing
from ..errors import (
    RequestTimeoutException,
    ServiceUnavailableException,
    StoreError,
    ValidationException,
    VetorError,
)

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

    from .metrics import Metrics

MAX_BODY_BYTES = 20 * 1024 * 1024  # S3 Vectors' request size limit

access_log = logging.getLogger("vetor.access")
error_log = logging.getLogger("vetor.server")


class InternalError(VetorError):
    pass


class Exchange:
    """One request's bookkeeping from arrival to the access-log line."""

    def __init__(self, request: Request, service: str = "", metrics: Metrics | None = None) -> None:
        self.request = request
        self.service, self.metrics = service, metrics
        self.request_id = uuid.uuid4().hex
        self.started = time.perf_counter()
        self.received = 0
        self.principal: str | None = None  # who called, once authenticated
        self.decisions: list[dict[str, str]] = []  # each authorization: action, resource, why
        self.trace = tracing.request_span(service, request.headers) if service else None

    def audit(self, action: str, resource: str, decision: str) -> None:
        self.decisions.append({"action": action, "resource": resource, "decision": decision})

    def internal_error(self) -> InternalError:
        """Log the exception being handled; what the client sees instead (no stack trace)."""
        error_log.exception("request %s failed", self.request_id)
        return InternalError(f"Internal server error (request id {self.request_id})")

    def log(self, operation: str | None, status: int, sent: int) -> None:
        """The access-log line, the request's count and latency for /metrics, the end of
        its trace span."""
        if self.trace is not None:
            self.trace.end(f"{self.service}.{operation or 'unknown'}", status)
        if self.metrics is not None:
            elapsed = time.perf_counter() - self.started
            self.metrics.observe(self.service, operation, status, elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        request = self.request
        record: dict[str, Any] = {
            "requestId": self.request_id,
            "operation": operation,
            "method": request.method,
            "path": request.url.path,
            "status": status,
            "ms": round((time.perf_counter() - self.started) * 1000, 2),
            "bytesIn": self.received,
            "bytesOut": sent,
            "client": request.client.host if request.client else None,
            "principal": self.principal,
        }
        if self.decisions:
            record["authorization"] = self.decisions
        access_log.info(orjson.dumps(record).decode())


def public(error: VetorError, request_id: str | None = None) -> VetorError:
    """The error as a client may see it: an object-store failure's message names keys and
    library text, so the log keeps it and the client gets a retryable 503 without them."""
    if not isinstance(error, StoreError):
        return error
    error_log.warning("request %s: %s", request_id, error.message)
    where = f" (request id {request_id})" if request_id else ""
    return StoreError(f"The object store did not complete the request; retry it{where}")


class BodyBudget:
    """The bytes of request bodies being read at once, bounded per process.

    A request reserves its declared ``Content-Length`` (or the 20 MiB limit when it declares
    none) before its first byte is read and gives it back when it is answered; a request that
    finds no room within the body timeout gets a retryable 503.
    """

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit, self.timeout, self.used = limit, timeout, 0
        self._freed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.limit)
        async with self._freed:
            try:
                await asyncio.wait_for(
                    self._freed.wait_for(lambda: self.used + size <= self.limit), self.timeout
                )
            except TimeoutError:
                raise ServiceUnavailableException(
                    "Please reduce your request rate: too many request bodies in flight."
                ) from None
            self.used += size
        try:
            yield
        finally:
            async with self._freed:
                self.used -= size
                self._freed.notify_all()


def declared_length(request: Request) -> int | None:
    """The body size a request announces, or None (chunked, or a malformed header)."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def read_body(
    request: Request, timeout: float, digest: Hash | None = None, limit: int = MAX_BODY_BYTES
) -> bytes:
    """The body, refusing more than ``limit`` bytes without holding them in memory.

    Each piece must arrive within ``timeout`` seconds (a body shorter than its Content-Length
    would otherwise hold the connection forever), and the whole body within six times that (a
    byte every few seconds would otherwise hold it for hours). ``digest`` is fed the body as
    it arrives.
    A body over the limit is drained (discarded, up to four times the limit; a larger declared
    Content-Length is refused unread) so that the client reads a proper error instead of a
    connection reset in the middle of its upload.
    """
    if (declared_length(request) or 0) > 4 * limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    pieces = request.stream().__aiter__()
    deadline = time.monotonic() + 6 * timeout
    while True:
        try:
            wait = min(timeout, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(anext(pieces), wait)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise RequestTimeoutException(
                "Your socket connection to the server was not read from or written to within "
                f"the timeout period ({timeout:g} s): the request body stopped arriving."
            ) from None
        size += len(chunk)
        if size > limit:
            chunks.clear()
            if size > 4 * limit:
                break
            continue
        if digest is not None:
            digest.update(chunk)
        chunks.append(chunk)
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> ValidationException:
    return ValidationException(f"Request body is larger than {limit} bytes ({limit >> 20} MiB)")
