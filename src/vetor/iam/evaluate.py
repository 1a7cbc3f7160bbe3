"""Whether a principal may perform an action on a resource: AWS's policy evaluation logic.

For one request, as AWS documents it ("Policy evaluation logic", "Cross-account policy
evaluation logic"):

1. an explicit ``Deny`` in any applicable statement (identity or resource policy) wins;
2. the owning account's root user is allowed everything else;
3. within the resource's account, an ``Allow`` in the principal's identity policies *or* in the
   resource policy naming the principal is enough;
4. across accounts, both are needed: the identity policies (or the caller's own root) allow
   it, and the resource policy names the principal or its account;
5. anything else is an implicit deny.

A resource policy that names an *account* (``"AWS": "123456789012"`` or ``...:root``) grants
to that account, which still has to grant its users through identity policies; so such a
statement alone lets in only that account's root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .policy import Policy, Statement


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: ``arn:aws:iam::<account>:user/<name>`` or the account root."""

    arn: str
    account: str
    user_id: str
    policies: tuple[Policy, ...] = ()

    @property
    def is_root(self) -> bool:
        return self.arn.endswith(":root")

    @property
    def name(self) -> str:
        """The user or role name (``aws:username``), or "root"."""
        return self.arn.rsplit("/", 1)[-1] if "/" in self.arn else "root"

    @property
    def kind(self) -> str:
        """``aws:PrincipalType``: Account, User or AssumedRole."""
        resource = self.arn.split(":", 5)[-1]
        if resource == "root":
            return "Account"
        return {"user": "User", "role": "AssumedRole", "assumed-role": "AssumedRole"}.get(
            resource.split("/", 1)[0], "User"
        )


def root_of(account: str) -> Principal:
    return Principal(f"arn:aws:iam::{account}:root", account, account)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "allowed by ...", "explicit deny in ...", "no statement allows it"

    def __bool__(self) -> bool:
        return self.allowed


def evaluate(
    principal: Principal | None,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    resource_policy: Policy | None = None,
    resource_account: str | None = None,
) -> Decision:
    """The decision for ``principal`` (None: an anonymous caller) doing ``action`` on
    ``resource`` (an ARN) owned by ``resource_account``. ``context`` holds the request's
    condition keys, lower-cased (``aws:sourceip``...)."""
    identity = [] if principal is None else list(principal.policies)
    arn = principal.arn if principal else None
    account = principal.account if principal else None
    identity_hits = _hits(identity, action, resource, context)
    resource_hits = [
        (statement, policy, how)
        for statement, policy in _hits(_some(resource_policy), action, resource, context)
        if (how := _names(statement, arn, account)) is not None
    ]
    for statement, policy in identity_hits + [(s, p) for s, p, _ in resource_hits]:
        if statement.effect == "Deny":
            return Decision(False, f"explicit deny in {_where(statement, policy)}")
    owner = resource_account or account
    if principal is not None and principal.is_root and account == owner:
        return Decision(True, "allowed: the account's root user")
    identity_allow = next(((s, p) for s, p in identity_hits if s.effect == "Allow"), None)
    exact = next(((s, p) for s, p, how in resource_hits if how == "exact"), None)
    delegated = next(((s, p) for s, p, how in resource_hits if how == "account"), None)
    if account == owner:
        granted = identity_allow or exact
    elif identity_allow is not None or (principal is not None and principal.is_root):
        granted = exact or delegated
    else:
        granted = None
    if granted is None:
        return Decision(False, "implicit deny: no statement allows it")
    return Decision(True, f"allowed by {_where(*granted)}")


def _some(policy: Policy | None) -> Sequence[Policy]:
    return () if policy is None else (policy,)


def _hits(
    policies: Sequence[Policy], action: str, resource: str, context: Mapping[str, Any]
) -> list[tuple[Statement, Policy]]:
    """The statements whose action, resource and conditions all apply to this request."""
    return [
        (statement, policy)
        for policy in policies
        for statement in policy.statements
        if statement.matches_action(action)
        and statement.matches_resource(resource, context)
        and all(condition.holds(context) for condition in statement.conditions)
    ]


def _names(statement: Statement, arn: str | None, account: str | None) -> str | None:
    """How a resource-policy statement's Principal / NotPrincipal names the caller."""
    principals = statement.principals
    if principals is None:
        return None
    if arn is None:  # anonymous: only "Principal": "*" applies
        anyone = principals.anyone and not statement.principals_negated
        return "exact" if anyone else None
    how = principals.match(arn, account)
    if statement.principals_negated:
        # NotPrincipal naming an account exempts only its root, not the account's users.
        exempt = how == "exact" or (how == "account" and arn.endswith(":root"))
        return None if exempt else "exact"
    return how


def _where(statement: Statement, policy: Policy) -> str:
    number = policy.statements.index(statement) + 1
    label = f"statement {statement.sid!r}" if statement.sid else f"statement {number}"
    return f"{label} of {policy.name}"
