"""Three ``vetor serve`` replicas over one S3 store, behind a real HAProxy.

Bounded load runs through the balancer while one replica is killed with SIGKILL and brought
back, and another is stopped gracefully (SIGTERM, drain) and brought back. Acknowledged writes
must all survive, every write must be visible at once through any replica, and the clients
(with their own retries off, so that every failure is seen) may only see retryable errors.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError
from conftest import SERVER_KEYS, Server, free_port, new_s3_uri
from loadbalancer import HAProxy

DIMENSION = 8
RETRYABLE_STATUS = {502, 503, 504}


def _client(endpoint: str, attempts: int) -> Any:
    return boto3.client(
        "s3vectors",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
        aws_secret_access_key=SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}, read_timeout=30),
    )


def _retryable(error: Exception) -> bool:
    if isinstance(error, ConnectionError | HTTPClientError | ReadTimeoutError):
        return True
    if isinstance(error, ClientError):
        status = error.response["ResponseMetadata"].get("HTTPStatusCode")
        return (
            status in RETRYABLE_STATUS or error.response["Error"]["Code"] == "ThrottlingException"
        )
    return False


class Load:
    """Writers putting small batches through the balancer, each write read back at once."""

    def __init__(self, endpoint: str, writers: int = 3) -> None:
        self.endpoint = endpoint
        self.acknowledged: dict[str, list[float]] = {}
        self.errors: list[tuple[float, Exception]] = []
        self.stale_reads: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._write, args=(w,)) for w in range(writers)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _write(self, writer: int) -> None:
        once = _client(self.endpoint, attempts=1)  # every failure is seen
        reader = _client(self.endpoint, attempts=5)
        rng = np.random.default_rng(writer)
        batch = 0
        while not self.stop.is_set():
            keys = [f"w{writer}-{batch}-{i}" for i in range(5)]
            data = rng.random((5, DIMENSION), dtype=np.float32)
            vectors = [
                {"key": k, "data": {"float32": v.tolist()}} for k, v in zip(keys, data, strict=True)
            ]
            batch += 1
            try:
                once.put_vectors(vectorBucketName="fleet", indexName="items", vectors=vectors)
            except Exception as error:
                with self.lock:
                    self.errors.append((time.monotonic(), error))
                continue
            with self.lock:
                self.acknowledged.update(zip(keys, data.tolist(), strict=True))
            found = reader.get_vectors(vectorBucketName="fleet", indexName="items", keys=keys)
            if len(found["vectors"]) != len(keys):  # another replica must see it at once
                with self.lock:
                    self.stale_reads.extend(keys)
            time.sleep(0.002)  # bounded load: the point is failover, not saturation


@pytest.fixture
def cluster(s3_env: dict[str, str], s3_endpoint: str) -> Any:
    data = new_s3_uri(s3_endpoint)
    env = {"VETOR_DRAIN_SECONDS": "1"}
    replicas = [Server(data, env, "--no-access-log") for _ in range(3)]
    balancer = HAProxy(free_port(), [r.port for r in replicas])
    yield data, env, replicas, balancer
    balancer.stop()
    for replica in replicas:
        if replica.process.poll() is None:
            replica.process.kill()


def test_replicas_survive_a_killed_and_a_drained_replica(cluster: Any) -> None:
    data, env, replicas, balancer = cluster
    admin = _client(balancer.endpoint, attempts=5)
    admin.create_vector_bucket(vectorBucketName="fleet")
    admin.create_index(
        vectorBucketName="fleet", indexName="items", dataType="float32",
        dimension=DIMENSION, distanceMetric="euclidean",
    )  # fmt: skip
    with Load(balancer.endpoint) as load:
        time.sleep(2)
        replicas[1].process.kill()  # SIGKILL mid-load: in-flight requests die with it
        killed_at = time.monotonic()
        time.sleep(2)
        replicas[1] = Server(data, env, "--no-access-log", port=replicas[1].port)
        time.sleep(2)
        drained_at = time.monotonic()
        replicas[2].stop()  # SIGTERM: /ready says 503, HAProxy takes it out, then it exits
        replicas[2] = Server(data, env, "--no-access-log", port=replicas[2].port)
        time.sleep(2)
    written = load.acknowledged
    assert len(written) > 200, f"the load wrote only {len(written)} vectors"
    assert not load.stale_reads, f"writes not visible through another replica: {load.stale_reads}"
    wrong = [repr(e) for _, e in load.errors if not _retryable(e)]
    assert not wrong, f"clients saw errors they cannot retry: {wrong}"
    drain_errors = [e for at, e in load.errors if at >= drained_at]
    assert not drain_errors, f"a graceful drain failed requests: {drain_errors}"
    seen = balancer.servers()
    assert int(seen["r1"]["chkdown"]) >= 1 and int(seen["r2"]["chkdown"]) >= 1, seen
    assert all(seen[f"r{i}"]["status"] == "UP" for i in range(3)), seen  # all back
    retried = sum(
        int(seen[f"r{i}"]["wretr"] or 0) + int(seen[f"r{i}"]["wredis"] or 0) for i in range(3)
    )
    print(f"{len(written)} vectors written; {len(load.errors)} retryable errors seen by "
          f"clients; {retried} requests retried or re-sent by HAProxy")  # fmt: skip
    assert all(at >= killed_at for at, _ in load.errors)
    keys = sorted(written)
    for replica in replicas:  # every acknowledged write, exactly, from every replica
        direct = _client(replica.endpoint, attempts=5)
        stored = {}
        for start in range(0, len(keys), 100):
            page = direct.get_vectors(
                vectorBucketName="fleet", indexName="items", keys=keys[start : start + 100],
                returnData=True,
            )  # fmt: skip
            stored.update({v["key"]: v["data"]["float32"] for v in page["vectors"]})
        assert stored.keys() == written.keys()
        assert all(np.float32(stored[k]).tolist() == written[k] for k in keys)
        probe = keys[-1]
        hits = direct.query_vectors(
            vectorBucketName="fleet", indexName="items", topK=1,
            queryVector={"float32": written[probe]},
        )  # fmt: skip
        assert hits["vectors"][0]["key"] == probe


def test_sigterm_drains_before_shutting_down(tmp_path: Any) -> None:
    """After SIGTERM, /ready says 503 (draining) while /health and the API keep answering;
    the process then shuts down gracefully, with status 0."""
    import json
    import signal
    import urllib.error
    import urllib.request

    replica = Server(str(tmp_path / "store"), {"VETOR_DRAIN_SECONDS": "3"})
    client = _client(replica.endpoint, attempts=1)
    client.create_vector_bucket(vectorBucketName="drain")
    replica.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{replica.endpoint}/ready", timeout=5)
    assert refused.value.code == 503
    assert json.loads(refused.value.read())["status"] == "draining"
    with urllib.request.urlopen(f"{replica.endpoint}/health", timeout=5) as health:
        assert health.status == 200  # alive: a liveness probe must not restart it
    assert client.list_vector_buckets()["vectorBuckets"][0]["vectorBucketName"] == "drain"
    replica.process.wait(timeout=30)
    assert replica.process.returncode == 0, replica.logs()
    assert "draining" in replica.logs() and "Application shutdown complete" in replica.logs()
