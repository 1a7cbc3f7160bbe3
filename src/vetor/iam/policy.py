"""IAM policy documents: parsed and validated once, then matched many times.

A document is ``{"Version", "Statement": [...]}``; each statement has an ``Effect``, one of
``Action``/``NotAction``, one of ``Resource``/``NotResource``, for resource policies one of
``Principal``/``NotPrincipal``, and optionally a ``Condition``. Wildcards (``*``, ``?``) are
compiled to regular expressions here so that evaluation is a few regex matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import orjson

from ..errors import ValidationException
from .conditions import Condition, parse_conditions, substitute

VERSIONS = ("2012-10-17", "2008-10-17")
MAX_BUCKET_POLICY_BYTES = 20 * 1024  # S3's limit for a bucket policy
Kind = Literal["identity", "resource"]
_FIELDS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
_ACCOUNT_ID = re.compile(r"\A\d{12}\Z")


def invalid(reason: str) -> ValidationException:
    return ValidationException(f"Invalid policy document: {reason}")


@dataclass(frozen=True)
class Principals:
    """Whom a resource-policy statement names: everyone, accounts, or exact ARNs."""

    anyone: bool = False
    accounts: frozenset[str] = frozenset()  # "123456789012": any principal of that account
    arns: frozenset[str] = frozenset()

    def match(self, principal_arn: str | None, account: str | None) -> str | None:
        """How the statement names the caller: "exact", "account", or None (it does not)."""
        if self.anyone:
            return "exact"
        if principal_arn is not None and principal_arn in self.arns:
            return "exact"
        if account is not None and account in self.accounts:
            return "account"
        return None


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: Literal["Allow", "Deny"]
    actions: re.Pattern[str]
    actions_negated: bool
    resources: tuple[str, ...]  # patterns, possibly with ${policy:variables}
    resources_negated: bool
    principals: Principals | None  # resource policies only
    principals_negated: bool
    conditions: tuple[Condition, ...]

    def matches_action(self, action: str) -> bool:
        return bool(self.actions.match(action)) != self.actions_negated

    def matches_resource(self, resource: str, variables: Mapping[str, Any]) -> bool:
        found = any(
            _wildcard(substitute(pattern, variables), False).match(resource)
            for pattern in self.resources
        )
        return found != self.resources_negated


@dataclass(frozen=True)
class Policy:
    """One validated policy document; ``name`` says where it came from (for denials)."""

    statements: tuple[Statement, ...]
    name: str
    text: str


def parse_policy(text: str | Mapping[str, Any], kind: Kind, name: str = "policy") -> Policy:
    """Validate a policy document (a JSON string or an already decoded object)."""
    if isinstance(text, str):
        if kind == "resource" and len(text.encode()) > MAX_BUCKET_POLICY_BYTES:
            raise invalid(f"a bucket policy may be at most {MAX_BUCKET_POLICY_BYTES} bytes")
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise invalid("not valid JSON") from None
    else:
        document, text = dict(text), orjson.dumps(text).decode()
    if not isinstance(document, dict):
        raise invalid("must be a JSON object")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise invalid(f"unknown top-level field {sorted(unknown)[0]!r}")
    if document.get("Version") not in VERSIONS:
        raise invalid(f"Version must be one of {', '.join(VERSIONS)}")
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise invalid("Statement must be an object or a non-empty array of objects")
    statements = tuple(_statement(item, n, kind) for n, item in enumerate(items, 1))
    sids = [s.sid for s in statements if s.sid is not None]
    if len(set(sids)) != len(sids):
        raise invalid("statement ids (Sid) must be unique")
    return Policy(statements, name, text)


def _statement(item: Any, number: int, kind: Kind) -> Statement:
    where = f"statement {number}"
    if not isinstance(item, dict):
        raise invalid(f"{where} must be an object")
    unknown = set(item) - _FIELDS
    if unknown:
        raise invalid(f"{where} has an unknown field {sorted(unknown)[0]!r}")
    sid = item.get("Sid")
    if sid is not None and not (isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9 ]*", sid)):
        raise invalid(f"{where}: Sid must be letters and digits")
    if item.get("Effect") not in ("Allow", "Deny"):
        raise invalid(f"{where}: Effect must be Allow or Deny")
    actions, actions_negated = _one_of(item, "Action", "NotAction", where)
    for action in actions:
        if action != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+", action):
            raise invalid(f"{where}: action {action!r} must be 'service:Action' or '*'")
    resources, resources_negated = _one_of(item, "Resource", "NotResource", where)
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise invalid(f"{where}: resource {resource!r} must be an ARN or '*'")
    principals, principals_negated = _principals(item, kind, where)
    return Statement(
        sid=sid,
        effect=item["Effect"],
        actions=_any_of(tuple(actions), ignore_case=True),
        actions_negated=actions_negated,
        resources=tuple(resources),
        resources_negated=resources_negated,
        principals=principals,
        principals_negated=principals_negated,
        conditions=parse_conditions(item.get("Condition"), where),
    )


def _one_of(item: dict[str, Any], plain: str, negated: str, where: str) -> tuple[list[str], bool]:
    if (plain in item) == (negated in item):
        raise invalid(f"{where} must have exactly one of {plain} and {negated}")
    name = plain if plain in item else negated
    return _strings(item[name], f"{where}: {name}"), name == negated


def _strings(value: Any, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise invalid(f"{where} must be a string or a non-empty array of strings")
    return values


def _principals(item: dict[str, Any], kind: Kind, where: str) -> tuple[Principals | None, bool]:
    present = [name for name in ("Principal", "NotPrincipal") if name in item]
    if kind == "identity":
        if present:
            raise invalid(f"{where}: an identity policy must not name a {present[0]}")
        return None, False
    if len(present) != 1:
        raise invalid(f"{where} must have exactly one of Principal and NotPrincipal")
    value = item[present[0]]
    if value == "*":
        return Principals(anyone=True), present[0] == "NotPrincipal"
    if not isinstance(value, dict) or not value:
        raise invalid(f'{where}: {present[0]} must be "*" or an object such as {{"AWS": ...}}')
    accounts, arns, anyone = set(), set(), False
    for kind_name, names in value.items():
        if kind_name not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise invalid(f"{where}: unknown principal type {kind_name!r}")
        for name in _strings(names, f"{where}: {present[0]}.{kind_name}"):
            if kind_name != "AWS":
                continue  # services and federated users never call vetor
            if name == "*":
                anyone = True
            elif _ACCOUNT_ID.match(name):
                accounts.add(name)
            elif re.fullmatch(r"arn:aws[-a-z]*:iam::\d{12}:root", name):
                accounts.add(name.split(":")[4])
            elif re.fullmatch(r"arn:aws[-a-z]*:(iam|sts)::\d{12}:[^*?]+", name):
                arns.add(name)
            else:
                raise invalid(f"{where}: invalid principal {name!r}")
    found = Principals(anyone, frozenset(accounts), frozenset(arns))
    return found, present[0] == "NotPrincipal"


def _any_of(patterns: tuple[str, ...], ignore_case: bool) -> re.Pattern[str]:
    body = "|".join(_wildcard(p, ignore_case).pattern for p in patterns)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


@lru_cache(maxsize=4096)  # bounded: substituted variables make new patterns
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` any one: the whole string must match."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(rf"\A(?:{body})\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
