"""The AWS ``query`` protocol (STS, IAM...), for any botocore-modelled service.

A request is a form (``Action=GetCallerIdentity&Version=2011-06-15&...``), POSTed to ``/`` or
sent as the query string; nested members are flattened (``Tags.member.1.Key``). The reply is
XML: ``<ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>`` and, for errors,
``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``. The
model gives every name, wrapper and type, so one adapter serves any query service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from botocore.model import OperationModel, Shape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...contract import Contract, service_model
from ...errors import ValidationException, VetorError
from ..access import Caller, Gate
from ..exchange import Exchange, public
from ..handlers import Handler
from .shapes import operations

FORM = "application/x-www-form-urlencoded"
# The query protocol's names for vetor's error types, where they differ.
_CODES = {"ValidationException": "ValidationError"}


class InvalidAction(VetorError):
    code = "InvalidAction"
    http_status = 400


class QueryAdapter:
    """One botocore query-protocol service, served through its handler."""

    def __init__(self, service_name: str, handler: Handler, gate: Gate) -> None:
        self.service_name = service_name
        self.model = service_model(service_name)
        self.contract = Contract(self.model)
        self.signing_name: str = self.model.signing_name
        self.handler, self.gate = handler, gate
        self.namespace = self.model.metadata.get("xmlNamespace", "")
        self.ops = operations(self.model)

    def resolve(self, request: Request) -> bool | None:
        """Whether the request is a query-protocol call (its Action is read with the body)."""
        if request.url.path.strip("/"):
            return None
        form = request.headers.get("content-type", "").startswith(FORM)
        if (request.method == "POST" and form) or "Action=" in request.url.query:
            return True
        return None

    async def handle(self, request: Request, match: bool | None) -> Response:
        exchange = Exchange(request, self.service_name, self.gate.metrics)
        action: list[str] = []  # filled in by _call, for the access log
        try:
            async with self.gate.admit(request, exchange, self.signing_name) as (caller, body):
                call = (request, body, caller, exchange, action)
                payload = await run_in_threadpool(self._call, *call)
            status = 200
        except VetorError as raised:
            error = public(raised, exchange.request_id)
            status, payload = error.http_status, self._error(error, exchange.request_id)
        except Exception:  # never leak a stack trace to the client
            failure = exchange.internal_error()
            status, payload = 500, self._error(failure, exchange.request_id)
        exchange.log(action[0] if action else None, status, len(payload))
        headers = {"x-amzn-RequestId": exchange.request_id}
        return Response(payload, status, headers, media_type="text/xml")

    def _call(
        self, request: Request, body: bytes, caller: Caller, exchange: Exchange, action: list[str]
    ) -> bytes:
        form = dict(parse_qsl(request.url.query, keep_blank_values=True))
        form.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        name = form.get("Action", "")
        op = self.ops.get(name)
        if op is None:
            raise InvalidAction(
                f"Could not find operation {name!r} for version {form.get('Version')}"
            )
        action.append(name)
        op_model = self.model.operation_model(name)
        params = decode(op_model.input_shape, form)
        params = self.contract.check(name, params)
        self.gate.authorize(caller, self.service_name, name, params, exchange)
        result = self.handler.call(op.function, params, caller)
        return self._response(op_model, result or {}, exchange.request_id)

    def _response(self, op: OperationModel, result: dict[str, Any], request_id: str) -> bytes:
        shape = op.output_shape
        inner = _members(shape, result) if shape is not None else ""
        wrapper = shape.serialization.get("resultWrapper") if shape is not None else None
        if wrapper:
            inner = f"<{wrapper}>{inner}</{wrapper}>"
        metadata = f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        return (
            f"<{op.name}Response xmlns={quoteattr(self.namespace)}>"
            f"{inner}{metadata}</{op.name}Response>"
        ).encode()

    def _error(self, error: VetorError, request_id: str) -> bytes:
        kind = "Sender" if error.http_status < 500 else "Receiver"
        code = _CODES.get(error.code, error.code)
        return (
            f"<ErrorResponse xmlns={quoteattr(self.namespace)}><Error><Type>{kind}</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()


# --- the form, decoded along the input shape -----------------------------------------------------


def decode(shape: Shape | None, form: dict[str, str]) -> dict[str, Any]:
    """The members of ``shape`` that the flattened form carries, typed as the model says."""
    return _structure(shape, form, "") if shape is not None else {}


def _structure(shape: Shape, form: dict[str, str], prefix: str) -> dict[str, Any]:
    params = {}
    for name, member in shape.members.items():
        value = _value(member, form, prefix + member.serialization.get("name", name))
        if value is not None:
            params[name] = value
    return params


def _value(shape: Shape, form: dict[str, str], key: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not any(k.startswith(key + ".") for k in form):
            return None
        return _structure(shape, form, key + ".")
    if kind == "list":
        member: Shape = shape.member
        item = key if shape.serialization.get("flattened") else f"{key}.member"
        values = _repeated(lambda n: _value(member, form, f"{item}.{n}"))
        return values or ([] if form.get(key) == "" else None)
    if kind == "map":
        entry = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_shape: Shape = shape.key
        value_shape: Shape = shape.value
        key_name = key_shape.serialization.get("name", "key")
        value_name = value_shape.serialization.get("name", "value")
        pairs = _repeated(lambda n: form.get(f"{entry}.{n}.{key_name}"))
        return {
            k: _value(value_shape, form, f"{entry}.{n}.{value_name}")
            for n, k in enumerate(pairs, 1)
        } or None
    raw = form.get(key)
    return None if raw is None else _scalar(shape, raw, key)


def _repeated(item: Any) -> list[Any]:
    values, n = [], 1
    while (value := item(n)) is not None:
        values.append(value)
        n += 1
    return values


def _scalar(shape: Shape, raw: str, key: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("float", "double"):
            return float(raw)
    except ValueError:
        raise ValidationException.field(key, f"Member must be of type {kind}") from None
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValidationException.field(key, "Member must be of type boolean")
        return raw == "true"
    return raw  # strings, timestamps and blobs travel as text


# --- the result, encoded along the output shape -------------------------------------------------


def _members(shape: Shape, value: dict[str, Any]) -> str:
    parts = []
    for name, member in shape.members.items():
        if value.get(name) is not None:
            parts.append(_element(member, member.serialization.get("name", name), value[name]))
    return "".join(parts)


def _element(shape: Shape, tag: str, value: Any) -> str:
    kind = shape.type_name
    if kind == "structure":
        return f"<{tag}>{_members(shape, value)}</{tag}>"
    if kind == "list":
        member: Shape = shape.member
        if shape.serialization.get("flattened"):
            return "".join(_element(member, tag, item) for item in value)
        name = member.serialization.get("name", "member")
        return f"<{tag}>{''.join(_element(member, name, item) for item in value)}</{tag}>"
    if kind == "map":
        key_shape: Shape = shape.key
        value_shape: Shape = shape.value
        entries = "".join(
            f"<entry>{_element(key_shape, 'key', k)}{_element(value_shape, 'value', v)}</entry>"
            for k, v in value.items()
        )
        return f"<{tag}>{entries}</{tag}>"
    return f"<{tag}>{escape(_text(value))}</{tag}>"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)
