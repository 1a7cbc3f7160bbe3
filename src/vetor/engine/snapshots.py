"""The in-memory view of an index, kept at the latest committed version.

Readers share the view under a read lock; catching up (loading the runs committed since) and
applying this process's own writes take the write lock. Our own committed writes are kept as
a backlog and applied lazily at the next read: ingest does not pay for view upkeep, and a read
needs no store round trip to see them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from ..settings import Settings
from ..store import ObjectNotFound, ObjectStore
from .commits import CommitLog
from .format import Manifest, Rows, RunRef, read_table, rows_of
from .rwlock import ReadWriteLock
from .view import IndexView


def load_tables(store: ObjectStore, prefix: str, runs: list[RunRef]) -> list[pa.Table]:
    """The runs' tables, fetched in parallel."""
    blobs = store.get_many([prefix + r.path for r in runs])
    # A write batch's rows all carry the batch's seq (the file stores 0).
    return [
        read_table(blob, run.min_seq if run.kind == "wal" else None)  # type: ignore[arg-type]
        for run, blob in zip(runs, blobs, strict=True)
    ]


class Snapshots:
    def __init__(self, log: CommitLog, dimension: int, metric: str, settings: Settings) -> None:
        self.log = log
        self.dimension, self.metric, self.settings = dimension, metric, settings
        self.current = IndexView(dimension, metric)  # replaced whole on a rebuild
        self.lock = ReadWriteLock()  # searches share; catch-up and backlog are alone
        self._backlog: list[Rows] = []  # our committed writes, not yet in the view
        self._backlog_rows = 0
        self._backlog_target: tuple[int, int] | None = None  # (version, seq) once applied

    @property
    def loaded(self) -> bool:
        """Whether this process holds the index (or is about to, from its own writes)."""
        return self.current.version > 0 or self._backlog_target is not None

    def view(self, latest: Manifest | None = None) -> IndexView:
        """The view at the latest committed version (strongly consistent). ``latest``: that
        version, when the caller has just read it."""
        for attempt in range(3):
            manifest = latest if latest is not None and attempt == 0 else self.log.latest()
            with self.lock.read():  # the common case: nothing new, readers share
                if self._backlog_target is None and self.current.version >= manifest.version:
                    return self.current
            with self.lock.write():
                self._apply_backlog()
                if self.current.version >= manifest.version:
                    return self.current
                try:
                    self._catch_up(manifest)
                    return self.current
                except ObjectNotFound:  # a run was collected under us: reload and retry
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def snapshot(self, latest: Manifest | None = None) -> Iterator[IndexView]:
        """The latest view, held steady (no concurrent catch-up) for the block.

        The store round trip that finds the latest version happens before the lock is taken,
        so concurrent readers do not queue behind each other's network latency; the view held
        is at least that version (strong consistency), possibly newer.
        """
        self.view(latest)
        with self.lock.read():
            yield self.current

    def committed(
        self, base: Manifest, manifest: Manifest, batches: list[Rows], runs: tuple[RunRef, ...]
    ) -> None:
        """Our write batches were committed as ``runs`` in ``manifest`` (built on ``base``)."""
        with self.lock.write():
            if self._view_seq() != base.next_seq - 1:
                return  # the view misses earlier commits anyway: the next read catches up
            for rows, run in zip(batches, runs, strict=True):
                rows.seqs[:] = run.min_seq
                self._backlog.append(rows)
            self._backlog_rows += sum(len(rows) for rows in batches)
            self._backlog_target = (manifest.version, runs[-1].max_seq)
            if self._backlog_rows > self.settings.view_backlog_rows:
                self._drop_backlog()  # a write-only process: readers reload from the store

    def adopt_same_content(self, base: Manifest, manifest: Manifest) -> None:
        """After a commit that changed the layout but not the content (compaction, text
        backfill, configuration): the view stays valid and just takes the new version."""
        self.log.advance(manifest, 0.0)
        with self.lock.write():
            self._apply_backlog()
            if self.current.applied_seq == base.next_seq - 1:
                self.current.version = manifest.version

    def _view_seq(self) -> int:
        """The seq the view reaches once its backlog of our own writes is applied."""
        return self._backlog_target[1] if self._backlog_target else self.current.applied_seq

    def _apply_backlog(self) -> None:
        if self._backlog_target is not None:
            for rows in self._backlog:
                self.current.apply(rows)
            self.current.version, self.current.applied_seq = self._backlog_target
        self._drop_backlog()

    def _drop_backlog(self) -> None:
        self._backlog, self._backlog_rows, self._backlog_target = [], 0, None

    def _catch_up(self, manifest: Manifest) -> None:
        view = self.current
        if view.applied_seq < manifest.purged_seq:
            view = IndexView(self.dimension, self.metric)  # cannot catch up: rebuild
        todo = [r for r in manifest.runs if r.max_seq > view.applied_seq]
        for table in load_tables(self.log.store, self.log.prefix, todo):
            rows = rows_of(table, self.dimension)
            fresh = rows.seqs > view.applied_seq
            view.apply(rows if fresh.all() else rows.take(np.flatnonzero(fresh)))
        view.version, view.applied_seq = manifest.version, manifest.next_seq - 1
        self.current = view
