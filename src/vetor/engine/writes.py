"""The write path: write batches stored as WAL runs, committed together (group commit).

A writer first stores its batch as a new run object, then queues it; whoever holds the commit
lock commits every queued batch in one manifest version. A write is acknowledged only after
its manifest exists, so every acknowledged write is durable.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import StoreError
from ..store import bounded
from .commits import CommitLog, too_many_commits
from .format import Manifest, Rows, RunRef, encode_run
from .snapshots import Snapshots


@dataclass
class PendingWrite:
    run: RunRef
    rows: Rows
    data: memoryview  # the run object's bytes, to write again if the commit is slow (see GC)
    written_at: float  # monotonic time the run object was last written
    done: bool = False
    error: BaseException | None = None
    manifest: Manifest | None = None


class WritePath:
    def __init__(
        self,
        log: CommitLog,
        snapshots: Snapshots,
        dimension: int,
        after_write: Callable[[], None],
    ) -> None:
        self.log, self.snapshots = log, snapshots
        self.dimension = dimension
        self.after_write = after_write  # e.g. start background compaction
        self._queue_lock = threading.Lock()  # guards the queue only (taken inside commit_lock)
        self._queue: list[PendingWrite] = []

    def upsert(
        self, keys: list[str], vectors: np.ndarray, metadata: list[bytes | None]
    ) -> Manifest:
        """Insert or overwrite rows by key (keys must be unique). Durable on return."""
        n = len(keys)
        # Copies: the rows outlive the call (they feed the in-memory view later).
        rows = Rows(
            list(keys), np.zeros(n, np.uint64), np.zeros(n, bool), vectors.copy(), list(metadata)
        )
        return self._write(rows)

    def delete(self, keys: list[str]) -> Manifest:
        """Delete rows by key (missing keys are fine). Durable on return."""
        n = len(keys)
        zeros = np.zeros((n, self.dimension), np.float32)
        rows = Rows(list(keys), np.zeros(n, np.uint64), np.ones(n, bool), zeros, [None] * n)
        return self._write(rows)

    def _write(self, rows: Rows) -> Manifest:
        data = encode_run(rows, self.dimension)
        path = f"wal/{uuid.uuid4().hex}.arrow"
        self.log.store.put(self.log.key(path), data)
        tombstones = int(rows.deleted.sum())
        run = RunRef(path, "wal", 0, 0, len(rows), tombstones, len(data))
        pending = PendingWrite(run, rows, data, time.monotonic())
        with self._queue_lock:
            self._queue.append(pending)
        try:
            with bounded(self.log.commit_lock, "this index's commit lock"):
                if not pending.done:  # nobody committed it for us meanwhile: commit the queue
                    with self._queue_lock:
                        batch, self._queue = self._queue, []
                    self._commit(batch)
        except StoreError:  # the caller hears "failed": no later commit may carry it along
            with self._queue_lock:
                self._queue = [p for p in self._queue if p is not pending]
            raise
        if pending.error is not None:
            raise pending.error
        assert pending.manifest is not None
        self.after_write()
        return pending.manifest

    def _commit(self, batch: list[PendingWrite]) -> None:
        log = self.log
        try:
            base = log.commit_base()
            for _ in range(log.settings.commit_retries):
                for pending in batch:
                    self._keep_alive(pending)
                seq = base.next_seq
                runs = tuple(
                    RunRef(**{**p.run.__dict__, "min_seq": seq + i, "max_seq": seq + i})
                    for i, p in enumerate(batch)
                )
                manifest = log.next(base, base.runs + runs, seq + len(batch))
                if log.try_commit(manifest):
                    for pending in batch:  # repair, should GC have struck during the commit
                        self._keep_alive(pending)
                    log.advance(manifest, time.monotonic())
                    self.snapshots.committed(base, manifest, [p.rows for p in batch], runs)
                    for pending in batch:
                        pending.manifest, pending.done = manifest, True
                    return
                base = log.latest()
            raise too_many_commits()
        except BaseException as error:
            for pending in batch:
                pending.error, pending.done = error, True
            raise

    def _keep_alive(self, pending: PendingWrite) -> None:
        """Write a run object again if GC could have taken it for abandoned.

        GC deletes unreferenced runs older than the grace period. A commit that stalls (slow
        store, lost races, a paused process) rewrites its run before each attempt and once more
        after success, so a committed manifest never points at a collected object for long.
        """
        if time.monotonic() - pending.written_at > self.log.rewrite_after():
            self.log.store.put(self.log.key(pending.run.path), pending.data)
            pending.written_at = time.monotonic()
