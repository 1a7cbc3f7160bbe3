"""Request body decoding for the hot path: PutVectors.

A PutVectors body is megabytes of JSON numbers. Decoding it into Python floats and then into
numpy costs more than everything else the server does per request, so vector data is parsed by
simdjson straight into float arrays. Anything unusual (wrong types, non-numbers) falls back to
the general decoder, whose validation then names the problem.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import simdjson


def decode_put_vectors(body: bytes) -> dict[str, Any] | None:
    """The request with each ``data.float32`` as a float64 array, or None to fall back."""
    try:
        document = _parser().parse(body)
        if not isinstance(document, simdjson.Object):
            return None
        params: dict[str, Any] = {}
        for name in document:
            value = document[name]
            params[name] = _records(value) if name == "vectors" else _plain(value)
        return None if params.get("vectors") is None else params
    except (ValueError, TypeError, KeyError):  # malformed, or not the usual shape
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
        if not isinstance(item, simdjson.Object):
            return None
        record = {name: _plain(item[name]) for name in item if name != "data"}
        data = item.get("data")
        if not isinstance(data, simdjson.Object) or len(data) != 1:
            return None
        floats = data.get("float32")
        if not isinstance(floats, simdjson.Array):
            return None
        record["data"] = {"float32": np.frombuffer(floats.as_buffer(of_type="d"), np.float64)}
        records.append(record)
    return records


def _plain(value: Any) -> Any:
    """A Python value that no longer refers to the parser."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value
