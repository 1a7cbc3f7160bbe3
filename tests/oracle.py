"""A brute-force, row-by-row model of an index: the reference the engine is checked against.

Deliberately written differently from the engine (plain dicts, per-row filter evaluation,
float64 distances) so that both agreeing means something.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return isinstance(a, str) and isinstance(b, str) and a == b


def _any(value: Any, test: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return any(test(item) for item in items)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def matches(metadata: dict[str, Any], node: dict[str, Any]) -> bool:
    for name, value in node.items():
        if name == "$and":
            if not all(matches(metadata, child) for child in value):
                return False
        elif name == "$or":
            if not any(matches(metadata, child) for child in value):
                return False
        else:
            condition = value if isinstance(value, dict) else {"$eq": value}
            for op, arg in condition.items():
                if not _condition(metadata, name, op, arg):
                    return False
    return True


def _condition(metadata: dict[str, Any], key: str, op: str, arg: Any) -> bool:
    present = key in metadata
    value = metadata.get(key)
    if op == "$exists":
        return present == arg
    if op == "$ne":
        return not (present and _any(value, lambda v: _equal(v, arg)))
    if op == "$nin":
        return not (present and _any(value, lambda v: any(_equal(v, a) for a in arg)))
    if not present:
        return False
    if op == "$eq":
        return _any(value, lambda v: _equal(v, arg))
    if op == "$in":
        return _any(value, lambda v: any(_equal(v, a) for a in arg))
    if op == "$startsWith":
        return _any(value, lambda v: isinstance(v, str) and v.startswith(arg))
    if op == "$contains":
        return _any(value, lambda v: isinstance(v, str) and arg in v)
    compare = {
        "$gt": lambda v: v > arg,
        "$gte": lambda v: v >= arg,
        "$lt": lambda v: v < arg,
        "$lte": lambda v: v <= arg,
    }[op]
    return _any(value, lambda v: _is_number(v) and compare(v))


def distance(metric: str, a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if metric == "cosine":
        return float(1.0 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
    return float(math.sqrt(((x - y) ** 2).sum()))


class OracleIndex:
    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.rows: dict[str, tuple[list[float], dict[str, Any]]] = {}

    def put(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.rows[record["key"]] = (record["data"]["float32"], record.get("metadata") or {})

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.rows.pop(key, None)

    def query(
        self, vector: list[float], k: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        scored = [
            (key, distance(self.metric, data, vector))
            for key, (data, metadata) in self.rows.items()
            if where is None or matches(metadata, where)
        ]
        return sorted(scored, key=lambda kv: kv[1])[:k]
