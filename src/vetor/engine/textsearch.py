"""Full-text search over an index's runs: BM25 postings per query, and the hits they make.

Each run has a text index per configured field: stored next to a segment (``textindex``'s
format), else built in memory from the run's metadata. A ``Scorer`` per index state holds the
collection statistics; postings are cached within ``text_cache_bytes``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..cache import MemoryCache
from ..settings import Settings
from ..store import ObjectStore
from ..text import analyzer
from .commits import CommitLog
from .format import Manifest, RunRef
from .snapshots import load_tables
from .textindex import (
    MappedRun,
    MemoryRunText,
    RunText,
    Scorer,
    StoredRunText,
    TermPostings,
    TextField,
)
from .view import IndexView


@dataclass(frozen=True)
class TextQuery:
    field: TextField
    text: str


class TextSearch:
    def __init__(self, log: CommitLog, settings: Settings) -> None:
        self.log = log
        self.store: ObjectStore = log.store
        self.prefix = log.prefix
        self.settings = settings
        self._lock = threading.Lock()  # guards the caches below (taken inside the view lock)
        self._run_texts: dict[tuple[str, str], RunText] = {}  # (run path, field id); immutable
        self._placed: dict[tuple[str, str], tuple[int, np.ndarray]] = {}  # → (generation, rows)
        self._scorers: dict[tuple[str, int, int, int], Scorer] = {}  # by field and state
        self._postings = MemoryCache(settings.text_cache_bytes, "text-postings")

    def postings(self, view: IndexView, manifest: Manifest, query: TextQuery) -> list[TermPostings]:
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
            with self._lock:
                self._scorers = {s: v for s, v in self._scorers.items() if s[0] != field.id}
                self._scorers[state] = scorer
        return scorer.postings(analyzer(field.language)(query.text))

    def status(self, field: TextField, manifest: Manifest) -> str:
        """ACTIVE once every segment has its stored index for the field, else BUILDING."""
        missing = any(r.kind == "segment" and field.id not in r.text for r in manifest.runs)
        return "BUILDING" if missing else "ACTIVE"

    def _run_text(self, run: RunRef, field: TextField) -> RunText:
        """A run's text index for a field: stored next to a segment, else built in memory."""
        key = (run.path, field.id)
        text = self._run_texts.get(key)
        if text is not None:
            return text
        if field.id in run.text:
            text = StoredRunText(self.store, self.prefix, run.directory, field, self._postings)
        else:
            table = load_tables(self.store, self.prefix, [run])[0]
            text = MemoryRunText(
                table.column("key").to_pylist(),
                table.column("seq").to_numpy(),
                field.texts(table.column("metadata").to_pylist()),
                field,
            )
        with self._lock:
            runs = self.log.current.runs
            if len(self._run_texts) > 4 * len(runs) + 16:
                current = {r.path for r in runs}
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


def field_scores(per_field: list[list[TermPostings]], rows: np.ndarray) -> list[np.ndarray]:
    """Each field's BM25 score of each of ``rows``."""
    return [sum((p.score_of(rows) for p in terms), np.zeros(len(rows))) for terms in per_field]


def top_scored(
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
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], view.key(int(rows[i]))))[:k]
    return rows[order], scores[order]
