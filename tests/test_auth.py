"""SigV4 verification against requests signed by botocore itself (no hand-made signatures)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse

from vetor.errors import AccessDeniedException
from vetor.server.auth import verify_request
from vetor.server.keys import Credentials, Keyring

KEY = "AKIDVETORTEST0000001"
SECRET = "vetor-test-secret/with+odd=chars"
KEYRING = Keyring({KEY: SECRET})
ENDPOINT = "http://127.0.0.1:8333"
ARN = "arn:aws:s3vectors:us-east-1:000000000000:bucket/docs"
ENCODED_ARN = "arn%3Aaws%3As3vectors%3Aus-east-1%3A000000000000%3Abucket%2Fdocs"
JSON = {"Content-Type": "application/json"}
QUERY_BODY = json.dumps(
    {"vectorBucketName": "docs", "indexName": "idx", "topK": 3, "queryVector": {"float32": [1.0]}}
).encode()


def sign(
    method: str,
    path_and_query: str,
    body: bytes = b"",
    *,
    key: str = KEY,
    secret: str = SECRET,
    service: str = "s3vectors",
    headers: dict[str, str] | None = None,
) -> AWSRequest:
    """A request signed in the Authorization-header form, the way boto3 signs one."""
    request = AWSRequest(method=method, url=ENDPOINT + path_and_query, data=body, headers=headers)
    credentials = botocore.credentials.Credentials(key, secret)
    botocore.auth.SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    return request


def presign(path_and_query: str, expires: int = 60) -> AWSRequest:
    request = AWSRequest(method="GET", url=ENDPOINT + path_and_query)
    credentials = botocore.credentials.Credentials(KEY, SECRET)
    botocore.auth.SigV4QueryAuth(credentials, "s3vectors", "us-east-1", expires=expires).add_auth(
        request
    )
    return request


def wire(request: Any) -> dict[str, Any]:
    """verify_request's arguments for ``request`` as a server would receive it."""
    url = urlsplit(request.url)
    headers = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in request.headers.items()
    }
    headers.setdefault("Host", url.netloc)  # added by the HTTP client, after signing
    body = request.body or b""
    return {
        "method": request.method,
        "scheme": url.scheme,
        "host": url.netloc,
        "raw_path": url.path,
        "query_string": url.query,
        "headers": headers,
        "body": body.encode() if isinstance(body, str) else body,
        "keyring": KEYRING,
    }


def verify(request: Any, **overrides: Any) -> str:
    return verify_request(**{**wire(request), **overrides})


def denied(request: Any, match: str, **overrides: Any) -> None:
    with pytest.raises(AccessDeniedException, match=match):
        verify(request, **overrides)


# --- requests that pass --------------------------------------------------------------------------


def test_post_query_vectors_json_body_passes() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, headers=JSON)
    assert verify(request) == KEY


def test_get_tags_with_percent_encoded_arn_passes() -> None:
    request = sign("GET", f"/tags/{ENCODED_ARN}")
    assert verify(request) == KEY


def test_canonical_uri_is_the_raw_path_encoded_again() -> None:
    """botocore signs ``/tags/arn%253A...%252Fdocs``: a server that decoded the path fails."""
    request = sign("GET", f"/tags/{ENCODED_ARN}")
    signer = botocore.auth.SigV4Auth(None, "s3vectors", "us-east-1")
    assert signer.canonical_request(request).split("\n")[1] == (
        "/tags/arn%253Aaws%253As3vectors%253Aus-east-1%253A000000000000%253Abucket%252Fdocs"
    )
    decoded = unquote(f"/tags/{ENCODED_ARN}")  # what a server's decoded path would be
    denied(request, "signature we calculated does not match", raw_path=decoded)


@pytest.mark.parametrize(
    "query", ["tagKeys=a&tagKeys=b", "tagKeys=b&tagKeys=a", "tagKeys=a%20b&tagKeys=c%2Fd%7E"]
)
def test_delete_tags_with_repeated_query_keys_passes(query: str) -> None:
    request = sign("DELETE", f"/tags/{ENCODED_ARN}?{query}")
    assert verify(request) == KEY


def test_query_reordered_on_the_wire_still_passes() -> None:
    request = sign("DELETE", f"/tags/{ENCODED_ARN}?tagKeys=a&tagKeys=b")
    assert verify(request, query_string="tagKeys=b&tagKeys=a") == KEY


def test_headers_are_case_insensitive_and_unsigned_ones_may_change() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY)
    headers = {name.upper(): value for name, value in wire(request)["headers"].items()}
    headers["amz-sdk-request"] = "attempt=2; max=3"  # boto3 adds it after signing
    assert verify(request, headers=headers) == KEY


def test_any_region_in_the_scope_is_accepted() -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/ListVectorBuckets", data=b"{}")
    credentials = botocore.credentials.Credentials(KEY, SECRET)
    botocore.auth.SigV4Auth(credentials, "s3vectors", "eu-west-3").add_auth(request)
    assert verify(request) == KEY


def test_http_date_header_instead_of_x_amz_date_passes() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, headers={"Date": "placeholder"})
    assert "X-Amz-Date" not in request.headers and "date" in request.headers["Authorization"]
    assert verify(request) == KEY


def test_dot_segments_and_double_slashes_are_removed_as_botocore_does() -> None:
    request = sign("POST", "/x/..//QueryVectors", QUERY_BODY)
    assert verify(request) == KEY
    assert verify(request, raw_path="/QueryVectors") == KEY  # the same canonical URI


def test_declared_payload_hash_that_matches_passes() -> None:
    sha = hashlib.sha256(QUERY_BODY).hexdigest()
    request = sign("POST", "/QueryVectors", QUERY_BODY, headers={"X-Amz-Content-SHA256": sha})
    assert verify(request) == KEY


# --- requests that fail --------------------------------------------------------------------------


def test_wrong_secret_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, secret="not-the-secret")
    denied(request, "signature we calculated does not match the signature you provided")


def test_unknown_access_key_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, key="AKIDNOBODYKNOWS00000")
    denied(request, "security token included in the request is invalid.*unknown access key")


def test_tampered_body_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY)
    denied(request, "signature we calculated does not match", body=QUERY_BODY.replace(b"3", b"9"))


def test_tampered_signed_header_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, headers=JSON)
    assert "content-type" in request.headers["Authorization"]
    headers = {**wire(request)["headers"], "Content-Type": "text/plain"}
    denied(request, "signature we calculated does not match", headers=headers)


def test_tampered_path_and_query_fail() -> None:
    request = sign("DELETE", f"/tags/{ENCODED_ARN}?tagKeys=a&tagKeys=b")
    denied(request, "does not match", raw_path="/tags/arn%3Aaws%3As3vectors%3Aother")
    denied(request, "does not match", query_string="tagKeys=a&tagKeys=c")
    denied(request, "does not match", method="POST")
    denied(request, "Malformed request path", raw_path=f"/tags/{ENCODED_ARN}#fragment")


def test_mismatched_payload_hash_header_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, headers={"X-Amz-Content-SHA256": "0" * 64})
    denied(request, "x-amz-content-sha256' header does not match")
    unsigned = sign(
        "POST", "/QueryVectors", b"{}", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    denied(unsigned, "must sign the hex SHA-256 of the payload")


def test_skewed_clock_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY)
    signed_at = datetime.now(UTC)
    assert verify(request, now=signed_at + timedelta(minutes=10)) == KEY
    denied(request, "Signature expired.*clock skew", now=signed_at + timedelta(minutes=20))
    denied(request, "Signature not yet current.*clock skew", now=signed_at - timedelta(minutes=20))
    five = timedelta(minutes=5)
    denied(request, "Signature expired", now=signed_at + timedelta(minutes=6), max_skew=five)


def test_old_timestamp_from_the_signer_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    twenty_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: twenty_minutes_ago)
    request = sign("POST", "/QueryVectors", QUERY_BODY)
    monkeypatch.undo()
    denied(request, "Signature expired")


def test_missing_auth_fails() -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/QueryVectors", data=QUERY_BODY)
    denied(request, "Missing Authentication Token")


@pytest.mark.parametrize(
    ("authorization", "match"),
    [
        ("Bearer abc", "Unsupported signing algorithm"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3vectors/aws4_request", "requires"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1, SignedHeaders=host, Signature=ab",
            "Malformed",
        ),
    ],
)
def test_malformed_authorization_fails(authorization: str, match: str) -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY)
    headers = {**wire(request)["headers"], "Authorization": authorization}
    denied(request, match, headers=headers)


def test_credential_scoped_to_another_service_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, service="s3")
    denied(request, "scoped to correct service: 's3vectors'")


def test_signed_header_missing_from_request_fails() -> None:
    request = sign("POST", "/QueryVectors", QUERY_BODY, headers=JSON)
    headers = {k: v for k, v in wire(request)["headers"].items() if k != "Content-Type"}
    denied(request, "Signed header 'content-type' is missing", headers=headers)


# --- presigned URLs ------------------------------------------------------------------------------


def test_presigned_url_passes_until_it_expires() -> None:
    request = presign(f"/tags/{ENCODED_ARN}", expires=60)
    assert "X-Amz-Signature=" in request.url and "Authorization" not in request.headers
    signed_at = datetime.now(UTC)
    assert verify(request) == KEY
    assert verify(request, now=signed_at + timedelta(seconds=30)) == KEY
    denied(request, "Request has expired", now=signed_at + timedelta(minutes=2))


def test_tampered_presigned_url_fails() -> None:
    request = presign(f"/tags/{ENCODED_ARN}")
    wired = wire(request)
    denied(request, "does not match", raw_path="/tags/arn%3Aaws%3As3vectors%3Aother")
    longer = wired["query_string"].replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    denied(request, "does not match", query_string=longer)


def test_presigned_url_with_a_security_token_passes() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + f"/tags/{ENCODED_ARN}")
    credentials = botocore.credentials.Credentials(KEY, SECRET, token="session/token+=")
    botocore.auth.SigV4QueryAuth(credentials, "s3vectors", "us-east-1").add_auth(request)
    assert "X-Amz-Security-Token=" in request.url
    assert verify(request) == KEY


def test_both_auth_forms_at_once_fail() -> None:
    request = presign(f"/tags/{ENCODED_ARN}")
    headers = {**wire(request)["headers"], "Authorization": "AWS4-HMAC-SHA256 Credential=x"}
    denied(request, "Only one auth mechanism allowed", headers=headers)


# --- the keyring ---------------------------------------------------------------------------------


def test_key_from_a_keys_file_works(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = [{"accessKeyId": "AKIDFROMFILE", "secretAccessKey": "file-secret"}]
    path.write_text(json.dumps({"keys": keys}))
    keyring = Keyring.from_file(path)
    assert keyring.secret("AKIDFROMFILE") == "file-secret" and keyring.secret(KEY) is None
    request = sign("POST", "/QueryVectors", QUERY_BODY, key="AKIDFROMFILE", secret="file-secret")
    assert verify(request, keyring=keyring) == "AKIDFROMFILE"
    assert "file-secret" not in repr(keyring)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        '{"keys": [{"accessKeyId": "A"}]}',
        '{"keys": [{"accessKeyId": "A", "secretAccessKey": ""}]}',
        json.dumps({"keys": [{"accessKeyId": "A", "secretAccessKey": s} for s in "st"]}),
    ],
)
def test_malformed_keys_file_is_rejected(tmp_path: Path, document: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(document)
    with pytest.raises(ValueError, match="invalid keys file"):
        Keyring.from_file(path)


def test_credentials_repr_hides_the_secret() -> None:
    assert "s3cr3t" not in repr(Credentials("AKID", "s3cr3t"))


# --- end to end: the exact request boto3's s3vectors client sends --------------------------------


class _Raw:
    def stream(self, **_: Any) -> Any:
        return iter([b"{}"])


def _capture(call: str, **kwargs: Any) -> Any:
    """The request boto3 would put on the wire for ``client.<call>(**kwargs)``."""
    session = boto3.session.Session(
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    client = session.client("s3vectors", endpoint_url="http://127.0.0.1:9")
    captured = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw())

    client.meta.events.register("before-send.s3vectors.*", before_send)
    getattr(client, call)(**kwargs)
    return captured[0]


def test_boto3_list_tags_for_resource_request_verifies() -> None:
    request = _capture("list_tags_for_resource", resourceArn=ARN)
    assert request.url == f"http://127.0.0.1:9/tags/{ENCODED_ARN}"
    assert verify(request) == KEY


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("untag_resource", {"resourceArn": ARN, "tagKeys": ["a b", "c/d", "e"]}),
        ("query_vectors", json.loads(QUERY_BODY)),
        ("list_vector_buckets", {}),
    ],
)
def test_other_boto3_requests_verify(call: str, kwargs: dict[str, Any]) -> None:
    request = _capture(call, **kwargs)
    assert verify(request) == KEY
    denied(request, "does not match", body=b'{"tampered": true}')
