"""``vetor embed put --ray``: the same inputs embedded on a local Ray cluster (a head and a
worker on loopback, started here with ``ray start``) give what the single-process path gives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import free_port
from corpora import stdlib_paragraphs

import vetor


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    environment = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    head = [ray, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
            "--include-dashboard", "false", "--temp-dir", str(temp), *common]  # fmt: skip
    subprocess.run(head, check=True, capture_output=True, env=environment, timeout=180)
    address = f"127.0.0.1:{port}"
    worker = [ray, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common]
    try:
        subprocess.run(worker, check=True, capture_output=True, env=environment, timeout=180)
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


def _put(data: str, folder: Path, index: str, *extra: str) -> dict[str, Any]:
    """``vetor embed put`` in a process of its own, as a user runs it (a Ray driver is tied
    to its cluster while connected: it must not be the test runner)."""
    command = [sys.executable, "-m", "vetor", "embed", "put", "shelf", index, "--text",
               f"{folder}/*.txt", "--filename-as-key", "--chunk-size", "400", "--data", data,
               "--output", "json", *extra]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _stored(data: str, index: str) -> dict[str, Any]:
    service = vetor.connect(data)
    page = service.scan_vectors(vectorBucketName="shelf", indexName=index, limit=10_000)
    service.close()
    return {
        key: (vector, metadata)
        for key, vector, metadata in zip(page["keys"], page["vectors"], page["metadata"])
    }


def test_ray_gives_what_one_process_gives(ray_cluster: str, tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    paragraphs = stdlib_paragraphs()[:120]
    for n in range(30):  # 30 files of four real paragraphs: several chunks each
        (folder / f"doc{n:02d}.txt").write_text("\n\n".join(paragraphs[4 * n : 4 * n + 4]))
    data = str(tmp_path / "store")
    alone = _put(data, folder, "single")
    distributed_report = _put(data, folder, "ray", "--ray", ray_cluster)
    for name in ("inputs", "vectors", "embedded", "skipped", "failed"):
        assert alone[name] == distributed_report[name], name
    single, distributed = _stored(data, "single"), _stored(data, "ray")
    assert len(single) > 30 and single.keys() == distributed.keys()
    for key, (vector, metadata) in single.items():
        other_vector, other_metadata = distributed[key]
        assert metadata == other_metadata  # text, chunk offsets, location, input hash
        np.testing.assert_allclose(vector, other_vector, atol=2e-6)  # BLAS threads differ
    again = _put(data, folder, "ray", "--ray", ray_cluster)
    assert (again["skipped"], again["embedded"]) == (len(single), 0)  # nothing changed
