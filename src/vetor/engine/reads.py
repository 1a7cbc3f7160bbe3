"""The read path: planning a query over the WAL tail, segments, ANN and text indexes.

A vector query without filter or text, in a process that has not loaded the index, reads the
store directly (``direct``: partitions and rows by ranged GETs) and loads the view in the
background for the queries after it. Otherwise it runs on the view held steady: the loaded
ANN indexes plus an exact scan of every row they do not cover (``ann``), BM25 over the text
indexes (``textsearch``), or both fused by weighted reciprocal rank fusion.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..settings import Settings
from ..store import ObjectNotFound
from .ann import AnnSearch
from .commits import CommitLog
from .direct import DirectSearch
from .filters import Filter
from .format import Manifest
from .snapshots import Snapshots
from .textindex import rrf, summed_scores
from .textsearch import TextQuery, TextSearch, field_scores, top_scored
from .view import IndexView


@dataclass
class Hit:
    key: str
    distance: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    bm25: list[tuple[str, float]] = field(default_factory=list)  # (metadata key, score)
    fused: float | None = None  # RRF score of a hybrid search
    vector_distance: float | None = None  # set when a hybrid hit came from the vector side


class QueryPlanner:
    def __init__(
        self,
        log: CommitLog,
        snapshots: Snapshots,
        texts: TextSearch,
        dimension: int,
        metric: str,
        settings: Settings,
    ) -> None:
        self.log, self.snapshots, self.texts = log, snapshots, texts
        self.dimension = dimension
        self.settings = settings
        self.ann = AnnSearch(log.store, log.prefix, settings)
        self.direct = DirectSearch(log.store, log.prefix, dimension, metric, settings)
        self._lock = threading.Lock()  # guards the start of ``loading``
        self.loading: threading.Thread | None = None  # the view, after a direct query

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
        """The ``page`` slice of the top ``k``: by vector distance, by BM25 (summed over the
        text queries), or both fused by weighted RRF over the best ``max(k, depth)`` of each
        side. Only the page's hits are built. ``metadata``: whether they need their metadata.
        ``at``: the latest manifest, when the caller has just read it."""
        if vector is not None and not texts and where is None:
            direct = self._direct_manifest(at)
            hits = (
                None if direct is None else self._direct_search(direct, vector, k, metadata, page)
            )
            if hits is not None:
                return hits
        with self.snapshots.snapshot(at) as view:
            mask = None if where is None else view.filter_mask(where.document)
            if not texts:
                assert vector is not None
                rows, distances = self._nearest(view, vector, k, mask)
                return [
                    Hit(view.key(r), float(d), view.metadata(r) if metadata else {})
                    for r, d in zip(rows[page], distances[page], strict=True)
                ]
            return self._text_search(view, vector, texts, k, mask, depth, page)

    def _text_search(
        self,
        view: IndexView,
        vector: np.ndarray | None,
        texts: tuple[TextQuery, ...],
        k: int,
        mask: np.ndarray | None,
        depth: int,
        page: slice,
    ) -> list[Hit]:
        """Full-text (``vector`` None) or hybrid search on a view held steady."""
        manifest = self.log.current  # never older than the view
        per_field = [self.texts.postings(view, manifest, q) for q in texts]
        every = [p for postings in per_field for p in postings]
        depth = k if vector is None else max(k, depth)
        rows, scores = summed_scores(every, view.n, mask, depth)
        if vector is None:
            chosen, best = top_scored(view, rows, scores, k)
            chosen, best = chosen[page], best[page]
            by_field = [best] if len(texts) == 1 else field_scores(per_field, chosen)
            return _text_hits(view, chosen, texts, by_field, None, {}, {})
        vector_rows, distances = self._nearest(view, vector, depth, mask)
        text_rows, _ = top_scored(view, rows, scores, depth)
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
        near = dict(zip(vector_rows.tolist(), distances.tolist(), strict=True))
        by_field = field_scores(per_field, chosen)
        return _text_hits(view, chosen, texts, by_field, vector, fused, near)

    # --- reading the store directly ---------------------------------------------------------

    def _direct_manifest(self, latest: Manifest | None) -> Manifest | None:
        """The latest manifest, when a vector query should read the store directly: this
        process has not loaded the index and its ANN indexes yet (or may not), and segments
        have ANN indexes."""
        loading = self.loading is not None and self.loading.is_alive()
        # No lock: a view being loaded keeps version 0 until it is complete.
        if not loading and self.snapshots.loaded:
            return None
        manifest = latest or self.log.latest()
        return manifest if any(r.ann for r in manifest.runs) else None

    def _direct_search(
        self, manifest: Manifest, vector: np.ndarray, k: int, metadata: bool, page: slice
    ) -> list[Hit] | None:
        """Hits read straight from the store; None when the view must answer (an index of
        format 1, or an object collected under the query: the view path retries)."""
        try:
            found = self.direct.search(manifest, vector, k, metadata, page)
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
        with self._lock:
            if self.loading is not None:
                return
            self.loading = threading.Thread(target=self._load_quietly, daemon=True)
        self.loading.start()

    def _load_quietly(self) -> None:
        try:
            self.warm()
        except Exception:  # best effort: the next query reads the store directly again
            with self._lock:
                self.loading = None

    # --- the loaded view and its ANN indexes ------------------------------------------------

    def _nearest(
        self, view: IndexView, vector: np.ndarray, k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by distance: the loaded ANN indexes plus an exact scan of everything else."""
        searchers, missing = self.ann.ready(view, self._ann_segments())
        if missing:
            self.ann.load_in_background(missing, self.snapshots.snapshot)
        return self.ann.search(view, searchers, vector, k, mask)

    def warm(self) -> dict[str, int]:
        """Load the view and every segment's ANN index now (instead of at first use)."""
        with self.snapshots.snapshot() as view:
            segments = self._ann_segments()
            _, missing = self.ann.ready(view, segments)
            for segment in missing:
                self.ann.load(view, segment)
            return {"rows": len(view), "annIndexes": len(segments), **self.resident()}

    def _ann_segments(self) -> list[str]:
        """Directories of the current manifest's segments that have an ANN index."""
        return [r.directory for r in self.log.current.runs if r.ann]

    def resident(self) -> dict[str, int]:
        """Bytes this process holds in memory for the index (vectors, ANN codes, texts)."""
        return {
            "residentVectorBytes": self.snapshots.current.nbytes,
            "residentAnnBytes": self.ann.resident_bytes(),
            "residentDirectBytes": self.direct.parts.used,  # parts read for direct queries
        }


def _text_hits(
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
    for query, scores in zip(texts, by_field, strict=True):  # each field's BM25 of each row
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
