"""One vector index on an object store: the coordinator of its parts.

``IndexEngine`` is the engine's one object per index; it composes, and holds no logic of
its own beyond wiring and the public surface the service uses:

- ``commits.CommitLog``: the manifest chain, conditional creates, the commit lock;
- ``writes.WritePath``: write batches and group commit;
- ``snapshots.Snapshots``: the in-memory view at the latest version, and its catch-up;
- ``reads.QueryPlanner`` (with ``textsearch.TextSearch``): planning and running queries;
- ``background.Optimizer``: compaction, ANN and text index building, the background thread;
- ``gc.GarbageCollector``: deleting what no recent manifest references.

What they write on the store is specified in ``docs/FORMAT.md``.

Lock order (a lock may be taken while holding only those before it; the last group are
leaves, never held while taking another):

1. ``GarbageCollector._lock`` (one collection at a time; takes no other lock)
2. ``CommitLog.commit_lock`` (one commit at a time in this process)
3. ``Snapshots.lock`` (read-write: readers share the view; catch-up, backlog and version
   adoption are exclusive)
4. leaves: ``WritePath._queue_lock``, ``CommitLog._lock`` (latest known manifest),
   ``TextSearch._lock`` (its caches), ``QueryPlanner._lock`` / ``Optimizer._lock`` (thread
   starts), and the ANN and direct-search caches' own locks.

No store round trip happens under the view lock's write side except catch-up itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from .. import tracing
from ..settings import Settings
from ..store import ObjectStore
from .background import Optimizer
from .commits import CommitLog, IndexGone
from .filters import Filter
from .format import Manifest
from .gc import GarbageCollector
from .reads import Hit, QueryPlanner
from .snapshots import Snapshots
from .textindex import TextField
from .textsearch import TextQuery, TextSearch
from .view import IndexView
from .writes import WritePath

__all__ = ["Hit", "IndexEngine", "IndexGone", "TextQuery"]


class IndexEngine:
    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        *,
        index_id: str,
        dimension: int,
        metric: str,
        settings: Settings,
        config: dict[str, Any] | None = None,
        legacy_config: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.prefix = prefix.rstrip("/") + "/"
        self.index_id = index_id
        self.dimension = dimension
        self.metric = metric
        self.settings = settings
        self.log = CommitLog(store, self.prefix, index_id, settings, config, legacy_config)
        self.snapshots = Snapshots(self.log, dimension, metric, settings)
        self.reads = QueryPlanner(
            self.log, self.snapshots, TextSearch(self.log, settings), dimension, metric, settings
        )
        self.gc = GarbageCollector(self.log)
        self.optimizer = Optimizer(self.log, self.snapshots, self.gc, dimension, metric)
        self.writes = WritePath(self.log, self.snapshots, dimension, self.optimizer.maybe_start)

    # --- lifecycle and configuration --------------------------------------------------------

    def initialize(self) -> None:
        """Write version 1, empty, for a new index (a writer that got there first is fine)."""
        self.log.initialize()

    def retire(self) -> str | None:
        """Commit the deletion of this index; the key of that last manifest (None if it was
        deleted already)."""
        return self.log.retire()

    def latest_manifest(self) -> Manifest:
        """The newest manifest in the store (one round trip when nothing changed)."""
        return self.log.latest()

    def config(self, manifest: Manifest) -> dict[str, Any]:
        """The index configuration at ``manifest``."""
        return self.log.config(manifest)

    def text_fields(self, manifest: Manifest) -> tuple[TextField, ...]:
        return self.log.text_fields(manifest)

    def update_config(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Manifest:
        """Commit a new configuration: ``change`` maps the latest one to it (and may raise to
        refuse the change). On a lost race it is applied again on top of the winner."""
        with self.log.commit_lock:
            base, manifest = self.log.update_config(change)
            self.snapshots.adopt_same_content(base, manifest)
            return manifest

    # --- writes -----------------------------------------------------------------------------

    def upsert(
        self, keys: list[str], vectors: np.ndarray, metadata: list[bytes | None]
    ) -> Manifest:
        """Insert or overwrite rows by key (keys must be unique). Durable on return."""
        with tracing.span("engine.upsert", rows=len(keys)):
            return self.writes.upsert(keys, vectors, metadata)

    def delete(self, keys: list[str]) -> Manifest:
        """Delete rows by key (missing keys are fine). Durable on return."""
        with tracing.span("engine.delete", rows=len(keys)):
            return self.writes.delete(keys)

    # --- reads ------------------------------------------------------------------------------

    def view(self, latest: Manifest | None = None) -> IndexView:
        """The view at the latest committed version (strongly consistent)."""
        return self.snapshots.view(latest)

    @contextlib.contextmanager
    def snapshot(self, latest: Manifest | None = None) -> Iterator[IndexView]:
        """The latest view, held steady (no concurrent catch-up) for the block."""
        with self.snapshots.snapshot(latest) as view:
            yield view

    def query(self, vector: np.ndarray, k: int, where: Filter | None = None) -> list[Hit]:
        return self.reads.search(vector, (), k, where)

    def search(
        self,
        vector: np.ndarray | None,
        texts: tuple[TextQuery, ...],
        k: int,
        where: Filter | None = None,
        depth: int = 0,
        metadata: bool = True,
        *,
        page: slice = slice(None),
        at: Manifest | None = None,
    ) -> list[Hit]:
        """The ``page`` slice of the top ``k`` by vector, text or both (see ``QueryPlanner``)."""
        with tracing.span("engine.search", k=k, filtered=where is not None):
            return self.reads.search(vector, texts, k, where, depth, metadata, page=page, at=at)

    def text_status(self, field: TextField, manifest: Manifest | None = None) -> str:
        """ACTIVE once every segment has its stored index for the field, else BUILDING."""
        return self.reads.texts.status(field, manifest or self.log.latest())

    def warm(self) -> dict[str, int]:
        """Load the view and every segment's ANN index now (instead of at first use)."""
        return self.reads.warm()

    def resident(self) -> dict[str, int]:
        """Bytes this process holds in memory for the index (vectors, ANN codes, parts)."""
        return self.reads.resident()

    @property
    def loaded(self) -> bool:
        """Whether this process holds the index in memory (else queries read the store)."""
        return self.snapshots.loaded

    @property
    def ann_settings(self) -> Settings:
        """The settings ANN searches run with (probes, rerank depth)."""
        return self.reads.ann.settings

    @ann_settings.setter
    def ann_settings(self, settings: Settings) -> None:
        """Trade recall for speed on a live engine (benchmarks sweep ``ann_nprobe`` so)."""
        self.reads.ann.settings = settings

    def tune_ann(self, **changes: Any) -> None:
        """Change ANN search settings in place, e.g. ``tune_ann(ann_nprobe=4)``."""
        self.ann_settings = replace(self.ann_settings, **changes)

    # --- background work --------------------------------------------------------------------

    def compact(self, mode: str = "auto") -> bool:
        """Merge runs into a segment (see ``Optimizer.plan``); True if something changed."""
        return self.optimizer.compact(mode)

    def index_text(self) -> bool:
        """Give one segment its missing text indexes; True if one was done."""
        return self.optimizer.index_text()

    def start_background(self) -> None:
        """Start compaction and text backfill now if either has work (e.g. a new text field)."""
        self.log.latest()
        self.optimizer.maybe_start()

    def wait_for_background(self) -> None:
        for thread in (self.optimizer.thread, self.reads.loading):
            if thread is not None:
                thread.join()

    def collect_garbage(self, grace_seconds: float | None = None) -> int:
        """Delete objects no recent manifest references; returns how many were deleted."""
        return self.gc.collect(grace_seconds)

    def stats(self) -> dict[str, Any]:
        manifest = self.log.latest()
        runs = manifest.runs
        return {
            "version": manifest.version,
            "runs": len(runs),
            "segments": sum(r.kind == "segment" for r in runs),
            "writeBatches": sum(r.kind == "wal" for r in runs),
            "rows": sum(r.rows - r.tombstones for r in runs),
            # Rows in segments with an ANN index; in segments small enough to stay exact;
            # and in write batches not yet folded into segments by the background compaction.
            "indexedRows": sum(r.rows - r.tombstones for r in runs if r.ann),
            "exactRows": sum(
                r.rows - r.tombstones for r in runs if r.kind == "segment" and not r.ann
            ),
            "pendingRows": sum(r.rows - r.tombstones for r in runs if r.kind == "wal"),
            # This process's compactions of the index so far, and whether one runs now.
            "compactions": self.optimizer.compactions,
            "compactedRows": self.optimizer.compacted_rows,
            "compactionSeconds": self.optimizer.compaction_seconds,
            "compacting": self.optimizer.running,
        }
