"""The one entry every route passes through: who is calling (and, later, what they may do).

Every adapter calls :meth:`Gate.authenticate` before it decodes a request, and hands the
:class:`Caller` it returns to the service's handler. Two credential forms exist today, both
checked against the same keyring: AWS Signature Version 4 (the botocore-modelled services,
scoped to the service's signing name) and ``Authorization: Bearer <accessKeyId>:<secret>``
(the OpenAI-compatible routes, whose clients only know API keys). Authorization (principals
and policies) will be decided here too, so that no handler has to.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.requests import Request

from ..errors import AccessDeniedException
from .auth import ALGORITHM, Keyring, verify_request

BEARER = "bearer"  # the credential form of the OpenAI-compatible routes
BEARER_HELP = "Invalid API key: use Bearer <accessKeyId>:<secretAccessKey>"


@dataclass(frozen=True)
class Caller:
    """The authenticated identity of one request."""

    account_id: str
    access_key_id: str | None  # None when authentication is off (--no-auth)

    @property
    def user_id(self) -> str:
        """STS's UserId: the access key id, or the account when nobody signed."""
        return self.access_key_id or self.account_id


class Gate:
    """Authentication for every adapter; ``keyring=None`` turns it off."""

    def __init__(self, keyring: Keyring | None, account_id: str) -> None:
        self.keyring = keyring
        self.account_id = account_id

    def authenticate(self, request: Request, body: bytes, scheme: str) -> Caller:
        """The caller of ``request``, or :class:`AccessDeniedException`.

        ``scheme`` is the SigV4 signing name the route's service expects (``s3vectors``,
        ``sts``...) or :data:`BEARER`. Runs in a worker thread: SigV4 hashes the whole body.
        """
        if self.keyring is None:
            return Caller(self.account_id, None)
        if scheme == BEARER:
            return Caller(self.account_id, self._bearer(request, self.keyring))
        key_id = verify_request(
            method=request.method,
            scheme=request.url.scheme,
            host=request.headers.get("host", ""),
            raw_path=raw_path(request),
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers=request.headers,
            body=body,
            keyring=self.keyring,
            service=scheme,
        )
        return Caller(self.account_id, key_id)

    @staticmethod
    def _bearer(request: Request, keyring: Keyring) -> str:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        key_id, _, secret = token.strip().partition(":")
        expected = keyring.secret(key_id) if kind.lower() == "bearer" else None
        if expected is None or not hmac.compare_digest(expected, secret):
            raise AccessDeniedException(BEARER_HELP)
        return key_id


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
