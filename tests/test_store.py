"""The object-store layer on every backend, including conditional create and doctor."""

from __future__ import annotations

import pytest

from vetor.errors import StoreError
from vetor.settings import Settings
from vetor.store import ObjectNotFound, ObjectStore, check_store, require_conditional_create


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
