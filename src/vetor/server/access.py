"""The one entry every route passes through: who is calling (and, later, what they may do).

Every adapter enters :meth:`Gate.admit`, which authenticates the caller from the headers alone
before a byte of the body is read (an unsigned or unknown caller costs the server nothing),
then reads the body under the process's budget and timeouts, checking the signed payload hash
as it streams in. Two credential forms exist, both checked against the same keyring: AWS
Signature Version 4 (the botocore-modelled services, scoped to the service's signing name) and
``Authorization: Bearer <accessKeyId>:<secret>`` (the OpenAI-compatible routes, whose clients
only know API keys).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from ..errors import AccessDeniedException, NotFoundException, ValidationException, VetorError
from ..iam import Decision, Policy, Principal, evaluate, parse_policy, root_of
from ..service import VectorService
from ..settings import Settings
from ..validation import BUCKET_NAME
from .auth import ALGORITHM, Signed, check_headers
from .exchange import MAX_BODY_BYTES, BodyBudget, Exchange, declared_length, read_body
from .keys import Keyring
from .limits import KeyLimits
from .metrics import Metrics
from .permissions import LISTINGS, Need, Permissions

BEARER = "bearer"  # the credential form of the OpenAI-compatible routes
BEARER_HELP = "Invalid API key: use Bearer <accessKeyId>:<secretAccessKey>"


@dataclass(frozen=True)
class Caller:
    """The authenticated identity of one request, and what conditions may ask about it."""

    principal: Principal
    access_key_id: str | None  # None when authentication is off (--no-auth)
    source_ip: str | None = None
    secure: bool = False  # over TLS

    @property
    def account_id(self) -> str:
        return self.principal.account


class ResourceFacts:
    """What policy evaluation reads from the service: bucket policies (parsed, kept one
    second, so a policy put on another replica applies within a second) and tags."""

    def __init__(self, service: VectorService, ttl: float = 1.0) -> None:
        self.service, self.ttl = service, ttl
        self._policies: dict[str, tuple[float, Policy | None]] = {}

    def bucket_policy(self, bucket: str) -> Policy | None:
        if not BUCKET_NAME.match(bucket):  # no such bucket can exist: nothing to cache
            return None
        cached = self._policies.get(bucket)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            text = self.service.get_vector_bucket_policy(vectorBucketName=bucket)["policy"]
            policy = parse_policy(text, "resource", f"the bucket policy of {bucket}")
        except (NotFoundException, ValidationException):  # no such bucket, or no policy
            policy = None
        self._policies[bucket] = (time.monotonic(), policy)
        if len(self._policies) > 4096:  # bounded: the oldest entry goes
            self._policies.pop(next(iter(self._policies)))
        return policy

    def forget(self, bucket: str) -> None:
        self._policies.pop(bucket, None)

    def tags(self, arn: str) -> dict[str, str]:
        try:
            return self.service.list_tags_for_resource(resourceArn=arn)["tags"]
        except VetorError:
            return {}


class Gate:
    """Authentication, body reading and authorization for every adapter; ``keyring=None``
    turns authentication (and with it authorization) off."""

    def __init__(
        self,
        keyring: Keyring | None,
        settings: Settings,
        facts: ResourceFacts | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.keyring = keyring
        self.metrics = metrics  # every answered request is counted here (GET /metrics)
        self.settings = settings
        self.account_id = settings.account_id
        self.facts = facts
        self.permissions = Permissions(settings)
        timeout = settings.body_read_timeout_seconds
        self.budget = BodyBudget(settings.max_body_bytes_in_flight, timeout)
        per_key = settings.requests_per_second_per_key, settings.concurrent_requests_per_key
        self.limits = KeyLimits(*per_key)

    @contextlib.asynccontextmanager
    async def admit(
        self, request: Request, exchange: Exchange, scheme: str
    ) -> AsyncIterator[tuple[Caller, bytes]]:
        """The caller and body of ``request``, or :class:`AccessDeniedException` before any
        of the body is read. ``scheme`` is the SigV4 signing name the route's service expects
        (``s3vectors``, ``sts``...) or :data:`BEARER`. The body's bytes count against the
        process's budget until the block ends."""
        signed = self._check_headers(request, scheme)
        if signed is not None and signed.payload_hash is not None:
            signed.verify()  # the signature covers a declared hash: check it before the body
        digest = hashlib.sha256() if signed is not None and signed.body_is_checked else None
        claimed = signed.access_key_id if signed is not None else _bearer_key(request)
        with self.limits.enter(claimed if self.keyring is not None else None, scheme):
            async with self.budget.reserve(declared_length(request) or MAX_BODY_BYTES):
                yield await self._read(request, exchange, scheme, signed, digest)

    async def _read(
        self,
        request: Request,
        exchange: Exchange,
        scheme: str,
        signed: Signed | None,
        digest: Any,
    ) -> tuple[Caller, bytes]:
        """The body (checked against the signed hash) and the caller it proves."""
        timeout = self.settings.body_read_timeout_seconds
        body = await read_body(request, timeout, digest)
        exchange.received = len(body)
        key_id = None
        if scheme == BEARER and self.keyring is not None:
            key_id = self._bearer(request, self.keyring)
        elif signed is not None:
            body_hash = digest.hexdigest() if digest is not None else None
            if signed.payload_hash is None:  # the signature covers the body's own hash
                key_id = signed.verify(body_hash)
            else:  # verified before the body was read; now the body must match it
                key_id = signed.access_key_id
                if body_hash is not None:
                    signed.check_body(body_hash)
            if signed.streaming:
                decoded = request.headers.get("x-amz-decoded-content-length")
                body = signed.decode_chunks(body, decoded)
        caller = self._caller(request, key_id)
        exchange.principal = caller.principal.arn
        return caller, body

    def _caller(self, request: Request, key_id: str | None) -> Caller:
        if key_id is None or self.keyring is None:
            principal = root_of(self.account_id)
        else:
            found = self.keyring.principal(key_id)
            if found is None:  # revoked while its body was being read
                raise AccessDeniedException(
                    "The security token included in the request is invalid: "
                    f"unknown access key {key_id!r}."
                )
            principal = found
        client = request.client.host if request.client else None
        secure = request.scope.get("scheme") == "https"
        return Caller(principal, key_id, client, secure)

    def authorize(
        self,
        caller: Caller,
        service: str,
        operation: str,
        params: dict[str, Any],
        exchange: Exchange,
    ) -> None:
        """Raise AccessDeniedException unless every action the operation performs is allowed
        (AWS's evaluation: explicit deny wins, then an allow, else deny); the access log
        records the decision."""
        if self.keyring is None:
            return
        for need in self.permissions.needs(service, operation, params):
            decision = self.decide(caller, need, params)
            exchange.audit(need.action, need.resource, decision.reason)
            if not decision:
                raise AccessDeniedException(_denial(caller, need, decision))

    def decide(self, caller: Caller, need: Need, params: dict[str, Any] | None = None) -> Decision:
        policy = None
        if need.bucket is not None and self.facts is not None:
            policy = self.facts.bucket_policy(need.bucket)
        context = RequestContext(caller, params or {}, need.resource, self.facts)
        return evaluate(
            caller.principal, need.action, need.resource, context, policy, self.account_id
        )

    def visible(self, caller: Caller, operation: str, result: Any) -> Any:
        """A listing with only the items the caller may read (ListVectorBuckets...)."""
        listing = LISTINGS.get(operation)
        if listing is None or self.keyring is None or not isinstance(result, dict):
            return result
        action, member, arn = listing
        items = [i for i in result.get(member, []) if self.decide(caller, Need(action, i[arn]))]
        return {**result, member: items}

    def changed(self, operation: str, params: dict[str, Any]) -> None:
        """After a call: a bucket policy put or deleted here applies here at once."""
        if "VectorBucketPolicy" in operation and self.facts is not None:
            bucket = Need("", self.permissions.needs("s3vectors", operation, params)[0].resource)
            if bucket.bucket:
                self.facts.forget(bucket.bucket)

    def _check_headers(self, request: Request, scheme: str) -> Signed | None:
        if self.keyring is None:
            return None
        if scheme == BEARER:
            self._bearer(request, self.keyring)
            return None
        return check_headers(
            method=request.method,
            scheme=request.scope.get("scheme", "http"),
            host=request.headers.get("host", ""),
            raw_path=raw_path(request),
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers=request.headers,
            keyring=self.keyring,
            service=scheme,
        )

    @staticmethod
    def _bearer(request: Request, keyring: Keyring) -> str:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        key_id, _, secret = token.strip().partition(":")
        expected = keyring.secret(key_id) if kind.lower() == "bearer" else None
        # Bytes: compare_digest refuses str holding non-ASCII characters.
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            raise AccessDeniedException(BEARER_HELP)
        return key_id


def _bearer_key(request: Request) -> str | None:
    """The access key id a Bearer token claims (checked later), for the per-key limits."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer":
        return None
    return token.strip().partition(":")[0] or None


def raw_path(request: Request) -> str:
    """The path exactly as received, still percent-encoded (what SigV4 signs)."""
    return request.scope.get("raw_path", b"").decode("latin-1") or request.url.path


def signing_service(request: Request) -> str | None:
    """The service named in the request's SigV4 credential scope, if it carries one.

    Cheap and forgiving: it only picks the adapter; that adapter's verification judges the
    signature (and rejects a scope that names another service).
    """
    credential = ""
    authorization = request.headers.get("authorization", "")
    query_string = request.scope.get("query_string", b"").decode("latin-1")
    if authorization.lstrip().startswith(ALGORITHM):
        for item in authorization.split(","):
            name, _, value = item.strip().rpartition(" ")[2].partition("=")
            if name == "Credential":
                credential = value
    elif "X-Amz-Credential=" in query_string:
        for item in query_string.split("&"):
            name, _, value = item.partition("=")
            if name == "X-Amz-Credential":
                credential = unquote(value)
    scope = credential.rsplit("/", 4)
    return scope[3] if len(scope) == 5 else None


class RequestContext(Mapping[str, Any]):
    """The condition keys of one request (lower-cased); resource tags are read only when a
    policy asks for one."""

    def __init__(
        self, caller: Caller, params: dict[str, Any], resource: str, facts: ResourceFacts | None
    ) -> None:
        principal, now = caller.principal, datetime.now(UTC)
        values: dict[str, Any] = {
            "aws:sourceip": caller.source_ip,
            "aws:securetransport": "true" if caller.secure else "false",
            "aws:principalarn": principal.arn,
            "aws:principalaccount": principal.account,
            "aws:principaltype": principal.kind,
            "aws:userid": principal.user_id,
            "aws:currenttime": now.isoformat().replace("+00:00", "Z"),
            "aws:epochtime": str(int(now.timestamp())),
        }
        if principal.kind == "User":  # as AWS: roles and the root have no user name
            values["aws:username"] = principal.name
        tags = params.get("tags")
        if isinstance(tags, dict):
            values.update({f"aws:requesttag/{k.lower()}": v for k, v in tags.items()})
            values["aws:tagkeys"] = list(tags)
        elif isinstance(params.get("tagKeys"), list):
            values["aws:tagkeys"] = params["tagKeys"]
        self._values = {k: v for k, v in values.items() if v is not None}
        self._resource, self._facts = resource, facts
        self._tags: dict[str, str] | None = None

    def __getitem__(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        if key.startswith("aws:resourcetag/") and self._facts is not None:
            if self._tags is None:
                found = self._facts.tags(self._resource) if self._resource != "*" else {}
                self._tags = {k.lower(): v for k, v in found.items()}
            return self._tags[key.removeprefix("aws:resourcetag/")]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _denial(caller: Caller, need: Need, decision: Decision) -> str:
    """AWS's message for a denied call."""
    said = f"User: {caller.principal.arn} is not authorized to perform: {need.action} on resource: "
    said += need.resource
    if decision.reason.startswith("explicit deny"):
        return f"{said} with an {decision.reason}"
    return f"{said} because no identity-based policy allows the {need.action} action"
