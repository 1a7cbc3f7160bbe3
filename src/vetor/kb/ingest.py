"""Documents into a knowledge base's index: read, parse, chunk, embed, write, as Bedrock writes
them into S3 Vectors.

Each chunk is a vector keyed ``<data source>-<document hash>-<n>``, so a document's chunks are
known from its URI and count alone. Its metadata carries Bedrock's keys: ``AMAZON_BEDROCK_TEXT``
(the chunk) and ``AMAZON_BEDROCK_METADATA`` (a JSON string: source, parent chunk, content hash),
both non-filterable, then the filterable ``x-amz-bedrock-kb-*`` keys (source URI, data source,
chunk id, page) and the document's own attributes. A chunk whose stored hash is the same is not
embedded again, which is what makes a restarted job cheap: only what was not written yet goes
to the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..embed.pipeline import groups, ordered
from ..models import Embedder
from ..service import VectorService
from .chunking import Chunk, Chunker
from .knowledge_bases import METADATA_KEY, TEXT_KEY, embedder_for, index_address
from .parsing import ParseError, Section, parse, parser_for, sidecar_attributes

SOURCE_URI_KEY = "x-amz-bedrock-kb-source-uri"
DATA_SOURCE_KEY = "x-amz-bedrock-kb-data-source-id"
CHUNK_ID_KEY = "x-amz-bedrock-kb-chunk-id"
PAGE_KEY = "x-amz-bedrock-kb-document-page-number"
SYSTEM_KEYS = (TEXT_KEY, METADATA_KEY, SOURCE_URI_KEY, DATA_SOURCE_KEY, CHUNK_ID_KEY, PAGE_KEY)
GET_BATCH, PUT_BATCH, DELETE_BATCH = 100, 500, 500  # S3 Vectors' request limits


@dataclass
class Incoming:
    """One document to ingest: where it is from, how to read it, its attributes."""

    uri: str
    name: str  # what its type is told by (a file name)
    signature: str
    read: Callable[[], bytes]
    read_sidecar: Callable[[], bytes] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # inline text: no parsing
    kind: str = "S3"  # the location type results report: S3 (also a LOCAL file) or CUSTOM


@dataclass
class Outcome:
    uri: str
    signature: str
    chunks: int = 0  # written (0 when it failed)
    embedded: int = 0  # chunks sent to the model
    reason: str | None = None  # why it failed


@dataclass
class Prepared:
    """A document read, parsed and chunked, then its changed chunks embedded."""

    incoming: Incoming
    chunks: list[Chunk] = field(default_factory=list)
    # key, metadata and hash of each chunk; "data" once embedded (absent: stored unchanged)
    vectors: list[dict[str, Any]] = field(default_factory=list)
    embedded: int = 0  # chunks sent to the model
    reason: str | None = None


class Ingestor:
    """Writes documents of one data source into the knowledge base's index."""

    def __init__(
        self,
        service: VectorService,
        address: dict[str, str],
        source_id: str,
        embedder: Embedder,
        chunking: dict[str, Any] | None,
        workers: int = 4,
        batch_size: int = 32,
    ) -> None:
        self.service, self.address, self.source_id = service, address, source_id
        self.embedder, self.chunking = embedder, chunking
        self.chunker = Chunker(chunking, embedder)
        self.workers, self.batch_size = max(1, workers), batch_size

    @classmethod
    def for_source(
        cls, service: VectorService, kb: dict[str, Any], source: dict[str, Any]
    ) -> Ingestor:
        """The ingestor of a data source: its knowledge base's index and model, its chunking."""
        chunking = (source.get("vectorIngestionConfiguration") or {}).get("chunkingConfiguration")
        settings = service.settings
        return cls(service, index_address(kb), source["dataSourceId"], embedder_for(kb),
                   chunking, settings.kb_workers, settings.embed_batch_size)  # fmt: skip

    def ingest(
        self,
        documents: Iterable[Incoming],
        old_counts: dict[str, int],
        group: int = 32,
        stages: Stages | None = None,
    ) -> Iterator[list[Outcome]]:
        """Ingest documents, yielding the outcomes of each group as it is written (so a job
        can record them); ``old_counts`` are the chunk counts already stored per URI.
        ``stages`` prepare and embed elsewhere (``kb.distributed.on_ray``)."""
        for batch in (stages or Ingestor.embedded_here)(self, documents, old_counts, group):
            yield self._write(batch, old_counts)

    def embedded_here(
        self, documents: Iterable[Incoming], old_counts: dict[str, int], group: int
    ) -> Iterator[list[Prepared]]:
        """Groups of documents prepared on reader threads, then embedded on this one (the
        default stages)."""
        with ThreadPoolExecutor(self.workers, "vetor-kb-read") as readers:
            prepared = ordered(readers, self.prepare, documents, 2 * self.workers)
            for batch in groups(prepared, group):
                self.embed(batch, self.stored_hashes(_chunk_keys(batch)))
                yield batch

    # reading, parsing, chunking (reader threads) -------------------------------------------

    def prepare(self, incoming: Incoming) -> Prepared:
        prepared = Prepared(incoming)
        try:
            attributes = dict(incoming.attributes)
            if incoming.read_sidecar is not None:
                attributes.update(sidecar_attributes(incoming.read_sidecar()))
            if incoming.text is not None:
                sections = [Section(incoming.text)]
            else:
                parser_for(incoming.name)  # an unsupported type fails before it is read
                sections = parse(incoming.name, incoming.read())
            prepared.chunks = self.chunker.chunks(sections)
            if not prepared.chunks:
                raise ParseError("the document has no text")
            prepared.vectors = [
                self._vector(incoming, n, chunk, attributes)
                for n, chunk in enumerate(prepared.chunks)
            ]
        except Exception as error:  # a bad file fails alone, with its reason
            prepared.reason = str(error) or type(error).__name__
        return prepared

    def _vector(
        self, incoming: Incoming, n: int, chunk: Chunk, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        uri = incoming.uri
        key = chunk_key(self.source_id, uri, n)
        filterable = {
            **{k: v for k, v in attributes.items() if k not in SYSTEM_KEYS},
            SOURCE_URI_KEY: uri,
            DATA_SOURCE_KEY: self.source_id,
            CHUNK_ID_KEY: key,
        }
        if chunk.page is not None:
            filterable[PAGE_KEY] = chunk.page
        identity = [self.embedder.identity, self.embedder.dimension, chunk.text, chunk.parent]
        digest = _digest([identity, filterable])
        bedrock: dict[str, Any] = {"source": uri, "type": incoming.kind, "hash": digest}
        if chunk.parent is not None:
            bedrock["parentText"] = chunk.parent
        metadata = {TEXT_KEY: chunk.text, METADATA_KEY: orjson.dumps(bedrock).decode()}
        return {"key": key, "metadata": {**metadata, **filterable}, "hash": digest}

    # embedding (the calling thread, or Ray's actors) and writing -----------------------------

    def embed(self, batch: list[Prepared], stored: dict[str, str]) -> None:
        """Embed the chunks of ``batch`` whose ``stored`` hash differs; a failed call fails
        the documents it had chunks of."""
        fresh = [
            (p, v) for p in batch if p.reason is None for v in p.vectors
            if stored.get(v["key"]) != v["hash"]
        ]  # fmt: skip
        for start in range(0, len(fresh), PUT_BATCH * 4):
            part = fresh[start : start + PUT_BATCH * 4]
            for p, _ in part:
                p.embedded += 1
            try:
                matrix = self._embed([v["metadata"][TEXT_KEY] for _, v in part])
            except Exception as error:
                for p, _ in part:
                    p.reason = p.reason or f"the embedding model failed: {error}"
                continue
            for (_, v), row in zip(part, matrix, strict=True):
                v["data"] = row

    def _write(self, batch: list[Prepared], old_counts: dict[str, int]) -> list[Outcome]:
        """Put the embedded chunks, delete chunks a document no longer has; the outcomes."""
        body = [
            (p, {"key": v["key"], "data": {"float32": v["data"]}, "metadata": v["metadata"]})
            for p in batch if p.reason is None for v in p.vectors if "data" in v
        ]  # fmt: skip
        for start in range(0, len(body), PUT_BATCH):
            part = body[start : start + PUT_BATCH]
            try:
                self.service.put_vectors(**self.address, vectors=[b for _, b in part])
            except Exception as error:
                for p, _ in part:
                    p.reason = p.reason or f"the index refused the chunk: {error}"
        outcomes = []
        for p in batch:
            uri, signature = p.incoming.uri, p.incoming.signature
            count = 0 if p.reason else len(p.vectors)
            surplus = range(count, old_counts.get(uri, 0))
            delete_chunks(
                self.service, self.address, [chunk_key(self.source_id, uri, n) for n in surplus]
            )
            outcomes.append(Outcome(uri, signature, count, p.embedded, p.reason))
        return outcomes

    def _embed(self, texts: list[str]) -> Any:
        import numpy as np

        parts = [
            self.embedder.embed_documents(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.embedder.dimension))

    def stored_hashes(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), GET_BATCH):
            reply = self.service.get_vectors(
                **self.address, keys=keys[start : start + GET_BATCH], returnMetadata=True
            )
            for vector in reply["vectors"]:
                meta = (vector.get("metadata") or {}).get(METADATA_KEY)
                if isinstance(meta, str):
                    found[vector["key"]] = orjson.loads(meta).get("hash", "")
        return found


# The read-parse-chunk-embed stages run elsewhere: (ingestor, documents, old chunk counts, group
# size) → groups of prepared and embedded documents, in order.
Stages = Callable[[Ingestor, Iterable[Incoming], dict[str, int], int], Iterator[list[Prepared]]]


def _chunk_keys(batch: list[Prepared]) -> list[str]:
    return [v["key"] for p in batch if p.reason is None for v in p.vectors]


def remove_documents(
    service: VectorService, address: dict[str, str], source_id: str, counts: dict[str, int]
) -> None:
    """Delete the chunks of documents (URI → chunk count) from the index."""
    keys = [chunk_key(source_id, uri, n) for uri, count in counts.items() for n in range(count)]
    delete_chunks(service, address, keys)


def delete_chunks(service: VectorService, address: dict[str, str], keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        service.delete_vectors(**address, keys=keys[start : start + DELETE_BATCH])


def chunk_key(source_id: str, uri: str, n: int) -> str:
    return f"{source_id}-{hashlib.sha256(uri.encode()).hexdigest()[:24]}-{n:05d}"


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
