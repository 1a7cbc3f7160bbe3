"""One vector index on an object store: commits, group commit, compaction, GC and reads.

Commit protocol: manifest versions are immutable objects ``manifests/<version>.json``
created with put-if-absent. A writer first stores its write batch as a new run object, then
creates manifest ``v+1`` listing it; the loser of a race reloads the latest manifest and
retries on top of it. A write is acknowledged only after its manifest exists, so every
acknowledged write is durable. Writers in one process queue up and the one holding the
commit lock commits everybody's batches in one manifest version (group commit).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..cache import MemoryCache
from ..errors import ConflictException
from ..settings import Settings
from ..store import ObjectNotFound, ObjectStore
from ..text import analyzer
from . import ivf
from .ann import AnnSearch
from .direct import DirectSearch
from .format import (
    FORMAT_VERSION,
    Manifest,
    Rows,
    RunRef,
    encode_run,
    file_layout,
    manifest_name,
    merge_tables,
    read_table,
    rows_of,
    vector_matrix,
    write_table,
)
from .rwlock import ReadWriteLock
from .textindex import (
    MappedRun,
    MemoryRunText,
    RunText,
    Scorer,
    StoredRunText,
    TermPostings,
    TextField,
    rrf,
    summed_scores,
    text_fields_of,
    write_run_text,
)
from .view import IndexView


class IndexGone(Exception):
    """The index was deleted (or deleted and re-created) under this engine."""


@dataclass
class _PendingWrite:
    run: RunRef
    rows: Rows
    data: memoryview  # the run object's bytes, to write again if the commit is slow (see GC)
    written_at: float  # monotonic time the run object was last written
    done: bool = False
    error: BaseException | None = None
    manifest: Manifest | None = None


@dataclass
class CompactionPlan:
    start: int  # index of the first run merged
    runs: tuple[RunRef, ...]

    @property
    def drops_tombstones(self) -> bool:
        return self.start == 0


@dataclass
class Hit:
    key: str
    distance: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    bm25: list[tuple[str, float]] = field(default_factory=list)  # (metadata key, score)
    fused: float | None = None  # RRF score of a hybrid search
    vector_distance: float | None = None  # set when a hybrid hit came from the vector side


@dataclass(frozen=True)
class TextQuery:
    field: TextField
    text: str


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
        self._manifest = Manifest(version=0, next_seq=1, extra={"index_id": index_id})
        self._manifest_seen_at = 0.0  # monotonic time ``_manifest`` was last known latest
        self._view = IndexView(dimension, metric)
        self._view_lock = ReadWriteLock()  # searches share; catch-up and backlog are alone
        self._state_lock = threading.Lock()
        self._gc_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_PendingWrite] = []
        self._background: threading.Thread | None = None
        self._run_paths_cache: dict[str, frozenset[str]] = {}
        self._backlog: list[Rows] = []  # our committed writes, not yet in the view
        self._backlog_rows = 0
        self._backlog_target: tuple[int, int] | None = None  # (version, seq) once applied
        # The configuration of a new index, until its first manifest carries it; for manifests
        # of format 1 (none carries it), ``legacy_config`` reads it once.
        self._initial_config = config or {}
        self._legacy_config = legacy_config
        self._run_texts: dict[tuple[str, str], RunText] = {}  # (run path, field id); immutable
        self._placed: dict[tuple[str, str], tuple[int, np.ndarray]] = {}  # → (generation, rows)
        self._text_lock = threading.Lock()
        self._scorers: dict[tuple[str, int, int, int], Scorer] = {}  # by field and state
        self._postings = MemoryCache(settings.text_cache_bytes)
        self._ann = AnnSearch(store, self.prefix, settings)
        self._direct = DirectSearch(store, self.prefix, dimension, metric, settings)
        self._loading: threading.Thread | None = None  # the view, after a direct query

    # --- manifests --------------------------------------------------------------------------

    def _key(self, relative: str) -> str:
        return self.prefix + relative

    def latest_manifest(self) -> Manifest:
        """The newest manifest in the store (one round trip when nothing changed)."""
        current = self._manifest
        known = current.version
        seen_at = time.monotonic()
        fresh = known > 0 and seen_at - self._manifest_seen_at < self._fresh_for()
        if fresh and self._nothing_after(current):
            self._advance(current, seen_at)
            return current
        after = self._key("manifests/" + manifest_name(known - 1)) if known > 0 else None
        listed = list(self.store.list(self._key("manifests/"), after))
        if not listed:
            if known > 0:  # our current manifest vanished: only an index delete does that
                raise IndexGone(self.prefix)
            return self._manifest
        latest = max(listed, key=lambda info: info.key)
        if known > 0 and latest.key == self._key("manifests/" + manifest_name(known)):
            self._advance(current, seen_at)
            return current
        try:
            manifest = Manifest.decode(self.store.get(latest.key))
        except ObjectNotFound:
            raise IndexGone(self.prefix) from None
        if manifest.deleted or manifest.extra.get("index_id") != self.index_id:
            raise IndexGone(self.prefix)
        self._advance(manifest, seen_at)
        return manifest

    def _fresh_for(self) -> float:
        """How long a manifest known to be latest stays safe to build on (or probe past).

        GC deletes a manifest only once its successor is older than the grace period, so
        within a quarter of it (capped at 30 s) the chain after a known-latest version cannot
        have holes.
        """
        return min(30.0, self.settings.gc_grace_seconds / 4)

    def _nothing_after(self, current: Manifest) -> bool:
        """Probe instead of LIST (whose cost grows with the manifests GC still keeps): True if
        ``current`` is still latest — version + 1 is absent while ``current`` itself still
        exists (a deleted index or bucket removes it). False: ask LIST."""
        names = [current.version + 1, current.version]
        keys = [self._key("manifests/" + manifest_name(v)) for v in names]
        after, itself = self.store.exists_many(keys)
        return not after and itself

    def _advance(self, manifest: Manifest, seen_at: float) -> None:

        with self._state_lock:
            if manifest.version > self._manifest.version:
                self._manifest, self._manifest_seen_at = manifest, seen_at
            elif manifest.version == self._manifest.version:
                self._manifest_seen_at = max(self._manifest_seen_at, seen_at)

    def initialize(self) -> None:
        """Write version 1, empty, for a new index (a writer that got there first is fine)."""
        first = self._next(self._manifest, (), 1).evolve(config=self._initial_config)
        self.store.put_if_absent(self._key("manifests/" + manifest_name(1)), first.encode())

    def retire(self) -> str | None:
        """Commit the deletion of this index; return the key of that last manifest.

        Deleting is a commit like any other, so a concurrent writer either committed before it
        (and is deleted with the index) or fails its commit and reports the index missing.
        Returns None if the index was already deleted.
        """
        for _ in range(self.settings.commit_retries):
            try:
                base = self.latest_manifest()
            except IndexGone:
                return None
            tombstone = self._next(base, (), base.next_seq).evolve(deleted=True)
            if self._try_commit(tombstone):
                return self._key("manifests/" + manifest_name(tombstone.version))
        raise ConflictException("Too many concurrent commits on this index; retry")

    def config(self, manifest: Manifest) -> dict[str, Any]:
        """The index configuration at ``manifest``."""
        if manifest.config:
            return manifest.config
        load = self._legacy_config
        if load is not None:  # once (or twice, in a race): then it is the initial configuration
            self._initial_config = load()
            self._legacy_config = None
        return self._initial_config

    def text_fields(self, manifest: Manifest) -> tuple[TextField, ...]:
        return text_fields_of(self.config(manifest))

    def update_config(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Manifest:
        """Commit a new configuration: ``change`` maps the latest one to it (and may raise to
        refuse the change). On a lost race it is applied again on top of the winner."""
        with self._commit_lock:
            for _ in range(self.settings.commit_retries):
                base = self.latest_manifest()
                config = change(copy.deepcopy(self.config(base)))
                manifest = self._next(base, base.runs, base.next_seq).evolve(config=config)
                if self._try_commit(manifest):
                    self._adopt_same_content(base, manifest)
                    return manifest
        raise ConflictException("Too many concurrent commits on this index; retry")

    def _commit_base(self) -> Manifest:
        """A base to commit on that GC cannot have made unsafe.

        GC deletes a manifest only once its successor is older than the grace period, so a
        put-if-absent of ``base.version + 1`` can only land in a collected hole if ``base`` was
        known to be latest longer ago than that. Bases older than a quarter of the grace
        period (capped at 30 s) are refreshed first.
        """
        if time.monotonic() - self._manifest_seen_at < self._fresh_for():
            return self._manifest
        return self.latest_manifest()

    def _try_commit(self, manifest: Manifest) -> bool:
        """Create a manifest version; True if ours is the one that now exists."""
        key = self._key("manifests/" + manifest_name(manifest.version))
        if self.store.put_if_absent(key, manifest.encode()):
            return True
        # A retried request may have created it already: only the commit id tells.
        try:
            return Manifest.decode(self.store.get(key)).commit_id == manifest.commit_id
        except ObjectNotFound:
            return False

    def _next(self, base: Manifest, runs: tuple[RunRef, ...], next_seq: int) -> Manifest:
        return base.evolve(
            version=base.version + 1,
            next_seq=next_seq,
            runs=runs,
            commit_id=uuid.uuid4().hex,
            created_at=datetime.now(UTC).isoformat(),
            format=FORMAT_VERSION,  # a manifest of format 1 evolves into the current format
        )

    # --- writes ---------------------------------------------------------------------------

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
        self.store.put(self._key(path), data)
        tombstones = int(rows.deleted.sum())
        run = RunRef(path, "wal", 0, 0, len(rows), tombstones, len(data))
        pending = _PendingWrite(run, rows, data, time.monotonic())
        with self._queue_lock:
            self._queue.append(pending)
        with self._commit_lock:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit_writes(batch)
        if pending.error is not None:
            raise pending.error
        assert pending.manifest is not None
        self._maybe_compact_in_background()
        return pending.manifest

    def _commit_writes(self, batch: list[_PendingWrite]) -> None:
        try:
            base = self._commit_base()
            for _ in range(self.settings.commit_retries):
                for pending in batch:
                    self._keep_alive(pending)
                seq = base.next_seq
                runs = tuple(
                    RunRef(**{**p.run.__dict__, "min_seq": seq + i, "max_seq": seq + i})
                    for i, p in enumerate(batch)
                )
                manifest = self._next(base, base.runs + runs, seq + len(batch))
                if self._try_commit(manifest):
                    for pending in batch:  # repair, should GC have struck during the commit
                        self._keep_alive(pending)
                    self._committed(base, manifest, batch, runs)
                    return
                base = self.latest_manifest()
            raise ConflictException("Too many concurrent commits on this index; retry")
        except BaseException as error:
            for pending in batch:
                pending.error, pending.done = error, True
            raise

    def _keep_alive(self, pending: _PendingWrite) -> None:
        """Write a run object again if GC could have taken it for abandoned.

        GC deletes unreferenced runs older than the grace period. A commit that stalls (slow
        store, lost races, a paused process) rewrites its run before each attempt and once more
        after success, so a committed manifest never points at a collected object for long.
        """
        if time.monotonic() - pending.written_at > self._rewrite_after():
            self.store.put(self._key(pending.run.path), pending.data)
            pending.written_at = time.monotonic()

    def _rewrite_after(self) -> float:
        """How old an uncommitted run may get before it is written again (seconds)."""
        s = self.settings
        budget = s.store_retry_timeout_seconds + s.store_request_timeout_seconds
        return max(0.0, s.gc_grace_seconds - budget) / 2

    def _committed(
        self,
        base: Manifest,
        manifest: Manifest,
        batch: list[_PendingWrite],
        runs: tuple[RunRef, ...],
    ) -> None:
        self._advance(manifest, time.monotonic())
        with self._view_lock.write():
            # Keep our own writes for the view, applied lazily at the next read: ingest does
            # not pay for view upkeep, and a read needs no store round trip to see them.
            if self._view_seq() == base.next_seq - 1:
                for pending, run in zip(batch, runs):
                    pending.rows.seqs[:] = run.min_seq
                    self._backlog.append(pending.rows)
                self._backlog_rows += sum(len(p.rows) for p in batch)
                self._backlog_target = (manifest.version, runs[-1].max_seq)
                if self._backlog_rows > self.settings.view_backlog_rows:
                    self._drop_backlog()  # a write-only process: readers reload from the store
        for pending in batch:
            pending.manifest, pending.done = manifest, True

    # --- reads ----------------------------------------------------------------------------

    def _view_seq(self) -> int:
        """The seq the view reaches once its backlog of our own writes is applied."""
        return self._backlog_target[1] if self._backlog_target else self._view.applied_seq

    def _apply_backlog(self) -> None:
        if self._backlog_target is not None:
            for rows in self._backlog:
                self._view.apply(rows)
            self._view.version, self._view.applied_seq = self._backlog_target
        self._drop_backlog()

    def _drop_backlog(self) -> None:
        self._backlog, self._backlog_rows, self._backlog_target = [], 0, None

    def view(self, latest: Manifest | None = None) -> IndexView:
        """The view at the latest committed version (strongly consistent). ``latest``: that
        version, when the caller has just read it."""
        for attempt in range(3):
            manifest = latest if latest is not None and attempt == 0 else self.latest_manifest()
            with self._view_lock.read():  # the common case: nothing new, readers share
                if self._backlog_target is None and self._view.version >= manifest.version:
                    return self._view
            with self._view_lock.write():
                self._apply_backlog()
                if self._view.version >= manifest.version:
                    return self._view
                try:
                    self._catch_up(manifest)
                    return self._view
                except ObjectNotFound:  # a run was collected under us: reload and retry
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _catch_up(self, manifest: Manifest) -> None:
        view = self._view
        if view.applied_seq < manifest.purged_seq:
            view = IndexView(self.dimension, self.metric)  # cannot catch up: rebuild
        todo = [r for r in manifest.runs if r.max_seq > view.applied_seq]
        for rows in self._load_runs(todo):
            fresh = rows.seqs > view.applied_seq
            view.apply(rows if fresh.all() else rows.take(np.flatnonzero(fresh)))
        view.version, view.applied_seq = manifest.version, manifest.next_seq - 1
        self._view = view

    def _load_runs(self, runs: list[RunRef]) -> Iterator[Rows]:
        for table in self._load_tables(runs):
            yield rows_of(table, self.dimension)

    def _load_tables(self, runs: list[RunRef]) -> list[pa.Table]:
        blobs = self.store.get_many([self._key(r.path) for r in runs])
        # A write batch's rows all carry the batch's seq (the file stores 0).
        return [
            read_table(blob, run.min_seq if run.kind == "wal" else None)  # type: ignore[arg-type]
            for run, blob in zip(runs, blobs)
        ]

    @contextlib.contextmanager
    def snapshot(self, latest: Manifest | None = None) -> Iterator[IndexView]:
        """The latest view, held steady (no concurrent catch-up) for the block.

        The store round trip that finds the latest version happens before the lock is taken,
        so concurrent readers do not queue behind each other's network latency; the view held
        is at least that version (strong consistency), possibly newer.
        """
        self.view(latest)
        with self._view_lock.read():
            yield self._view

    def query(
        self, vector: np.ndarray, k: int, where: Callable[[IndexView], np.ndarray] | None = None
    ) -> list[Hit]:
        return self.search(vector, (), k, where)

    def search(
        self,
        vector: np.ndarray | None,
        texts: tuple[TextQuery, ...],
        k: int,
        where: Callable[[IndexView], np.ndarray] | None = None,
        depth: int = 0,
        metadata: bool = True,
        *,
        page: slice = slice(None),
        at: Manifest | None = None,
    ) -> list[Hit]:
        """The ``page`` slice of the top ``k``: by vector distance, by BM25 (summed over the
        text queries), or both fused by weighted RRF over the best ``max(k, depth)`` of each side.
        Only the page's hits are built. ``metadata``: whether they need their metadata.
        ``at``: the latest manifest, when the caller has just read it."""
        if vector is not None and not texts and where is None:
            direct = self._direct_manifest(at)
            hits = (
                None if direct is None else self._direct_search(direct, vector, k, metadata, page)
            )
            if hits is not None:
                return hits
        with self.snapshot(at) as view:
            mask = None if where is None else where(view)
            if not texts:
                assert vector is not None
                rows, distances = self._nearest(view, vector, k, mask)
                return [
                    Hit(view.key(r), float(d), view.metadata(r) if metadata else {})
                    for r, d in zip(rows[page], distances[page])
                ]
            manifest = self._manifest  # never older than the view
            per_field = [self._bm25(view, manifest, q) for q in texts]
            every = [p for postings in per_field for p in postings]
            depth = k if vector is None else max(k, depth)
            rows, scores = summed_scores(every, view.n, mask, depth)
            if vector is None:
                chosen, best = _top(view, rows, scores, k)
                chosen, best = chosen[page], best[page]
                by_field = [best] if len(texts) == 1 else _field_scores(per_field, chosen)
                return self._text_hits(view, chosen, texts, by_field, None, {}, {})
            vector_rows, distances = self._nearest(view, vector, depth, mask)
            text_rows, _ = _top(view, rows, scores, depth)
            settings = self.settings
            fused = rrf(
                [vector_rows, text_rows],
                [settings.hybrid_vector_weight, 1.0],
                settings.hybrid_rrf_constant,
            )
            # Ties (one side's rank r against the other's) go to the vector side's hit: the
            # dense ranking is usually the stronger one, then the key decides.
            vector_rank = {row: rank for rank, row in enumerate(vector_rows.tolist())}
            order = sorted(
                fused,
                key=lambda r: (-fused[r], vector_rank.get(r, len(vector_rank)), view.key(r)),
            )
            chosen = np.array(order[:k][page], np.int64)
            near = dict(zip(vector_rows.tolist(), distances.tolist()))
            by_field = _field_scores(per_field, chosen)
            return self._text_hits(view, chosen, texts, by_field, vector, fused, near)

    def _direct_manifest(self, latest: Manifest | None) -> Manifest | None:
        """The latest manifest, when a vector query should read the store directly: this
        process has not loaded the index and its ANN indexes yet (or may not), and segments
        have ANN indexes."""
        loading = self._loading is not None and self._loading.is_alive()
        # No lock: a view being loaded keeps version 0 until it is complete.
        if not loading and (self._view.version > 0 or self._backlog_target is not None):
            return None
        manifest = latest or self.latest_manifest()
        return manifest if any(r.ann for r in manifest.runs) else None

    def _direct_search(
        self, manifest: Manifest, vector: np.ndarray, k: int, metadata: bool, page: slice
    ) -> list[Hit] | None:
        """Hits read straight from the store; None when the view must answer (an index of
        format 1, or an object collected under the query: the view path retries)."""
        try:
            found = self._direct.search(manifest, vector, k, metadata, page)
        except ObjectNotFound:
            found = None
        finally:
            self._load_in_background(manifest)
        if found is None:
            return None
        return [Hit(key, d, meta or {}) for key, d, meta in found]

    def _too_big(self, manifest: Manifest) -> bool:
        budget = self.settings.view_memory_bytes
        return budget > 0 and sum(r.rows for r in manifest.runs) * 4 * self.dimension > budget

    def _load_in_background(self, manifest: Manifest) -> None:
        """After a query read the store directly: load the view and the ANN indexes for the
        next ones (unless the index is over the memory budget)."""
        if self._too_big(manifest):
            return
        with self._state_lock:
            if self._loading is not None:
                return
            self._loading = threading.Thread(target=self._load_quietly, daemon=True)
        self._loading.start()

    def _load_quietly(self) -> None:
        try:
            self.warm()
        except Exception:  # best effort: the next query reads the store directly again
            with self._state_lock:
                self._loading = None

    def _nearest(
        self, view: IndexView, vector: np.ndarray, k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by distance: the loaded ANN indexes plus an exact scan of everything else."""
        searchers, missing = self._ann.ready(view, self._ann_segments())
        if missing:
            self._ann.load_in_background(missing, self.snapshot)
        return self._ann.search(view, searchers, vector, k, mask)

    def warm(self) -> dict[str, int]:
        """Load the view and every segment's ANN index now (instead of at first use)."""
        with self.snapshot() as view:
            segments = self._ann_segments()
            _, missing = self._ann.ready(view, segments)
            for segment in missing:
                self._ann.load(view, segment)
            return {"rows": len(view), "annIndexes": len(segments), **self.resident()}

    def _ann_segments(self) -> list[str]:
        """Directories of the current manifest's segments that have an ANN index."""
        return [r.directory for r in self._manifest.runs if r.ann]

    def resident(self) -> dict[str, int]:
        """Bytes this process holds in memory for the index (vectors, ANN codes, texts)."""
        return {
            "residentVectorBytes": self._view.nbytes,
            "residentAnnBytes": self._ann.resident_bytes(),
            "residentDirectBytes": self._direct.parts.used,  # parts read for direct queries
        }

    def _text_hits(
        self,
        view: IndexView,
        chosen: np.ndarray,
        texts: tuple[TextQuery, ...],
        by_field: list[np.ndarray],
        vector: np.ndarray | None,
        fused: dict[int, float],
        near: dict[int, float],
    ) -> list[Hit]:
        distances = view.distances(vector, chosen) if vector is not None else None
        matched: list[list[tuple[str, float]]] = [[] for _ in chosen]
        for query, scores in zip(texts, by_field):  # each field's BM25 of each chosen row
            for i in np.flatnonzero(scores > 0):
                matched[i].append((query.field.key, float(scores[i])))
        return [
            Hit(
                view.key(row),
                None if distances is None else float(distances[i]),
                view.metadata(row),
                bm25=matched[i],
                fused=fused.get(row),
                vector_distance=near.get(row),
            )
            for i, row in enumerate(chosen.tolist())
        ]

    def _bm25(self, view: IndexView, manifest: Manifest, query: TextQuery) -> list[TermPostings]:
        """The live postings of one text query's terms in its field, scored by BM25."""
        field = query.field
        state = (field.id, view.generation, view.version, view.n)
        scorer = self._scorers.get(state)
        if scorer is None:  # once per index state: its statistics scan every row
            runs = [
                MappedRun(self._run_text(run, field), self._rows_in_view(view, run, field))
                for run in manifest.runs
            ]
            scorer = Scorer(runs, view.live().copy(), self.settings.text_cache_bytes)
            with self._text_lock:
                self._scorers = {s: v for s, v in self._scorers.items() if s[0] != field.id}
                self._scorers[state] = scorer
        return scorer.postings(analyzer(field.language)(query.text))

    def _run_text(self, run: RunRef, field: TextField) -> RunText:
        """A run's text index for a field: stored next to a segment, else built in memory."""
        key = (run.path, field.id)
        text = self._run_texts.get(key)
        if text is not None:
            return text
        if field.id in run.text:
            text = StoredRunText(self.store, self.prefix, run.directory, field, self._postings)
        else:
            table = self._load_tables([run])[0]
            text = MemoryRunText(
                table.column("key").to_pylist(),
                table.column("seq").to_numpy(),
                field.texts(table.column("metadata").to_pylist()),
                field,
            )
        with self._text_lock:
            if len(self._run_texts) > 4 * len(self._manifest.runs) + 16:
                current = {r.path for r in self._manifest.runs}
                for stale in [k for k in self._run_texts if k[0] not in current]:
                    self._run_texts.pop(stale, None)
                    self._placed.pop(stale, None)
            return self._run_texts.setdefault(key, text)

    def _rows_in_view(self, view: IndexView, run: RunRef, field: TextField) -> np.ndarray:
        """Where the run's rows are in the view (-1: superseded); cached while rows keep
        their numbers, once the view holds all of the run."""
        key = (run.path, field.id)
        cached = self._placed.get(key)
        if cached is not None and cached[0] == view.generation:
            return cached[1]
        text = self._run_text(run, field)
        rows = view.place(text.keys, text.seqs)
        if run.max_seq <= view.applied_seq:
            self._placed[key] = (view.generation, rows)
        return rows

    def text_status(self, field: TextField, manifest: Manifest | None = None) -> str:
        """ACTIVE once every segment has its stored index for the field, else BUILDING."""
        runs = (manifest or self.latest_manifest()).runs
        missing = any(r.kind == "segment" and field.id not in r.text for r in runs)
        return "BUILDING" if missing else "ACTIVE"

    # --- compaction and garbage collection --------------------------------------------------

    def plan_compaction(self, manifest: Manifest, mode: str = "auto") -> CompactionPlan | None:
        """What to merge next, if anything.

        ``auto``: fold the write-batch tail once it has ``compact_wal_runs`` batches; merge
        segments size-tiered above ``max_segments`` runs. ``eager``: fold any write batch now.
        ``full``: everything into one segment, deletes applied (rewrites the whole index).
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
        if len(runs) > self.settings.max_segments:
            sizes = [r.rows for r in runs]
            for start in range(len(runs) - 1):
                if sizes[start] <= 2 * sum(sizes[start + 1 :]):  # size-tiered
                    return CompactionPlan(start, runs[start:])
            return CompactionPlan(len(runs) - 2, runs[-2:])
        return None

    def compact(self, mode: str = "auto") -> bool:
        """Merge runs into a segment (see ``plan_compaction``); True if something changed."""
        manifest = self.latest_manifest()
        plan = self.plan_compaction(manifest, mode)
        if plan is None:
            return False
        merged = merge_tables(self._load_tables(list(plan.runs)), plan.drops_tombstones)
        directory = f"segments/{uuid.uuid4().hex}"
        path = f"{directory}/data.arrow"
        segment: tuple[RunRef, ...] = ()
        data = memoryview(b"")
        if len(merged):  # everything deleted: the runs simply disappear
            data = write_table(merged)
            self.store.put(self._key(path), data)
            ref = RunRef(
                path,
                "segment",
                plan.runs[0].min_seq,
                plan.runs[-1].max_seq,
                len(merged),
                int(pc.sum(merged.column("deleted")).as_py() or 0),
                len(data),
                text=self._write_text(directory, merged, self.text_fields(manifest)),
                ann=self._write_ann(directory, merged, data, plan.runs),
            )
            segment = (ref,)
        written_at = time.monotonic()
        with self._commit_lock:
            base = self.latest_manifest()
            for _ in range(self.settings.commit_retries):
                if segment and time.monotonic() - written_at > self._rewrite_after():
                    self.store.put(self._key(path), data)  # see _keep_alive
                    written_at = time.monotonic()
                start = _find(base.runs, plan.runs)
                if start is None or (plan.drops_tombstones and start != 0):
                    self.store.delete(self._key(path))  # another compaction got there first
                    return False
                runs = base.runs[:start] + segment + base.runs[start + len(plan.runs) :]
                manifest = self._next(base, runs, base.next_seq)
                if plan.drops_tombstones:
                    manifest = manifest.evolve(purged_seq=plan.runs[-1].max_seq)
                if self._try_commit(manifest):
                    if segment and time.monotonic() - written_at > self._rewrite_after():
                        self.store.put(self._key(path), data)  # see _keep_alive
                    self._adopt_same_content(base, manifest)
                    return True
                base = self.latest_manifest()
        return False

    def _adopt_same_content(self, base: Manifest, manifest: Manifest) -> None:
        """After a commit that changed the layout but not the content (compaction, text
        backfill): the view stays valid and just takes the new version."""
        self._advance(manifest, 0.0)
        with self._view_lock.write():
            self._apply_backlog()
            if self._view.applied_seq == base.next_seq - 1:
                self._view.version = manifest.version

    def _write_text(
        self, directory: str, table: pa.Table, fields: tuple[TextField, ...]
    ) -> tuple[str, ...]:
        """Store a segment's text indexes (before any manifest names them)."""
        if not fields:
            return ()
        keys = table.column("key").to_pylist()
        seqs = table.column("seq").to_numpy()
        metadata = table.column("metadata").to_pylist()
        for f in fields:
            write_run_text(self.store, self.prefix, directory, f, keys, seqs, f.texts(metadata))
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
        self.store.put(self._key(lists_path), lists)
        self.store.put(self._key(keys_path), ivf.fingerprints(every_key).tobytes())
        self.store.put(self._key(head_path), head_bytes)
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
        head = ivf.read_head(self.store, self.prefix, largest.directory)
        if head.nlist < 0.7 * rows / self.settings.ann_list_rows:
            return None  # its partitions would grow too big
        return head, ivf.read_all_blocks(self.store, self.prefix, largest.directory, head)

    def _unindexed_text(self, manifest: Manifest) -> list[tuple[RunRef, tuple[TextField, ...]]]:
        """Segments lacking the stored index of a configured text field."""
        todo = []
        fields = self.text_fields(manifest)
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
        todo = self._unindexed_text(self.latest_manifest())
        if not todo:
            return False
        run, fields = todo[0]
        added = self._write_text(run.directory, self._load_tables([run])[0], fields)
        with self._commit_lock:
            for _ in range(self.settings.commit_retries):
                base = self.latest_manifest()
                current = [r for r in base.runs if r.path == run.path]
                if not current:
                    return True  # compacted away meanwhile: its successor has its own indexes
                runs = tuple(
                    replace(r, text=tuple(dict.fromkeys(r.text + added)))
                    if r.path == run.path
                    else r
                    for r in base.runs
                )
                manifest = self._next(base, runs, base.next_seq)
                if self._try_commit(manifest):
                    self._adopt_same_content(base, manifest)
                    return True
        raise ConflictException("Too many concurrent commits on this index; retry")

    def _maybe_compact_in_background(self) -> None:
        manifest = self._manifest
        if self.plan_compaction(manifest) is None and not self._unindexed_text(manifest):
            return
        if not self.settings.background_compaction:
            self.compact()
            while self.index_text():
                pass
            self.collect_garbage()
            return
        with self._state_lock:
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(target=self._compact_loop, daemon=True)
            self._background.start()

    def start_background(self) -> None:
        """Start compaction and text backfill now if either has work (e.g. a new text field)."""
        self.latest_manifest()
        self._maybe_compact_in_background()

    def _compact_loop(self) -> None:
        try:
            while self.compact():
                pass
            while self.index_text():
                pass
            self.collect_garbage()
        except Exception:  # background work is best effort; the next write retries it
            pass

    def wait_for_background(self) -> None:
        for thread in (self._background, self._loading):
            if thread is not None:
                thread.join()

    def collect_garbage(self, grace_seconds: float | None = None) -> int:
        """Delete objects no recent manifest references; returns how many were deleted.

        A manifest is kept while it is the newest or its successor is younger than the grace
        period (it was current within the window, so a reader may still hold it). Runs those
        manifests reference are kept, and so is any run younger than the grace period (its
        writer may be about to commit it).
        """
        with self._gc_lock:  # one collection at a time per engine
            return self._collect_garbage(
                self.settings.gc_grace_seconds if grace_seconds is None else grace_seconds
            )

    def _collect_garbage(self, grace: float) -> int:
        now = time.time()
        manifests = sorted(self.store.list(self._key("manifests/")), key=lambda i: i.key)
        if not manifests:
            return 0
        young = [now - m.last_modified.timestamp() < grace for m in manifests]
        keep = {m.key for m, next_young in zip(manifests, young[1:] + [True]) if next_young}
        doomed = [m.key for m in manifests if m.key not in keep]
        referenced: set[str] = set()
        for key in keep:
            referenced |= self._run_paths(key)
        cache = dict(self._run_paths_cache)
        self._run_paths_cache = {k: v for k, v in cache.items() if k in keep}
        for area in ("wal/", "segments/"):
            for info in self.store.list(self._key(area)):
                relative = info.key[len(self.prefix) :]
                if relative not in referenced and now - info.last_modified.timestamp() >= grace:
                    doomed.append(info.key)
        self.store.delete_many(doomed)
        return len(doomed)

    def _run_paths(self, manifest_key: str) -> frozenset[str]:
        """The runs a manifest references (manifests are immutable: cached)."""
        paths = self._run_paths_cache.get(manifest_key)
        if paths is None:
            try:
                runs = Manifest.decode(self.store.get(manifest_key)).runs
            except ObjectNotFound:
                runs = ()
            paths = self._run_paths_cache[manifest_key] = frozenset(_objects_of(runs))
        return paths

    def stats(self) -> dict[str, Any]:
        manifest = self.latest_manifest()
        return {
            "version": manifest.version,
            "runs": len(manifest.runs),
            "segments": sum(r.kind == "segment" for r in manifest.runs),
            "writeBatches": sum(r.kind == "wal" for r in manifest.runs),
            "rows": sum(r.rows - r.tombstones for r in manifest.runs),
            # Rows in segments with an ANN index; in segments small enough to stay exact;
            # and in write batches not yet folded into segments by the background compaction.
            "indexedRows": sum(r.rows - r.tombstones for r in manifest.runs if r.ann),
            "exactRows": sum(
                r.rows - r.tombstones for r in manifest.runs if r.kind == "segment" and not r.ann
            ),
            "pendingRows": sum(r.rows - r.tombstones for r in manifest.runs if r.kind == "wal"),
        }


def _field_scores(per_field: list[list[TermPostings]], rows: np.ndarray) -> list[np.ndarray]:
    """Each field's BM25 score of each of ``rows``."""
    return [sum((p.score_of(rows) for p in terms), np.zeros(len(rows))) for terms in per_field]


def _top(
    view: IndexView, rows: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows by score, descending; ties broken by key so pages are stable."""
    if len(rows) > 8 * k:  # the k-th best of a few rows is a floor: one cheap pass drops most
        head = scores[: 4 * k]
        keep = scores >= np.partition(head, len(head) - k)[len(head) - k]
        rows, scores = rows[keep], scores[keep]
    if len(rows) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth  # ties at the boundary stay in, to be ordered by key
        rows, scores = rows[keep], scores[keep]
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], view.key(rows[i])))[:k]
    return rows[order], scores[order]


def _objects_of(runs: tuple[RunRef, ...]) -> Iterator[str]:
    """Every object the runs consist of: their data, and their segments' text indexes."""
    for run in runs:
        yield run.path
        for field_id in run.text:
            yield from TextField.from_id(field_id).paths(run.directory)
        if run.ann:
            yield from ivf.paths(run.directory)


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
