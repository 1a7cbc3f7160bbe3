"""IAM policy evaluation against a table of cases written from AWS's documentation.

Each row: who asks, their identity policy statements, the bucket policy statements, the
action, the resource, condition-key values, and what AWS decides. The rules exercised, from
the IAM User Guide ("Policy evaluation logic", "Cross-account policy evaluation logic", "IAM
JSON policy elements": Action, NotAction, Resource, NotResource, Principal, NotPrincipal,
Condition operators, policy variables):

* default deny; an explicit deny in any policy overrides any allow;
* in the resource's account an allow in *either* the identity or the resource policy suffices;
  a resource policy naming the *account* delegates to it (its users still need an identity
  allow); the account root needs no policy;
* across accounts *both* the identity policy and the resource policy must allow;
* actions match case-insensitively with ``*``/``?``; resources case-sensitively;
* condition operators, ``...IfExists``, ``Null``, ``ForAnyValue``/``ForAllValues``, missing
  keys (false, except for negated operators), several values (OR), keys and operators (AND).
"""

from __future__ import annotations

from typing import Any

import pytest

from vetor.errors import ValidationException
from vetor.iam import Principal, evaluate, parse_policy

A, B = "111122223333", "444455556666"  # the resource's account, another account
BUCKET = f"arn:aws:s3vectors:us-east-1:{A}:bucket/docs"
INDEX = f"{BUCKET}/index/main"
USERS = {
    "alice": f"arn:aws:iam::{A}:user/alice",
    "bob": f"arn:aws:iam::{A}:user/bob",
    "rootA": f"arn:aws:iam::{A}:root",
    "carol": f"arn:aws:iam::{B}:user/carol",
    "rootB": f"arn:aws:iam::{B}:root",
}
Q, P, D = "s3vectors:QueryVectors", "s3vectors:PutVectors", "s3vectors:DeleteIndex"


def allow(action: Any = "s3vectors:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "s3vectors:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def to(who: Any, statement: dict[str, Any]) -> dict[str, Any]:
    """A resource-policy statement for ``who`` (an ARN, an account id, "*", {"AWS": ...})."""
    principal = who if who == "*" or isinstance(who, dict) else {"AWS": who}
    return {"Principal": principal, **statement}


def when(block: dict[str, Any], statement: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**(statement or allow()), "Condition": block}


# (id, who, identity statements, bucket policy statements, action, resource, context, allowed)
CASES: list[tuple[str, str, list[Any], list[Any] | None, str, str, dict[str, Any], bool]] = [
    # --- default deny ----------------------------------------------------------------------
    ("no policy: user denied query", "alice", [], None, Q, INDEX, {}, False),
    ("no policy: user denied put", "bob", [], None, P, INDEX, {}, False),
    ("no policy: other account denied", "carol", [], None, Q, INDEX, {}, False),
    ("no policy: other root denied", "rootB", [], None, Q, INDEX, {}, False),
    ("empty bucket policy statement for someone else", "bob", [], [to(USERS["alice"], allow())],
     Q, INDEX, {}, False),
    # --- the account root ------------------------------------------------------------------
    ("owner root needs no policy", "rootA", [], None, D, INDEX, {}, True),
    ("owner root: bucket policy deny applies", "rootA", [], [to("*", deny(D))], D, INDEX, {},
     False),
    ("owner root: allowed what the deny does not name", "rootA", [], [to("*", deny(D))], Q,
     INDEX, {}, True),
    # --- Action ----------------------------------------------------------------------------
    ("exact action", "alice", [allow(Q)], None, Q, INDEX, {}, True),
    ("exact action, other action", "alice", [allow(Q)], None, P, INDEX, {}, False),
    ("service wildcard", "alice", [allow("s3vectors:*")], None, D, INDEX, {}, True),
    ("prefix wildcard Query*", "alice", [allow("s3vectors:Query*")], None, Q, INDEX, {}, True),
    ("prefix wildcard Query* vs Put", "alice", [allow("s3vectors:Query*")], None, P, INDEX, {},
     False),
    ("? wildcard", "alice", [allow("s3vectors:?ueryVectors")], None, Q, INDEX, {}, True),
    ("? is one character", "alice", [allow("s3vectors:?Vectors")], None, Q, INDEX, {}, False),
    ("action case-insensitive", "alice", [allow("S3VECTORS:queryvectors")], None, Q, INDEX, {},
     True),
    ("bare * action", "alice", [allow("*")], None, P, INDEX, {}, True),
    ("other service's action", "alice", [allow("bedrock:*")], None, Q, INDEX, {}, False),
    ("action list, second matches", "alice", [allow([P, Q])], None, Q, INDEX, {}, True),
    ("action list, none matches", "alice", [allow([P, D])], None, Q, INDEX, {}, False),
    # --- NotAction -------------------------------------------------------------------------
    ("NotAction allows the rest", "alice",
     [{"Effect": "Allow", "NotAction": "s3vectors:Delete*", "Resource": "*"}], None, Q, INDEX,
     {}, True),
    ("NotAction excludes its own", "alice",
     [{"Effect": "Allow", "NotAction": "s3vectors:Delete*", "Resource": "*"}], None, D, INDEX,
     {}, False),
    ("Deny NotAction denies the rest", "alice",
     [allow(), {"Effect": "Deny", "NotAction": Q, "Resource": "*"}], None, P, INDEX, {}, False),
    ("Deny NotAction spares its own", "alice",
     [allow(), {"Effect": "Deny", "NotAction": Q, "Resource": "*"}], None, Q, INDEX, {}, True),
    # --- Resource --------------------------------------------------------------------------
    ("exact index ARN", "alice", [allow(Q, INDEX)], None, Q, INDEX, {}, True),
    ("bucket ARN does not cover its index", "alice", [allow(Q, BUCKET)], None, Q, INDEX, {},
     False),
    ("bucket/docs/* covers the index", "alice", [allow(Q, f"{BUCKET}/*")], None, Q, INDEX, {},
     True),
    ("bucket/docs/* not the bucket itself", "alice",
     [allow("s3vectors:GetVectorBucket", f"{BUCKET}/*")], None, "s3vectors:GetVectorBucket",
     BUCKET, {}, False),
    ("? in resource", "alice", [allow(Q, INDEX.replace("main", "mai?"))], None, Q, INDEX, {},
     True),
    ("resource case-sensitive", "alice", [allow(Q, INDEX.replace("main", "MAIN"))], None, Q,
     INDEX, {}, False),
    ("resource * in the account part", "alice",
     [allow(Q, "arn:aws:s3vectors:*:*:bucket/docs/index/*")], None, Q, INDEX, {}, True),
    ("other bucket", "alice", [allow(Q, INDEX.replace("docs", "logs"))], None, Q, INDEX, {},
     False),
    ("resource list", "alice", [allow(Q, [BUCKET, INDEX])], None, Q, INDEX, {}, True),
    # --- NotResource -----------------------------------------------------------------------
    ("NotResource allows elsewhere", "alice",
     [{"Effect": "Allow", "Action": Q, "NotResource": f"{BUCKET}/index/secret"}], None, Q,
     INDEX, {}, True),
    ("NotResource excludes its own", "alice",
     [{"Effect": "Allow", "Action": Q, "NotResource": INDEX}], None, Q, INDEX, {}, False),
    ("Deny NotResource denies elsewhere", "alice",
     [allow(), {"Effect": "Deny", "Action": "*", "NotResource": f"{BUCKET}/index/public"}],
     None, Q, INDEX, {}, False),
    # --- explicit deny wins ----------------------------------------------------------------
    ("identity deny beats identity allow", "alice", [allow(), deny(Q)], None, Q, INDEX, {},
     False),
    ("identity deny of another action", "alice", [allow(), deny(P)], None, Q, INDEX, {}, True),
    ("bucket deny beats identity allow", "alice", [allow()], [to(USERS["alice"], deny(Q))], Q,
     INDEX, {}, False),
    ("identity deny beats bucket allow", "alice", [deny(Q)], [to(USERS["alice"], allow(Q))], Q,
     INDEX, {}, False),
    ("bucket deny to everyone", "alice", [allow()], [to("*", deny())], Q, INDEX, {}, False),
    ("bucket deny and allow in one policy", "bob", [],
     [to(USERS["bob"], allow()), to(USERS["bob"], deny(P))], P, INDEX, {}, False),
    ("bucket deny to someone else", "alice", [allow()], [to(USERS["bob"], deny())], Q, INDEX,
     {}, True),
    ("deny with wildcard action", "alice", [allow(), deny("s3vectors:*Vectors")], None, Q,
     INDEX, {}, False),
    # --- same account: either policy suffices ----------------------------------------------
    ("bucket policy alone (exact principal)", "bob", [], [to(USERS["bob"], allow(Q, INDEX))], Q,
     INDEX, {}, True),
    ("bucket policy alone, other action", "bob", [], [to(USERS["bob"], allow(Q, INDEX))], P,
     INDEX, {}, False),
    ("bucket policy Principal *", "bob", [], [to("*", allow(Q))], Q, INDEX, {}, True),
    ("bucket policy AWS *", "bob", [], [to({"AWS": "*"}, allow(Q))], Q, INDEX, {}, True),
    ("bucket policy names own account: user still needs identity", "bob", [],
     [to(A, allow(Q))], Q, INDEX, {}, False),
    ("bucket policy names own account root ARN: user still needs identity", "bob", [],
     [to(f"arn:aws:iam::{A}:root", allow(Q))], Q, INDEX, {}, False),
    ("names own account, user has identity allow", "bob", [allow(Q)], [to(A, allow(Q))], Q,
     INDEX, {}, True),
    ("identity policy alone", "bob", [allow(Q)], [to(USERS["alice"], allow())], Q, INDEX, {},
     True),
    ("bucket policy for alice does not serve bob", "bob", [], [to(USERS["alice"], allow())], Q,
     INDEX, {}, False),
    ("bucket policy principal list", "bob", [], [to({"AWS": [USERS["alice"], USERS["bob"]]},
     allow(Q))], Q, INDEX, {}, True),
    ("bucket policy resource mismatch", "bob", [], [to(USERS["bob"], allow(Q, BUCKET))], Q,
     INDEX, {}, False),
    # --- across accounts: both must allow --------------------------------------------------
    ("cross: identity allow only", "carol", [allow(Q)], None, Q, INDEX, {}, False),
    ("cross: bucket allow only", "carol", [], [to(USERS["carol"], allow(Q))], Q, INDEX, {},
     False),
    ("cross: both allow", "carol", [allow(Q)], [to(USERS["carol"], allow(Q))], Q, INDEX, {},
     True),
    ("cross: bucket names the account, identity allows", "carol", [allow(Q)], [to(B, allow(Q))],
     Q, INDEX, {}, True),
    ("cross: bucket names the account root ARN", "carol", [allow(Q)],
     [to(f"arn:aws:iam::{B}:root", allow(Q))], Q, INDEX, {}, True),
    ("cross: bucket names the account, no identity allow", "carol", [], [to(B, allow(Q))], Q,
     INDEX, {}, False),
    ("cross: other root with bucket allow to its account", "rootB", [], [to(B, allow(Q))], Q,
     INDEX, {}, True),
    ("cross: other root without bucket policy", "rootB", [], None, Q, INDEX, {}, False),
    ("cross: both allow but different actions", "carol", [allow(P)],
     [to(USERS["carol"], allow(Q))], Q, INDEX, {}, False),
    ("cross: explicit identity deny", "carol", [allow(), deny(Q)], [to(B, allow())], Q, INDEX,
     {}, False),
    ("cross: Principal * plus identity allow", "carol", [allow(Q)], [to("*", allow(Q))], Q,
     INDEX, {}, True),
    ("cross: bucket allow to a different account", "carol", [allow(Q)],
     [to("999988887777", allow(Q))], Q, INDEX, {}, False),
    # --- NotPrincipal ----------------------------------------------------------------------
    ("NotPrincipal deny spares the named", "alice", [allow()],
     [{"NotPrincipal": {"AWS": USERS["alice"]}, **deny()}], Q, INDEX, {}, True),
    ("NotPrincipal deny hits the others", "bob", [allow()],
     [{"NotPrincipal": {"AWS": USERS["alice"]}, **deny()}], Q, INDEX, {}, False),
    ("NotPrincipal naming an account exempts its root only: its users are denied", "carol",
     [allow()], [to("*", allow()), {"NotPrincipal": {"AWS": f"arn:aws:iam::{B}:root"}, **deny()}],
     Q, INDEX, {}, False),
    ("NotPrincipal naming an account exempts its root", "rootB", [],
     [to("*", allow()), {"NotPrincipal": {"AWS": f"arn:aws:iam::{B}:root"}, **deny()}],
     Q, INDEX, {}, True),
    # --- conditions: strings -----------------------------------------------------------------
    ("StringEquals username", "alice", [when({"StringEquals": {"aws:username": "alice"}})],
     None, Q, INDEX, {}, True),
    ("StringEquals username, other user", "bob",
     [when({"StringEquals": {"aws:username": "alice"}})], None, Q, INDEX, {}, False),
    ("StringEquals values are OR", "bob",
     [when({"StringEquals": {"aws:username": ["alice", "bob"]}})], None, Q, INDEX, {}, True),
    ("StringEquals is case-sensitive", "alice",
     [when({"StringEquals": {"aws:username": "ALICE"}})], None, Q, INDEX, {}, False),
    ("StringEqualsIgnoreCase", "alice",
     [when({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}})], None, Q, INDEX, {}, True),
    ("condition key names are case-insensitive", "alice",
     [when({"StringEquals": {"AWS:UserName": "alice"}})], None, Q, INDEX, {}, True),
    ("StringNotEquals", "bob", [when({"StringNotEquals": {"aws:username": "alice"}})], None, Q,
     INDEX, {}, True),
    ("StringNotEquals, equal", "alice", [when({"StringNotEquals": {"aws:username": "alice"}})],
     None, Q, INDEX, {}, False),
    ("StringNotEquals several values: none may match", "bob",
     [when({"StringNotEquals": {"aws:username": ["alice", "bob"]}})], None, Q, INDEX, {},
     False),
    ("StringLike", "alice", [when({"StringLike": {"aws:username": "al*"}})], None, Q, INDEX, {},
     True),
    ("StringLike ?", "alice", [when({"StringLike": {"aws:username": "alic?"}})], None, Q, INDEX,
     {}, True),
    ("StringNotLike", "alice", [when({"StringNotLike": {"aws:username": "al*"}})], None, Q,
     INDEX, {}, False),
    ("missing key: positive operator is false", "rootB",
     [], [to(B, when({"StringEquals": {"aws:username": "x"}}, allow(Q)))], Q, INDEX, {}, False),
    ("missing key: negated operator is true", "alice",
     [when({"StringNotEquals": {"aws:resourcetag/team": "red"}})], None, Q, INDEX, {}, True),
    ("missing key: IfExists is true", "alice",
     [when({"StringEqualsIfExists": {"aws:resourcetag/team": "red"}})], None, Q, INDEX, {},
     True),
    ("present key: IfExists compares", "alice",
     [when({"StringEqualsIfExists": {"aws:resourcetag/team": "red"}})], None, Q, INDEX,
     {"aws:resourcetag/team": "blue"}, False),
    # --- conditions: ARNs, IPs, booleans, numbers, dates, Null -------------------------------
    ("ArnLike PrincipalArn", "alice",
     [when({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{A}:user/*"}})], None, Q, INDEX, {},
     True),
    ("ArnEquals PrincipalArn, other", "bob",
     [when({"ArnEquals": {"aws:PrincipalArn": USERS["alice"]}})], None, Q, INDEX, {}, False),
    ("ArnNotLike", "alice",
     [when({"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{B}:*"}})], None, Q, INDEX, {},
     True),
    ("IpAddress inside", "alice", [when({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})], None,
     Q, INDEX, {}, True),
    ("IpAddress outside", "alice", [when({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], None,
     Q, INDEX, {}, False),
    ("IpAddress single address", "alice", [when({"IpAddress": {"aws:SourceIp": "127.0.0.1"}})],
     None, Q, INDEX, {}, True),
    ("IpAddress list is OR", "alice",
     [when({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.0/8"]}})], None, Q, INDEX,
     {}, True),
    ("NotIpAddress deny from outside", "alice",
     [allow(), when({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, deny())], None, Q, INDEX,
     {}, False),
    ("NotIpAddress deny spares inside", "alice",
     [allow(), when({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, deny())], None, Q, INDEX,
     {}, True),
    ("IPv6 source", "alice", [when({"IpAddress": {"aws:SourceIp": "::1/128"}})], None, Q, INDEX,
     {"aws:sourceip": "::1"}, True),
    ("Bool SecureTransport false denies", "alice",
     [allow(), when({"Bool": {"aws:SecureTransport": "false"}}, deny())], None, Q, INDEX, {},
     False),
    ("Bool SecureTransport over TLS", "alice",
     [allow(), when({"Bool": {"aws:SecureTransport": "false"}}, deny())], None, Q, INDEX,
     {"aws:securetransport": "true"}, True),
    ("Bool with a JSON boolean", "alice", [when({"Bool": {"aws:SecureTransport": True}})], None,
     Q, INDEX, {"aws:securetransport": "true"}, True),
    ("NumericLessThan epoch", "alice",
     [when({"NumericLessThan": {"aws:EpochTime": "99999999999"}})], None, Q, INDEX, {}, True),
    ("NumericGreaterThan epoch", "alice",
     [when({"NumericGreaterThan": {"aws:EpochTime": "99999999999"}})], None, Q, INDEX, {},
     False),
    ("NumericEquals", "alice", [when({"NumericEquals": {"vetor:n": "5"}})], None, Q, INDEX,
     {"vetor:n": "5.0"}, True),
    ("NumericLessThanEquals", "alice", [when({"NumericLessThanEquals": {"vetor:n": "5"}})],
     None, Q, INDEX, {"vetor:n": "5"}, True),
    ("Numeric on a non-number is false", "alice", [when({"NumericEquals": {"vetor:n": "5"}})],
     None, Q, INDEX, {"vetor:n": "five"}, False),
    ("DateLessThan in the future", "alice",
     [when({"DateLessThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}})], None, Q, INDEX, {},
     True),
    ("DateGreaterThan in the future", "alice",
     [when({"DateGreaterThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}})], None, Q, INDEX,
     {}, False),
    ("DateGreaterThanEquals past epoch seconds", "alice",
     [when({"DateGreaterThanEquals": {"aws:CurrentTime": "946684800"}})], None, Q, INDEX, {},
     True),
    ("Null true: key absent", "alice", [when({"Null": {"aws:resourcetag/team": "true"}})], None,
     Q, INDEX, {}, True),
    ("Null true: key present", "alice", [when({"Null": {"aws:resourcetag/team": "true"}})],
     None, Q, INDEX, {"aws:resourcetag/team": "red"}, False),
    ("Null false: key present", "alice", [when({"Null": {"aws:resourcetag/team": "false"}})],
     None, Q, INDEX, {"aws:resourcetag/team": "red"}, True),
    # --- conditions: combining, tags, multi-valued keys --------------------------------------
    ("two keys are AND (both hold)", "alice",
     [when({"StringEquals": {"aws:username": "alice", "aws:PrincipalType": "User"}})], None, Q,
     INDEX, {}, True),
    ("two keys are AND (one fails)", "alice",
     [when({"StringEquals": {"aws:username": "alice", "aws:PrincipalType": "Account"}})], None,
     Q, INDEX, {}, False),
    ("two operators are AND", "alice",
     [when({"StringEquals": {"aws:username": "alice"},
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], None, Q, INDEX, {}, False),
    ("ResourceTag matches", "alice", [when({"StringEquals": {"aws:ResourceTag/team": "red"}})],
     None, Q, INDEX, {"aws:resourcetag/team": "red"}, True),
    ("ResourceTag differs", "alice", [when({"StringEquals": {"aws:ResourceTag/team": "red"}})],
     None, Q, INDEX, {"aws:resourcetag/team": "blue"}, False),
    ("RequestTag", "alice", [when({"StringEquals": {"aws:RequestTag/env": "prod"}})], None,
     "s3vectors:TagResource", INDEX, {"aws:requesttag/env": "prod"}, True),
    ("ForAllValues TagKeys within the set", "alice",
     [when({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}})], None,
     "s3vectors:TagResource", INDEX, {"aws:tagkeys": ["env"]}, True),
    ("ForAllValues TagKeys outside the set", "alice",
     [when({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}})], None,
     "s3vectors:TagResource", INDEX, {"aws:tagkeys": ["env", "cost"]}, False),
    ("ForAllValues with the key absent holds", "alice",
     [when({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}})], None, Q, INDEX, {}, True),
    ("ForAnyValue TagKeys one matches", "alice",
     [when({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}})], None,
     "s3vectors:TagResource", INDEX, {"aws:tagkeys": ["env", "team"]}, True),
    ("ForAnyValue TagKeys none matches", "alice",
     [when({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}})], None,
     "s3vectors:TagResource", INDEX, {"aws:tagkeys": ["env"]}, False),
    ("ForAnyValue with the key absent fails", "alice",
     [when({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}})], None, Q, INDEX, {},
     False),
    ("condition on a bucket-policy statement", "bob", [],
     [to(USERS["bob"], when({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, allow(Q)))], Q,
     INDEX, {}, True),
    ("condition on a bucket-policy deny", "alice", [allow()],
     [to("*", when({"StringNotEquals": {"aws:PrincipalAccount": A}}, deny()))], Q, INDEX, {},
     True),
    ("account-guard deny hits other accounts", "carol", [allow()],
     [to("*", allow()), to("*", when({"StringNotEquals": {"aws:PrincipalAccount": A}}, deny()))],
     Q, INDEX, {}, False),
    # --- policy variables --------------------------------------------------------------------
    ("${aws:username} in Resource", "alice",
     [allow(Q, f"arn:aws:s3vectors:us-east-1:{A}:bucket/docs/index/${{aws:username}}")], None,
     Q, f"{BUCKET}/index/alice", {}, True),
    ("${aws:username} in Resource, someone else's", "alice",
     [allow(Q, f"arn:aws:s3vectors:us-east-1:{A}:bucket/docs/index/${{aws:username}}")], None,
     Q, f"{BUCKET}/index/bob", {}, False),
    ("${aws:username} in a condition value", "alice",
     [when({"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{A}:user/${{aws:username}}"}})],
     None, Q, INDEX, {}, True),
    ("${aws:username} in a condition value, not matching", "bob",
     [when({"StringEquals": {"aws:username": "alice-${aws:username}"}})], None, Q, INDEX, {},
     False),
    ("unknown variable matches nothing", "alice",
     [allow(Q, f"{BUCKET}/index/${{aws:nosuchkey}}")], None, Q, INDEX, {}, False),
    # --- Bedrock actions on knowledge bases ----------------------------------------------------
    ("bedrock Retrieve on its knowledge base", "alice",
     [allow("bedrock:Retrieve", f"arn:aws:bedrock:us-east-1:{A}:knowledge-base/KB1")], None,
     "bedrock:Retrieve", f"arn:aws:bedrock:us-east-1:{A}:knowledge-base/KB1", {}, True),
    ("bedrock Retrieve on another knowledge base", "alice",
     [allow("bedrock:Retrieve", f"arn:aws:bedrock:us-east-1:{A}:knowledge-base/KB1")], None,
     "bedrock:Retrieve", f"arn:aws:bedrock:us-east-1:{A}:knowledge-base/KB2", {}, False),
    ("s3vectors:* does not grant bedrock", "alice", [allow("s3vectors:*")], None,
     "bedrock:RetrieveAndGenerate", "*", {}, False),
]  # fmt: skip


def principal(who: str, statements: list[Any]) -> Principal:
    arn = USERS[who]
    policies = ()
    if statements:
        document = {"Version": "2012-10-17", "Statement": statements}
        policies = (parse_policy(document, "identity", f"identity policy of {who}"),)
    return Principal(arn, arn.split(":")[4], who, policies)


def context(who: str, overrides: dict[str, Any]) -> dict[str, Any]:
    arn = USERS[who]
    values = {
        "aws:sourceip": "127.0.0.1",
        "aws:securetransport": "false",
        "aws:principalarn": arn,
        "aws:principalaccount": arn.split(":")[4],
        "aws:principaltype": "Account" if arn.endswith(":root") else "User",
        "aws:currenttime": "2026-12-07T12:00:00Z",
        "aws:epochtime": "1796644800",
    }
    if not arn.endswith(":root"):
        values["aws:username"] = arn.rsplit("/", 1)[-1]
    return {**values, **overrides}


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 100
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("who", "identity", "bucket", "action", "resource", "keys", "allowed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_evaluation_agrees_with_aws(
    who: str,
    identity: list[Any],
    bucket: list[Any] | None,
    action: str,
    resource: str,
    keys: dict[str, Any],
    allowed: bool,
) -> None:
    resource_policy = None
    if bucket is not None:
        document = {"Version": "2012-10-17", "Statement": bucket}
        resource_policy = parse_policy(document, "resource", "the bucket policy")
    decision = evaluate(
        principal(who, identity), action, resource, context(who, keys), resource_policy, A
    )
    assert decision.allowed is allowed, decision.reason


@pytest.mark.parametrize(
    ("document", "kind", "message"),
    [
        ("{", "resource", "not valid JSON"),
        ("[]", "resource", "must be a JSON object"),
        ('{"Statement": []}', "resource", "Version must be"),
        ('{"Version": "2012-10-17"}', "resource", "Statement must be"),
        ('{"Version": "2012-10-17", "Statement": []}', "resource", "Statement must be"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow"}}', "identity",
         "exactly one of Action and NotAction"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Maybe", "Action": "*", '
         '"Resource": "*"}}', "identity", "Effect must be Allow or Deny"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*"}}',
         "identity", "exactly one of Resource and NotResource"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", '
         '"Resource": "*"}}', "resource", "exactly one of Principal and NotPrincipal"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", '
         '"Action": "*", "Resource": "*"}}', "identity", "must not name a Principal"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "QueryVectors", '
         '"Resource": "*"}}', "identity", "must be 'service:Action'"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", '
         '"Resource": "bucket/x"}}', "identity", "must be an ARN"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", '
         '"Resource": "*", "Condition": {"StringSorta": {"a": "b"}}}}', "identity",
         "unknown condition operator"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", '
         '"Resource": "*", "Colour": "red"}}', "identity", "unknown field"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", '
         '"Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0/8x"}}}}',
         "identity", "cannot compare"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", '
         '"Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}}',
         "identity", "cannot compare"),
        ('{"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "*",'
         ' "Resource": "*"}, {"Sid": "A", "Effect": "Deny", "Action": "*", "Resource": "*"}]}',
         "identity", "must be unique"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": '
         '"bob"}, "Action": "*", "Resource": "*"}}', "resource", "invalid principal"),
        ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", '
         '"Action": "*", "Resource": "' + "x" * 21000 + '"}}', "resource", "at most 20480 bytes"),
    ],
)  # fmt: skip
def test_malformed_policies_are_refused(document: str, kind: Any, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        parse_policy(document, kind)


def test_each_operation_names_its_actions_and_canonical_resources() -> None:
    from vetor.server.permissions import Permissions
    from vetor.settings import Settings

    needs = Permissions(Settings()).needs
    index = "arn:aws:s3vectors:us-east-1:000000000000:bucket/docs/index/main"

    def named(service: str, operation: str, **params: Any) -> list[tuple[str, str]]:
        return [(n.action, n.resource) for n in needs(service, operation, params)]

    # An ARN is parsed, never taken as given: another partition names the same index.
    assert named("s3vectors", "DeleteIndex", indexArn=index.replace("arn:aws:", "arn:aws-cn:")) == [
        ("s3vectors:DeleteIndex", index)
    ]
    bucket_arn = index.split("/index/")[0]
    assert named("s3vectors", "CreateIndex", vectorBucketArn=bucket_arn, indexName="main") == [
        ("s3vectors:CreateIndex", index)
    ]
    assert named("s3vectors", "ListVectors", indexArn=index, returnMetadata=True) == [
        ("s3vectors:ListVectors", index), ("s3vectors:GetVectors", index)
    ]  # fmt: skip
    assert named("s3vectors", "ListVectorBuckets") == [("s3vectors:ListVectorBuckets", "*")]
    assert named("sts", "GetCallerIdentity") == []
    config = {
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {
            "knowledgeBaseId": "KB1",
            "modelArn": "arn:aws:bedrock:eu-west-1::foundation-model/m.x",
        },
    }
    knowledge_base = "arn:aws:bedrock:us-east-1:000000000000:knowledge-base/KB1"
    model = "arn:aws:bedrock:us-east-1::foundation-model/m.x"
    assert named("bedrock-agent-runtime", "RetrieveAndGenerateStream",
                 retrieveAndGenerateConfiguration=config) == [
        ("bedrock:RetrieveAndGenerate", knowledge_base), ("bedrock:Retrieve", knowledge_base),
        ("bedrock:InvokeModel", model)]  # fmt: skip
    guardrail = "arn:aws:bedrock:us-east-1:000000000000:guardrail/g1"
    other_account = "arn:aws:bedrock:eu-west-1:999999999999:guardrail/g1"
    assert named("bedrock", "GetGuardrail", guardrailIdentifier=other_account) == [
        ("bedrock:GetGuardrail", guardrail)
    ]
    profile = "arn:aws:bedrock:us-east-1:000000000000:inference-profile/m.x"
    assert named("bedrock-runtime", "Converse", modelId=profile) == [("bedrock:InvokeModel", model)]
