"""Fixtures: real stores on every backend, including an S3-compatible HTTP server on loopback."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import vetor
from vetor.store import ObjectStore, open_store

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "vetor-test",
    "AWS_SECRET_ACCESS_KEY": "vetor-test-secret",
    "AWS_REGION": "us-east-1",
}


MODEL_FIXTURE_COSTS: list[str] = []  # printed at the end of the run


OLD_BUCKET_TIME = "2026-08-01T00:00:00+00:00"  # before S3 Vectors' 2026-09-30 mode change


def backdate_bucket(store: ObjectStore, bucket: str, when: str = OLD_BUCKET_TIME) -> None:
    """Make ``bucket`` one created before 2026-09-30, as an older vetor (or AWS) left it:
    CLASSIC indexes by default, and CLASSIC may still be set on its indexes."""
    import orjson

    key = f"{bucket}/bucket.json"
    config = orjson.loads(store.get(key))
    store.put(key, orjson.dumps({**config, "creationTime": when, "defaultIndexMode": "CLASSIC"}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server, on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    _atomic_conditional_puts()
    _kms_refuses_disabled_keys()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _atomic_conditional_puts() -> None:
    """moto checks If-None-Match, then stores: two steps, so two racing creates of one key can
    both succeed (S3 makes it atomic; vetor's commits rely on it, and its startup probe then
    refuses the store). Its PUTs are serialized here."""
    import threading

    from moto.s3.responses import S3Response

    original = S3Response.put_object
    if getattr(original, "serialized", False):
        return
    lock = threading.Lock()

    def put_object(self: Any) -> Any:
        with lock:
            return original(self)

    put_object.serialized = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign]


def _kms_refuses_disabled_keys() -> None:
    """The same server speaks KMS. Real KMS refuses to decrypt under a disabled key
    (DisabledException); moto decrypts regardless, so its Decrypt is made to check."""
    from moto.core.exceptions import JsonRESTError
    from moto.kms.models import KmsBackend

    original = KmsBackend.decrypt
    if getattr(original, "checks_state", False):
        return

    def decrypt(self: Any, *args: Any, **kwargs: Any) -> Any:
        plaintext, arn = original(self, *args, **kwargs)
        key = self.keys[self.any_id_to_key_id(arn)]
        if not key.enabled:
            raise JsonRESTError("DisabledException", f"{arn} is disabled.")
        return plaintext, arn

    decrypt.checks_state = True  # type: ignore[attr-defined]
    KmsBackend.decrypt = decrypt  # type: ignore[method-assign]


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment (also for child processes) pointing the AWS variables at the test server."""
    env = {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


def new_s3_uri(endpoint: str) -> str:
    """A fresh bucket on the test server, created with boto3 like a user would."""
    import boto3

    bucket = f"vetor-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    return f"s3://{bucket}/data"


@pytest.fixture(params=["local", "memory", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A fresh, empty store URI on each backend."""
    if request.param == "local":
        return str(tmp_path)
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    request.getfixturevalue("s3_env")
    return new_s3_uri(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def store(store_uri: str) -> ObjectStore:
    return open_store(store_uri)


@pytest.fixture
def service(store_uri: str) -> vetor.VectorService:
    return vetor.connect(store_uri)


@pytest.fixture
def index(service: vetor.VectorService) -> dict[str, str]:
    """An empty 4-d cosine index (ENHANCED, as in any new bucket); returns its address."""
    return _pages_index(service, old_bucket=False)


@pytest.fixture
def classic_index(service: vetor.VectorService) -> dict[str, str]:
    """The same index in a bucket created before 2026-09-30: CLASSIC mode."""
    return _pages_index(service, old_bucket=True)


def _pages_index(service: vetor.VectorService, old_bucket: bool) -> dict[str, str]:
    service.create_vector_bucket(vectorBucketName="docs")
    if old_bucket:
        backdate_bucket(service.store, "docs")
    service.create_index(
        vectorBucketName="docs",
        indexName="pages",
        dataType="float32",
        dimension=4,
        distanceMetric="cosine",
        metadataConfiguration={"nonFilterableMetadataKeys": ["body"]},
    )
    return {"vectorBucketName": "docs", "indexName": "pages"}


# --- vetor serve --------------------------------------------------------------------------

SERVER_KEYS = {"VETOR_ACCESS_KEY_ID": "AKVETORTEST", "VETOR_SECRET_ACCESS_KEY": "vetor-test-secret"}


class Server:
    """A real ``vetor serve`` process on a free loopback port."""

    def __init__(
        self, data: str, env: dict[str, str] | None = None, *args: str, port: int = 0
    ) -> None:
        import os
        import subprocess
        import sys

        self.data = data
        self.port = port or free_port()
        scheme = "https" if "--tls-cert" in args else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "vetor", "serve", "--data", data]
        command += ["--port", str(self.port), *args]
        import tempfile

        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="vetor-serve-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **SERVER_KEYS, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self.log,  # a file, not a pipe: a full pipe would stall the server
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import ssl
        import time
        import urllib.request

        unverified = ssl._create_unverified_context()  # readiness only; tests verify TLS
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vetor serve exited: {self.logs()}")
            try:
                url = f"{self.endpoint}/health"
                with urllib.request.urlopen(url, timeout=1, context=unverified) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("vetor serve did not become healthy in 30 s")

    def client(self, service: str = "s3vectors", **overrides: Any) -> Any:
        import boto3

        options = {
            "region_name": "us-east-1",
            "aws_access_key_id": SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
            "aws_secret_access_key": SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
            "endpoint_url": self.endpoint,
            **overrides,
        }
        return boto3.client(service, **options)

    def logs(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as file:
            return file.read()

    def stop(self) -> str:
        """SIGTERM, then the server's logs; it must shut down gracefully."""
        self.process.terminate()
        self.process.wait(timeout=60)
        logs = self.logs()
        assert self.process.returncode == 0, logs
        assert "Application shutdown complete" in logs, logs
        return logs


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One vetor server for the session; tests use their own bucket names."""
    running = Server(str(tmp_path_factory.mktemp("served")))
    yield running
    running.stop()


# --- real embeddings, shared by the session -----------------------------------------------


@pytest.fixture(scope="session")
def stdlib_embeddings(request: pytest.FixtureRequest) -> np.ndarray:
    """MiniLM embeddings (unit length) of ~3,000 standard-library docstring paragraphs.

    Embedding them costs minutes on a 2-core CPU, so it happens once per machine: the vectors
    are cached in pytest's cache directory (``.pytest_cache``; CI starts without one). The
    run's summary says which it was and what it cost.
    """
    from corpora import stdlib_paragraphs

    texts = stdlib_paragraphs()
    assert len(texts) >= 2000, len(texts)
    cache = request.config.cache.mkdir("vetor-ann-fixture") / f"minilm-{len(texts)}.npy"
    if cache.exists():
        vectors = np.load(cache)
        if len(vectors) == len(texts):
            MODEL_FIXTURE_COSTS.append(f"stdlib_embeddings: {len(texts)} vectors from {cache}")
            return vectors
    from vetor.embed import get_embedder

    started = time.perf_counter()
    vectors = get_embedder("local").embed_documents(texts).astype(np.float32)
    np.save(cache, vectors)
    seconds = time.perf_counter() - started
    MODEL_FIXTURE_COSTS.append(
        f"stdlib_embeddings: embedded {len(texts)} paragraphs with MiniLM in {seconds:.0f} s "
        f"(cached at {cache} for later runs)"
    )
    return vectors


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in MODEL_FIXTURE_COSTS:
        terminalreporter.write_line(line)
