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
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from vetor.errors import AccessDeniedException

SERVICE = "s3vectors"
ALGORITHM = "AWS4-HMAC-SHA256"
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
class Credentials:
    """One access key the server accepts; the secret never shows in ``repr``."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


class Keyring:
    """The configured access keys: access key id -> secret access key."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        for key_id, secret in keys.items():
            if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret):
                raise ValueError("access key ids and secrets must be non-empty strings")
        self._keys = dict(keys)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """Load ``{"keys": [{"accessKeyId": ..., "secretAccessKey": ...}, ...]}``."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
            credentials = _parse_keys_document(document)
        except ValueError as exc:
            raise ValueError(f"invalid keys file {os.fspath(path)!r}: {exc}") from exc
        return cls({c.access_key_id: c.secret_access_key for c in credentials})

    def secret(self, access_key_id: str) -> str | None:
        """The secret access key of ``access_key_id``, or None when it is not configured."""
        return self._keys.get(access_key_id)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} keys)"


def _parse_keys_document(document: Any) -> list[Credentials]:
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError('expected an object {"keys": [...]}')
    credentials = []
    for entry in entries:
        key_id = entry.get("accessKeyId") if isinstance(entry, dict) else None
        secret = entry.get("secretAccessKey") if isinstance(entry, dict) else None
        if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret):
            raise ValueError("each key needs a non-empty accessKeyId and secretAccessKey")
        credentials.append(Credentials(key_id, secret))
    ids = [c.access_key_id for c in credentials]
    if len(set(ids)) != len(ids):
        raise ValueError("an accessKeyId is listed twice")
    return credentials


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


def verify_request(
    *,
    method: str,
    scheme: str,
    host: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    keyring: Keyring,
    service: str = SERVICE,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=15),
) -> str:
    """Return the access key id of a correctly signed request, else raise
    :class:`~vetor.errors.AccessDeniedException` with a clear message.

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
    _check_payload_hash(lowered, body)
    request = _rebuild(method, scheme, host, raw_path, pairs, lowered, body, auth)
    expected = _signature(request, auth, secret)
    if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
        raise AccessDeniedException(_MISMATCH)
    return auth.access_key_id


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


def _check_payload_hash(headers: Mapping[str, str], body: bytes) -> None:
    """A declared x-amz-content-sha256 must be the body's hash (s3vectors signs payloads)."""
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        return
    declared = declared.strip()
    if not re.fullmatch(r"[0-9a-fA-F]{64}", declared):
        raise AccessDeniedException(
            f"x-amz-content-sha256 {declared!r} is not accepted: s3vectors requests must sign "
            "the hex SHA-256 of the payload."
        )
    if declared.lower() != hashlib.sha256(body).hexdigest():
        raise AccessDeniedException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


# --- the signature, by botocore ---------------------------------------------------------------


class _Verifier(SigV4Auth):
    """botocore's SigV4 signer, signing exactly the headers the client listed."""

    def headers_to_sign(self, request: AWSRequest) -> Any:
        return request.headers  # already only (and all of) the client's SignedHeaders


def _rebuild(
    method: str,
    scheme: str,
    host: str,
    raw_path: str,
    pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    auth: _Auth,
) -> AWSRequest:
    """The request as the client signed it: raw path, canonical query, signed headers only."""
    query = _canonical_query(pairs)
    url = f"{scheme}://{host}{raw_path}" + (f"?{query}" if query else "")
    if urlsplit(url).path != raw_path:
        raise AccessDeniedException(f"Malformed request path {raw_path!r} or host {host!r}.")
    signed = {}
    for name in auth.signed_headers:
        value = host if name == "host" and name not in headers else headers.get(name)
        if value is None:
            raise AccessDeniedException(f"Signed header {name!r} is missing from the request.")
        signed[name] = value
    request = AWSRequest(method=method.upper(), url=url, headers=signed, data=body)
    request.context["timestamp"] = auth.timestamp
    return request


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    """The raw query minus X-Amz-Signature; botocore's signer sorts its pairs.

    The pairs are kept exactly as sent, not decoded and re-encoded: botocore signs a URL's
    query that way, and boto3 sends it already SigV4-encoded. Normalizing would also let a
    signature for ``a%2Bb`` ("a+b") pass for ``a+b``, which a form decoder reads as "a b".
    """
    return "&".join(f"{n}={v}" for n, v in pairs if unquote(n) != "X-Amz-Signature")


def _signature(request: AWSRequest, auth: _Auth, secret: str) -> str:
    credentials = BotocoreCredentials(auth.access_key_id, secret)
    signer = _Verifier(credentials, auth.service, auth.region)
    canonical_request = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical_request), request)


# --- small helpers ----------------------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min."
