"""A service's request contract, read from its botocore model: types, required members and
the model's constraints (length, range, enum, pattern), with AWS's validation messages.

botocore checks only minimums on the client side, and not at all with
``parameter_validation=False``; a server must check the rest. The messages are those of
Smithy-built AWS services such as S3 Vectors::

    1 validation error detected. Value with length 2 at '/vectorBucketName' failed to satisfy
    constraint: Member must have length between 3 and 63, inclusive

Every violation of a request is reported, in the model's member order (depth first), counted
in the message ("2 validation errors detected. …; …") and listed in ``fieldList``. A member of
the wrong JSON type, or one the model does not know, stops the check at once: nothing below it
can be judged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
import numpy as np
from botocore.model import ServiceModel, Shape

from .errors import ValidationException

Bounds = tuple[float | None, float | None]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "float": (int, float),
    "double": (int, float),
}
# Java's Unicode classes, which Python's re lacks, by their nearest re equivalents (valid
# inside a character class too). Other: controls, format characters, surrogates, private use.
_OTHER = r"\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\uf8ff"
_MARKS = r"\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_JAVA_CLASSES = {
    r"\p{L}": r"\w",
    r"\p{N}": r"\d",
    r"\p{Z}": r"\s",
    r"\p{M}": _MARKS,
    r"\p{C}": _OTHER,
    r"\P{C}": f"[^{_OTHER}]",  # used outside a class in the models
}


@cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of the service ``name`` (its botocore client name, e.g. "s3vectors")."""
    return botocore.session.get_session().get_service_model(name)


class Contract:
    """The input rules of one service's operations.

    ``limits`` replaces the model's bounds for shapes an operator may configure (e.g.
    ``{"Dimension": (1, 8192)}``), so the messages always state the limits in force.
    ``patterns`` replaces the model's patterns of shapes that name something vetor spells
    its own way (a model id without Bedrock's ``vendor.`` prefix).
    """

    def __init__(
        self,
        model: ServiceModel,
        limits: Mapping[str, Bounds] | None = None,
        patterns: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.limits = dict(limits or {})
        self.patterns = dict(patterns or {})

    def check(
        self, operation: str, params: dict[str, Any], defaults: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """``params`` as the service should see them — members that are JSON ``null`` left
        out, as absent, at every depth — or a ValidationException naming every rule broken.

        ``defaults`` are required members the caller fills in itself when absent (a Python
        keyword's default), so their absence is not an error.
        """
        shape = self.model.operation_model(operation).input_shape
        if shape is None:
            return params
        found: list[tuple[str, str]] = []
        cleaned = _Walk(self, found).structure(shape, params, "", defaults)
        if found:
            raise violations(found)
        return cleaned

    def bounds(self, shape: Shape) -> Bounds:
        if shape.name in self.limits:
            return self.limits[shape.name]
        return shape.metadata.get("min"), shape.metadata.get("max")


def violations(found: list[tuple[str, str]]) -> ValidationException:
    """One ValidationException for (path, message) pairs, counted as AWS counts them."""
    count = len(found)
    summary = f"{count} validation error{'s' if count > 1 else ''} detected. "
    fields = [{"path": path, "message": message} for path, message in found]
    return ValidationException(summary + "; ".join(m for _, m in found), fields)


def constraint(path: str, rule: str, length: int | None = None, null: bool = False) -> str:
    """AWS's sentence for one broken rule at ``path``."""
    value = "Value null" if null else "Value" if length is None else f"Value with length {length}"
    return f"{value} at '{path}' failed to satisfy constraint: Member {rule}"


class _Walk:
    """One pass over a request, collecting what it breaks."""

    def __init__(self, contract: Contract, found: list[tuple[str, str]]) -> None:
        self.contract, self.found = contract, found

    def value(self, shape: Shape, value: Any, path: str) -> Any:
        """Check ``value``; return it, or a copy without its ``null`` members."""
        kind = shape.type_name
        if kind == "structure":
            if shape.metadata.get("document"):
                return value
            return self.structure(shape, value, path)
        if kind == "list":
            return self.list(shape, value, path)
        if kind == "map":
            self.map(shape, value, path)
        else:
            self.scalar(shape, value, path)
        return value

    def structure(
        self, shape: Shape, value: Any, path: str, defaults: frozenset[str] = frozenset()
    ) -> Any:
        if not isinstance(value, dict):
            raise _wrong_type(path, "structure")
        unknown = value.keys() - shape.members.keys()
        if unknown:
            raise ValidationException(f"Unknown field '{path}/{min(unknown)}' for this operation")
        changed: dict[str, Any] = {}  # member -> its cleaned value (None: leave it out)
        for name, member in shape.members.items():
            item = value.get(name)
            if item is None:
                if name in shape.required_members and name not in defaults:
                    self.add(f"{path}/{name}", "must not be null", null=True)
                if name in value:
                    changed[name] = None
                continue
            checked = self.value(member, item, f"{path}/{name}")
            if checked is not item:
                changed[name] = checked
        if not changed:
            return value
        kept = {k: changed.get(k, v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None}

    def list(self, shape: Shape, value: Any, path: str) -> Any:
        numeric = shape.member.type_name in ("float", "double")
        if numeric and isinstance(value, np.ndarray):
            return value  # a vector: converted and checked as a whole downstream
        if not isinstance(value, list):
            raise _wrong_type(path, "list")
        self.length(shape, len(value), path)
        if numeric:
            return value
        checked = [self.value(shape.member, item, f"{path}/{n}") for n, item in enumerate(value)]
        return value if all(a is b for a, b in zip(checked, value, strict=True)) else checked

    def map(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, "map")
        self.length(shape, len(value), path)
        for key, item in value.items():
            self.scalar(shape.key, key, path)  # a key's violations are reported at the map
            self.value(shape.value, item, f"{path}/{key}")

    def scalar(self, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON's 1e3 is the integer 1000
        allowed = _JSON_TYPES.get(kind)
        if allowed and (
            not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool))
        ):
            raise _wrong_type(path, kind)
        if kind == "string":
            self.length(shape, len(value), path)
            self.enum(shape, value, path)
            self.pattern(shape, value, path)
        elif kind in ("integer", "long", "float", "double"):
            self.range(shape, value, path)

    def length(self, shape: Shape, length: int, path: str) -> None:
        low, high = self.contract.bounds(shape)
        if (low is not None and length < low) or (high is not None and length > high):
            self.add(path, _between("have length ", low, high), length=length)

    def range(self, shape: Shape, number: float, path: str) -> None:
        low, high = self.contract.bounds(shape)
        if (low is not None and number < low) or (high is not None and number > high):
            self.add(path, _between("be ", low, high))

    def enum(self, shape: Shape, value: str, path: str) -> None:
        allowed = shape.metadata.get("enum")
        if allowed and value not in allowed:
            self.add(path, f"must satisfy enum value set: [{', '.join(allowed)}]")

    def pattern(self, shape: Shape, value: str, path: str) -> None:
        pattern = self.contract.patterns.get(shape.name, shape.metadata.get("pattern"))
        if pattern and not _compiled(pattern).search(value):
            self.add(path, f"must satisfy regular expression pattern: {pattern}")

    def add(self, path: str, rule: str, length: int | None = None, null: bool = False) -> None:
        self.found.append((path, constraint(path, rule, length, null)))


def _between(verb: str, low: float | None, high: float | None) -> str:
    if low is None:
        return f"must {verb}less than or equal to {_number(high)}"
    if high is None:
        return f"must {verb}greater than or equal to {_number(low)}"
    return f"must {verb}between {_number(low)} and {_number(high)}, inclusive"


def _number(value: float | None) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    try:
        return re.compile(_END.sub(r"\\Z", pattern))
    except re.error:  # a construct re cannot express: accept rather than fail every request
        return re.compile("")


# An unescaped "$" outside a character class: in AWS's (ECMAScript) patterns it ends the
# string; in Python it also matches before a final newline. "\Z" is the former.
_END = re.compile(r"(?<!\\)\$(?![^\[]*\])")


def _wrong_type(path: str, kind: str) -> ValidationException:
    return ValidationException.field(path or "/", f"Member must be of type {kind}")
