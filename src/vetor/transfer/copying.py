"""Copying one peer into another: resumable, checked, with progress.

A checkpoint file records the source cursor after every batch written. Running the same copy
again starts from it; since writes overwrite by key, the batch in flight when a copy stopped
is simply written again. The next batch is read while the current one is written, so a copy
runs at the speed of the slower side, not of both added.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson

from .base import Batch, IndexSpec, Peer, TransferError


@dataclass
class Report:
    copied: int  # rows written by this run
    source_count: int
    target_count: int
    seconds: float
    resumed: bool  # this run went on from a checkpoint

    @property
    def rate(self) -> float:
        return self.copied / self.seconds if self.seconds else 0.0


def default_checkpoint(source: Peer, target: Peer) -> Path:
    """Where a copy of ``source`` into ``target`` keeps its place unless told otherwise."""
    digest = hashlib.sha256(f"{source.uri}\n{target.uri}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "vetor" / "transfers" / f"{digest}.json"


def copy(
    source: Peer,
    target: Peer,
    *,
    checkpoint: Path | None = None,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Copy every row of ``source`` into ``target`` (created like the source if absent),
    then check the counts. ``progress(done, total)`` follows along."""
    started = time.perf_counter()
    existing = prepare_target(source, target)
    place = checkpoint or default_checkpoint(source, target)
    cursor, done = _resume(place, source, target)
    resumed, copied, total = cursor is not None, 0, source.count()
    if progress:
        progress(done, total)
    for batch in _prefetched(source.read(cursor, batch_size)):
        target.write(batch)
        copied += len(batch.keys)
        done += len(batch.keys)
        _record(place, source, target, batch.cursor, done)
        if progress:
            progress(done, total)
    target.finish()
    # The source counted once, before (counting a remote index lists every key)
    report = Report(copied, total, target.count(), time.perf_counter() - started, resumed)
    fresh = existing is None and not resumed
    if report.target_count < report.source_count or (
        fresh and report.target_count != report.source_count
    ):
        raise TransferError(
            f"count check failed: {source.uri} has {report.source_count} vectors, "
            f"{target.uri} {report.target_count}"
        )
    place.unlink(missing_ok=True)
    return report


def prepare_target(source: Peer, target: Peer) -> IndexSpec | None:
    """Create ``target`` like ``source`` if absent, or check that it can take its vectors;
    the target's configuration as it was (None: just created)."""
    spec = source.spec()
    if spec is None:
        raise TransferError(f"{source.uri} does not exist")
    existing = target.spec()
    if existing is None:
        target.create(spec)
    elif (existing.dimension, existing.metric) != (spec.dimension, spec.metric):
        raise TransferError(
            f"{target.uri} holds {existing.dimension}-d {existing.metric} vectors; "
            f"{source.uri} has {spec.dimension}-d {spec.metric}"
        )
    return existing


def _prefetched(batches: Iterator[Batch]) -> Iterator[Batch]:
    """``batches``, each read while the one before it is being written."""
    with ThreadPoolExecutor(1, thread_name_prefix="vetor-read") as reader:
        upcoming = reader.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            yield batch


def _resume(place: Path, source: Peer, target: Peer) -> tuple[str | None, int]:
    if not place.exists():
        return None, 0
    state = orjson.loads(place.read_bytes())
    if state.get("source") != source.uri or state.get("target") != target.uri:
        return None, 0
    if state.get("cursor") is None:  # the last run wrote everything; only its check failed
        return None, 0
    return state["cursor"], int(state.get("copied", 0))


def _record(place: Path, source: Peer, target: Peer, cursor: str | None, copied: int) -> None:
    """The checkpoint, replaced whole (a crash leaves the old one or the new one)."""
    place.parent.mkdir(parents=True, exist_ok=True)
    state = {"source": source.uri, "target": target.uri, "cursor": cursor, "copied": copied}
    partial = place.with_suffix(".partial")
    partial.write_bytes(orjson.dumps(state))
    os.replace(partial, place)
