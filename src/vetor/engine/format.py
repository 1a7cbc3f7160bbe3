"""On-store format of one index: run files (write batches and segments) and manifests.

A *run* is an immutable Arrow IPC file of rows ``(key, seq, deleted, vector, metadata)``.
Write batches (``wal/``) and compacted segments (``segments/``) share this one format;
a write batch may omit ``seq`` because the manifest assigns one seq to the whole batch.
See docs/FORMAT.md for the full specification.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..store import parse_json, unreadable

FORMAT_VERSION = 2  # 2: manifests carry the index configuration (`config`)
MANIFEST_DIGITS = 20  # zero-padded so that lexicographic order is numeric order


def run_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("seq", pa.uint64(), nullable=False),
            pa.field("deleted", pa.bool_(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
            pa.field("metadata", pa.binary(), nullable=True),  # JSON object, or null
        ]
    )


@dataclass
class Rows:
    """A columnar batch of rows, in memory."""

    keys: list[str]
    seqs: np.ndarray  # uint64
    deleted: np.ndarray  # bool
    vectors: np.ndarray  # float32 (n, dimension)
    metadata: list[bytes | None]  # raw JSON per row

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(
            [self.keys[i] for i in idx],
            self.seqs[idx],
            self.deleted[idx],
            self.vectors[idx],
            [self.metadata[i] for i in idx],
        )


def encode_run(rows: Rows, dimension: int) -> memoryview:
    flat = pa.array(np.ascontiguousarray(rows.vectors, dtype=np.float32).reshape(-1))
    table = pa.table(
        [
            pa.array(rows.keys, pa.string()),
            pa.array(rows.seqs, pa.uint64()),
            pa.array(rows.deleted, pa.bool_()),
            pa.FixedSizeListArray.from_arrays(flat, dimension),
            pa.array(rows.metadata, pa.binary()),
        ],
        schema=run_schema(dimension),
    )
    return write_table(table)


def write_table(table: pa.Table) -> memoryview:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return memoryview(sink.getvalue()).cast("B")  # no copy; unsigned bytes, as stores expect


def read_table(data: bytes | memoryview, seq: int | None = None) -> pa.Table:
    """A run as an Arrow table; ``seq`` overrides the column (write batches store 0)."""
    try:
        table = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(data))).read_all()
    except pa.ArrowInvalid as error:  # cut short on the way, or damaged at rest
        raise unreadable("a run", error) from None
    if seq is not None:
        index = table.schema.get_field_index("seq")
        column = pa.array(np.full(len(table), seq, np.uint64))
        table = table.set_column(index, table.schema.field(index), column)  # keeps "not null"
    return table


def rows_of(table: pa.Table, dimension: int) -> Rows:
    table = table.combine_chunks()
    return Rows(
        keys=table.column("key").to_pylist(),
        seqs=table.column("seq").to_numpy().astype(np.uint64),  # writable copy
        deleted=table.column("deleted").to_numpy(zero_copy_only=False).astype(bool),
        vectors=vector_matrix(table, dimension),
        metadata=table.column("metadata").to_pylist(),
    )


def vector_matrix(table: pa.Table, dimension: int) -> np.ndarray:
    """The vector column as an (n, dimension) float32 array, without a copy when the
    table is one chunk."""
    chunks = table.column("vector")
    column = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(table), dimension)


@dataclass
class VectorLocations:
    """Where a run file keeps its vectors, for ranged reads of single rows."""

    batch_rows: np.ndarray  # int64: first row of each record batch, then the row count
    vectors_at: np.ndarray  # int64: file offset of each batch's vector values

    def offsets(self, rows: np.ndarray, dimension: int) -> np.ndarray:
        batch = np.searchsorted(self.batch_rows, rows, side="right") - 1
        return self.vectors_at[batch] + (rows - self.batch_rows[batch]) * (4 * dimension)


@dataclass
class FileLayout:
    """Where rows lie in an encoded run file: vectors by batch, metadata per row."""

    vectors: VectorLocations
    metadata_at: np.ndarray  # uint64 per row: file offset of its metadata JSON
    metadata_len: np.ndarray  # uint32 per row: its length (0: none)


def file_layout(data: bytes | memoryview) -> FileLayout:
    """The layout of a run file written by ``write_table`` (uncompressed Arrow IPC): read
    without a copy, so each column buffer's address, less the file's, is its file offset."""
    buffer = pa.py_buffer(data)
    reader = pa.ipc.open_file(pa.BufferReader(buffer))
    firsts, vectors_at = [0], []
    metadata_at, metadata_len = [np.empty(0, np.uint64)], [np.empty(0, np.uint32)]
    for i in range(reader.num_record_batches):
        batch = reader.get_batch(i)
        if len(batch) == 0:  # no rows, and its buffers need not lie in the file
            continue
        vectors = batch.column("vector")
        values = vectors.values  # the whole child array: add the list offset ourselves
        start = values.offset + vectors.offset * vectors.type.list_size
        vectors_at.append(values.buffers()[1].address - buffer.address + 4 * start)
        if not 0 <= vectors_at[-1] < len(buffer):
            raise ValueError("the run file was copied while read: no byte offsets")
        metadata = batch.column("metadata")
        offsets = np.frombuffer(metadata.buffers()[1], "<i4")
        offsets = offsets[metadata.offset : metadata.offset + len(metadata) + 1]
        body = metadata.buffers()[2]
        base = body.address - buffer.address if body is not None else 0
        metadata_at.append(base + offsets[:-1].astype(np.uint64))
        metadata_len.append(np.diff(offsets).astype(np.uint32))
        firsts.append(firsts[-1] + len(batch))
    return FileLayout(
        VectorLocations(np.asarray(firsts, np.int64), np.asarray(vectors_at, np.int64)),
        np.concatenate(metadata_at),
        np.concatenate(metadata_len),
    )


def merge_tables(tables: list[pa.Table], drop_tombstones: bool) -> pa.Table:
    """Fold runs (in seq order) into one: the newest row per key wins. All in Arrow.

    With ``drop_tombstones`` (the runs start at the first run of the index), deletes are
    applied and their tombstones dropped.
    """
    table = pa.concat_tables(tables)
    positions = pa.array(np.arange(len(table), dtype=np.int64))
    newest = (
        pa.table({"key": table.column("key"), "position": positions})
        .group_by("key", use_threads=False)
        .aggregate([("position", "max")])
    )
    keep = np.sort(newest.column("position_max").to_numpy())
    merged = table.take(pa.array(keep))
    if drop_tombstones:
        merged = merged.filter(pc.invert(merged.column("deleted")))
    return merged.combine_chunks()


@dataclass(frozen=True)
class RunRef:
    """A run as the manifest lists it."""

    path: str  # relative to the index prefix
    kind: str  # "wal" or "segment"
    min_seq: int
    max_seq: int
    rows: int
    tombstones: int
    size: int
    text: tuple[str, ...] = ()  # text fields indexed next to a segment (TextField ids)
    ann: str = ""  # the segment's ANN index ("ivf-sq8": ivf.head + ivf.lists), or none

    @property
    def directory(self) -> str:
        """Where the run's file and its segment's indexes lie."""
        return self.path.rsplit("/", 1)[0]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRef:
        return cls(**{**data, "text": tuple(data.get("text", ()))})


@dataclass(frozen=True)
class Manifest:
    """One immutable version of an index: the ordered runs whose fold is the index."""

    version: int
    next_seq: int
    runs: tuple[RunRef, ...] = ()
    # Deletes with seq <= purged_seq were folded into the first run and their tombstones
    # dropped: a reader that has not applied that far cannot catch up and must rebuild.
    purged_seq: int = 0
    # The last version of a deleted index: committed like any write, so every writer and
    # reader of this index learns of the delete at its next round trip to the store.
    deleted: bool = False
    commit_id: str = ""
    created_at: str = ""
    format: int = FORMAT_VERSION
    # The index's mutable configuration (index mode, text search configurations), committed
    # like writes: concurrent changes cannot lose each other, and every process sees a change
    # at its next round trip. Empty in manifests written before it lived here.
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        data = asdict(self)
        return orjson.dumps(data)

    @classmethod
    def decode(cls, data: bytes, key: str = "manifest") -> Manifest:
        raw = parse_json(key, data)
        if raw.get("format", 1) > FORMAT_VERSION:
            raise ValueError(f"manifest format {raw['format']} is newer than this vetor")
        raw["runs"] = tuple(RunRef.from_dict(r) for r in raw["runs"])
        return cls(**raw)

    def evolve(self, **changes: Any) -> Manifest:
        return replace(self, **changes)


def manifest_name(version: int) -> str:
    return f"{version:0{MANIFEST_DIGITS}d}.json"
