"""The object-store layer on every backend, including conditional create and doctor."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import new_s3_uri

from vetor.errors import StoreError
from vetor.settings import Settings
from vetor.store import (
    ObjectNotFound,
    ObjectStore,
    check_store,
    open_store,
    require_conditional_create,
)


def test_basic_operations(store: ObjectStore) -> None:
    store.put("a/b/one", b"hello world")
    assert store.get("a/b/one") == b"hello world"
    assert store.get_range("a/b/one", 6, 11) == b"world"
    assert store.exists("a/b/one") and not store.exists("a/b/two")
    store.put("a/b/two", b"2")
    store.put("a/c/three", b"3")
    assert [i.key for i in store.list("a/b/")] == ["a/b/one", "a/b/two"]
    assert [i.key for i in store.list("a/b/", start_after="a/b/one")] == ["a/b/two"]
    assert store.list_dirs("a/") == ["b", "c"]
    store.delete("a/b/one")
    store.delete("a/b/one")  # deleting twice is fine
    with pytest.raises(ObjectNotFound):
        store.get("a/b/one")
    store.delete_prefix("a/")
    assert list(store.list("a/")) == []


def test_put_if_absent(store: ObjectStore) -> None:
    assert store.put_if_absent("k", b"first")
    assert not store.put_if_absent("k", b"second")
    assert store.get("k") == b"first"


def test_doctor_passes_on_every_backend(store: ObjectStore) -> None:
    results = check_store(store)
    assert [r.name for r in results] == [
        "reachable",
        "read/write",
        "list",
        "delete",
        "conditional create",
    ]
    assert all(r.ok for r in results), results
    assert list(store.list("_vetor/")) == []  # doctor cleans up after itself


class IgnoresConditions(ObjectStore):
    """A store that, like some S3 clones, treats If-None-Match as a plain PUT."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self.put(key, data)
        return True


def test_doctor_and_writers_refuse_a_store_without_conditional_create(tmp_path: object) -> None:
    from obstore.store import LocalStore

    broken = IgnoresConditions(
        LocalStore(str(tmp_path)), "broken://", trusted_conditional_create=False
    )
    verdict = {r.name: r for r in check_store(broken)}["conditional create"]
    assert not verdict.ok and "racing creates succeeded" in verdict.detail
    with pytest.raises(StoreError, match="conditional create is not honoured"):
        require_conditional_create(broken, Settings())
    require_conditional_create(broken, Settings(single_writer=True))  # explicit opt-in


def test_a_directory_store_flushes_before_a_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file and the directory that gained its name are fsynced, so an OS crash after the
    write returned cannot lose it; a create-if-absent is flushed the same way."""
    store = open_store(str(tmp_path / "data"))
    flushed: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    store.put("bucket/index/run.arrow", b"rows")
    folder = str(tmp_path / "data" / "bucket" / "index")
    assert folder in flushed  # the new name is on disk
    assert any("_vetor/tmp/" in path for path in flushed)  # the bytes, before the rename
    flushed.clear()
    assert store.put_if_absent("bucket/index/manifest.json", b"{}")
    assert folder in flushed
    assert not store.put_if_absent("bucket/index/manifest.json", b"[]")
    assert store.get("bucket/index/manifest.json") == b"{}"
    assert list(store.list("_vetor/tmp/")) == []  # nothing left behind


def test_garbage_collection_ages_objects_on_the_store_clock(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host clock an hour fast must not make a writer's fresh, not yet committed run look
    older than the grace period."""
    import vetor

    uri = new_s3_uri(s3_env["AWS_ENDPOINT_URL"])
    service = vetor.connect(uri, background_compaction=False)
    service.create_vector_bucket(vectorBucketName="bkt")
    address = {"vectorBucketName": "bkt", "indexName": "idx"}
    service.create_index(**address, dataType="float32", dimension=2, distanceMetric="euclidean")
    engine = service.engine("bkt", "idx")
    in_flight = engine.log.key("wal/in-flight.arrow")  # written, its commit not yet made
    service.store.put(in_flight, b"rows")
    assert service.store.now() == pytest.approx(time.time(), abs=5)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    engine.collect_garbage(grace_seconds=600)
    assert service.store.exists(in_flight)
