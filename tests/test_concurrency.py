"""Several processes writing one index through the store, and writers killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import new_s3_uri

import vetor

WRITER = Path(__file__).with_name("writer_process.py")
ADDRESS = {"vectorBucketName": "shared", "indexName": "idx"}


@pytest.fixture(params=["local", "s3"])
def shared_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        uri = str(tmp_path / "store")
    else:
        request.getfixturevalue("s3_env")
        uri = new_s3_uri(request.getfixturevalue("s3_endpoint"))
    service = vetor.connect(uri)
    service.create_vector_bucket(vectorBucketName="shared")
    service.create_index(**ADDRESS, dataType="float32", dimension=8, distanceMetric="euclidean")
    return uri


def spawn(uri: str, writer: int, batches: int, forever: bool = False) -> subprocess.Popen[str]:
    args = [sys.executable, str(WRITER), uri, str(writer), str(batches)]
    if forever:
        args.append("--forever")
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, cwd=WRITER.parent, env=os.environ.copy()
    )


def acknowledged(output: str) -> tuple[list[int], list[str]]:
    """Acknowledged batches, and keys whose delete was acknowledged or still in flight."""
    lines = [line.split() for line in output.splitlines()]
    batches = [int(words[1]) for words in lines if words[0] == "ack"]
    deleted = [words[1] for words in lines if words[0] == "deleting"]
    return batches, deleted


def acknowledged_deletes(output: str) -> set[str]:
    return {line.split()[1] for line in output.splitlines() if line.startswith("del ")}


def check_writer(
    service: vetor.VectorService,
    writer: int,
    batches: list[int],
    deleted: list[str],
    confirmed: set[str],
) -> None:
    """Every acknowledged write of ``writer`` is there with its exact vector and metadata."""
    keys = [f"w{writer}-b{b}-{i}" for b in batches for i in range(20)]
    expected = {k for k in keys if k not in set(deleted)}
    found: dict[str, list[float]] = {}
    for start in range(0, len(keys), 100):
        reply = service.get_vectors(
            **ADDRESS, keys=keys[start : start + 100], returnData=True, returnMetadata=True
        )
        found.update({v["key"]: v["data"]["float32"] for v in reply["vectors"]})
        for v in reply["vectors"]:
            assert v["metadata"] == {"writer": writer, "batch": int(v["key"].split("-")[1][1:])}
    missing = expected - set(found)
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    undone = confirmed & set(found)
    assert not undone, f"acknowledged deletes undone: {sorted(undone)}"
    for key in expected:
        _, batch, i = key.split("-")
        assert found[key][:3] == [float(writer + 1), float(batch[1:]), float(i)]


def check_consistent(service: vetor.VectorService) -> set[str]:
    """The index is readable: a full listing has no duplicates and matches point reads."""
    listed: list[str] = []
    token = None
    while True:
        reply = service.list_vectors(
            **ADDRESS, maxResults=1000, **({"nextToken": token} if token else {})
        )
        listed += [v["key"] for v in reply["vectors"]]
        token = reply.get("nextToken")
        if token is None:
            break
    assert len(listed) == len(set(listed))
    hits = service.query_vectors(**ADDRESS, topK=5, queryVector={"float32": [1.0] * 8})
    assert len(hits["vectors"]) == min(5, len(listed))
    return set(listed)


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(shared_uri: str) -> None:
    writers, batches = 4, 15
    processes = [spawn(shared_uri, w, batches) for w in range(writers)]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    service = vetor.connect(shared_uri)
    listed = check_consistent(service)
    total_deleted = 0
    for w, output in enumerate(outputs):
        acked, deleted = acknowledged(output)
        assert acked == list(range(batches))
        check_writer(service, w, acked, deleted, acknowledged_deletes(output))
        total_deleted += len(deleted)
    shared = {f"shared-{i}" for i in range(7)}
    assert (
        listed
        == {f"w{w}-b{b}-{i}" for w in range(writers) for b in range(batches) for i in range(20)}
        - {k for o in outputs for k in acknowledged(o)[1]}
        | shared
    )
    assert len(listed) == writers * batches * 20 - total_deleted + len(shared)


@pytest.mark.slow
def test_sigkill_never_corrupts_or_loses_acknowledged_writes(shared_uri: str) -> None:
    rng = random.Random(1234)
    acked_by_writer: dict[int, tuple[list[int], list[str], set[str]]] = {}
    for round_ in range(6):
        process = spawn(shared_uri, round_, 0, forever=True)
        assert process.stdout is not None
        first = process.stdout.readline()  # writing has begun (imports take ~1 s when loaded)
        time.sleep(rng.uniform(0.3, 2.0) if shared_uri.startswith("s3") else rng.uniform(0.2, 1.2))
        process.send_signal(signal.SIGKILL)
        output = first + process.communicate(timeout=60)[0]
        acked_by_writer[round_] = (*acknowledged(output), acknowledged_deletes(output))
        service = vetor.connect(shared_uri)  # a fresh process's view of the store
        check_consistent(service)
        for writer, (batches, deleted, confirmed) in acked_by_writer.items():
            check_writer(service, writer, batches, deleted, confirmed)
    assert sum(len(b) for b, _, _ in acked_by_writer.values()) > 0
    # The store stays writable and compactable after all the crashes.
    service = vetor.connect(shared_uri, gc_grace_seconds=0.0)
    before = check_consistent(service)
    service.compact(**ADDRESS)
    assert check_consistent(service) == before
    np.testing.assert_equal(len(before) > 0, True)
