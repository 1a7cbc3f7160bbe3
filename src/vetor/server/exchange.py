"""What every AWS-protocol request shares, whatever its adapter: request id, body limit, log.

Each request gets an id (``x-amzn-RequestId`` and the access log), its body is read under
S3 Vectors' 20 MiB limit, and one structured access-log line records its outcome.
"""

from __future__ import annotations

import logging
import time
import uuid

import orjson
from starlette.requests import Request

from ..errors import ValidationException, VetorError

MAX_BODY_BYTES = 20 * 1024 * 1024  # S3 Vectors' request size limit

access_log = logging.getLogger("vetor.access")
error_log = logging.getLogger("vetor.server")


class InternalError(VetorError):
    pass


class Exchange:
    """One request's bookkeeping from arrival to the access-log line."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.request_id = uuid.uuid4().hex
        self.started = time.perf_counter()
        self.received = 0

    async def read_body(self) -> bytes:
        body = await read_body(self.request)
        self.received = len(body)
        return body

    def internal_error(self) -> InternalError:
        """Log the exception being handled; what the client sees instead (no stack trace)."""
        error_log.exception("request %s failed", self.request_id)
        return InternalError(f"Internal server error (request id {self.request_id})")

    def log(self, operation: str | None, status: int, sent: int) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        request = self.request
        record = {
            "requestId": self.request_id,
            "operation": operation,
            "method": request.method,
            "path": request.url.path,
            "status": status,
            "ms": round((time.perf_counter() - self.started) * 1000, 2),
            "bytesIn": self.received,
            "bytesOut": sent,
            "client": request.client.host if request.client else None,
        }
        access_log.info(orjson.dumps(record).decode())


async def read_body(request: Request) -> bytes:
    """The body, refusing more than 20 MiB without holding it in memory.

    An oversize body is still drained (up to a bound) so the client reads a proper error
    response instead of a connection reset in the middle of its upload.
    """
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > 4 * MAX_BODY_BYTES:
            break
    if size > MAX_BODY_BYTES:
        raise ValidationException(f"Request body is larger than {MAX_BODY_BYTES} bytes (20 MiB)")
    return b"".join(chunks)
