"""A hot copy kept up to date: ``vetor export --sync`` (S3 Vectors → OpenSearch tiering,
with any peer as the hot tier).

Every write to a vetor index gets a sequence number, and a row keeps its write's seq through
compactions. So a *round* reads the index at its latest manifest — every key with its seq
(``VectorService.scan_keys``) — writes to the target the rows whose seq is above the last
round's mark, and deletes from the target the keys the last round left there that are gone
now. When the manifest has not moved since, a round costs one manifest read.

The state between rounds is one Arrow file: the keys the target holds from us, with the
mark and the manifest version in its schema metadata, replaced whole after a round. A round
that stops half-way leaves the previous state, and the next round redoes its work, which is
harmless: peers write and delete by key.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

from .base import Batch, Peer, TransferError
from .copying import default_checkpoint, prepare_target
from .s3vectors import LocalIndex


@dataclass
class Round:
    written: int  # rows written to the target
    deleted: int  # keys deleted from it
    version: int  # the manifest version the target now reflects
    seconds: float


@dataclass
class _State:
    keys: pa.StringArray  # what the target holds from us
    seq: int  # every write up to this seq is in the target
    version: int


class Follower:
    """Keeps ``target`` a copy of the vetor index ``source``, one ``step`` at a time."""

    def __init__(
        self, source: LocalIndex, target: Peer, state: Path | None = None, batch_size: int = 2000
    ) -> None:
        self.source, self.target, self.batch_size = source, target, batch_size
        self.place = state or default_checkpoint(source, target).with_suffix(".sync.arrow")
        self._prepared = False

    def step(self) -> Round | None:
        """One round; None when the index has not changed since the last one."""
        started = time.perf_counter()
        if not self._prepared:
            prepare_target(self.source, self.target)
            self._prepared = True
        state = self._load()
        service, address = self.source.service, self.source.address
        since = state.version if state else None
        listing = service.scan_keys(**address, since_version=since)
        if listing["keys"] is None:
            return None
        keys = pa.array(listing["keys"], pa.string())
        # A lower seq than the mark: the index was re-created since; all of it is new.
        mark = state.seq if state and listing["applied_seq"] >= state.seq else 0
        changed = keys.filter(pa.array(listing["seqs"] > mark))
        written = self._write(changed.to_pylist())
        gone: list[str] = []
        if state is not None and len(state.keys):
            gone = state.keys.filter(pc.invert(pc.is_in(state.keys, value_set=keys))).to_pylist()
        for start in range(0, len(gone), self.batch_size):
            self.target.delete(gone[start : start + self.batch_size])
        self._save(_State(keys, int(listing["applied_seq"]), int(listing["version"])))
        return Round(written, len(gone), int(listing["version"]), time.perf_counter() - started)

    def follow(self, interval: float, stop: threading.Event, each: Callable[[Round], None]) -> None:
        """Rounds every ``interval`` seconds until ``stop`` is set; ``each`` hears of every
        round that changed something."""
        while not stop.is_set():
            done = self.step()
            if done is not None:
                each(done)
            stop.wait(interval)

    def _write(self, keys: list[str]) -> int:
        written = 0
        for start in range(0, len(keys), self.batch_size):
            page = self.source.service.scan_vectors(
                **self.source.address, keys=keys[start : start + self.batch_size]
            )
            if page["keys"]:  # those deleted since the listing are left to the next round
                self.target.write(Batch(page["keys"], page["vectors"], page["metadata"]))
                written += len(page["keys"])
        return written

    # --- the state file -----------------------------------------------------------------------

    def _identity(self) -> dict[bytes, bytes]:
        return {b"source": self.source.uri.encode(), b"target": self.target.uri.encode()}

    def _load(self) -> _State | None:
        if not self.place.exists():
            return None
        with pa.memory_map(str(self.place)) as source:
            table = pyarrow.ipc.open_file(source).read_all()
        meta = table.schema.metadata or {}
        if any(meta.get(k) != v for k, v in self._identity().items()):
            raise TransferError(
                f"{self.place} keeps the state of another sync; name a new one (--checkpoint)"
            )
        keys = table["key"].combine_chunks() if table.num_rows else pa.array([], pa.string())
        return _State(keys, int(meta[b"seq"]), int(meta[b"version"]))

    def _save(self, state: _State) -> None:
        meta = self._identity() | {b"seq": b"%d" % state.seq, b"version": b"%d" % state.version}
        table = pa.table({"key": state.keys}).replace_schema_metadata(meta)
        self.place.parent.mkdir(parents=True, exist_ok=True)
        partial = self.place.with_suffix(".partial")
        with pa.OSFile(str(partial), "wb") as sink, pyarrow.ipc.new_file(sink, table.schema) as out:
            out.write_table(table)
        os.replace(partial, self.place)
