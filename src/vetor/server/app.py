"""The ASGI app: S3 Vectors' REST-JSON protocol over ``VectorService``.

Routing, authentication, decoding and error shapes live here; every operation's semantics
live in the service layer. Each request runs in a worker thread (the engine blocks on the
store and on numpy), so concurrent writers share group commits.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ValidationException, VetorError
from ..service import VectorService
from . import codec, protocol
from .auth import Keyring, verify_request
from .embeddings import embedding_routes

MAX_BODY_BYTES = 20 * 1024 * 1024  # S3 Vectors' request size limit

access_log = logging.getLogger("vetor.access")
error_log = logging.getLogger("vetor.server")


class Gateway:
    """Turns one HTTP request into one service call, and its outcome into a response."""

    def __init__(self, service: VectorService, keyring: Keyring | None) -> None:
        self.service = service
        self.keyring = keyring
        ops = protocol.operations().values()
        self.by_name = {op.path.strip("/"): op for op in ops if op.path.count("/") == 1}
        self.tag_ops = {op.method: op for op in ops if op.path.startswith("/tags/")}

    async def handle(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        op = self._operation(request)
        status, payload, received = 500, b"", 0
        try:
            body = await _read_body(request)
            received = len(body)
            if op is None:
                raise UnknownOperation(f"Unknown operation {request.method} {request.url.path}")
            result = await run_in_threadpool(self._dispatch, op, request, body)
            status, payload = 200, orjson.dumps(result, default=_json_default)
        except VetorError as error:
            status, payload = error.http_status, orjson.dumps(error.to_dict())
            code = error.code
        except Exception:  # never leak a stack trace to the client
            error_log.exception("request %s failed", request_id)
            failure = InternalError(f"Internal server error (request id {request_id})")
            status, payload, code = 500, orjson.dumps(failure.to_dict()), failure.code
        headers = {"x-amzn-RequestId": request_id}
        if status != 200:
            headers["x-amzn-ErrorType"] = code
        _log_access(request, op, status, request_id, started, received, len(payload))
        return Response(payload, status, headers, media_type="application/json")

    def _operation(self, request: Request) -> protocol.Operation | None:
        path = request.url.path
        if path.startswith("/tags/"):
            return self.tag_ops.get(request.method)
        op = self.by_name.get(path.strip("/"))
        return op if op is not None and op.method == request.method else None

    def _dispatch(self, op: protocol.Operation, request: Request, body: bytes) -> Any:
        if self.keyring is not None:
            verify_request(
                method=request.method,
                scheme=request.url.scheme,
                host=request.headers.get("host", ""),
                raw_path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                headers=request.headers,
                body=body,
                keyring=self.keyring,
            )
        fast = codec.decode_put_vectors(body) if op.name == "PutVectors" else None
        params = fast or (_decode(body) if op.body_members else {})
        params.update(_location_params(op, request))
        protocol.check_types(op.name, params)
        missing = sorted(op.required - params.keys())
        if missing:
            raise ValidationException.field(f"/{missing[0]}", "Member must not be null")
        return getattr(self.service, op.function)(**params)


class UnknownOperation(VetorError):
    code = "UnknownOperationException"
    http_status = 404


class InternalError(VetorError):
    pass


async def _read_body(request: Request) -> bytes:
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
        raise _too_large()
    return b"".join(chunks)


def _too_large() -> ValidationException:
    return ValidationException(f"Request body is larger than {MAX_BODY_BYTES} bytes (20 MiB)")


def _decode(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ValidationException(f"Malformed JSON request body: {error}") from None
    if not isinstance(value, dict):
        raise ValidationException("The request body must be a JSON object")
    return value


def _location_params(op: protocol.Operation, request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if op.uri_members:  # only the tags operations: /tags/{resourceArn}
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        params.update({m: unquote(raw.removeprefix("/tags/")) for m in op.uri_members})
    query = parse_qs(request.url.query, keep_blank_values=True)
    for member, name in op.query_members.items():
        if name in query:
            values = query[name]
            params[member] = values if member in op.list_query_members else values[-1]
    return params


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):  # rest-json timestamps are epoch seconds
        return value.timestamp()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _log_access(
    request: Request,
    op: protocol.Operation | None,
    status: int,
    request_id: str,
    started: float,
    received: int,
    sent: int,
) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    record = {
        "requestId": request_id,
        "operation": op.name if op else None,
        "method": request.method,
        "path": request.url.path,
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 2),
        "bytesIn": received,
        "bytesOut": sent,
        "client": request.client.host if request.client else None,
    }
    access_log.info(orjson.dumps(record).decode())


def create_app(
    service: VectorService, keyring: Keyring | None, warm: tuple[str, ...] = ()
) -> Starlette:
    """The S3 Vectors endpoint; ``keyring=None`` turns authentication off. ``warm`` names
    indexes (``bucket/index``) loaded before the server accepts requests."""
    gateway = Gateway(service, keyring)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            await run_in_threadpool(lambda: next(iter(service.store.list("_vetor/ready/")), None))
        except Exception as error:  # the store is the one dependency that can be down
            return JSONResponse({"status": "unavailable", "reason": str(error)}, 503)
        return JSONResponse({"status": "ready", "store": service.store.uri})

    async def openapi(request: Request) -> Response:
        return JSONResponse(protocol.openapi())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for name in warm:
            bucket, _, index = name.partition("/")
            loaded = await run_in_threadpool(service.warm, vectorBucketName=bucket, indexName=index)
            error_log.info(f"warm {name}: {orjson.dumps(loaded).decode()}")
        yield
        await run_in_threadpool(service.close)  # let background compaction finish

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *embedding_routes(keyring),  # OpenAI-compatible, ahead of the catch-all
        Route("/{path:path}", gateway.handle, methods=methods),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
