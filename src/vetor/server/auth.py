"""AWS Signature Version 4 verification (``s3vectors``, ``sts``, any service's signing name).

Both forms boto3 and the AWS CLI produce are accepted: the ``Authorization`` header form and
the presigned query-string form (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``).

The canonical request, string to sign and signature are computed by botocore's own
:class:`botocore.auth.SigV4Auth` (which :class:`~botocore.auth.SigV4QueryAuth` inherits them
from), fed with the request exactly as it came off the wire. Two details matter:

* The path must be the raw, still percent-encoded path. boto3 encodes a label such as an ARN
  once on the wire (``/tags/arn%3Aaws%3A...%2Fdocs``) and, for every service but S3, signs
  it encoded a second time (``/tags/arn%253Aaws%253A...%252Fdocs``) after removing dot
  segments and repeated slashes. Re-encoding the raw path with botocore reproduces that; a
  decoded path would not (``%2F`` would even turn into a segment separator).
* Only the headers the client listed in ``SignedHeaders`` are used: boto3 adds headers such
  as ``amz-sdk-request`` after signing, and another client may sign one botocore would not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from vetor.errors import AccessDeniedException

from .keys import Keyring

SERVICE = "s3vectors"
ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"  # aws-chunked, each chunk signed
_CHUNK_HEAD = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})\r\n")
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # seconds; AWS's limit for X-Amz-Expires
QUERY_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_QUERY_AUTH_MARKERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_TIMESTAMP = re.compile(r"\d{8}T\d{6}Z\Z")
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class _Auth:
    """What the client claims: its credential scope, signed headers, timestamp, signature."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    expires: int | None  # presigned URLs only


def verify_request(*, body: bytes, **request: Any) -> str:
    """Return the access key id of a correctly signed request, else raise
    :class:`~vetor.errors.AccessDeniedException` with a clear message: :func:`check_headers`
    (same arguments) and :meth:`Signed.verify` in one call, for a body already at hand."""
    signed, body_hash = check_headers(**request), hashlib.sha256(body).hexdigest()
    key_id = signed.verify(body_hash)
    signed.check_body(body_hash)
    return key_id


@dataclass(frozen=True)
class Signed:
    """A request whose credentials, scope, time and payload declaration passed; the
    signature itself is checked once the payload's hash is known.

    ``payload_hash`` is what the signature covers when the client declared it in a signed
    ``x-amz-content-sha256`` header: then :meth:`verify` can run before a byte of the body is
    read, and the body is compared with the declaration as it streams in.
    """

    access_key_id: str
    payload_hash: str | None  # None: the body must be hashed before the signature is checked
    request: AWSRequest = field(repr=False)
    auth: _Auth = field(repr=False)
    secret: str = field(repr=False)

    @property
    def body_is_checked(self) -> bool:
        """Whether the body's hash must equal :attr:`payload_hash` (not UNSIGNED-PAYLOAD, nor
        aws-chunked, whose chunks carry their own signatures)."""
        return self.payload_hash not in (UNSIGNED_PAYLOAD, STREAMING_PAYLOAD)

    @property
    def streaming(self) -> bool:
        return self.payload_hash == STREAMING_PAYLOAD

    def decode_chunks(self, raw: bytes, decoded_length: str | None) -> bytes:
        """The payload of an aws-chunked body, every chunk's signature checked in turn (each
        signs the one before, from the request's own): AWS's "Transferring Payload in
        Multiple Chunks"."""
        auth, key = self.auth, _signing_key(self.secret, self.auth)
        scope = f"{auth.date}/{auth.region}/{auth.service}/{auth.terminator}"
        empty = hashlib.sha256(b"").hexdigest()
        previous, at, parts = auth.signature, 0, []
        while True:
            head = _CHUNK_HEAD.match(raw, at)
            if head is None:
                raise AccessDeniedException("Malformed aws-chunked body: expected a chunk header.")
            size, at = int(head.group(1), 16), head.end()
            data = raw[at : at + size]
            if len(data) != size or raw[at + size : at + size + 2] != b"\r\n":
                raise AccessDeniedException("Malformed aws-chunked body: a chunk is cut short.")
            to_sign = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", auth.timestamp, scope, previous,
                                 empty, hashlib.sha256(data).hexdigest()))  # fmt: skip
            expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, head.group(2).decode()):
                raise AccessDeniedException(
                    "The chunk signature we calculated does not match the one provided."
                )
            previous, at = expected, at + size + 2
            if size == 0:
                break
            parts.append(data)
        payload = b"".join(parts)
        if decoded_length is not None and decoded_length.strip() != str(len(payload)):
            raise AccessDeniedException("x-amz-decoded-content-length does not match the payload.")
        return payload

    def verify(self, body_hash: str | None = None) -> str:
        """The access key id, once the signature matches (``body_hash``: the body's hex
        SHA-256, needed when the payload hash was not declared in a signed header)."""
        covered = self.payload_hash or body_hash
        if covered is None:
            raise ValueError("the body's hash is needed to check this signature")
        expected = _signature(self.request, self.auth, self.secret, covered)
        if not hmac.compare_digest(expected.encode(), self.auth.signature.encode()):
            raise AccessDeniedException(_MISMATCH)
        return self.access_key_id

    def check_body(self, body_hash: str) -> None:
        """The body received is the one whose hash the (already verified) signature covers."""
        if self.payload_hash is not None and self.body_is_checked:
            check_payload(self.payload_hash, body_hash)


def check_headers(
    *,
    method: str,
    scheme: str,
    host: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    keyring: Keyring,
    service: str = SERVICE,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=15),
) -> Signed:
    """Everything SigV4 can check before the body is read; raises AccessDeniedException.

    ``raw_path`` is the path exactly as received, still percent-encoded; ``query_string`` the
    raw query without ``?``; ``headers`` are matched case-insensitively; ``host`` stands in for
    a signed ``Host`` header the request lacks. Any region is accepted in the credential
    scope (and used to recompute the signature); the service must be ``service``.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    pairs = _query_pairs(query_string)
    auth = _parse_auth(lowered, pairs)
    _check_scope(auth, service)
    _check_time(auth, _utc(now), max_skew)
    secret = keyring.secret(auth.access_key_id)
    if secret is None:
        raise AccessDeniedException(
            "The security token included in the request is invalid: "
            f"unknown access key {auth.access_key_id!r}."
        )
    declared = _declared_payload(lowered, auth, scheme)
    request = _rebuild(method, scheme, host, raw_path, pairs, lowered, auth)
    return Signed(auth.access_key_id, declared, request, auth, secret)


def check_payload(declared: str, body_hash: str) -> None:
    """The body received must be the one whose hash the client signed."""
    if declared.lower() != body_hash:
        raise AccessDeniedException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


# --- what the client claims -------------------------------------------------------------------


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    """The raw (still percent-encoded) name/value pairs of the query, in wire order."""
    pairs = []
    for item in query_string.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((name, value))
    return pairs


def _parse_auth(headers: Mapping[str, str], pairs: list[tuple[str, str]]) -> _Auth:
    in_query = any(unquote(name) in _QUERY_AUTH_MARKERS for name, _ in pairs)
    if "authorization" in headers and in_query:
        raise AccessDeniedException(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified."
        )
    if "authorization" in headers:
        return _parse_header_auth(headers)
    if in_query:
        return _parse_query_auth(pairs)
    raise AccessDeniedException(
        "Missing Authentication Token: sign the request with AWS Signature Version 4 "
        "(an Authorization header or a presigned URL)."
    )


def _parse_header_auth(headers: Mapping[str, str]) -> _Auth:
    algorithm, _, rest = headers["authorization"].strip().partition(" ")
    _check_algorithm(algorithm)
    fields = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise AccessDeniedException(
            " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
        )
    timestamp = _header_timestamp(headers)
    return _auth(fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp)


def _parse_query_auth(pairs: list[tuple[str, str]]) -> _Auth:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(unquote(name), []).append(unquote(value))
    if any(len(values.get(name, ())) != 1 or not values[name][0] for name in QUERY_AUTH_PARAMS):
        raise AccessDeniedException(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires' "
            "exactly once. Re-examine the query-string parameters."
        )
    one = {name: values[name][0] for name in QUERY_AUTH_PARAMS}
    _check_algorithm(one["X-Amz-Algorithm"])
    expires = _expires(one["X-Amz-Expires"])
    credential, signed = one["X-Amz-Credential"], one["X-Amz-SignedHeaders"]
    return _auth(credential, signed, one["X-Amz-Signature"], one["X-Amz-Date"], expires)


def _check_algorithm(algorithm: str) -> None:
    if algorithm != ALGORITHM:
        raise AccessDeniedException(
            f"Unsupported signing algorithm {algorithm!r}: only {ALGORITHM} "
            "(AWS Signature Version 4) is accepted."
        )


def _auth(
    credential: str, signed: str, signature: str, timestamp: str, expires: int | None = None
) -> _Auth:
    scope = credential.rsplit("/", 4)  # the access key id is whatever precedes the scope
    if len(scope) != 5 or not all(scope):
        raise AccessDeniedException(
            f"Malformed credential {credential!r}: expected "
            "<access key id>/<YYYYMMDD>/<region>/s3vectors/aws4_request."
        )
    names = tuple(signed.split(";"))
    if not all(names):
        raise AccessDeniedException(f"Malformed SignedHeaders {signed!r}.")
    if "host" not in names:
        raise AccessDeniedException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if not _TIMESTAMP.match(timestamp):
        raise AccessDeniedException(
            f"Malformed X-Amz-Date {timestamp!r}: expected the ISO 8601 basic format "
            "YYYYMMDD'T'HHMMSS'Z'."
        )
    key_id, date, region, service, terminator = scope
    return _Auth(key_id, date, region, service, terminator, names, signature, timestamp, expires)


def _header_timestamp(headers: Mapping[str, str]) -> str:
    """X-Amz-Date, or the HTTP Date header in the SigV4 format when X-Amz-Date is absent."""
    if "x-amz-date" in headers:
        return headers["x-amz-date"].strip()
    if "date" in headers:
        try:
            return _utc(parsedate_to_datetime(headers["date"])).strftime(SIGV4_TIMESTAMP)
        except (TypeError, ValueError):
            pass
    raise AccessDeniedException(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _expires(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_PRESIGN_EXPIRES:
        raise AccessDeniedException(
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES} "
            f"(a week), not {value!r}."
        )
    return int(value)


# --- checks before the signature -------------------------------------------------------------


def _check_scope(auth: _Auth, service: str) -> None:
    if auth.service != service:
        raise AccessDeniedException(
            f"Credential should be scoped to correct service: '{service}', not {auth.service!r}."
        )
    if auth.terminator != "aws4_request":
        raise AccessDeniedException(
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not {auth.terminator!r}."
        )
    if auth.date != auth.timestamp[:8]:
        raise AccessDeniedException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: {auth.date!r} != {auth.timestamp[:8]!r}, from {auth.timestamp!r}."
        )


def _check_time(auth: _Auth, now: datetime, max_skew: timedelta) -> None:
    try:
        signed_at = datetime.strptime(auth.timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise AccessDeniedException(f"Invalid X-Amz-Date {auth.timestamp!r}.") from None
    if signed_at > now + max_skew:
        raise AccessDeniedException(
            f"Signature not yet current: {auth.timestamp} is still later than "
            f"{_fmt(now + max_skew)} ({_fmt(now)} + {_minutes(max_skew)}); "
            "check the client's clock (clock skew)."
        )
    if auth.expires is not None:
        if now > signed_at + timedelta(seconds=auth.expires):
            raise AccessDeniedException(
                f"Request has expired: X-Amz-Date {auth.timestamp} + X-Amz-Expires "
                f"{auth.expires}s is earlier than the server time {_fmt(now)}."
            )
    elif signed_at < now - max_skew:
        raise AccessDeniedException(
            f"Signature expired: {auth.timestamp} is now earlier than {_fmt(now - max_skew)} "
            f"({_fmt(now)} - {_minutes(max_skew)}); check the client's clock (clock skew)."
        )


def _declared_payload(headers: Mapping[str, str], auth: _Auth, scheme: str) -> str | None:
    """The payload hash a signed ``x-amz-content-sha256`` declares, or None (hash the body).

    A hex SHA-256 is checked against the body as it arrives. ``UNSIGNED-PAYLOAD`` is accepted
    over TLS only, where the transport protects the body the signature does not cover.
    ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (aws-chunked, every chunk signed) is accepted; the
    trailer and unsigned streaming forms (S3 uploads' checksums) are refused.
    """
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        return None
    declared = declared.strip()
    if declared == STREAMING_PAYLOAD and "x-amz-content-sha256" in auth.signed_headers:
        return declared
    if declared == UNSIGNED_PAYLOAD and scheme == "https":
        signed = "x-amz-content-sha256" in auth.signed_headers
        return declared if signed else None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", declared):
        over = "" if scheme == "https" else " (UNSIGNED-PAYLOAD only over HTTPS)"
        raise AccessDeniedException(
            f"x-amz-content-sha256 {declared[:80]!r} is not accepted: requests must sign "
            f"the hex SHA-256 of the payload{over}."
        )
    return declared if "x-amz-content-sha256" in auth.signed_headers else None


# --- the signature, by botocore ---------------------------------------------------------------


class _Verifier(SigV4Auth):
    """botocore's SigV4 signer, signing exactly the headers the client listed, over a payload
    hash computed as the body streamed in (the signer never sees the body)."""

    def __init__(self, credentials: BotocoreCredentials, auth: _Auth, payload_hash: str) -> None:
        super().__init__(credentials, auth.service, auth.region)
        self.payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> Any:
        return request.headers  # already only (and all of) the client's SignedHeaders

    def payload(self, request: AWSRequest) -> str:
        return self.payload_hash


def _rebuild(
    method: str,
    scheme: str,
    host: str,
    raw_path: str,
    pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    auth: _Auth,
) -> AWSRequest:
    """The request as the client signed it: raw path, canonical query, signed headers only."""
    query = _canonical_query(pairs)
    url = f"{scheme}://{host}{raw_path}" + (f"?{query}" if query else "")
    try:
        well_formed = urlsplit(url).path == raw_path
    except ValueError:  # a Host such as "[" (an unterminated IPv6 literal)
        well_formed = False
    if not well_formed:
        raise AccessDeniedException(
            f"Malformed request path {raw_path[:200]!r} or host {host[:200]!r}."
        )
    signed = {}
    for name in auth.signed_headers:
        value = host if name == "host" and name not in headers else headers.get(name)
        if value is None:
            raise AccessDeniedException(f"Signed header {name!r} is missing from the request.")
        signed[name] = value
    request = AWSRequest(method=method.upper(), url=url, headers=signed)
    request.context["timestamp"] = auth.timestamp
    return request


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    """The raw query minus X-Amz-Signature; botocore's signer sorts its pairs.

    The pairs are kept exactly as sent, not decoded and re-encoded: botocore signs a URL's
    query that way, and boto3 sends it already SigV4-encoded. Normalizing would also let a
    signature for ``a%2Bb`` ("a+b") pass for ``a+b``, which a form decoder reads as "a b".
    """
    return "&".join(f"{n}={v}" for n, v in pairs if unquote(n) != "X-Amz-Signature")


def _signature(request: AWSRequest, auth: _Auth, secret: str, payload_hash: str) -> str:
    credentials = BotocoreCredentials(auth.access_key_id, secret)
    signer = _Verifier(credentials, auth, payload_hash)
    canonical_request = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical_request), request)


# --- small helpers ----------------------------------------------------------------------------


def _signing_key(secret: str, auth: _Auth) -> bytes:
    """SigV4's derived key: HMAC-SHA256 down date, region, service and terminator."""
    key = f"AWS4{secret}".encode()
    for part in (auth.date, auth.region, auth.service, auth.terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min."
