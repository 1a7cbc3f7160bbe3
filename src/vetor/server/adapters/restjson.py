"""The AWS ``rest-json`` protocol, for any botocore-modelled service (S3 Vectors, Bedrock...).

Given a botocore service name, the adapter reads the model, routes each request by method and
URI template (labels such as ``/tags/{resourceArn}`` included), decodes body, URI and query
members, checks them against the model's shapes, calls the service's handler and encodes its
result or error as AWS does (``x-amzn-ErrorType``, ``message``, ``fieldList``, the error's
status, ``x-amzn-RequestId``). Each request runs in a worker thread (the engine blocks on the
store and on numpy), so concurrent writers share group commits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ...contract import Contract, service_model
from ...errors import VetorError
from ..access import Caller, Gate, raw_path
from ..codec import decode_json
from ..eventstream import CONTENT_TYPE, EventStream, encode
from ..exchange import Exchange, public
from ..handlers import Handler
from .openapi import openapi
from .shapes import Operation, operations

BodyDecoder = Callable[[bytes], "dict[str, Any] | None"]  # a fast path; None falls back


class UnknownOperation(VetorError):
    code = "UnknownOperationException"
    http_status = 404


@dataclass(frozen=True)
class Match:
    """The operation a request names, and its URI labels (still percent-encoded)."""

    op: Operation
    labels: dict[str, str]


@dataclass(frozen=True)
class _Route:
    op: Operation
    pattern: re.Pattern[str]
    members: tuple[str, ...]  # the URI member of each group, in order


class RestJsonAdapter:
    """One botocore rest-json service, served through its handler."""

    def __init__(
        self,
        service_name: str,
        handler: Handler,
        gate: Gate,
        body_decoders: dict[str, BodyDecoder] | None = None,
        checks: bool = True,
        patterns: dict[str, str] | None = None,
    ) -> None:
        """``checks=False`` leaves the model's rules to a handler that applies them itself
        (the S3 Vectors service checks every call, embedded or remote); ``patterns`` are
        the shapes' patterns vetor replaces (``Contract``)."""
        self.service_name = service_name
        self.model = service_model(service_name)
        self.contract = Contract(self.model, patterns=patterns) if checks else None
        self.signing_name: str = self.model.signing_name
        self.handler, self.gate = handler, gate
        self.body_decoders = body_decoders or {}
        ops = operations(self.model).values()
        # Strict routes first: a label spans one segment. Then a label ending its template may
        # take the rest of the path, so an ARN sent with its slashes unencoded still routes.
        self._routes = [r for greedy in (False, True) for r in _routes(ops, greedy)]
        # Most operations have a fixed path (POST /QueryVectors): one dict lookup each.
        self._fixed = {(op.method, op.path): op for op in ops if "{" not in op.path}

    def resolve(self, request: Request) -> Match | None:
        path, method = raw_path(request), request.method
        fixed = self._fixed.get((method, path))
        if fixed is not None:
            return Match(fixed, {})
        for route in self._routes:
            found = route.pattern.match(path) if route.op.method == method else None
            if found:
                return Match(route.op, dict(zip(route.members, found.groups(), strict=True)))
        return None

    def openapi(self, title: str) -> dict[str, Any]:
        return openapi(self.model, title)

    async def handle(self, request: Request, match: Match | None) -> Response:
        exchange = Exchange(request, self.service_name, self.gate.metrics)
        status, payload, code = 500, b"", None
        try:
            async with self.gate.admit(request, exchange, self.signing_name) as (caller, body):
                if match is None:
                    raise UnknownOperation(f"Unknown operation {request.method} {request.url.path}")
                call = (match, request, body, caller, exchange)
                result = await run_in_threadpool(self._call, *call)
            if isinstance(result, EventStream):  # streamed: events as the handler makes them
                exchange.log(match.op.name, match.op.status, 0)
                headers = {"x-amzn-RequestId": exchange.request_id, **result.headers}
                return StreamingResponse(
                    encode(result), match.op.status, headers, media_type=CONTENT_TYPE
                )
            status, payload = match.op.status, orjson.dumps(result, default=_json_default)
        except VetorError as raised:
            error = public(raised, exchange.request_id)
            status, payload, code = error.http_status, orjson.dumps(error.to_dict()), error.code
        except Exception:  # never leak a stack trace to the client
            failure = exchange.internal_error()
            status, payload, code = 500, orjson.dumps(failure.to_dict()), failure.code
        headers = {"x-amzn-RequestId": exchange.request_id}
        if code is not None:
            headers["x-amzn-ErrorType"] = code
        exchange.log(match.op.name if match else None, status, len(payload))
        return Response(payload, status, headers, media_type="application/json")

    def _call(
        self, match: Match, request: Request, body: bytes, caller: Caller, exchange: Exchange
    ) -> Any:
        op = match.op
        decode = self.body_decoders.get(op.name)
        fast = decode(body) if decode is not None else None
        params = fast or (decode_json(body) if op.body_members else {})
        params.update({member: unquote(value) for member, value in match.labels.items()})
        params.update(_query_params(op, request))
        if self.contract is not None:
            params = self.contract.check(op.name, params)
        self.gate.authorize(caller, self.service_name, op.name, params, exchange)
        result = self.handler.call(op.function, params, caller)
        self.gate.changed(op.name, params)
        return self.gate.visible(caller, op.name, result)


def _routes(ops: Iterable[Operation], greedy: bool) -> list[_Route]:
    routes = []
    for op in ops:
        pieces = re.split(r"\{([^}]+)\}", op.path.rstrip("/"))  # literal, label, literal...
        if greedy and (len(pieces) < 2 or pieces[-1]):
            continue  # no label ends this template
        by_label = {label: member for member, label in op.uri_members.items()}
        pattern, members = "", []
        for n, piece in enumerate(pieces):
            if n % 2 == 0:
                pattern += re.escape(piece)
                continue
            label = piece.rstrip("+")
            members.append(by_label.get(label, label))
            last = n == len(pieces) - 2
            pattern += "(.+)" if (greedy and last) or piece.endswith("+") else "([^/]+)"
        pattern = re.sub(r"\A/", "/+", pattern) if pattern else "/"
        routes.append(_Route(op, re.compile(rf"\A{pattern}/*\Z"), tuple(members)))
    return routes


def _query_params(op: Operation, request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if not op.query_members:
        return params
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
