"""``vetor embed put`` as a library: read, chunk, skip what is stored, embed, write.

Four stages overlap so the model is never idle waiting for I/O: reader threads read and chunk
sources and look up stored hashes; one embedding thread (or several for a remote provider)
calls the model on batches; one writer thread sends PutVectors. Order is kept end to end.

Each vector records a hash of what produced it (model, key, text, metadata). A run that finds
a vector with the same hash skips it, so an interrupted run resumes where it stopped. A bad
input (unreadable, empty, too long, refused by the store) becomes a ``Failure`` that names
it; the rest of the run goes on.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import orjson

from vetor.models import Embedder, EmbeddingError, get_transcriber

from .chunking import Chunk, fit, split
from .index import (
    CHUNK_END_KEY,
    CHUNK_KEY,
    CHUNK_START_KEY,
    CONTENT_KEY,
    HASH_KEY,
    LOCATION_KEY,
    PutOptions,
    describe,
    prepare_index,
)
from .sources import AUDIO, IMAGE, TEXT, Source, SourceError, literal_key

GET_BATCH = 100  # GetVectors' key limit

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Failure:
    input: str
    error: str


@dataclass
class PutReport:
    bucket: str
    index: str
    provider: str
    model: str
    dimension: int
    index_created: bool = False
    inputs: int = 0
    vectors: int = 0  # written
    embedded: int = 0  # inputs (chunks, images) sent to the model
    skipped: int = 0  # already stored with the same hash
    failures: list[Failure] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        failed_inputs = len({f.input for f in self.failures})
        return {
            "bucket": self.bucket,
            "index": self.index,
            "provider": self.provider,
            "model": self.model,
            "dimension": self.dimension,
            "indexCreated": self.index_created,
            "inputs": self.inputs,
            "vectors": self.vectors,
            "embedded": self.embedded,
            "skipped": self.skipped,
            "failed": failed_inputs,
            "seconds": round(self.seconds, 3),
            "embeddedPerSecond": round(self.embedded / self.seconds, 2) if self.seconds else 0.0,
            "keys": self.keys[:100],
            "failures": [{"input": f.input, "error": f.error} for f in self.failures],
        }


@dataclass
class Record:
    """One vector to be: a chunk of a text, a whole text, or an image."""

    key: str
    label: str  # names the input in messages
    last: bool  # the last record of its input (progress counts inputs)
    metadata: dict[str, Any]
    text: str | None = None
    image: bytes | None = None

    @property
    def kind(self) -> str:
        return IMAGE if self.image is not None else "text"


Progress = Callable[[int, int], None]  # (inputs finished, vectors written) since last call
# Reading through embedding done elsewhere (``distributed.on_ray``): the run and its inputs in,
# the embedded items out, in order and in batches, for this process to write.
Stages = Callable[["_Run", list["Source | SourceError"]], Iterator[list[Any]]]


# --- the run ------------------------------------------------------------------------------------


def put(
    client: Any,
    embedder: Embedder,
    sources: Iterable[Source | SourceError],
    options: PutOptions,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
    stages: Stages | None = None,
) -> PutReport:
    """Embed ``sources`` into the index; every failure is in the report, none raises.

    ``announce`` hears what a long pause is for ("loading all-MiniLM-L6-v2"), once the first
    input that needs the model arrives; a run that embeds nothing never loads it."""
    started = time.perf_counter()
    report = PutReport(
        options.bucket, options.index, embedder.provider, embedder.model, embedder.dimension
    )
    report.index_created = prepare_index(client, embedder, options)
    run = _Run(client, embedder, options, report, progress or (lambda inputs, vectors: None))
    run.announce = announce or (lambda message: None)
    run.stages = stages
    try:
        run.execute(list(sources))
    finally:
        report.seconds = time.perf_counter() - started
    return report


class _Run:
    def __init__(
        self,
        client: Any,
        embedder: Embedder,
        options: PutOptions,
        report: PutReport,
        progress: Progress,
    ) -> None:
        self.client = client
        self.embedder = embedder
        self.options = options
        self.report = report
        self.progress = progress
        self.address = {"vectorBucketName": options.bucket, "indexName": options.index}
        self.check_existing = not (report.index_created or options.force)
        self.announce: Callable[[str], None] = lambda message: None
        self.stages: Stages | None = None

    def execute(self, sources: list[Source | SourceError]) -> None:
        self.report.inputs = sum(isinstance(s, Source) for s in sources)
        if self.stages is not None:  # read to embedded elsewhere (a Ray cluster); written here
            with ThreadPoolExecutor(1, "vetor-embed-write") as writer:
                self._write_all(writer, self.stages(self, sources))
            return
        workers = max(1, self.options.max_workers)
        embed_workers = workers if self.embedder.parallel else 1
        with (
            ThreadPoolExecutor(workers, "vetor-embed-read") as readers,
            ThreadPoolExecutor(embed_workers, "vetor-embed-model") as models,
            ThreadPoolExecutor(1, "vetor-embed-write") as writer,
        ):
            prepared = ordered(readers, self._prepare, sources, 2 * workers)
            batches = _batches(self._flatten(prepared), self.options.embed_batch_size)
            checked = ordered(readers, self._skip_stored, batches, 2)
            embedded = ordered(models, self._embed, checked, embed_workers + 1)
            self._write_all(writer, embedded)

    # reading and chunking (reader threads) -------------------------------------------------

    def _prepare(self, source: Source | SourceError) -> list[Record] | Failure:
        if isinstance(source, SourceError):
            return Failure(source.input, str(source))
        try:
            if source.kind == IMAGE and self.embedder.supports_images:
                return [self._image_record(source)]
            return self._text_records(source)  # a text model reads an image's words
        except (SourceError, EmbeddingError) as error:
            return Failure(source.label, str(error))

    def _image_record(self, source: Source) -> Record:
        image = source.read_image()
        metadata = self._metadata(source, None, image, None, self._base_key(source))
        return Record(self._base_key(source), source.label, True, metadata, image=image)

    def _text_records(self, source: Source) -> list[Record]:
        text = source.read_text() if source.kind == TEXT else transcript(source)
        if not text.strip():
            raise SourceError(EMPTY[source.kind])
        chunks = self._chunks(text)
        base = self._base_key(source)
        records = []
        for n, chunk in enumerate(chunks):
            key = base if len(chunks) == 1 else f"{base}#{n}"
            numbered = (n, chunk) if len(chunks) > 1 else None
            metadata = self._metadata(source, chunk.text, None, numbered, key)
            last = n == len(chunks) - 1
            records.append(Record(key, source.label, last, metadata, text=chunk.text))
        return records

    def _chunks(self, text: str) -> list[Chunk]:
        size = self.options.chunk_size
        if size <= 0:
            problem = self.embedder.length_problem(text)
            if problem:
                raise EmbeddingError(f"{problem}; split it with --chunk-size")
            return [Chunk(text, 0, len(text))]
        fits = self.embedder.fits
        pieces = [p for c in split(text, size, self.options.chunk_overlap) for p in fit(c, fits)]
        return [p for p in pieces if p.text.strip()]

    def _base_key(self, source: Source) -> str:
        if self.options.key:
            name = self.options.key
        elif source.value is not None:
            name = literal_key(source.value)
        elif self.options.filename_as_key:
            name = source.name
        else:  # stable across runs (resuming needs that), shaped like the AWS tool's UUIDs
            name = str(uuid.uuid5(uuid.NAMESPACE_URL, source.location))
        return self.options.key_prefix + name

    def _metadata(
        self,
        source: Source,
        text: str | None,
        image: bytes | None,
        chunk: tuple[int, Chunk] | None,
        key: str,
    ) -> dict[str, Any]:
        """System keys, then the user's (never overwritten), then vetor's reserved ones."""
        system: dict[str, Any] = {}
        if text is not None:
            system[CONTENT_KEY] = text
        if source.location:
            system[LOCATION_KEY] = source.location
        metadata = {**system, **self.options.metadata}
        if chunk is not None:
            n, piece = chunk
            metadata.update({CHUNK_KEY: n, CHUNK_START_KEY: piece.start, CHUNK_END_KEY: piece.end})
        metadata[HASH_KEY] = self._hash(key, text, image, metadata)
        return metadata

    def _hash(self, key: str, text: str | None, image: bytes | None, meta: dict[str, Any]) -> str:
        content = text if text is not None else hashlib.sha256(image or b"").hexdigest()
        identity = [self.embedder.identity, self.embedder.dimension, key, content, meta]
        return hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def _flatten(self, prepared: Iterator[list[Record] | Failure]) -> Iterator[Record | Failure]:
        for item in prepared:
            if isinstance(item, Failure):
                yield item
            else:
                yield from item

    # skipping what is stored (reader threads) ----------------------------------------------

    def _skip_stored(self, batch: list[Record | Failure]) -> list[Record | Failure | _Skipped]:
        records = [r for r in batch if isinstance(r, Record)]
        if not (self.check_existing and records):
            return list(batch)
        try:
            stored = self._stored_hashes([r.key for r in records])
        except Exception:  # no lookup, no skipping: embedding again is always correct
            return list(batch)
        return [
            _Skipped(r)
            if isinstance(r, Record) and stored.get(r.key) == r.metadata[HASH_KEY]
            else r
            for r in batch
        ]

    def _stored_hashes(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), GET_BATCH):
            reply = self.client.get_vectors(
                **self.address,
                keys=unique[start : start + GET_BATCH],
                returnData=False,
                returnMetadata=True,
            )
            for vector in reply.get("vectors", []):
                found[vector["key"]] = (vector.get("metadata") or {}).get(HASH_KEY)
        return found

    # embedding (model threads) ---------------------------------------------------------------

    def _embed(self, batch: list[Record | Failure | _Skipped]) -> list[Any]:
        """The batch with each record paired with its vector, or turned into a Failure."""
        records = [r for r in batch if isinstance(r, Record)]
        if not records:
            return list(batch)
        vectors = self._vectors(records)
        return [_Embedded(r, vectors[id(r)]) if isinstance(r, Record) else r for r in batch]

    def _vectors(self, records: list[Record]) -> dict[int, np.ndarray | Failure]:
        try:
            matrix = self._call_model(records)
            return {id(r): matrix[i] for i, r in enumerate(records)}
        except Exception as error:
            if len(records) == 1:
                return {id(records[0]): Failure(records[0].label, describe(error))}
        # One bad input must not sink its batch: find it by embedding one at a time.
        result: dict[int, np.ndarray | Failure] = {}
        for record in records:
            result.update(self._vectors([record]))
        return result

    def _call_model(self, records: list[Record]) -> np.ndarray:
        if not self.embedder.loaded:
            self.announce(f"loading {self.embedder.identity}")
            self.embedder.load()
            self.announce("embedding")
        if records[0].kind == IMAGE:
            return self.embedder.embed_images([r.image or b"" for r in records])
        return self.embedder.embed_documents([r.text or "" for r in records])

    # writing (the writer thread) -------------------------------------------------------------

    def _write_all(self, writer: ThreadPoolExecutor, embedded: Iterator[list[Any]]) -> None:
        pending: deque[Future[list[Any]]] = deque()
        ready: list[Any] = []
        for batch in embedded:
            ready.extend(batch)
            if len(ready) >= self.options.batch_size:  # skipped ones too: progress moves
                pending.append(writer.submit(self._write, ready))
                ready = []
            while len(pending) > 1:  # at most one put queued behind the running one
                self._account(pending.popleft().result())
        if ready:
            pending.append(writer.submit(self._write, ready))
        while pending:
            self._account(pending.popleft().result())

    def _write(self, items: list[Any]) -> list[Any]:
        """Put the embedded records; a refused batch is retried one vector at a time."""
        results: list[Any] = [i for i in items if not isinstance(i, _Embedded)]
        good = []
        for item in items:
            if isinstance(item, _Embedded):
                if isinstance(item.vector, Failure):
                    results.append(_Failed(item, item.vector))
                else:
                    good.append(item)
        for start in range(0, len(good), self.options.batch_size):
            results.extend(self._put(good[start : start + self.options.batch_size]))
        # Keep input order for progress: a record's "last" flag closes its input.
        order = {id(i): n for n, i in enumerate(items)}
        return sorted(results, key=lambda r: order.get(id(getattr(r, "origin", r)), 0))

    def _put(self, items: list[_Embedded]) -> list[Any]:
        vectors = [
            {
                "key": i.record.key,
                "data": {"float32": i.vector.tolist()},  # type: ignore[union-attr]
                "metadata": i.record.metadata,
            }
            for i in items
        ]
        try:
            self.client.put_vectors(**self.address, vectors=vectors)
            return [_Written(i) for i in items]
        except Exception as error:
            if len(items) == 1:
                return [_Failed(items[0], Failure(items[0].record.label, describe(error)))]
        return [result for i in items for result in self._put([i])]

    def _account(self, results: list[Any]) -> None:
        """Fold one write's outcome into the report and the progress bar (main thread)."""
        finished = written = 0
        for item in results:
            record = _record_of(item)
            if isinstance(item, _Written):
                written += 1
                self.report.embedded += 1
                if len(self.report.keys) < 100:
                    self.report.keys.append(record.key if record else "")
            elif isinstance(item, _Skipped):
                self.report.skipped += 1
            elif isinstance(item, _Failed):
                self.report.embedded += 1
                self.report.failures.append(item.failure)
            elif isinstance(item, Failure):
                self.report.failures.append(item)
            if record is None or record.last:  # a failed or finished input
                finished += 1
        self.report.vectors += written
        self.progress(finished, written)


EMPTY = {TEXT: "empty text", AUDIO: "no speech found", IMAGE: "no text found in the image"}


def transcript(source: Source) -> str:
    """The words of a recording (Whisper) or shown in an image (OCR), for a text model; the
    model loads with the first such input."""
    if source.kind == AUDIO:
        return get_transcriber("whisper").transcribe(source.read_audio()).text
    return get_transcriber("ocr").transcribe(source.read_image()).text


@dataclass
class _Skipped:
    record: Record


@dataclass
class _Embedded:
    record: Record
    vector: np.ndarray | Failure


@dataclass
class _Written:
    origin: _Embedded

    @property
    def record(self) -> Record:
        return self.origin.record


@dataclass
class _Failed:
    origin: _Embedded
    failure: Failure


def _record_of(item: Any) -> Record | None:
    if isinstance(item, (_Skipped, _Embedded)):
        return item.record
    if isinstance(item, (_Written, _Failed)):
        return item.origin.record
    return None


# --- helpers ---------------------------------------------------------------------------------


def ordered(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``map(fn, items)`` on ``pool``, in order, with at most ``window`` calls in flight."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def groups(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), in order."""
    group: list[T] = []
    for item in items:
        group.append(item)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def _batches(items: Iterator[Record | Failure], size: int) -> Iterator[list[Record | Failure]]:
    """Groups of at most ``size`` records of one kind (failures ride along for order)."""
    batch: list[Record | Failure] = []
    count, kind = 0, None
    for item in items:
        if isinstance(item, Record):
            if count >= size or (kind is not None and item.kind != kind):
                yield batch
                batch, count = [], 0
            kind, count = item.kind, count + 1
        batch.append(item)
    if batch:
        yield batch
