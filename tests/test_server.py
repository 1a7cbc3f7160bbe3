"""The HTTP server beyond the happy path: bad requests, authentication, operations, sharing."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import SERVER_KEYS, Server, new_s3_uri

import vetor

ARN = "arn:aws:s3vectors:us-east-1:000000000000:bucket/b-x/index/i-x"
KEY, SECRET = SERVER_KEYS["VETOR_ACCESS_KEY_ID"], SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"]


def send(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    key: str = KEY,
    secret: str = SECRET,
    sign: bool = True,
    headers: dict[str, str] | None = None,
    service: str = "s3vectors",
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A raw HTTP request, signed like boto3 signs (or not), and its parsed JSON reply."""
    request = AWSRequest(
        method=method, url=server.endpoint + path, data=body, headers=headers or {}
    )
    request.headers["Content-Type"] = "application/json"
    if sign:
        SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(
        prepared.url, data=body or None, method=method, headers=dict(prepared.headers)
    )
    try:
        with urllib.request.urlopen(raw, timeout=30) as reply:
            return reply.status, _lower(reply.headers), _parsed(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), _parsed(error.read())


def _parsed(body: bytes) -> dict[str, Any]:
    """A JSON reply, or ``{"raw": text}`` for one that is not (an event stream, plain text)."""
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {"raw": body.decode("latin-1")}


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def bucket_names(server: Server) -> list[str]:
    return [b["vectorBucketName"] for b in server.client().list_vector_buckets()["vectorBuckets"]]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("/CreateVectorBucket", b"{not json", 400, "ValidationException", "Malformed JSON"),
        ("/CreateVectorBucket", b"[1, 2]", 400, "ValidationException", "must be a JSON object"),
        (
            "/CreateVectorBucket",
            b'{"vectorBucketName": 5}',
            400,
            "ValidationException",
            "type string",
        ),
        ("/CreateVectorBucket", b"{}", 400, "ValidationException", "'/vectorBucketName'"),
        (
            "/CreateVectorBucket",
            b'{"vectorBucketName": "ok-name", "colour": "red"}',
            400,
            "ValidationException",
            "Unknown field '/colour'",
        ),
        (
            "/QueryVectors",
            b'{"vectorBucketName": "b-x", "indexName": "i-x", "topK": "5"}',
            400,
            "ValidationException",
            "type integer",
        ),
        (  # an integral number in exponent form is an integer: out of range, not mistyped
            "/QueryVectors",
            b'{"vectorBucketName": "b-x", "indexName": "i-x", "topK": 1e20,'
            b' "queryVector": {"float32": [1.0]}}',
            400,
            "ValidationException",
            "Value at '/topK' failed to satisfy constraint: Member must be between 1 and 10000",
        ),
        (
            "/PutVectors",
            b'{"vectorBucketName": "b-x", "indexName": "i-x"}',
            400,
            "ValidationException",
            "Member must not be null",
        ),
        (
            "/GetIndex",
            b'{"vectorBucketName": "b-x", "indexName": "i-x", "indexArn": "' + ARN.encode() + b'"}',
            400,
            "ValidationException",
            "Must specify either indexArn or both vectorBucketName and indexName",
        ),
        ("/NoSuchOperation", b"{}", 404, "UnknownOperationException", "Unknown operation"),
    ],
)
def test_bad_requests_get_s3_vectors_errors(
    server: Server, path: str, body: bytes, status: int, code: str, message: str
) -> None:
    before = bucket_names(server)
    got, headers, reply = send(server, "POST", path, body)
    assert (got, headers["x-amzn-errortype"]) == (status, code)
    assert message in reply["message"]
    assert "Traceback" not in json.dumps(reply)
    assert headers["x-amzn-requestid"]
    assert bucket_names(server) == before  # nothing changed


def test_oversize_body_is_refused(server: Server) -> None:
    body = b'{"vectorBucketName": "' + b"x" * (21 * 1024 * 1024) + b'"}'
    status, headers, reply = send(server, "POST", "/CreateVectorBucket", body)
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert "20 MiB" in reply["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": "wrong-secret"}, "signature we calculated does not match"),
        ({"key": "AKUNKNOWN"}, "unknown access key"),
        ({"sign": False}, "Missing Authentication Token"),
    ],
)
def test_bad_credentials_are_denied(server: Server, change: dict[str, Any], message: str) -> None:
    status, headers, reply = send(server, "POST", "/ListVectorBuckets", b"{}", **change)
    assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert message in reply["message"]


def test_skewed_clock_is_denied(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    twenty_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: twenty_minutes_ago)
    status, headers, reply = send(server, "POST", "/ListVectorBuckets", b"{}")
    assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert "Signature expired" in reply["message"]


def test_boto3_wrong_secret_raises_access_denied(server: Server) -> None:
    client = server.client(aws_secret_access_key="nope")
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_vector_buckets()


def test_sts_answers_who_the_caller_is_on_the_same_port(server: Server, tmp_path: Path) -> None:
    """STS's query protocol (form in, XML out) beside S3 Vectors' rest-json, one endpoint."""
    identity = server.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:root"
    assert identity["UserId"] == identity["Account"]  # the root's, as in AWS
    with pytest.raises(ClientError) as denied:
        server.client("sts", aws_secret_access_key="nope").get_caller_identity()
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    command = ["aws", "sts", "get-caller-identity", "--endpoint-url", server.endpoint]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Account"] == "000000000000"


def test_health_ready_and_openapi(server: Server) -> None:
    for path, expected in (("/health", "ok"), ("/ready", "ready")):
        with urllib.request.urlopen(server.endpoint + path, timeout=10) as reply:
            assert json.loads(reply.read())["status"] == expected
    with urllib.request.urlopen(server.endpoint + "/openapi.json", timeout=10) as reply:
        spec = json.loads(reply.read())
    operations = [op for methods in spec["paths"].values() for op in methods.values()]
    assert len(operations) == 22
    assert spec["paths"]["/QueryVectors"]["post"]["operationId"] == "QueryVectors"


def test_a_browser_finds_a_home_page_and_the_docs(server: Server) -> None:
    with urllib.request.urlopen(server.endpoint + "/", timeout=10) as reply:
        home = json.loads(reply.read())
    assert home["service"] == "vetor" and home["version"] == vetor.__version__
    assert {"/docs", "/openapi.json", "/health", "/ready"} <= set(home["links"])
    page = urllib.request.Request(server.endpoint + "/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(page, timeout=10) as reply:
        assert reply.headers["content-type"].startswith("text/html")
        assert '<a href="/docs">' in reply.read().decode()
    with urllib.request.urlopen(server.endpoint + "/docs", timeout=10) as reply:
        docs = reply.read().decode()
    assert docs.count("<h2 id=") == 22
    assert "<code>POST /QueryVectors</code>" in docs and "<code>topK</code> (required)" in docs


def test_access_log_has_request_ids(tmp_path: Path) -> None:
    served = Server(str(tmp_path))
    client = served.client()
    reply = client.list_vector_buckets()
    logs = served.stop()
    request_id = reply["ResponseMetadata"]["RequestId"]
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert {
        "requestId": request_id,
        "operation": "ListVectorBuckets",
        "status": 200,
    }.items() <= next(line for line in lines if line["requestId"] == request_id).items()


def two_servers_share_a_store(data: str, env: dict[str, str] | None = None) -> None:
    first, second = Server(data, env), Server(data, env)
    try:
        a, b = first.client(), second.client()
        bucket = f"b-{uuid.uuid4().hex[:8]}"
        a.create_vector_bucket(vectorBucketName=bucket)
        b.create_index(
            vectorBucketName=bucket,
            indexName="idx",
            dataType="float32",
            dimension=2,
            distanceMetric="euclidean",
        )
        address = {"vectorBucketName": bucket, "indexName": "idx"}
        for i in range(5):  # alternate writers and readers: every write is seen at once
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            writer.put_vectors(
                **address, vectors=[{"key": f"k{i}", "data": {"float32": [float(i), 0.0]}}]
            )
            hits = reader.query_vectors(**address, topK=1, queryVector={"float32": [float(i), 0.0]})
            assert [h["key"] for h in hits["vectors"]] == [f"k{i}"]
        a.delete_vectors(**address, keys=["k4"])
        hits = b.query_vectors(**address, topK=1, queryVector={"float32": [4.0, 0.0]})
        assert [h["key"] for h in hits["vectors"]] == ["k3"]
    finally:
        first.stop()
        second.stop()


def test_two_servers_on_one_directory(tmp_path: Path) -> None:
    two_servers_share_a_store(str(tmp_path))


def test_two_servers_on_one_s3_bucket(s3_env: dict[str, str], s3_endpoint: str) -> None:
    two_servers_share_a_store(new_s3_uri(s3_endpoint), s3_env)


def test_graceful_shutdown_finishes_in_flight_writes(tmp_path: Path) -> None:
    served = Server(str(tmp_path))
    client = served.client()
    client.create_vector_bucket(vectorBucketName="docs")
    client.create_index(
        vectorBucketName="docs",
        indexName="idx",
        dataType="float32",
        dimension=256,
        distanceMetric="cosine",
    )
    vectors = [{"key": f"k{i}", "data": {"float32": [1.0] * 256}} for i in range(500)]
    outcome: dict[str, Any] = {}

    def put() -> None:
        try:
            outcome["reply"] = client.put_vectors(
                vectorBucketName="docs", indexName="idx", vectors=vectors
            )
        except Exception as error:  # recorded, asserted below
            outcome["error"] = error

    writer = threading.Thread(target=put)
    writer.start()
    threading.Event().wait(0.05)  # the request is in flight
    served.stop()
    writer.join()
    if "reply" in outcome:  # acknowledged before shutdown: it must be durable
        restarted = Server(str(tmp_path))
        listed = restarted.client().list_vectors(
            vectorBucketName="docs", indexName="idx", maxResults=1000
        )
        assert len(listed["vectors"]) == 500
        restarted.stop()
    else:  # refused because the server was already stopping: a connection error, not a 500
        assert "500" not in str(outcome["error"])


def test_aws_cli_round_trip(server: Server, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    bucket = f"cli-{uuid.uuid4().hex[:8]}"

    def aws(*args: str) -> dict[str, Any]:
        command = ["aws", "s3vectors", *args, "--endpoint-url", server.endpoint, "--output", "json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    aws("create-vector-bucket", "--vector-bucket-name", bucket)
    aws(
        "create-index",
        "--vector-bucket-name",
        bucket,
        "--index-name",
        "films",
        "--data-type",
        "float32",
        "--dimension",
        "3",
        "--distance-metric",
        "cosine",
    )
    vectors = [
        {"key": "a", "data": {"float32": [1, 0, 0]}, "metadata": {"genre": "doc"}},
        {"key": "b", "data": {"float32": [0.9, 0.1, 0]}, "metadata": {"genre": "drama"}},
        {"key": "c", "data": {"float32": [0, 1, 0]}, "metadata": {"genre": "doc"}},
    ]
    (tmp_path / "vectors.json").write_text(json.dumps(vectors))
    aws(
        "put-vectors",
        "--vector-bucket-name",
        bucket,
        "--index-name",
        "films",
        "--vectors",
        f"file://{tmp_path / 'vectors.json'}",
    )
    hits = aws(
        "query-vectors",
        "--vector-bucket-name",
        bucket,
        "--index-name",
        "films",
        "--top-k",
        "2",
        "--query-vector",
        '{"float32": [1, 0, 0]}',
        "--filter",
        '{"genre": "doc"}',
        "--return-distance",
        "--return-metadata",
    )
    assert [h["key"] for h in hits["vectors"]] == ["a", "c"]
    assert hits["vectors"][0]["metadata"] == {"genre": "doc"}
    aws(
        "delete-vectors",
        "--vector-bucket-name",
        bucket,
        "--index-name",
        "films",
        "--keys",
        "a",
        "b",
        "c",
    )
    aws("delete-index", "--vector-bucket-name", bucket, "--index-name", "films")
    aws("delete-vector-bucket", "--vector-bucket-name", bucket)
    assert bucket not in bucket_names(server)


def test_vetor_cli_against_a_remote_server(server: Server, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
    }
    bucket = f"rc-{uuid.uuid4().hex[:8]}"

    def vetor(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["vetor", "--endpoint-url", server.endpoint, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert vetor("buckets", "create", bucket).returncode == 0
    listed = vetor("buckets", "list", "--output", "json")
    assert bucket in listed.stdout
    missing = vetor("indexes", "get", bucket, "nope")
    assert missing.returncode == 1 and "NotFoundException" in missing.stderr
    assert bucket in bucket_names(server)


def test_zero_config_start_generates_and_keeps_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.json"
    env = {
        "VETOR_ACCESS_KEY_ID": "",
        "VETOR_SECRET_ACCESS_KEY": "",
        "VETOR_CREDENTIALS_FILE": str(credentials),
    }
    served = Server(str(tmp_path / "data"), env)
    pair = json.loads(credentials.read_text())["keys"][0]
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    client = served.client(
        aws_access_key_id=pair["accessKeyId"], aws_secret_access_key=pair["secretAccessKey"]
    )
    assert client.list_vector_buckets()["vectorBuckets"] == []
    status, _, _ = send(served, "POST", "/ListVectorBuckets", b"{}", sign=False)
    assert status == 403  # never an open server by default
    logs = served.stop()
    assert f"AWS_ACCESS_KEY_ID={pair['accessKeyId']}" in logs  # printed for the operator
    again = Server(str(tmp_path / "data"), env)  # a restart keeps the same pair
    assert json.loads(credentials.read_text())["keys"][0] == pair
    again.stop()


def test_access_log_can_be_turned_off(tmp_path: Path) -> None:
    served = Server(str(tmp_path), None, "--no-access-log")
    served.client().list_vector_buckets()
    logs = served.stop()
    assert '"operation":"ListVectorBuckets"' not in logs


def test_two_workers_log_and_stop_cleanly(tmp_path: Path) -> None:
    served = Server(str(tmp_path), None, "--workers", "2")
    client = served.client()
    client.create_vector_bucket(vectorBucketName="docs")
    for _ in range(4):
        client.list_vector_buckets()
    logs = served.stop()
    assert logs.count('"operation":"ListVectorBuckets"') == 4


def test_serve_warm_loads_indexes_before_accepting_requests(tmp_path: Path) -> None:
    import numpy as np

    import vetor

    data = str(tmp_path / "store")
    service = vetor.connect(data, ann_min_rows=500, ann_list_rows=50, background_compaction=False)
    service.create_vector_bucket(vectorBucketName="docs")
    service.create_index(
        vectorBucketName="docs", indexName="pages", dataType="float32", dimension=4,
        distanceMetric="euclidean",
    )  # fmt: skip
    rows = np.random.default_rng(2).normal(size=(800, 4)).tolist()
    service.put_vectors(
        vectorBucketName="docs", indexName="pages",
        vectors=[{"key": f"k{i}", "data": {"float32": r}} for i, r in enumerate(rows[:400])],
    )  # fmt: skip
    service.put_vectors(
        vectorBucketName="docs", indexName="pages",
        vectors=[{"key": f"k{i}", "data": {"float32": r}} for i, r in enumerate(rows) if i >= 400],
    )  # fmt: skip
    service.compact(vectorBucketName="docs", indexName="pages", full=True)
    server = Server(data, None, "--warm", "docs/pages")
    try:
        hits = server.client().query_vectors(
            vectorBucketName="docs", indexName="pages", queryVector={"float32": rows[7]}, topK=1
        )["vectors"]
        assert hits[0]["key"] == "k7"
    finally:
        logs = server.stop()
    warm_line = next(line for line in logs.splitlines() if line.startswith("warm docs/pages"))
    assert json.loads(warm_line.split(": ", 1)[1])["annIndexes"] == 1


def _chunked(body: bytes, seed: str, key: bytes, timestamp: str, scope: str) -> bytes:
    """An aws-chunked body as AWS documents it ("Transferring Payload in Multiple Chunks")."""
    import hashlib
    import hmac as hmac_

    out, previous = b"", seed
    pieces = [body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)] + [b""]
    for piece in pieces:
        hashes = hashlib.sha256(b"").hexdigest(), hashlib.sha256(piece).hexdigest()
        to_sign = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, *hashes))
        previous = hmac_.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return out


def test_aws_chunked_payloads_are_verified_chunk_by_chunk(server: Server) -> None:
    import hashlib
    import hmac as hmac_

    server.client().create_vector_bucket(vectorBucketName="chunked")
    payload = json.dumps({"vectorBucketName": "chunked", "indexName": "i-1", "dataType": "float32",
                          "dimension": 3, "distanceMetric": "cosine"}).encode()  # fmt: skip
    headers = {
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "X-Amz-Decoded-Content-Length": str(len(payload)),
        "Content-Encoding": "aws-chunked",
        "Content-Type": "application/json",
    }
    request = AWSRequest(method="POST", url=server.endpoint + "/CreateIndex", headers=headers)
    SigV4Auth(Credentials(KEY, SECRET), "s3vectors", "us-east-1").add_auth(request)
    prepared = request.prepare()
    seed = prepared.headers["Authorization"].rsplit("Signature=", 1)[1]
    timestamp = prepared.headers["X-Amz-Date"]
    key = f"AWS4{SECRET}".encode()
    for part in (timestamp[:8], "us-east-1", "s3vectors", "aws4_request"):
        key = hmac_.new(key, part.encode(), hashlib.sha256).digest()
    scope = f"{timestamp[:8]}/us-east-1/s3vectors/aws4_request"
    good = _chunked(payload, seed, key, timestamp, scope)
    tampered = good.replace(b'"i-1"', b'"i-2"')

    def post(body: bytes) -> int:
        sent = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        raw = urllib.request.Request(prepared.url, data=body, method="POST", headers=sent)
        try:
            with urllib.request.urlopen(raw, timeout=30) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code

    assert post(tampered) == 403
    assert post(good) == 200
    index = server.client().get_index(vectorBucketName="chunked", indexName="i-1")["index"]
    assert index["dimension"] == 3
