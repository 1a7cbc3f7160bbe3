"""Request body decoding: one strict JSON reading for every operation, and PutVectors' fast path.

Every JSON body is read the same way, whatever the operation: a key given twice in one object,
``NaN``/``Infinity``, an integer beyond 64 bits or nesting deeper than :data:`MAX_DEPTH` is a
ValidationException (never a 500, never first-wins here and last-wins there).

A PutVectors body is megabytes of JSON numbers. Decoding it into Python floats and then into
numpy costs more than everything else the server does per request, so vector data is parsed by
simdjson straight into float arrays. Anything unusual (wrong types, non-numbers) falls back to
the general decoder, whose validation then names the problem.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import orjson
import simdjson

from ..errors import ValidationException

MAX_DEPTH = 254  # objects and arrays: as deep as the encoder every stored document goes through
_INT64 = (-(2**63), 2**64 - 1)


def decode_json(body: bytes) -> dict[str, Any]:
    """A JSON object body, strictly: see the module's first paragraph for what is refused."""
    if not body.strip():
        return {}
    try:
        value = json.loads(
            body,
            object_pairs_hook=_unique_keys,
            parse_int=_int64,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise _malformed(f"nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise _malformed(str(error)) from None
    if not isinstance(value, dict):
        raise ValidationException("The request body must be a JSON object")
    try:  # one C pass finds what the parser let through: nesting past the encoder's limit,
        orjson.dumps(value)  # and "\ud800" escapes (lone surrogates no store accepts)
    except orjson.JSONEncodeError as error:
        too_deep = "Recursion" in str(error)
        reason = f"nested more than {MAX_DEPTH} levels deep" if too_deep else str(error)
        raise _malformed(reason) from None
    return value


def _malformed(reason: str) -> ValidationException:
    return ValidationException(f"Malformed JSON request body: {reason}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _malformed(f"the key {name!r} appears twice in one object")
            seen.add(name)
    return document


def _int64(text: str) -> int:
    number = int(text)
    if not _INT64[0] <= number <= _INT64[1]:
        raise _malformed(f"the integer {text[:40]} does not fit in 64 bits")
    return number


def _no_constant(name: str) -> Any:
    raise _malformed(f"{name} is not a JSON number")


def decode_put_vectors(body: bytes) -> dict[str, Any] | None:
    """The request with each ``data.float32`` as a float64 array, or None to fall back.

    Anything the strict reading would refuse (a nested float32 array, a key twice, simdjson's
    own depth, big-integer and surrogate errors) falls back to it, so that it names the problem.
    """
    try:
        document = _parser().parse(body)
        if not isinstance(document, simdjson.Object) or _repeats(document):
            return None
        params: dict[str, Any] = {}
        for name in document:
            value = document[name]
            params[name] = _records(value) if name == "vectors" else _plain(value)
        return None if params.get("vectors") is None else params
    except (ValueError, TypeError, KeyError, RuntimeError):  # malformed, or unusual
        return None


_local = threading.local()


def _parser() -> simdjson.Parser:
    """One parser per thread, reused: allocating its buffers costs as much as a parse.

    Safe because nothing that refers to a parse outlives ``decode_put_vectors``.
    """
    if not hasattr(_local, "parser"):
        _local.parser = simdjson.Parser()
    return _local.parser


def _records(vectors: Any) -> list[dict[str, Any]] | None:
    if not isinstance(vectors, simdjson.Array):
        return None
    records = []
    for item in vectors:
        if not isinstance(item, simdjson.Object) or _repeats(item):
            return None
        record = {name: _plain(item[name]) for name in item if name != "data"}
        data = item.get("data")
        if not isinstance(data, simdjson.Object) or len(data) != 1:
            return None
        metadata = item.get("metadata")
        if isinstance(metadata, simdjson.Object) and _repeats(metadata):
            return None
        floats = data.get("float32")
        if not isinstance(floats, simdjson.Array) or b"[" in floats.mini[1:]:  # type: ignore[operator]
            return None  # as_buffer would flatten nested arrays: let the strict path refuse
        record["data"] = {"float32": np.frombuffer(floats.as_buffer(of_type="d"), np.float64)}
        records.append(record)
    return records


def _repeats(document: simdjson.Object) -> bool:
    """Whether a key appears twice (simdjson lists every field; ``as_dict`` keeps the last)."""
    names = list(document)
    return len(set(names)) != len(names)


def _plain(value: Any) -> Any:
    """A Python value that no longer refers to the parser."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value
