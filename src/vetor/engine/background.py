"""Background work on an index: compaction (with ANN and text indexes built for new
segments), text index backfill, and the thread that runs them and then collects garbage.

Compaction folds the WAL tail into a segment and merges segments size-tiered; each result is
committed like a write, on top of whatever was committed meanwhile, and leaves the content
unchanged (the view just takes the new version). Big segments get an IVF index; a merge
keeps its largest input's centroids when it can, so most rows keep their partitions and codes.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..store import call_deadline
from . import ivf
from .commits import CommitLog, too_many_commits
from .format import Manifest, RunRef, file_layout, merge_tables, vector_matrix, write_table
from .gc import GarbageCollector
from .snapshots import Snapshots, load_tables
from .textindex import TextField, write_run_text


@dataclass
class CompactionPlan:
    start: int  # index of the first run merged
    runs: tuple[RunRef, ...]

    @property
    def drops_tombstones(self) -> bool:
        return self.start == 0


class Optimizer:
    def __init__(
        self,
        log: CommitLog,
        snapshots: Snapshots,
        gc: GarbageCollector,
        dimension: int,
        metric: str,
    ) -> None:
        self.log, self.snapshots, self.gc = log, snapshots, gc
        self.dimension, self.metric = dimension, metric
        self.settings = log.settings
        self._lock = threading.Lock()  # guards the start of ``thread``
        self.thread: threading.Thread | None = None
        # What this process's compactions of the index have done (GET /metrics).
        self.compactions, self.compacted_rows, self.compaction_seconds = 0, 0, 0.0

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # --- scheduling -------------------------------------------------------------------------

    def maybe_start(self) -> None:
        """Start the background thread if compaction or text backfill has work."""
        manifest = self.log.current
        if self.plan(manifest) is None and not self._unindexed_text(manifest):
            return
        if not self.settings.background_compaction:
            self.compact()
            while self.index_text():
                pass
            self.gc.collect()
            return
        with self._lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        try:
            while self.compact():
                pass
            while self.index_text():
                pass
            self.gc.collect()
        except Exception:  # background work is best effort; the next write retries it
            pass

    # --- compaction -------------------------------------------------------------------------

    def plan(self, manifest: Manifest, mode: str = "auto") -> CompactionPlan | None:
        """What to merge next, if anything.

        ``auto``: fold the write-batch tail once it has ``compact_wal_runs`` batches; merge
        neighbouring segments too small for an ANN index once together they are big enough
        for one; merge segments size-tiered above ``max_segments`` runs. ``eager``: the same,
        but fold any write batch now. ``full``: everything into one segment, deletes applied
        (rewrites the whole index).
        """
        runs = manifest.runs
        if mode == "full":
            needed = len(runs) > 1 or any(r.tombstones for r in runs)
            return CompactionPlan(0, runs) if needed else None
        tail = len(runs)
        while tail > 0 and runs[tail - 1].kind == "wal":
            tail -= 1
        wal_count = len(runs) - tail
        if wal_count >= (1 if mode == "eager" else self.settings.compact_wal_runs):
            return CompactionPlan(tail, runs[tail:])
        small = self._indexable_span(runs)
        if small is not None:
            return small
        if len(runs) > self.settings.max_segments:
            sizes = [r.rows for r in runs]
            for start in range(len(runs) - 1):
                if sizes[start] <= 2 * sum(sizes[start + 1 :]):  # size-tiered
                    return CompactionPlan(start, runs[start:])
            return CompactionPlan(len(runs) - 2, runs[-2:])
        return None

    def _indexable_span(self, runs: tuple[RunRef, ...]) -> CompactionPlan | None:
        """The first stretch of neighbouring segments, each too small for an ANN index
        (``ann_min_rows`` live rows), whose rows together are enough for one."""
        minimum = self.settings.ann_min_rows
        start, total = 0, 0
        for end, run in enumerate(runs):
            live = run.rows - run.tombstones
            if run.kind != "segment" or live >= minimum:
                start, total = end + 1, 0
                continue
            total += live
            if total >= minimum and end > start:
                return CompactionPlan(start, runs[start : end + 1])
        return None

    def compact(self, mode: str = "auto") -> bool:
        """Merge runs into a segment (see ``plan``); True if something changed."""
        started = time.perf_counter()
        manifest = self.log.latest()
        plan = self.plan(manifest, mode)
        if plan is None:
            return False
        changed = self._compact(plan, manifest)
        if changed:
            self.compactions += 1
            self.compacted_rows += sum(r.rows for r in plan.runs)
            self.compaction_seconds += time.perf_counter() - started
        return changed

    def _compact(self, plan: CompactionPlan, manifest: Manifest) -> bool:
        log = self.log
        merged = merge_tables(self._tables(plan.runs), plan.drops_tombstones)
        directory = f"segments/{uuid.uuid4().hex}"
        path = f"{directory}/data.arrow"
        segment: tuple[RunRef, ...] = ()
        data = memoryview(b"")
        if len(merged):  # everything deleted: the runs simply disappear
            data = write_table(merged)
            log.store.put(log.key(path), data)
            ref = RunRef(
                path,
                "segment",
                plan.runs[0].min_seq,
                plan.runs[-1].max_seq,
                len(merged),
                int(pc.sum(merged.column("deleted")).as_py() or 0),
                len(data),
                text=self._write_text(directory, merged, log.text_fields(manifest)),
                ann=self._write_ann(directory, merged, data, plan.runs),
            )
            segment = (ref,)
        return self._commit_segment(plan, segment, path, data)

    def _commit_segment(
        self, plan: CompactionPlan, segment: tuple[RunRef, ...], path: str, data: memoryview
    ) -> bool:
        """Replace the plan's runs by the segment, on top of whatever was committed since."""
        log = self.log
        written_at = time.monotonic()
        # A foreground write waits for this lock within its own bound: hold it no longer.
        with log.commit_lock, call_deadline(self.settings.call_timeout_seconds):
            base = log.latest()
            for _ in range(self.settings.commit_retries):
                if segment and time.monotonic() - written_at > log.rewrite_after():
                    log.store.put(log.key(path), data)  # see WritePath._keep_alive
                    written_at = time.monotonic()
                start = _find(base.runs, plan.runs)
                if start is None or (plan.drops_tombstones and start != 0):
                    log.store.delete(log.key(path))  # another compaction got there first
                    return False
                runs = base.runs[:start] + segment + base.runs[start + len(plan.runs) :]
                manifest = log.next(base, runs, base.next_seq)
                if plan.drops_tombstones:
                    manifest = manifest.evolve(purged_seq=plan.runs[-1].max_seq)
                if log.try_commit(manifest):
                    if segment and time.monotonic() - written_at > log.rewrite_after():
                        log.store.put(log.key(path), data)  # see WritePath._keep_alive
                    self.snapshots.adopt_same_content(base, manifest)
                    return True
                base = log.latest()
        return False

    def _tables(self, runs: tuple[RunRef, ...]) -> list[pa.Table]:
        return load_tables(self.log.store, self.log.prefix, list(runs))

    # --- indexes of new segments ------------------------------------------------------------

    def _write_text(
        self, directory: str, table: pa.Table, fields: tuple[TextField, ...]
    ) -> tuple[str, ...]:
        """Store a segment's text indexes (before any manifest names them)."""
        if not fields:
            return ()
        keys = table.column("key").to_pylist()
        seqs = table.column("seq").to_numpy()
        metadata = table.column("metadata").to_pylist()
        store, prefix = self.log.store, self.log.prefix
        for f in fields:
            write_run_text(store, prefix, directory, f, keys, seqs, f.texts(metadata))
        return tuple(f.id for f in fields)

    def _write_ann(
        self, directory: str, table: pa.Table, data: memoryview, inputs: tuple[RunRef, ...]
    ) -> str:
        """Store a segment's IVF index if it is big enough (before any manifest names it).

        A merge whose largest input segment already had an index, holds at least half the rows
        and has at least 70 % of the partitions wanted keeps that index's centroids and
        quantizer, and its rows keep their partitions and codes: no k-means, and only the
        rows new to it are assigned and quantized.
        """
        live = np.flatnonzero(~table.column("deleted").to_numpy(zero_copy_only=False))
        if len(live) < self.settings.ann_min_rows:
            return ""
        vectors = vector_matrix(table, self.dimension)  # no copy: segments are large
        keys = table.column("key").take(pa.array(live))
        seqs = table.column("seq").to_numpy()[live]
        previous = self._reusable_index(inputs, len(live))
        if previous is not None:
            parts = ivf.build_reusing(*previous, keys, seqs, lambda rows: vectors[live[rows]])
            previous = None  # the old codes go before the new ones are encoded
        else:
            x = ivf.prepared(vectors if len(live) == len(table) else vectors[live], self.metric)
            centroids = ivf.train(x, self.metric, self.settings.ann_list_rows)
            parts = ivf.build(x, self.metric, centroids)
            del x
        head_bytes, lists = ivf.encode(parts, live, keys, seqs, file_layout(data))
        del parts
        every_key = table.column("key").to_pylist()  # tombstones too: they supersede as well
        head_path, lists_path, keys_path = ivf.paths(directory)
        store, key = self.log.store, self.log.key
        store.put(key(lists_path), lists)
        store.put(key(keys_path), ivf.fingerprints(every_key).tobytes())
        store.put(key(head_path), head_bytes)
        return "ivf-sq8"

    def _reusable_index(
        self, inputs: tuple[RunRef, ...], rows: int
    ) -> tuple[ivf.Head, list[ivf.Block]] | None:
        """The largest input's stored index, if a merge of ``rows`` rows may keep it."""
        indexed = [r for r in inputs if r.ann]
        if not indexed:
            return None
        largest = max(indexed, key=lambda r: r.rows)
        if 2 * largest.rows < rows:
            return None
        store, prefix = self.log.store, self.log.prefix
        head = ivf.read_head(store, prefix, largest.directory)
        if head.nlist < 0.7 * rows / self.settings.ann_list_rows:
            return None  # its partitions would grow too big
        return head, ivf.read_all_blocks(store, prefix, largest.directory, head)

    # --- text backfill ----------------------------------------------------------------------

    def _unindexed_text(self, manifest: Manifest) -> list[tuple[RunRef, tuple[TextField, ...]]]:
        """Segments lacking the stored index of a configured text field."""
        todo = []
        fields = self.log.text_fields(manifest)
        for run in manifest.runs:
            missing = tuple(f for f in fields if f.id not in run.text)
            if run.kind == "segment" and missing:
                todo.append((run, missing))
        return todo

    def index_text(self) -> bool:
        """Backfill: give one segment that lacks them its text indexes; True if one was done.

        Each segment is committed on its own, so the objects written are named by a manifest
        long before GC's grace period could take them.
        """
        log = self.log
        todo = self._unindexed_text(log.latest())
        if not todo:
            return False
        run, fields = todo[0]
        added = self._write_text(run.directory, self._tables((run,))[0], fields)
        with log.commit_lock, call_deadline(self.settings.call_timeout_seconds):
            for _ in range(self.settings.commit_retries):
                base = log.latest()
                if not any(r.path == run.path for r in base.runs):
                    return True  # compacted away meanwhile: its successor has its own indexes
                runs = tuple(
                    replace(r, text=tuple(dict.fromkeys(r.text + added)))
                    if r.path == run.path
                    else r
                    for r in base.runs
                )
                manifest = log.next(base, runs, base.next_seq)
                if log.try_commit(manifest):
                    self.snapshots.adopt_same_content(base, manifest)
                    return True
        raise too_many_commits()


def _find(runs: tuple[RunRef, ...], wanted: tuple[RunRef, ...]) -> int | None:
    """Position of ``wanted`` as a contiguous slice of ``runs`` (by path), or None."""
    paths = [r.path for r in runs]
    first = wanted[0].path
    if first not in paths:
        return None
    start = paths.index(first)
    if paths[start : start + len(wanted)] != [r.path for r in wanted]:
        return None
    return start
