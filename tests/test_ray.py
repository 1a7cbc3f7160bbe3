"""``vetor embed put --ray`` and ``vetor kb sync --ray``: the same inputs embedded on a local
Ray cluster (a head and a worker on loopback, started here with ``ray start``) give what the
single-process path gives.
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


def _stored(data: str, index: str, bucket: str = "shelf") -> dict[str, Any]:
    service = vetor.connect(data)
    page = service.scan_vectors(vectorBucketName=bucket, indexName=index, limit=10_000)
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


def _vetor(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "vetor", *args, "--output", "json"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _chunks(data: str, kb: str) -> dict[str, Any]:
    """A knowledge base's chunks by document and number, without what names the data source
    (keys, ids, and the content hash that covers them)."""
    from vetor.kb.ingest import CHUNK_ID_KEY, DATA_SOURCE_KEY, METADATA_KEY

    found = {}
    for key, (vector, meta) in _stored(data, "chunks", f"kb-{kb}").items():
        meta = {k: v for k, v in meta.items() if k not in (CHUNK_ID_KEY, DATA_SOURCE_KEY)}
        meta[METADATA_KEY] = {k: v for k, v in json.loads(meta[METADATA_KEY]).items()
                              if k != "hash"}  # fmt: skip
        found[key.split("-", 1)[1]] = (vector, meta)
    return found


def test_a_knowledge_base_synced_on_ray_holds_what_one_process_gives(
    ray_cluster: str, tmp_path: Path
) -> None:
    folder = tmp_path / "handbook"
    folder.mkdir()
    paragraphs = stdlib_paragraphs()[:90]
    for n in range(30):
        (folder / f"doc{n:02d}.md").write_text("\n\n".join(paragraphs[3 * n : 3 * n + 3]))
    data = str(tmp_path / "store")
    for name in ("alone", "spread"):
        _vetor("kb", "create", name, "--folder", str(folder), "--chunking", "fixed:120:10",
               "--data", data)  # fmt: skip

    def sync(name: str, *extra: str) -> dict[str, int]:
        jobs = _vetor("kb", "sync", name, "--data", data, *extra)["ingestionJobs"]
        assert [job["status"] for job in jobs] == ["COMPLETE"]
        return dict(jobs[0]["statistics"])

    def same() -> None:
        single, distributed = _chunks(data, "alone"), _chunks(data, "spread")
        assert len(single) > 30 and single.keys() == distributed.keys()
        for key, (vector, metadata) in single.items():
            assert metadata == distributed[key][1]  # text, source, hash, attributes
            np.testing.assert_allclose(vector, distributed[key][0], atol=2e-6)

    assert sync("alone") == sync("spread", "--ray", ray_cluster)
    same()
    again = sync("spread", "--ray", ray_cluster)  # nothing changed: nothing read
    assert again["numberOfNewDocumentsIndexed"] == again["numberOfModifiedDocumentsIndexed"] == 0
    (folder / "doc03.md").write_text(paragraphs[3] + "\n\nOne more paragraph at the end.")
    (folder / "doc04.md").unlink()
    changed = sync("spread", "--ray", ray_cluster)
    assert changed == sync("alone")
    assert (changed["numberOfModifiedDocumentsIndexed"], changed["numberOfDocumentsDeleted"]) == (
        1,
        1,
    )
    same()
