"""Property-based hostile input: requests generated from botocore's models, and raw bytes.

For every operation of the S3 Vectors and Bedrock agent models, hypothesis builds bodies
whose members have the model's names but hostile values (strings with newlines, traversal and
control characters, huge and negative numbers, wrong types, deep nesting), signs them like
boto3 and sends them to a real ``vetor serve``. Whatever it sends: no 500, no stack trace or
store path in the answer, and the server stays up. Plus bodies of random bytes, a gzip bomb
and a crowd of idle connections.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from conftest import Server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_server import send

SERVICES = ("s3vectors", "bedrock-agent", "bedrock-agent-runtime")
HOSTILE_TEXT = st.sampled_from(
    ["docs\n", "../../etc/passwd", "a/../../b", "\x00", "%2e%2e/", "ﬁ" * 70, "", " ", "$in",
     "arn:aws:s3vectors:us-east-1:000000000000:bucket/x\n", "a" * 5000, "NaN", "\ud7ff", "🙂"]
)  # fmt: skip
SCALARS = st.one_of(
    HOSTILE_TEXT,
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def operations(service: str) -> list[tuple[str, str, str, list[str]]]:
    model = botocore.session.get_session().get_service_model(service)
    found = []
    for name in model.operation_names:
        op = model.operation_model(name)
        members = list(op.input_shape.members) if op.input_shape is not None else []
        found.append((service, op.http["method"], op.http["requestUri"], members))
    return found


OPERATIONS = [op for service in SERVICES for op in operations(service)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(str(tmp_path_factory.mktemp("fuzz")), {"VETOR_HEADER_TIMEOUT_SECONDS": "3"})
    client = running.client()
    client.create_vector_bucket(vectorBucketName="fuzz")
    client.create_index(
        vectorBucketName="fuzz", indexName="target", dataType="float32", dimension=2,
        distanceMetric="cosine",
    )  # fmt: skip
    yield running
    running.stop()


def path_of(uri: str, values: dict[str, Any]) -> str:
    """The request URI with each {label} filled (URL-quoted) from the generated values."""
    from urllib.parse import quote

    path = uri.split("?")[0]
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        label = path[start + 1 : end].rstrip("+")
        value = values.get(label, "x")
        path = path[:start] + quote(str(value), safe="") + path[end + 1 :]
    return path or "/"


def check(server: Server, status: int, answer: dict[str, Any]) -> None:
    text = json.dumps(answer)
    assert status < 500 or status in (501, 503), (status, answer)  # never a crash
    assert "Traceback" not in text and server.data not in text and "_vetor/" not in text, text


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_model_shaped_hostile_requests(server: Server, data: st.DataObject) -> None:
    service, method, uri, members = data.draw(st.sampled_from(OPERATIONS))
    chosen = data.draw(st.lists(st.sampled_from(members), unique=True)) if members else []
    body = {name: data.draw(VALUES) for name in chosen}
    if data.draw(st.booleans()):  # aim at the real bucket and index half of the time
        body.update({"vectorBucketName": "fuzz", "indexName": "target"})
    raw = json.dumps(body).encode()
    signing = {"bedrock-agent": "bedrock", "bedrock-agent-runtime": "bedrock"}.get(service, service)
    status, _, answer = send(server, method, path_of(uri, body), raw, service=signing)
    check(server, status, answer)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=2000), path=st.sampled_from(["/PutVectors", "/QueryVectors",
       "/CreateIndex", "/knowledgebases", "/v1/embeddings"]))  # fmt: skip
def test_random_bytes(server: Server, body: bytes, path: str) -> None:
    status, _, answer = send(server, "POST", path, body)
    check(server, status, answer)


def test_a_gzip_bomb_is_just_bytes(server: Server) -> None:
    bomb = gzip.compress(b"0" * (50 * 1024 * 1024))  # 50 MB of zeros in ~50 KB
    started = time.monotonic()
    status, headers, answer = send(
        server, "POST", "/PutVectors", bomb, headers={"Content-Encoding": "gzip"}
    )
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationException", answer
    assert time.monotonic() - started < 5  # never inflated


def test_a_crowd_of_idle_connections(server: Server) -> None:
    crowd = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    try:
        started = time.monotonic()
        assert server.client().list_vector_buckets()["vectorBuckets"]
        assert time.monotonic() - started < 5
        time.sleep(4)  # past the header timeout: the crowd is closed by the server
        closed = 0
        for sock in crowd:
            sock.settimeout(2)
            try:
                closed += sock.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == len(crowd)
    finally:
        for sock in crowd:
            sock.close()


def test_the_server_survived(server: Server) -> None:
    assert server.process.poll() is None
    assert server.client().get_index(vectorBucketName="fuzz", indexName="target")["index"]
