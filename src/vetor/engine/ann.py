"""Vector search over a view, accelerated by the segments' IVF indexes, with a filter planner.

The view holds every live row (see view.py). Segments large enough carry an IVF index on the
store (ivf.py); once loaded in this process it *covers* that segment's rows, and a query
probes it instead of scanning them. Rows no loaded index covers — write batches, small
segments, a segment whose index is still loading — are scanned exactly, so a vector is
searchable the moment its write returns and a query never waits for an index to load.
Candidates of both kinds are re-ranked by their exact distance.

Indexes load in a background thread, keyed by the view's generation (row numbers change only
when the view drops its dead rows). A row overwritten or deleted after its index loaded is
dead in the view and excluded by a bitmap selector in the scan.

Filters: the planner compares the rows an exact scan of the matching rows would score with
the rows the partitions it would probe hold (more probes the rarer the matches) and takes the
cheaper; a plan that yields fewer than k results falls back to the exact scan, so a filtered
query returns k results whenever k match.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from ..settings import Settings
from ..store import ObjectStore
from . import ivf
from .view import IndexView

# An exact scan of scattered matching rows (gather, then a float32 dot product) costs about
# this many times a probed 8-bit code (measured at 1M x 384: ~0.6 us against ~0.08 us).
EXACT_ROW_COST = 8


@functools.cache
def limit_numpy_blas(threads: int) -> None:
    """Run numpy's BLAS on ``threads`` threads, process-wide (0: leave it as it is).

    OpenBLAS's idle worker threads spin for about 0.1 s after each call; on few cores they
    starve the parallel partition scan that follows (faiss, OpenMP). Measured at 1M on 2
    cores, after an exact scan of 11,500 rows: p50 8.0 -> 5.4 ms, p90 54 -> 6.3 ms with one
    thread. faiss's own BLAS (k-means) is not touched; a full exact scan of 1M rows takes
    103 ms instead of 55.
    """
    if threads > 0:
        for library in ThreadpoolController().lib_controllers:
            if library.internal_api == "openblas" and "numpy" in library.filepath:
                library.set_num_threads(threads)


def rerank_depth(settings: Settings, k: int) -> int:
    """Candidates re-ranked exactly for k results: ``ann_rerank`` per result for the first
    10, then one per result — the deep tail gains nothing (recall@100 at 200k: 0.816 with 2x,
    4x or 8x, at 3.1 / 4.0 / 6.3 ms)."""
    return k + max((settings.ann_rerank - 1) * min(k, 10), 16)


def probes_of(nprobe: int, nlist: int, largest: int) -> int:
    """Partitions to probe in a segment of ``nlist``: ``nprobe`` in the largest segment's
    ``largest``, the same fraction of smaller ones (at least two)."""
    return max(2, int(np.ceil(nprobe * nlist / largest)))


@dataclass
class _Coverage:
    """Which view rows the loaded indexes cover, for one (generation, set of indexes)."""

    key: tuple[int, tuple[str, ...]]
    covered: np.ndarray  # bool, view rows [0, len)
    uncovered: np.ndarray  # rows below len that no index covers
    gathered: tuple[np.ndarray, np.ndarray] | None  # their vectors and norms, contiguous


class AnnSearch:
    def __init__(self, store: ObjectStore, prefix: str, settings: Settings) -> None:
        self.store = store
        self.prefix = prefix
        self.settings = settings
        self._searchers: dict[str, ivf.Searcher] = {}  # segment dir → index, for _generation
        self._generation = 0
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._coverage: _Coverage | None = None
        self._dead: dict[str, tuple[int, bool]] = {}  # segment dir → (view version, any dead)

    # --- loading ----------------------------------------------------------------------------

    def ready(
        self, view: IndexView, segments: list[str]
    ) -> tuple[list[tuple[str, ivf.Searcher]], list[str]]:
        """Loaded indexes usable with this view, and the segments whose index is not loaded."""
        with self._lock:
            self._forget_if_renumbered(view)
            missing = [s for s in segments if s not in self._searchers]
            if not missing and len(self._searchers) > len(segments):  # replaced ones: drop
                wanted = set(segments)
                self._searchers = {s: v for s, v in self._searchers.items() if s in wanted}
                self._dead = {s: v for s, v in self._dead.items() if s in wanted}
            return list(self._searchers.items()), missing

    def _forget_if_renumbered(self, view: IndexView) -> None:
        """Loaded indexes name view rows: a view with new row numbers needs them reloaded."""
        if self._generation != view.generation:
            self._searchers, self._generation = {}, view.generation
            self._coverage, self._dead = None, {}

    def load_in_background(self, segments: list[str], snapshot: Callable[[], object]) -> None:
        with self._lock:
            if self._loader is not None and self._loader.is_alive():
                return
            self._loader = threading.Thread(
                target=self._load_all, args=(segments, snapshot), daemon=True
            )
            self._loader.start()

    def wait(self) -> None:
        loader = self._loader
        if loader is not None:
            loader.join()

    def _load_all(self, segments: list[str], snapshot: Callable[[], object]) -> None:
        try:
            for segment in segments:
                with snapshot() as view:  # type: ignore[attr-defined]
                    if segment not in self._searchers or self._generation != view.generation:
                        self.load(view, segment)
        except Exception:  # best effort: queries stay exact meanwhile, the next one retries
            pass

    def load(self, view: IndexView, segment: str) -> ivf.Searcher:
        """Read a segment's index and map its rows onto the view (call with the view held)."""
        head = ivf.read_head(self.store, self.prefix, segment)
        blocks = ivf.read_all_blocks(self.store, self.prefix, segment, head)
        searcher = ivf.Searcher(head)
        added = []
        for partition, block in enumerate(blocks):
            rows = view.place(block.keys(), block.seqs)
            keep = rows >= 0
            searcher.add(partition, rows[keep], block.codes[keep])
            added.append(rows[keep])
        searcher.ids = np.concatenate(added) if added else np.empty(0, np.int64)
        with self._lock:
            self._forget_if_renumbered(view)
            self._searchers[segment] = searcher
        return searcher

    def resident_bytes(self) -> int:
        return sum(s.nbytes for s in self._searchers.values())

    # --- searching --------------------------------------------------------------------------

    def search(
        self,
        view: IndexView,
        searchers: list[tuple[str, ivf.Searcher]],
        query: np.ndarray,
        k: int,
        mask: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (rows, exact distances) among live rows (and ``mask``), ascending."""
        s = self.settings
        if not searchers or k <= 0:
            return view.search(query, k, mask)
        n = view.n
        allowed = view.live() if mask is None else mask
        count = int(allowed.sum()) if mask is not None else len(view)
        if count == 0:
            return view.search(query, k, mask)
        selectivity = count / max(n, 1)
        nprobe = s.ann_nprobe if mask is None else int(np.ceil(s.ann_nprobe / selectivity))
        largest = max(x.head.nlist for _, x in searchers)
        share = sum(x.head.nlist for _, x in searchers) / largest
        probed_rows = nprobe * s.ann_list_rows * share  # what the probes below would scan
        if mask is not None and count * EXACT_ROW_COST <= probed_rows:  # exact is cheaper
            return view.search(query, k, mask)
        coverage = self._covered(view, searchers)
        wanted = rerank_depth(s, k)
        prepared = ivf.prepared(query.reshape(1, -1), view.metric)[0]
        candidates = []
        packed = None  # the allowed rows as a bitmap, packed once if some index needs it
        for segment, searcher in searchers:
            bitmap = None
            if mask is not None or self._has_dead(view, segment, searcher):
                if packed is None:
                    packed = np.packbits(allowed, bitorder="little")
                bitmap = packed
            probes = probes_of(nprobe, searcher.head.nlist, largest)
            ids, _ = searcher.search(prepared, wanted, probes, bitmap)
            candidates.append(ids)
        if len(coverage.uncovered):  # scanned from a contiguous copy, dead rows excluded
            found = view.nearest(query, coverage.uncovered, wanted, coverage.gathered, allowed)
            candidates.append(found[0])
        if n > len(coverage.covered):  # rows appended since: a range of the view
            found = view.nearest(query, np.arange(len(coverage.covered), n), wanted, None, allowed)
            candidates.append(found[0])
        rows = np.unique(np.concatenate(candidates))
        best, distances = view.rerank(query, rows, k)
        if len(best) < min(k, count):  # the probes missed matches: be exact instead
            return view.search(query, k, mask)
        return best, distances

    def _covered(self, view: IndexView, searchers: list[tuple[str, ivf.Searcher]]) -> _Coverage:
        key = (view.generation, tuple(sorted(name for name, _ in searchers)))
        coverage = self._coverage
        if coverage is None or coverage.key != key:
            covered = np.zeros(view.n, bool)
            for _, searcher in searchers:
                covered[searcher.ids] = True
            uncovered = np.flatnonzero(~covered)
            # A contiguous copy makes the scan of a few scattered rows fast; not worth the
            # memory when most rows are uncovered (indexes still loading).
            gathered = view.gather(uncovered) if len(uncovered) <= view.n // 4 else None
            coverage = _Coverage(key, covered, uncovered, gathered)
            self._coverage = coverage
        return coverage

    def _has_dead(self, view: IndexView, segment: str, searcher: ivf.Searcher) -> bool:
        """Whether a row the index covers died since it loaded (checked once per version)."""
        known = self._dead.get(segment)
        if known is None or known[0] != view.version:
            known = (view.version, not bool(view.live()[searcher.ids].all()))
            self._dead[segment] = known
        return known[1]
