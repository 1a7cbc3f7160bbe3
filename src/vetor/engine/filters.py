"""The S3 Vectors metadata filter language: validation and vectorised evaluation.

Semantics (the property tests check them against a row-by-row oracle):

- A metadata value is a string, a number, a boolean or a list of those. A list field
  matches an operator when *any* element matches (``$eq``, ``$in``, ``$gt``…, ``$startsWith``).
- ``$eq``/``$ne``/``$in``/``$nin`` compare by type: ``true`` never equals ``1``.
- ``$ne`` and ``$nin`` are the negations of ``$eq`` and ``$in``: they match rows that lack the key.
- ``$gt $gte $lt $lte`` take a number and match numeric values only.
- ``$exists`` matches on the presence of the key. ``$and``/``$or`` take non-empty lists.
- ``$contains`` (a vetor extension, for Bedrock's ``stringContains``) matches strings that
  contain its argument.
- Several keys (or several operators on one key) in one object are an implicit AND.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ValidationException

COMPARISONS = {"$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less, "$lte": np.less_equal}
FIELD_OPERATORS = {"$eq", "$ne", "$in", "$nin", "$exists", "$startsWith", "$contains", *COMPARISONS}
LOGICAL_OPERATORS = {"$and", "$or"}


def invalid(reason: str) -> ValidationException:
    return ValidationException(f"Invalid query filter: {reason}")


def is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float)) and not (
        isinstance(value, float) and not np.isfinite(value)
    )


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- validation --------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterLimits:
    """How large a filter may be: its operands and list values in total, its nesting."""

    values: int = 1024
    depth: int = 8


@dataclass(frozen=True)
class Filter:
    """A checked metadata filter: what the service hands the engine with a query."""

    document: dict[str, Any]

    @classmethod
    def parse(
        cls,
        document: Any,
        non_filterable: Sequence[str] = (),
        allow_starts_with: bool = True,
        limits: FilterLimits | None = None,
    ) -> Filter:
        """Validate a filter document (S3 Vectors' errors); ``$startsWith`` needs ENHANCED."""
        _check_size(document, limits or FilterLimits())
        filter_keys(document, non_filterable, allow_starts_with)
        return cls(document)


def _check_size(document: Any, limits: FilterLimits) -> None:
    """Refuse a filter too large or too deep before anything walks it recursively."""
    values, stack = 0, [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > 2 * limits.depth + 2:  # each $and/$or level is an object and an array
            raise invalid(f"filters may nest at most {limits.depth} levels of $and / $or")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
            continue
        values += len(node) if isinstance(node, list) else 1
        if values > limits.values:
            raise invalid(f"a filter may hold at most {limits.values} values in total")
        if isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))


def filter_keys(
    node: Any, non_filterable: Sequence[str] = (), allow_starts_with: bool = True
) -> set[str]:
    """Validate a filter document; return the metadata keys it reads."""
    if not isinstance(node, dict) or not node:
        raise invalid("a filter must be a non-empty JSON object")
    keys: set[str] = set()
    for name, value in node.items():
        if name in LOGICAL_OPERATORS:
            if not isinstance(value, list) or not value:
                raise invalid(f"'{name}' takes a non-empty array of filters")
            for child in value:
                keys |= filter_keys(child, non_filterable, allow_starts_with)
        elif name.startswith("$"):
            raise invalid(f"unknown operator '{name}'")
        else:
            if name in non_filterable:
                raise invalid(f"metadata key '{name}' is non-filterable")
            _check_condition(name, value, allow_starts_with)
            keys.add(name)
    return keys


def _check_condition(key: str, condition: Any, allow_starts_with: bool) -> None:
    if not isinstance(condition, dict):
        if not is_scalar(condition):
            raise invalid(f"value for '{key}' must be a string, number, boolean or operator")
        return
    if not condition:
        raise invalid(f"empty operator object for '{key}'")
    for op, arg in condition.items():
        if op not in FIELD_OPERATORS:
            raise invalid(f"unknown operator '{op}'")
        if op == "$startsWith" and not allow_starts_with:
            raise invalid("'$startsWith' is only available in ENHANCED query mode")
        if op in ("$eq", "$ne") and not is_scalar(arg):
            raise invalid(f"'{op}' takes a string, number or boolean")
        if op in COMPARISONS and not is_number(arg):
            raise invalid(f"'{op}' takes a number")
        if op in ("$in", "$nin") and (
            not isinstance(arg, list) or not arg or not all(is_scalar(a) for a in arg)
        ):
            raise invalid(f"'{op}' takes a non-empty array of strings, numbers or booleans")
        if op == "$exists" and not isinstance(arg, bool):
            raise invalid("'$exists' takes a boolean")
        if op in ("$startsWith", "$contains") and not isinstance(arg, str):
            raise invalid(f"'{op}' takes a string")


# --- columnar metadata ---------------------------------------------------------------------


@dataclass
class Scalars:
    """Scalar values of one key, split by type into numpy arrays (absent: NaN/None/-1)."""

    num: np.ndarray  # float64
    text: np.ndarray  # object: str or None
    flag: np.ndarray  # int8: -1 absent, 0 false, 1 true

    @classmethod
    def of(cls, values: list[Any]) -> Scalars:
        n = len(values)
        num = np.full(n, np.nan)
        text = np.full(n, None, dtype=object)
        flag = np.full(n, -1, dtype=np.int8)
        for i, v in enumerate(values):
            if isinstance(v, bool):
                flag[i] = v
            elif isinstance(v, (int, float)):
                num[i] = v
            elif isinstance(v, str):
                text[i] = v
        return cls(num, text, flag)

    def concat(self, other: Scalars) -> Scalars:
        return Scalars(
            np.concatenate([self.num, other.num]),
            np.concatenate([self.text, other.text]),
            np.concatenate([self.flag, other.flag]),
        )

    def equals(self, value: Any) -> np.ndarray:
        if isinstance(value, bool):
            return self.flag == int(value)
        if isinstance(value, (int, float)):
            return self.num == value
        return self.text == value

    def starts_with(self, prefix: str) -> np.ndarray:
        return np.fromiter(
            (isinstance(t, str) and t.startswith(prefix) for t in self.text),
            dtype=bool,
            count=len(self.text),
        )

    def contains(self, part: str) -> np.ndarray:
        return np.fromiter(
            (isinstance(t, str) and part in t for t in self.text), dtype=bool, count=len(self.text)
        )


@dataclass
class KeyColumn:
    """One metadata key over rows ``[0, n)``: scalar values plus exploded list elements."""

    present: np.ndarray  # bool
    scalars: Scalars
    element_rows: np.ndarray  # int64: the row of each list element
    elements: Scalars

    @classmethod
    def of(cls, key: str, rows: Sequence[dict[str, Any] | None], first_row: int = 0) -> KeyColumn:
        values = [None if m is None else m.get(key) for m in rows]
        present = np.fromiter((m is not None and key in m for m in rows), bool, len(rows))
        element_rows: list[int] = []
        elements: list[Any] = []
        for i, v in enumerate(values):
            if isinstance(v, list):
                element_rows.extend([first_row + i] * len(v))
                elements.extend(v)
        return cls(
            present,
            Scalars.of(values),
            np.asarray(element_rows, dtype=np.int64),
            Scalars.of(elements),
        )

    def extend(self, other: KeyColumn) -> KeyColumn:
        return KeyColumn(
            np.concatenate([self.present, other.present]),
            self.scalars.concat(other.scalars),
            np.concatenate([self.element_rows, other.element_rows]),
            self.elements.concat(other.elements),
        )

    def any_match(self, predicate: Callable[[Scalars], np.ndarray]) -> np.ndarray:
        mask = predicate(self.scalars)
        hits = predicate(self.elements)
        if hits.any():
            mask = mask.copy()
            mask[self.element_rows[hits]] = True
        return mask


def evaluate(node: dict[str, Any], column: Callable[[str], KeyColumn], n: int) -> np.ndarray:
    """Boolean mask over rows ``[0, n)`` of a validated filter."""
    mask = np.ones(n, dtype=bool)
    for name, value in node.items():
        if name == "$and":
            for child in value:
                mask &= evaluate(child, column, n)
        elif name == "$or":
            either = np.zeros(n, dtype=bool)
            for child in value:
                either |= evaluate(child, column, n)
            mask &= either
        else:
            condition = value if isinstance(value, dict) else {"$eq": value}
            for op, arg in condition.items():
                mask &= _field_mask(column(name), op, arg)
    return mask


def _field_mask(col: KeyColumn, op: str, arg: Any) -> np.ndarray:
    if op == "$eq":
        return col.any_match(lambda s: s.equals(arg))
    if op == "$ne":
        return ~col.any_match(lambda s: s.equals(arg))
    if op == "$in":
        return col.any_match(lambda s: _equals_any(s, arg))
    if op == "$nin":
        return ~col.any_match(lambda s: _equals_any(s, arg))
    if op == "$exists":
        return col.present if arg else ~col.present
    if op == "$startsWith":
        return col.any_match(lambda s: s.starts_with(arg))
    if op == "$contains":
        return col.any_match(lambda s: s.contains(arg))
    compare = COMPARISONS[op]
    with np.errstate(invalid="ignore"):
        return col.any_match(lambda s: compare(s.num, arg))


def _equals_any(scalars: Scalars, values: list[Any]) -> np.ndarray:
    mask = np.zeros(len(scalars.num), dtype=bool)
    for v in values:
        mask |= scalars.equals(v)
    return mask
