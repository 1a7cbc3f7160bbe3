"""Garbage collection: delete the objects no recent manifest references.

A manifest is kept while it is the newest or its successor is younger than the grace period
(it was current within the window, so a reader may still hold it). Runs those manifests
reference are kept, and so is any object younger than the grace period (its writer may be
about to commit it; writers rewrite objects that get close to that age, see ``writes``).
Ages are measured on the store's clock: a host whose clock runs ahead must not see young
objects as old.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ..store import ObjectNotFound
from . import ivf
from .commits import CommitLog
from .format import Manifest, RunRef
from .textindex import TextField


class GarbageCollector:
    def __init__(self, log: CommitLog) -> None:
        self.log = log
        self._lock = threading.Lock()  # one collection at a time per engine
        self._run_paths: dict[str, frozenset[str]] = {}  # manifest key → objects (immutable)

    def collect(self, grace_seconds: float | None = None) -> int:
        """Delete unreferenced objects; returns how many were deleted."""
        grace = self.log.settings.gc_grace_seconds if grace_seconds is None else grace_seconds
        with self._lock:
            return self._collect(grace)

    def _collect(self, grace: float) -> int:
        store, prefix = self.log.store, self.log.prefix
        now = store.now()  # ages are the store's timestamps against the store's clock
        manifests = sorted(store.list(self.log.key("manifests/")), key=lambda i: i.key)
        if not manifests:
            return 0
        young = [now - m.last_modified.timestamp() < grace for m in manifests]
        keep = {m.key for m, next_young in zip(manifests, young[1:] + [True]) if next_young}
        doomed = [m.key for m in manifests if m.key not in keep]
        referenced: set[str] = set()
        for key in keep:
            referenced |= self._objects_of_manifest(key)
        self._run_paths = {k: v for k, v in self._run_paths.items() if k in keep}
        for area in ("wal/", "segments/"):
            for info in store.list(self.log.key(area)):
                relative = info.key[len(prefix) :]
                if relative not in referenced and now - info.last_modified.timestamp() >= grace:
                    doomed.append(info.key)
        store.delete_many(doomed)
        return len(doomed)

    def _objects_of_manifest(self, manifest_key: str) -> frozenset[str]:
        """The objects a manifest references (manifests are immutable: cached)."""
        paths = self._run_paths.get(manifest_key)
        if paths is None:
            try:
                runs = Manifest.decode(self.log.store.get(manifest_key), manifest_key).runs
            except ObjectNotFound:
                runs = ()
            paths = self._run_paths[manifest_key] = frozenset(objects_of(runs))
        return paths


def objects_of(runs: tuple[RunRef, ...]) -> Iterator[str]:
    """Every object the runs consist of: their data, and their segments' text and ANN
    indexes."""
    for run in runs:
        yield run.path
        for field_id in run.text:
            yield from TextField.from_id(field_id).paths(run.directory)
        if run.ann:
            yield from ivf.paths(run.directory)
