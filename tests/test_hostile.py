"""Hostile input against a real ``vetor serve``: what a probe of the server found, each fixed.

Bodies are authenticated from the headers before they are read; half-sent heads and bodies
time out; names match whole strings; every JSON body is read strictly; filters are bounded;
nothing answers 500 or shows store paths; the data directory and keys are private.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import SERVER_KEYS, Server
from test_server import send

KEY, SECRET = SERVER_KEYS["VETOR_ACCESS_KEY_ID"], SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"]
TIMEOUTS = {"VETOR_HEADER_TIMEOUT_SECONDS": "2", "VETOR_BODY_READ_TIMEOUT_SECONDS": "2"}
BUCKET, INDEX = "hostile", "target"
BUCKET_ARN = f"arn:aws:s3vectors:us-east-1:000000000000:bucket/{BUCKET}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(str(tmp_path_factory.mktemp("hostile")), TIMEOUTS)
    client = running.client()
    client.create_vector_bucket(vectorBucketName=BUCKET)
    client.create_index(
        vectorBucketName=BUCKET, indexName=INDEX, dataType="float32", dimension=2,
        distanceMetric="cosine",
    )  # fmt: skip
    client.put_vectors(
        vectorBucketName=BUCKET, indexName=INDEX,
        vectors=[{"key": "a", "data": {"float32": [1.0, 0.0]}, "metadata": {"n": 1}}],
    )  # fmt: skip
    yield running
    running.stop()


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def reply(sock: socket.socket, within: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (or ``within`` seconds)."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and _complete(data):
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def signed_head(server: Server, path: str, body: bytes) -> tuple[bytes, bytes]:
    """The head (request line and signed headers) of a request boto3 would send, and its body."""
    request = AWSRequest(method="POST", url=server.endpoint + path, data=body)
    request.headers["Content-Type"] = "application/json"
    SigV4Auth(Credentials(KEY, SECRET), "s3vectors", "us-east-1").add_auth(request)
    prepared = request.prepare()
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in prepared.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def assert_clean(status: int, headers: dict[str, str], body: dict[str, Any], server: Server):  # type: ignore[no-untyped-def]
    assert status < 500, body
    text = json.dumps(body)
    assert server.data not in text and "_vetor" not in text and "Traceback" not in text, text


# --- bodies: authenticated before they are read, bounded, timed --------------------------------


def test_unsigned_bodies_are_refused_before_they_are_read(server: Server) -> None:
    head = (
        b"POST /PutVectors HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 19000000\r\n\r\n"
    )
    sock = connect(server)
    started = time.monotonic()
    sock.sendall(head + b"[" * 65536)  # the rest of the 19 MB never comes
    answer = reply(sock, within=5)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert time.monotonic() - started < 1.5  # not after the 2 s body timeout: never read
    sock.close()
    before = resident_bytes(server.process.pid)
    payload = b"x" * (19 * 1024 * 1024)
    for _ in range(40):
        sock = connect(server)
        with contextlib.suppress(OSError):  # answered and closed without reading the body
            sock.sendall(head + payload)
        reply(sock, within=5)
        sock.close()
    growth = resident_bytes(server.process.pid) - before
    assert growth < 100 * 1024 * 1024, f"resident memory grew by {growth >> 20} MiB"


def test_a_body_shorter_than_its_length_times_out(server: Server) -> None:
    head, body = signed_head(server, "/ListVectorBuckets", b'{"maxResults": 10}')
    sock = connect(server)
    started = time.monotonic()
    sock.sendall(head + body[:5])
    answer = reply(sock, within=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"RequestTimeoutException" in answer
    assert 1.5 < time.monotonic() - started < 8


def test_half_sent_heads_and_silent_connections_are_closed(server: Server) -> None:
    silent = connect(server)
    slow = connect(server)
    slow.sendall(b"POST /ListVectorBuckets HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    for _ in range(8):  # a header byte every half second, never the blank line
        try:
            slow.sendall(b"X")
        except OSError:
            break
        time.sleep(0.5)
    assert reply(slow, within=5) == b""
    assert reply(silent, within=5) == b""
    assert time.monotonic() - started < 8


# --- names, JSON and filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/CreateVectorBucket", {"vectorBucketName": "docs\n"}),
        ("/GetIndex", {"vectorBucketName": BUCKET, "indexName": INDEX + "\n"}),
        ("/GetVectorBucket", {"vectorBucketArn": f"{BUCKET_ARN}\n"}),
        ("/CreateVectorBucket", {"vectorBucketName": "../../etc"}),
        ("/GetIndex", {"vectorBucketName": BUCKET, "indexName": "../" + INDEX}),
    ],
)  # fmt: skip
def test_names_match_whole_strings(server: Server, path: str, body: dict[str, Any]) -> None:
    status, headers, answer = send(server, "POST", path, json.dumps(body).encode())
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException"), answer
    assert_clean(status, headers, answer, server)


def test_tag_paths_with_a_newline(server: Server) -> None:
    arn = f"{BUCKET_ARN}%0A"
    status, headers, answer = send(server, "GET", f"/tags/{arn}")
    assert status in (400, 404), answer
    assert_clean(status, headers, answer, server)


def put_body(record: str, extra: str = "") -> bytes:
    return (
        f'{{"vectorBucketName": "{BUCKET}", "indexName": "{INDEX}"{extra}, "vectors": [{record}]}}'
    ).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (put_body('{"key": "d", "data": {"float32": [1, 0]}, "metadata": {"m": '
                  + "[" * 1000 + "]" * 1000 + "}}"), "must be a string, number, boolean"),
        (put_body('{"key": "d", "data": {"float32": [1, 0]}, "metadata": {"m": '
                  + "[" * 5000 + "]" * 5000 + "}}"), "nested more than"),
        (put_body('{"key": "b", "data": {"float32": [1, 0]}, "metadata": {"m": '
                  '123456789012345678901234567890}}'), "does not fit in 64 bits"),
        (put_body('{"key": "f", "data": {"float32": [[1], [1]]}}'), "values must be numbers"),
        (put_body('{"key": "k", "key": "other", "data": {"float32": [1, 0]}}'), "appears twice"),
        (put_body('{"key": "k", "data": {"float32": [1, 0]}}', ', "indexName": "x"'),
         "appears twice"),
        (put_body('{"key": "k", "data": {"float32": [1, 0]}, "metadata": {"a": 1, "a": 2}}'),
         "appears twice"),
        (put_body('{"key": "n", "data": {"float32": [NaN, 0]}}'), "NaN is not a JSON number"),
        (b'{"vectorBucketName": "x", "vectorBucketName": "y"}', "appears twice"),
        (b'{"vectorBucketName": "\xff\xfe"}', "Malformed JSON"),
    ],
    ids=["deep", "deeper", "bigint", "nested-floats", "key-twice", "member-twice",
         "metadata-key-twice", "nan", "bucket-twice", "not-utf8"],
)  # fmt: skip
def test_json_bodies_are_read_strictly(server: Server, body: bytes, message: str) -> None:
    path = "/PutVectors" if b'"vectors"' in body else "/CreateVectorBucket"
    status, headers, answer = send(server, "POST", path, body)
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException"), answer
    assert message in answer["message"]
    assert_clean(status, headers, answer, server)
    listed = server.client().list_vectors(vectorBucketName=BUCKET, indexName=INDEX)["vectors"]
    assert [v["key"] for v in listed] == ["a"]  # nothing was written


@pytest.mark.parametrize(
    ("query_filter", "message"),
    [
        ({"n": {"$in": list(range(1_000_000))}}, "at most 1024 values"),
        ({"$and": [{"n": 1}] * 2000}, "at most 1024 values"),
        (json.loads('{"$and": [' * 12 + '{"n": 1}' + "]}" * 12), "nest at most"),
    ],
    ids=["million-in", "wide-and", "deep-and"],
)
def test_filters_are_bounded(server: Server, query_filter: Any, message: str) -> None:
    body = {
        "vectorBucketName": BUCKET, "indexName": INDEX, "topK": 1,
        "queryVector": {"float32": [1.0, 0.0]}, "filter": query_filter,
    }  # fmt: skip
    started = time.monotonic()
    status, headers, answer = send(server, "POST", "/QueryVectors", json.dumps(body).encode())
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException"), answer
    assert message in answer["message"] and time.monotonic() - started < 5


# --- headers and credentials ---------------------------------------------------------------------


def test_a_malformed_host_is_a_400(server: Server) -> None:
    for host in (b"[", b"[::1", b"a b", b"h\xc3\xa9"):
        sock = connect(server)
        sock.sendall(b"POST /ListVectorBuckets HTTP/1.1\r\nHost: " + host + b"\r\n"
                     b"Content-Length: 2\r\n\r\n{}")  # fmt: skip
        answer = reply(sock)
        assert answer.startswith(b"HTTP/1.1 400"), (host, answer[:200])
        sock.close()


def test_a_non_ascii_bearer_token_is_a_401(server: Server) -> None:
    sock = connect(server)
    sock.sendall(
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + "Authorization: Bearer AKVETORTEST:sécret\r\n\r\n".encode()
    )
    answer = reply(sock)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_open_pages_do_not_show_the_data_directory(server: Server) -> None:
    import urllib.request

    for path in ("/", "/ready"):
        with urllib.request.urlopen(server.endpoint + path, timeout=10) as page:
            text = page.read().decode()
        assert server.data not in text and "local directory" in text, text


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", '
         '"Action": "s3vectors:*", "Resource": "' + "a" * 30000 + '"}]}', "at most 20480 bytes"),
        ('{"Version": "2012-10-17"}', "Statement must be"),
        ('{"anything": "goes"}', "unknown top-level field"),
    ],
)  # fmt: skip
def test_bucket_policies_are_validated(server: Server, policy: str, message: str) -> None:
    body = json.dumps({"vectorBucketName": BUCKET, "policy": policy}).encode()
    status, headers, answer = send(server, "POST", "/PutVectorBucketPolicy", body)
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException"), answer
    assert message in answer["message"]


# --- files on disk -------------------------------------------------------------------------------


def test_the_data_directory_is_private(server: Server) -> None:
    root = Path(server.data)
    found = list(root.rglob("*"))
    assert any(p.is_file() for p in found)
    loose = [f"{p}: {p.stat().st_mode & 0o777:o}" for p in found if p.stat().st_mode & 0o077]
    assert not loose, loose


def test_credentials_and_keys_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from vetor.server.run import choose_keys

    monkeypatch.delenv("VETOR_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("VETOR_SECRET_ACCESS_KEY", raising=False)
    generated = tmp_path / "config" / "credentials.json"
    monkeypatch.setenv("VETOR_CREDENTIALS_FILE", str(generated))
    source, _ = choose_keys(None, no_auth=False)
    assert source == generated.resolve() and (generated.stat().st_mode & 0o777) == 0o600
    assert (generated.parent.stat().st_mode & 0o777) == 0o700
    first = generated.read_bytes()
    choose_keys(None, no_auth=False)
    assert generated.read_bytes() == first  # the first-start key stays the admin
    shared = tmp_path / "keys.json"
    shared.write_text(json.dumps({"keys": [{"accessKeyId": "A", "secretAccessKey": "s"}]}))
    shared.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="vetor.server"):
        choose_keys(shared, no_auth=False)
    assert "can be read by other users" in caplog.text
    monkeypatch.setenv("VETOR_ACCESS_KEY_ID", "AKENV")
    monkeypatch.setenv("VETOR_SECRET_ACCESS_KEY", "env-secret")
    with pytest.raises(ValueError, match="choose one"):
        choose_keys(shared, no_auth=False)


def test_the_server_is_still_up(server: Server) -> None:
    assert server.process.poll() is None
    assert server.client().list_vector_buckets()["vectorBuckets"]


def test_per_key_rate_limit(tmp_path: Path) -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    # One request per two seconds: a second call right after the first is over the rate even
    # on a machine slowed down by the rest of the suite.
    limited = Server(str(tmp_path / "limited"), {"VETOR_REQUESTS_PER_SECOND_PER_KEY": "0.5"})
    try:
        client = limited.client(config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        codes = []
        for _ in range(4):
            try:
                client.list_vector_buckets()
                codes.append("ok")
            except ClientError as error:
                codes.append(error.response["Error"]["Code"])
        assert codes[0] == "ok" and "TooManyRequestsException" in codes, codes
        time.sleep(2.2)  # the bucket refills
        assert client.list_vector_buckets()["vectorBuckets"] == []
    finally:
        limited.stop()
