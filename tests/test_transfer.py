"""``vetor export`` and ``vetor import`` round trips with every peer, for real.

pgvector runs in a real PostgreSQL server (the one pgserver ships, with pgvector built in),
Qdrant in qdrant-client's local mode (the same API as a server), Chroma and LanceDB in
folders, and S3 Vectors is another vetor behind ``vetor serve``. Every round trip must give
back bit-identical vectors, equal metadata and the index's configuration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import vetor
from vetor.cli import app
from vetor.transfer import Batch, LocalIndex, TransferError, copy, open_peer

DIMENSION = 384
ROWS = 1500
runner = CliRunner()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server with pgvector, on a Unix socket in a temporary folder."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


def _rows(metric: str) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((ROWS, DIMENSION)).astype(np.float32)
    if metric == "cosine":
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = [f"doc-{i:05d}" for i in range(ROWS)]
    metadata = [
        {
            "genre": ["drama", "comedy", "news"][i % 3],
            "year": 1990 + i % 30,
            "score": i / 7,
            "draft": i % 2 == 0,
            "tags": ["a", "b"] if i % 5 else ["solo"],
            "text": f"passage {i} — ünïcode",  # non-filterable
            "source": f"s3://docs/{i}.md",  # non-filterable
            "mixed": [i, "x"] if i % 4 == 1 else [],  # lists Chroma cannot hold as they are
        }
        for i in range(ROWS)
    ]
    metadata[3] = {}  # a vector without metadata
    return keys, vectors, metadata


def _source(data: str, metric: str) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    service = vetor.connect(data)
    service.create_vector_bucket(vectorBucketName="shelf")
    service.create_index(
        vectorBucketName="shelf", indexName="docs", dataType="float32", dimension=DIMENSION,
        distanceMetric=metric,
        metadataConfiguration={"nonFilterableMetadataKeys": ["text", "source"]},
    )  # fmt: skip
    keys, vectors, metadata = _rows(metric)
    for start in range(0, ROWS, 500):
        service.put_vectors(
            vectorBucketName="shelf",
            indexName="docs",
            vectors=[
                {"key": k, "data": {"float32": v}, **({"metadata": m} if m else {})}
                for k, v, m in zip(
                    keys[start : start + 500], vectors[start : start + 500],
                    metadata[start : start + 500], strict=True,
                )
            ],
        )  # fmt: skip
    service.close()
    return keys, vectors, metadata


def _cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _check_copy(data: str, index: str, keys: list[str], vectors: np.ndarray,
                metadata: list[dict[str, Any]], metric: str, keeps_config: bool,
                exact_floats: bool = True) -> None:  # fmt: skip
    service = vetor.connect(data)
    found = service.get_index(vectorBucketName="shelf", indexName=index)["index"]
    assert (found["dimension"], found["distanceMetric"]) == (DIMENSION, metric)
    if keeps_config:
        kept = found["metadataConfiguration"]["nonFilterableMetadataKeys"]
        assert sorted(kept) == ["source", "text"]
    page = service.scan_vectors(vectorBucketName="shelf", indexName=index, limit=ROWS + 1)
    assert page["keys"] == keys  # every key, no more
    assert page["vectors"].tobytes() == vectors.tobytes()  # bit-identical
    _assert_metadata(page["metadata"], metadata, exact_floats)
    service.close()


def _assert_metadata(found: list[Any], expected: list[Any], exact_floats: bool) -> None:
    if exact_floats:
        assert found == expected
    else:  # Chroma rounds a float's last bit now and then (16 significant digits)
        assert found == [
            {k: pytest.approx(v, rel=1e-15) if isinstance(v, float) else v for k, v in m.items()}
            for m in expected
        ]


PEERS = {
    "pgvector": lambda tmp, pg: pg + ("&" if "?" in pg else "?") + "table=shelf_docs",
    "qdrant": lambda tmp, pg: f"qdrant+local:{tmp}/qdrant/docs",
    "chroma": lambda tmp, pg: f"chroma:{tmp}/chroma/docs",
    "lancedb": lambda tmp, pg: f"lancedb:{tmp}/lance/docs",
}


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_export_then_import_gives_back_every_vector_exactly(
    peer: str, tmp_path: Path, postgres: str
) -> None:
    data = str(tmp_path / "store")
    # Qdrant and Chroma normalise what a cosine collection stores (see the test below)
    metric = "euclidean" if peer in ("qdrant", "chroma") else "cosine"
    keys, vectors, metadata = _source(data, metric)
    uri = PEERS[peer](tmp_path, postgres)
    shown = _cli("export", "shelf", "docs", uri, "--data", data)
    assert f"copied {ROWS:,} vectors" in shown and f"{ROWS:,} in the target" in shown
    shown = _cli("import", uri, "shelf", "back", "--data", data, "--batch-size", "400")
    assert f"{ROWS:,} in the source, {ROWS:,} in the target" in shown
    keeps_config = peer in ("pgvector", "lancedb")  # they hold vetor's configuration too
    _check_copy(data, "back", keys, vectors, metadata, metric, keeps_config, peer != "chroma")


@pytest.mark.parametrize("peer", ["qdrant", "chroma"])
def test_cosine_collections_that_normalise_give_back_unit_vectors(
    peer: str, tmp_path: Path
) -> None:
    """Qdrant and Chroma normalise what a cosine collection stores; unit vectors come back as
    they went up to float rounding, with their keys and metadata."""
    data = str(tmp_path / "store")
    keys, vectors, metadata = _source(data, "cosine")
    uri = PEERS[peer](tmp_path, "")
    _cli("export", "shelf", "docs", uri, "--data", data)
    _cli("import", uri, "shelf", "back", "--data", data)
    service = vetor.connect(data)
    page = service.scan_vectors(vectorBucketName="shelf", indexName="back", limit=ROWS + 1)
    assert page["keys"] == keys
    _assert_metadata(page["metadata"], metadata, exact_floats=peer != "chroma")
    np.testing.assert_allclose(page["vectors"], vectors, atol=1e-6)


def test_s3vectors_endpoint_round_trip(server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """To and from any S3 Vectors endpoint: here another vetor, behind ``vetor serve``."""
    from conftest import SERVER_KEYS

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SERVER_KEYS["VETOR_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    data = str(tmp_path / "store")
    keys, vectors, metadata = _source(data, "cosine")
    uri = f"s3vectors://transfer-{uuid.uuid4().hex[:8]}/docs?endpoint={server.endpoint}"
    _cli("export", "shelf", "docs", uri, "--data", data)
    _cli("import", uri, "shelf", "back", "--data", data)
    _check_copy(data, "back", keys, vectors, metadata, "cosine", keeps_config=True)


class Failing:
    """A target that fails on its third write, as a peer that goes away mid-copy does."""

    def __init__(self, peer: Any) -> None:
        self.peer, self.writes = peer, 0
        self.uri = peer.uri

    def write(self, batch: Batch) -> None:
        self.writes += 1
        if self.writes == 3:
            raise ConnectionError("the peer went away")
        self.peer.write(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.peer, name)


def test_a_stopped_copy_resumes_where_it_stopped(tmp_path: Path) -> None:
    data = str(tmp_path / "store")
    keys, vectors, metadata = _source(data, "euclidean")
    service = vetor.connect(data)
    source = LocalIndex(service, "shelf", "docs")
    checkpoint = tmp_path / "checkpoint.json"
    target = open_peer(f"lancedb:{tmp_path}/lance/docs")
    with pytest.raises(ConnectionError):
        copy(source, Failing(target), checkpoint=checkpoint, batch_size=200)
    assert target.count() == 400 and checkpoint.exists()  # two batches landed
    report = copy(source, target, checkpoint=checkpoint, batch_size=200)
    assert report.resumed and report.copied == ROWS - 400  # nothing copied twice
    assert (report.source_count, report.target_count) == (ROWS, ROWS)
    assert not checkpoint.exists()
    again = copy(target, LocalIndex(service, "shelf", "back"), checkpoint=tmp_path / "in.json")
    assert again.copied == ROWS
    service.close()
    _check_copy(data, "back", keys, vectors, metadata, "euclidean", keeps_config=True)


def test_a_mismatching_target_is_refused(tmp_path: Path) -> None:
    data = str(tmp_path / "store")
    _source(data, "cosine")
    service = vetor.connect(data)
    service.create_index(
        vectorBucketName="shelf", indexName="small", dataType="float32", dimension=8,
        distanceMetric="cosine",
    )  # fmt: skip
    with pytest.raises(TransferError, match="holds 8-d cosine vectors"):
        copy(LocalIndex(service, "shelf", "docs"), LocalIndex(service, "shelf", "small"))
    service.close()
    shown = _cli("import", "mongodb://x/y", "shelf", "docs", "--data", data, code=2)
    assert "unknown peer" in shown
    shown = _cli("export", "shelf", "missing", f"lancedb:{tmp_path}/l/t", "--data", data, code=1)
    assert "does not exist" in shown


# --- vetor export --sync ------------------------------------------------------------------------


def _contents(peer: Any) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every row of a peer: key → (vector bytes, metadata)."""
    rows = {}
    for batch in peer.read(None, 1000):
        for key, vector, meta in zip(batch.keys, batch.vectors, batch.metadata, strict=True):
            rows[key] = (vector.tobytes(), meta)
    return rows


def _assert_same(target: Any, source: Any, exact_floats: bool = True) -> None:
    copied, expected = _contents(target), _contents(source)
    assert sorted(copied) == sorted(expected)
    assert all(copied[k][0] == expected[k][0] for k in expected)  # bit-identical vectors
    keys = sorted(expected)
    _assert_metadata([copied[k][1] for k in keys], [expected[k][1] for k in keys], exact_floats)


def _change(service: Any) -> None:
    """Overwrite 10 rows, delete 20, add 5."""
    rng = np.random.default_rng(11)
    fresh = [f"doc-{i:05d}" for i in range(10)] + [f"new-{i}" for i in range(5)]
    service.put_vectors(
        vectorBucketName="shelf", indexName="docs",
        vectors=[
            {"key": k, "data": {"float32": rng.standard_normal(DIMENSION).astype(np.float32)},
             "metadata": {"genre": "changed", "round": 2}}
            for k in fresh
        ],
    )  # fmt: skip
    gone = [f"doc-{i:05d}" for i in range(100, 120)]
    service.delete_vectors(vectorBucketName="shelf", indexName="docs", keys=gone)


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_sync_keeps_every_peer_a_copy_of_the_index(
    peer: str, tmp_path: Path, postgres: str
) -> None:
    from vetor.transfer import Follower

    data = str(tmp_path / "store")
    _source(data, "euclidean")
    service = vetor.connect(data)
    source = LocalIndex(service, "shelf", "docs")
    target = open_peer(PEERS[peer](tmp_path, postgres).replace("shelf_docs", "shelf_sync"))
    exact = peer != "chroma"
    state = tmp_path / "sync.arrow"
    first = Follower(source, target, state, batch_size=400).step()
    assert first is not None and (first.written, first.deleted) == (ROWS, 0)
    _assert_same(target, source, exact)
    assert Follower(source, target, state).step() is None  # nothing new: nothing done
    _change(service)

    class Failing:  # the target goes away after the writes, before the deletes
        def __init__(self) -> None:
            self.uri, self.spec, self.write = target.uri, target.spec, target.write

        def delete(self, keys: list[str]) -> None:
            raise ConnectionError("the peer went away")

    with pytest.raises(ConnectionError):
        Follower(source, Failing(), state).step()  # type: ignore[arg-type]
    again = Follower(source, target, state).step()  # the round is redone whole
    assert again is not None and (again.written, again.deleted) == (15, 20)
    _assert_same(target, source, exact)
    assert target.count() == ROWS - 20 + 5
    # Rows keep their seqs through a compaction: nothing to copy again
    service.compact(vectorBucketName="shelf", indexName="docs", full=True)
    after = Follower(source, target, state).step()
    assert after is None or (after.written, after.deleted) == (0, 0)
    target.close()
    service.close()


def test_export_sync_follows_the_index_until_stopped(tmp_path: Path) -> None:
    """``vetor export --sync`` in its own process, following writes made by another."""
    import os
    import selectors
    import signal
    import subprocess
    import sys
    import time

    data = str(tmp_path / "store")
    _source(data, "euclidean")
    uri = f"qdrant+local:{tmp_path}/qdrant/docs"
    state = str(tmp_path / "sync.arrow")
    command = [sys.executable, "-m", "vetor", "export", "shelf", "docs", uri, "--data", data,
               "--sync", "--interval", "0.2", "--checkpoint", state]  # fmt: skip
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    watch = selectors.DefaultSelector()
    watch.register(process.stdout, selectors.EVENT_READ)

    def line_with(text: str) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if watch.select(timeout=1):
                line = process.stdout.readline()  # type: ignore[union-attr]
                assert line, "the sync stopped"
                if text in line:
                    return line
        raise AssertionError(f"no {text!r} from the sync")

    try:
        assert f"wrote {ROWS:,}, deleted 0" in line_with("version")
        service = vetor.connect(data)
        _change(service)
        service.close()
        assert "wrote 15, deleted 20" in line_with("version")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    target = open_peer(uri)
    service = vetor.connect(data)
    _assert_same(target, LocalIndex(service, "shelf", "docs"))
    target.close()
    service.close()
