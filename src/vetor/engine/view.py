"""The in-memory materialised state of one index, and exact search over it.

A view is a throw-away cache of the fold of an index's runs: rows are appended as runs are
applied (an overwrite appends a new row and marks the old one dead), so applying a new write
batch costs only its own size. Exact search is a vectorised scan; an ANN index plugs in
behind it (ann.py) and re-ranks its candidates here.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import numpy as np
import orjson

from . import filters
from .format import Rows

_MIN_CAPACITY = 1024
_generations = itertools.count(1)


class IndexView:
    def __init__(self, dimension: int, metric: str) -> None:
        self.dimension = dimension
        self.metric = metric
        self.version = 0  # manifest version this view reflects
        self.applied_seq = 0  # every write with seq <= this is reflected
        self.n = 0  # rows used, live or dead
        # Changes whenever rows are renumbered: row numbers cached elsewhere are then stale.
        self.generation = next(_generations)
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        self._norms = np.empty(0, dtype=np.float32)  # L2 norm of each row
        self._live = np.empty(0, dtype=bool)
        self._seqs = np.empty(0, dtype=np.uint64)  # the write that stored each row
        self._hash = np.empty(0, dtype=np.uint32)  # crc32 of the key, for list segments
        self._keys: list[str] = []
        # Raw JSON until first needed (parsing on every write would tax ingest), then dicts.
        self._metadata: list[bytes | dict[str, Any] | None] = []
        self._row_of: dict[str, int] = {}
        self._columns: dict[str, filters.KeyColumn] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # (rows, keys) by key

    # --- applying writes ------------------------------------------------------------------

    def apply(self, rows: Rows) -> None:
        """Apply one run's rows (keys unique within the run) on top of the current state."""
        if len(rows) == 0:
            return
        for key in rows.keys:
            old = self._row_of.pop(key, None)
            if old is not None:
                self._live[old] = False
        upserts = np.flatnonzero(~rows.deleted)
        if len(upserts):
            self._append(rows.take(upserts) if len(upserts) < len(rows) else rows)
        self._sorted = None
        if self.n > 4 * _MIN_CAPACITY and len(self._row_of) < self.n // 2:
            self._drop_dead_rows()

    def _append(self, rows: Rows) -> None:
        start, count = self.n, len(rows)
        self._reserve(start + count)
        vectors = rows.vectors
        self._vectors[start : start + count] = vectors
        self._norms[start : start + count] = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        self._live[start : start + count] = True
        self._seqs[start : start + count] = rows.seqs
        self._hash[start : start + count] = [zlib.crc32(k.encode()) for k in rows.keys]
        self._keys.extend(rows.keys)
        self._metadata.extend(rows.metadata)
        self._row_of.update(zip(rows.keys, range(start, start + count)))
        self.n += count

    def _reserve(self, size: int) -> None:
        capacity = len(self._live)
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, _MIN_CAPACITY)
        self._vectors = _grow(self._vectors, capacity)
        self._norms = _grow(self._norms, capacity)
        self._live = _grow(self._live, capacity)
        self._seqs = _grow(self._seqs, capacity)
        self._hash = _grow(self._hash, capacity)

    def _drop_dead_rows(self) -> None:
        keep = np.flatnonzero(self._live[: self.n])
        self._vectors = self._vectors[keep]
        self._norms = self._norms[keep]
        self._seqs = self._seqs[keep]
        self._hash = self._hash[keep]
        self._live = np.ones(len(keep), dtype=bool)
        self._keys = [self._keys[i] for i in keep]
        self._metadata = [self._metadata[i] for i in keep]
        self._row_of = dict(zip(self._keys, range(len(keep))))
        self._columns = {}
        self.n = len(keep)
        self.generation = next(_generations)

    # --- reads ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def nbytes(self) -> int:
        """Bytes of the row arrays (vectors, norms, flags); keys and metadata come on top."""
        arrays = (self._vectors, self._norms, self._live, self._seqs, self._hash)
        return sum(a.nbytes for a in arrays)

    def row(self, key: str) -> int | None:
        return self._row_of.get(key)

    def live(self) -> np.ndarray:
        """Which rows ``[0, n)`` are live (read-only use)."""
        return self._live[: self.n]

    def place(self, keys: list[str], seqs: np.ndarray) -> np.ndarray:
        """The live row holding each (key, seq), or -1 where that write was superseded."""
        row_of = self._row_of
        rows = np.fromiter((row_of.get(k, -1) for k in keys), np.int64, len(keys))
        found = rows >= 0
        found[found] = self._seqs[rows[found]] == seqs[found]
        return np.where(found, rows, -1)

    def key(self, row: int) -> str:
        return self._keys[row]

    def seqs(self, rows: np.ndarray) -> np.ndarray:
        return self._seqs[rows]

    def vector(self, row: int) -> np.ndarray:
        return self._vectors[row]

    def metadata(self, row: int) -> dict[str, Any]:
        return self._parsed(row) or {}

    def _parsed(self, row: int) -> dict[str, Any] | None:
        value = self._metadata[row]
        if isinstance(value, bytes):
            value = self._metadata[row] = orjson.loads(value)
        return value

    def filter_mask(self, document: dict[str, Any]) -> np.ndarray:
        """Rows ``[0, n)`` that are live and match a validated filter."""
        return self._live[: self.n] & filters.evaluate(document, self._column, self.n)

    def _column(self, key: str) -> filters.KeyColumn:
        column = self._columns.get(key)
        built = 0 if column is None else len(column.present)
        if column is None or built < self.n:
            rows = [self._parsed(i) for i in range(built, self.n)]
            fresh = filters.KeyColumn.of(key, rows, first_row=built)
            column = fresh if column is None else column.extend(fresh)
            self._columns[key] = column
        return column

    def search(
        self, query: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k: (rows, distances) ascending by distance among live (and masked) rows."""
        allowed = self._live[: self.n] if mask is None else mask
        count = int(allowed.sum())
        if count == 0 or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if count < self.n // 4:  # selective: score only the candidates
            return self.nearest(query, np.flatnonzero(allowed), k)
        scores = self._approx_distances(query, None)  # everything in one pass, then exclude
        scores[~allowed] = np.inf
        return self._shortlist(query, np.arange(self.n), scores, min(k, count))

    def nearest(
        self,
        query: np.ndarray,
        rows: np.ndarray,
        k: int,
        gathered: tuple[np.ndarray, np.ndarray] | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among the given rows (those ``allowed``, if given): (rows, distances)
        ascending. ``gathered``: the rows' vectors and norms, from ``gather``."""
        scores = self._approx_distances(query, rows, gathered)
        if allowed is not None:
            scores[~allowed[rows]] = np.inf
        return self._shortlist(query, rows, scores, k)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copies of some rows' vectors and norms, for repeated scans of the same rows."""
        return self._vectors[rows], self._norms[rows]

    def _shortlist(
        self, query: np.ndarray, rows: np.ndarray, scores: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # A few extra by the fast formula, then ranked by the exact distance.
        take = min(len(scores), k + 16)
        best = np.argpartition(scores, take - 1)[:take] if take < len(scores) else np.arange(take)
        best = best[np.isfinite(scores[best])]
        return self.rerank(query, rows[best], k)

    def rerank(self, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest of some candidate rows by exact distance (ties: lower row first)."""
        exact = self.distances(query, rows)
        order = np.lexsort((rows, exact))[:k]
        return rows[order], exact[order]

    def _approx_distances(
        self,
        query: np.ndarray,
        rows: np.ndarray | None,
        gathered: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        if gathered is not None:
            vectors, norms = gathered
        elif rows is None:
            vectors, norms = self._vectors[: self.n], self._norms[: self.n]
        elif len(rows) and rows[-1] - rows[0] + 1 == len(rows):  # a range: no copy
            vectors, norms = (
                self._vectors[rows[0] : rows[-1] + 1],
                self._norms[rows[0] : rows[-1] + 1],
            )
        else:
            vectors, norms = self._vectors[rows], self._norms[rows]
        dots = vectors @ query
        if self.metric == "cosine":
            return 1.0 - dots / (norms * np.linalg.norm(query))
        squared = norms * norms - 2.0 * dots + float(query @ query)
        return np.sqrt(np.maximum(squared, 0.0))

    def distances(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return exact_distances(self._vectors[rows], query, self.metric)

    def list_page(
        self, after: str | None, limit: int, segment: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, bool]:
        """Up to ``limit`` live rows in key order after ``after``; and whether more follow.

        ``segment=(count, index)`` keeps only keys whose crc32 is ``index`` modulo ``count``,
        so the segments of one count are disjoint and cover every key.
        """
        if self._sorted is None:  # sorted once per version, then every page is a bisect
            rows = np.fromiter(self._row_of.values(), dtype=np.int64, count=len(self._row_of))
            keys = np.array([self._keys[r] for r in rows], dtype=object)
            order = np.argsort(keys, kind="stable")
            self._sorted = (rows[order], keys[order])
        rows, keys = self._sorted
        start = 0 if after is None else int(np.searchsorted(keys, after, side="right"))
        rows = rows[start:]
        if segment is not None:
            count, index = segment
            rows = rows[self._hash[rows] % count == index]
        return rows[:limit], len(rows) > limit


def exact_distances(vectors: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    """Distances computed directly (no cancellation error), as reported to users.

    cosine: ``1 - a·b / (|a| |b|)``, at least 0 (rounding can take a vector's distance to
    itself just below); euclidean: ``sqrt(sum((a - b)²))``.
    """
    x = vectors.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "cosine":
        cosine = (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
        return np.maximum(1.0 - cosine, 0.0).astype(np.float32)
    return np.sqrt(((x - q) ** 2).sum(axis=1)).astype(np.float32)


def _grow(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown
