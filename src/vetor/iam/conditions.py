"""IAM condition blocks: ``{"StringEquals": {"aws:username": ["bob", "ann"]}, ...}``.

AWS's rules, as its policy reference documents them:

* every operator of a block must hold, and every key under an operator (AND); any one of a
  key's values may match (OR) — for a negated operator (``StringNotEquals``...) none may;
* a key the request does not carry makes the condition false, except for negated operators
  (true), ``...IfExists`` operators (true) and ``Null`` (which tests exactly that);
* ``ForAnyValue:`` / ``ForAllValues:`` compare each of a multi-valued key's values (such as
  ``aws:TagKeys``): at least one / every one must match (``ForAllValues`` holds for a key the
  request lacks);
* condition key names are case-insensitive, values case-sensitive unless the operator says.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import ValidationException

Compare = Callable[[Any, str], bool]


def _string_like(value: Any, pattern: str) -> bool:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return isinstance(value, str) and re.fullmatch(body, value, re.DOTALL) is not None


def _number(value: Any) -> float | None:
    try:
        return float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    text = str(value)
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ordered(kind: Callable[[Any], Any], test: Callable[[Any, Any], bool]) -> Compare:
    def compare(value: Any, wanted: str) -> bool:
        left, right = kind(value), kind(wanted)
        return left is not None and right is not None and test(left, right)

    return compare


def _in_network(value: Any, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(str(value)) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


def _bool(value: Any, wanted: str) -> bool:
    return str(value).lower() == str(wanted).lower()


_EQ, _LT, _LE = (lambda a, b: a == b), (lambda a, b: a < b), (lambda a, b: a <= b)
_GT, _GE = (lambda a, b: a > b), (lambda a, b: a >= b)
# Operator -> (comparison, negated). ARNs compare like strings, with wildcards for Like.
OPERATORS: dict[str, tuple[Compare, bool]] = {
    "StringEquals": (lambda v, w: isinstance(v, str) and v == w, False),
    "StringNotEquals": (lambda v, w: isinstance(v, str) and v == w, True),
    "StringEqualsIgnoreCase": (lambda v, w: isinstance(v, str) and v.lower() == w.lower(), False),
    "StringNotEqualsIgnoreCase": (
        lambda v, w: isinstance(v, str) and v.lower() == w.lower(),
        True,
    ),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_like, False),
    "ArnLike": (_string_like, False),
    "ArnNotEquals": (_string_like, True),
    "ArnNotLike": (_string_like, True),
    "NumericEquals": (_ordered(_number, _EQ), False),
    "NumericNotEquals": (_ordered(_number, _EQ), True),
    "NumericLessThan": (_ordered(_number, _LT), False),
    "NumericLessThanEquals": (_ordered(_number, _LE), False),
    "NumericGreaterThan": (_ordered(_number, _GT), False),
    "NumericGreaterThanEquals": (_ordered(_number, _GE), False),
    "DateEquals": (_ordered(_date, _EQ), False),
    "DateNotEquals": (_ordered(_date, _EQ), True),
    "DateLessThan": (_ordered(_date, _LT), False),
    "DateLessThanEquals": (_ordered(_date, _LE), False),
    "DateGreaterThan": (_ordered(_date, _GT), False),
    "DateGreaterThanEquals": (_ordered(_date, _GE), False),
    "Bool": (_bool, False),
    "BinaryEquals": (lambda v, w: isinstance(v, str) and v == w, False),
    "IpAddress": (_in_network, False),
    "NotIpAddress": (_in_network, True),
}


@dataclass(frozen=True)
class Condition:
    """One operator applied to one key, with its policy values."""

    operator: str
    key: str  # lower-cased: condition keys are case-insensitive
    values: tuple[str, ...]
    qualifier: str | None  # "ForAnyValue", "ForAllValues" or None
    if_exists: bool

    def holds(self, context: Mapping[str, Any]) -> bool:
        present = self.key in context and context[self.key] is not None
        if self.operator == "Null":  # "true": the key must be absent
            return any(_bool(not present, v) for v in self.values)
        compare, negated = OPERATORS[self.operator]
        if not present:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            return negated and self.qualifier is None
        value = context[self.key]
        values = value if isinstance(value, list | tuple | set | frozenset) else [value]

        wanted_values = [substitute(v, context) for v in self.values]

        def one(item: Any) -> bool:
            hit = any(compare(item, wanted) for wanted in wanted_values)
            return not hit if negated else hit

        if self.qualifier == "ForAllValues":
            return all(one(item) for item in values)
        return any(one(item) for item in values) if values else False


def parse_conditions(block: Any, where: str) -> tuple[Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise _invalid(f"{where}: Condition must be an object")
    conditions = []
    for name, keys in block.items():
        qualifier, _, operator = name.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise _invalid(f"{where}: unknown condition qualifier {qualifier!r}")
        if_exists = operator.endswith("IfExists") and operator != "IfExists"
        base = operator.removesuffix("IfExists") if if_exists else operator
        if base not in OPERATORS and base != "Null":
            raise _invalid(f"{where}: unknown condition operator {name!r}")
        if not isinstance(keys, dict) or not keys:
            raise _invalid(f"{where}: {name} must map condition keys to values")
        for key, raw in keys.items():
            values = raw if isinstance(raw, list) else [raw]
            if not values or not all(isinstance(v, str | bool | int | float) for v in values):
                raise _invalid(f"{where}: {name}.{key} needs a value or an array of values")
            strings = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            for value in strings:
                if "${" not in value and not _valid(base, value):
                    raise _invalid(f"{where}: {name}.{key} cannot compare with {value!r}")
            conditions.append(Condition(base, key.lower(), strings, qualifier or None, if_exists))
    return tuple(conditions)


def _valid(operator: str, value: str) -> bool:
    """A policy value the operator can compare with (else a Deny would silently never apply)."""
    if operator.startswith("Numeric"):
        return _number(value) is not None
    if operator.startswith("Date"):
        return _date(value) is not None
    if operator.endswith("IpAddress"):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
    if operator in ("Bool", "Null"):
        return value.lower() in ("true", "false")
    return True


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def substitute(pattern: str, variables: Mapping[str, Any]) -> str:
    """Policy variables (``${aws:username}``) in a resource or condition value; an unknown one
    matches nothing (NUL is in no ARN or value)."""
    if "${" not in pattern:
        return pattern

    def value(match: re.Match[str]) -> str:
        try:
            found = variables.get(match.group(1).lower())
        except KeyError:
            found = None
        return found if isinstance(found, str) else "\0"

    return _VARIABLE.sub(value, pattern)


def _invalid(reason: str) -> ValidationException:
    return ValidationException(f"Invalid policy document: {reason}")
