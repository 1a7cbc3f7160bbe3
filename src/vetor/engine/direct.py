"""Vector queries answered straight from the store's objects, without loading the index.

A process that has not loaded an index yet (cold), or may not hold it in memory
(``view_memory_bytes``), answers an unfiltered vector query in three rounds of parallel
requests after the manifest:

1. each indexed segment's ``ivf.head`` (centroids, where the partitions lie) and, when runs
   precede it, its ``ivf.keys``; every run without an index (write batches, small segments),
   whole;
2. the blocks of the probed partitions — ranged reads — scanned as the loaded index would;
3. the full-precision vectors of the best candidates (ranged reads of ``data.arrow``),
   re-ranked exactly. With metadata wanted, a fourth round reads the hits' metadata.

The manifest orders runs by seq, so a row is dead when a later run holds its key: runs read
whole are checked exactly, later indexed segments by their key fingerprints. A candidate
found dead is excluded and the scan repeated, so the candidates are those a loaded index
would give. Everything read is kept in a byte-bounded LRU: the next query pays only for the
parts it has not seen (usually just round 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from ..cache import MemoryCache
from ..settings import Settings
from ..store import ObjectStore
from . import ivf
from .ann import probes_of, rerank_depth
from .format import Manifest, RunRef, read_table, rows_of
from .view import IndexView, exact_distances

DirectHit = tuple[str, float, dict[str, Any] | None]  # key, distance, metadata if asked


@dataclass
class _Unindexed:
    """The runs without an ANN index, folded into a small view; ``mask``: its rows that no
    later indexed segment supersedes."""

    view: IndexView
    mask: np.ndarray | None
    keys: list[tuple[int, set[str]]]  # (run position, every key of the run, deletes too)
    nbytes: int  # about what it holds: the runs' size


@dataclass
class _Candidates:
    """One indexed segment's best rows by their codes, all alive."""

    run: RunRef
    head: ivf.Head
    keys: list[str]
    positions: np.ndarray  # rows of data.arrow
    metadata_at: np.ndarray
    metadata_len: np.ndarray


class DirectSearch:
    def __init__(
        self, store: ObjectStore, prefix: str, dimension: int, metric: str, settings: Settings
    ) -> None:
        self.store, self.prefix = store, prefix
        self.dimension, self.metric = dimension, metric
        self.settings = settings
        self.parts = MemoryCache(settings.direct_cache_bytes, "ann-partitions")

    def search(
        self,
        manifest: Manifest,
        query: np.ndarray,
        k: int,
        metadata: bool,
        page: slice = slice(None),
    ) -> list[DirectHit] | None:
        """The ``page`` slice of the top k, as the loaded index would find them (metadata read
        for the page only); None when a segment's index is of format 1 (no data.arrow
        locations): the caller loads the index instead."""
        runs = manifest.runs
        wanted = rerank_depth(self.settings, k)
        heads, fingerprints, unindexed = self._first_round(runs)
        if any(head.vectors is None for head in heads.values()):
            return None
        superseded = _Supersession(fingerprints, unindexed.keys)
        near_rows, near = unindexed.view.search(query, wanted, unindexed.mask)
        # Probes that reach fewer than k live rows probe more (at last all: then exact).
        nprobe, most = self.settings.ann_nprobe, max((h.nlist for h in heads.values()), default=0)
        while True:
            found = self._probe(runs, heads, query, wanted, superseded, nprobe)
            if sum(len(c.keys) for c in found) + len(near_rows) >= k or nprobe >= most:
                break
            nprobe *= 4
        keys = [key for candidates in found for key in candidates.keys]
        vectors = self._vectors(found)
        distances = exact_distances(vectors, query, self.metric) if len(keys) else np.empty(0)
        keys += [unindexed.view.key(r) for r in near_rows]
        distances = np.concatenate([distances, near]).astype(np.float32)
        order = sorted(range(len(keys)), key=lambda i: (distances[i], keys[i]))[:k][page]
        details = self._metadata(found, unindexed, near_rows, order) if metadata else {}
        return [(keys[i], float(distances[i]), details.get(i)) for i in order]

    # --- round 1: heads, key fingerprints, unindexed runs ------------------------------------

    def _first_round(
        self, runs: tuple[RunRef, ...]
    ) -> tuple[dict[int, ivf.Head], dict[int, np.ndarray], _Unindexed]:
        indexed = [i for i, r in enumerate(runs) if r.ann]
        wanted = {("head", i): ivf.paths(runs[i].directory)[0] for i in indexed}
        wanted |= {("keys", i): ivf.paths(runs[i].directory)[2] for i in indexed if i > 0}
        state_key = ("unindexed", tuple(r.path for r in runs))
        unindexed = self.parts.get(state_key)
        if unindexed is None:
            wanted |= {("run", i): r.path for i, r in enumerate(runs) if not r.ann}
        blobs = self._objects(wanted)
        heads = {i: blobs[("head", i)] for i in indexed}
        fingerprints = {i: blobs[("keys", i)] for i in indexed if i > 0}
        if unindexed is None:
            unindexed = self._fold(runs, blobs, fingerprints)
            self.parts.put(state_key, unindexed, unindexed.nbytes)
        return heads, fingerprints, unindexed

    def _objects(self, wanted: dict[tuple[str, int], str]) -> dict[tuple[str, int], Any]:
        """Decoded objects by name: from the cache, the others fetched in parallel."""
        found: dict[tuple[str, int], Any] = {}
        missing = []
        for name, path in wanted.items():
            value = self.parts.get(self.prefix + path)
            if value is None:
                missing.append(name)
            else:
                found[name] = value
        blobs = self.store.get_many([self.prefix + wanted[name] for name in missing])
        for name, blob in zip(missing, blobs):
            assert blob is not None
            kind, _ = name
            if kind == "head":
                value = ivf.decode_head(blob)
            elif kind == "keys":
                value = np.frombuffer(blob, "<u8")
            else:
                value = blob  # a run: folded by the caller, and cached folded
            if kind != "run":
                self.parts.put(self.prefix + wanted[name], value, len(blob))
            found[name] = value
        return found

    def _fold(
        self,
        runs: tuple[RunRef, ...],
        blobs: dict[tuple[str, int], Any],
        fingerprints: dict[int, np.ndarray],
    ) -> _Unindexed:
        view = IndexView(self.dimension, self.metric)
        keys = []
        size = 0
        for i, run in enumerate(runs):
            if run.ann:
                continue
            size += len(blobs[("run", i)])
            table = read_table(blobs[("run", i)], run.min_seq if run.kind == "wal" else None)
            rows = rows_of(table, self.dimension)
            view.apply(rows)
            keys.append((i, set(rows.keys)))
        if len(view) == 0 or not any(i > j for i in fingerprints for j, _ in keys):
            return _Unindexed(view, None, keys, size)
        # Rows that a later indexed segment overwrote or deleted: found by fingerprint.
        live = np.flatnonzero(view.live())
        seqs = view.seqs(live)
        position = np.searchsorted([r.max_seq for r in runs], seqs)
        dead = _Supersession(fingerprints, []).check([view.key(int(r)) for r in live], position)
        mask = view.live().copy()
        mask[live[dead]] = False
        return _Unindexed(view, mask, keys, size)

    # --- round 2: the probed partitions -------------------------------------------------------

    def _probe(
        self,
        runs: tuple[RunRef, ...],
        heads: dict[int, ivf.Head],
        query: np.ndarray,
        wanted: int,
        superseded: _Supersession,
        nprobe: int,
    ) -> list[_Candidates]:
        if not heads:
            return []
        prepared = ivf.prepared(query.reshape(1, -1), self.metric)[0]
        largest = max(h.nlist for h in heads.values())
        plans = []
        for i, head in heads.items():
            searcher = ivf.Searcher(head)
            probes = probes_of(nprobe, head.nlist, largest)
            plans.append((i, searcher, probes, searcher.probe(prepared, probes)))
        blocks = self._blocks(
            [(i, runs[i], heads[i], p) for i, _, _, partitions in plans for p in partitions]
        )
        found = []
        for i, searcher, probes, partitions in plans:
            chosen = [blocks[(i, p)] for p in partitions]
            found.append(self._best(runs[i], i, searcher, probes, partitions, chosen, prepared,
                                    wanted, superseded))  # fmt: skip
        return found

    def _blocks(
        self, wanted: list[tuple[int, RunRef, ivf.Head, int]]
    ) -> dict[tuple[int, int], ivf.Block]:
        found, missing = {}, []
        for i, run, head, partition in wanted:
            block = self.parts.get((run.path, partition))
            if block is None:
                missing.append((i, run, head, partition))
            else:
                found[(i, partition)] = block
        ranges = [
            (self.prefix + ivf.paths(run.directory)[1], int(h.starts[p]), int(h.starts[p + 1]))
            for _, run, h, p in missing
        ]
        for (i, run, head, partition), data in zip(missing, self.store.read_ranges(ranges)):
            block = ivf.decode_block(data, head, partition)
            self.parts.put((run.path, partition), block, len(data))
            found[(i, partition)] = block
        return found

    def _best(
        self,
        run: RunRef,
        position: int,
        searcher: ivf.Searcher,
        probes: int,
        partitions: list[int],
        blocks: list[ivf.Block],
        prepared: np.ndarray,
        wanted: int,
        superseded: _Supersession,
    ) -> _Candidates:
        """The segment's best ``wanted`` live rows by code. Dead ones found among the best
        are excluded and a twice deeper scan redone, until enough are alive."""
        first = 0
        for partition, block in zip(partitions, blocks):
            count = len(block.seqs)
            searcher.add(partition, np.arange(first, first + count), block.codes)
            first += count
        keys = pa.concat_arrays([b.key_array() for b in blocks]) if blocks else pa.array([])
        excluded = np.zeros(first, bool)
        depth = wanted
        while True:
            bitmap = np.packbits(~excluded, bitorder="little") if excluded.any() else None
            ids, _ = searcher.search(prepared, depth, probes, bitmap)
            names = keys.take(pa.array(ids)).to_pylist()
            dead = superseded.check(names, np.full(len(ids), position))
            alive = np.flatnonzero(~dead)[:wanted]
            if len(alive) == wanted or len(ids) < depth:  # enough, or no more rows
                break
            excluded[ids[dead]] = True
            depth *= 2
        ids, names = ids[alive], [names[i] for i in alive]
        stacked = [np.concatenate([getattr(b, f) for b in blocks]) for f in _ROW_FIELDS]
        positions, metadata_at, metadata_len = (a[ids] for a in stacked)
        return _Candidates(run, searcher.head, names, positions, metadata_at, metadata_len)

    # --- round 3 (and 4): vectors and metadata by ranged reads --------------------------------

    def _vectors(self, found: list[_Candidates]) -> np.ndarray:
        size = 4 * self.dimension
        ranges = []
        for c in found:
            path = self.prefix + c.run.path
            locations = c.head.vectors
            assert locations is not None  # format 1 heads are answered from the view
            offsets = locations.offsets(c.positions.astype(np.int64), self.dimension)
            ranges += [(path, int(o), int(o) + size) for o in offsets]
        blobs = self.store.read_ranges(ranges)
        flat = np.frombuffer(b"".join(blobs), "<f4")
        return flat.reshape(len(ranges), self.dimension)

    def _metadata(
        self,
        found: list[_Candidates],
        unindexed: _Unindexed,
        near_rows: np.ndarray,
        order: list[int],
    ) -> dict[int, dict[str, Any]]:
        """Metadata of the chosen hits (by their place in the candidate list)."""
        located = [(c, j) for c in found for j in range(len(c.keys))]
        details, ranges, owners = {}, [], []
        for i in order:
            if i >= len(located):  # an unindexed row: its metadata is in memory
                details[i] = unindexed.view.metadata(int(near_rows[i - len(located)]))
                continue
            c, j = located[i]
            at, length = int(c.metadata_at[j]), int(c.metadata_len[j])
            if length == 0:
                details[i] = {}
                continue
            ranges.append((self.prefix + c.run.path, at, at + length))
            owners.append(i)
        for i, blob in zip(owners, self.store.read_ranges(ranges)):
            details[i] = orjson.loads(blob)
        return details


_ROW_FIELDS = ("positions", "metadata_at", "metadata_len")


class _Supersession:
    """Whether a later run than a row's own holds the row's key (overwritten or deleted)."""

    def __init__(
        self, fingerprints: dict[int, np.ndarray], keys: list[tuple[int, set[str]]]
    ) -> None:
        self.fingerprints = sorted(fingerprints.items())
        self.keys = keys

    def check(self, names: list[str], positions: np.ndarray) -> np.ndarray:
        dead = np.zeros(len(names), bool)
        if not names:
            return dead
        for run, keys in self.keys:
            later = positions < run
            if later.any():
                dead |= later & np.fromiter((n in keys for n in names), bool, len(names))
        hashes = None
        for run, prints in self.fingerprints:
            later = positions < run
            if not later.any() or len(prints) == 0:
                continue
            if hashes is None:
                hashes = ivf.key_hashes(names)
            at = np.minimum(np.searchsorted(prints, hashes), len(prints) - 1)
            dead |= later & (prints[at] == hashes)
        return dead
