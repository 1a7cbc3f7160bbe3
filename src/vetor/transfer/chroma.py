"""Chroma collections as peers (a persistent folder, or a Chroma server over HTTP).

Chroma's metadata values are scalars or non-empty lists of one scalar type; any other value
vetor holds (an object, a mixed or empty list) travels as a JSON string marked with
``vetor:json:``, and comes back as it was.

Like Qdrant, Chroma stores a cosine collection's vectors normalised (to float rounding), so
only an ``l2`` collection gives back exactly the vectors it was given; and a float in its
metadata comes back rounded to 16 significant digits (one bit, now and then).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .base import Batch, IndexSpec, TransferError, as_matrix

SPACES = {"cosine": "cosine", "euclidean": "l2"}
JSON_MARK = "vetor:json:"
DIMENSION_KEY = "vetor:dimension"  # an empty collection has no vectors to tell it
SCALARS = (str, int, float, bool)


class ChromaCollection:
    def __init__(self, client: Any, name: str, uri: str) -> None:
        self.client, self.name, self.uri = client, name, uri

    def _collection(self) -> Any:
        return self.client.get_collection(self.name, embedding_function=None)

    def spec(self) -> IndexSpec | None:
        try:
            collection = self._collection()
        except Exception as error:  # chromadb.errors.NotFoundError, by name across versions
            if "NotFound" in type(error).__name__ or "does not exist" in str(error):
                return None
            raise
        space = ((collection.configuration_json or {}).get("hnsw") or {}).get("space", "l2")
        metric = {v: k for k, v in SPACES.items()}.get(space)
        if metric is None:
            raise TransferError(f"{self.uri} uses the {space!r} space: vetor has cosine and l2")
        dimension = (collection.metadata or {}).get(DIMENSION_KEY)
        if dimension is None:
            first = collection.get(limit=1, include=["embeddings"])["embeddings"]
            if first is None or len(first) == 0:
                raise TransferError(f"{self.uri} is empty: its dimension is unknown")
            dimension = len(first[0])
        return IndexSpec(int(dimension), metric)

    def create(self, spec: IndexSpec) -> None:
        self.client.create_collection(
            self.name,
            configuration={"hnsw": {"space": SPACES[spec.metric]}},
            metadata={DIMENSION_KEY: spec.dimension},
            embedding_function=None,
        )

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        spec = self.spec()
        assert spec is not None
        collection = self._collection()
        offset = int(cursor or 0)
        while True:
            found = collection.get(limit=size, offset=offset, include=["embeddings", "metadatas"])
            offset += len(found["ids"])
            more = len(found["ids"]) == size
            yield Batch(
                list(found["ids"]),
                as_matrix(found["embeddings"] if found["ids"] else [], spec.dimension),
                [_from_chroma(m) for m in found["metadatas"] or [None] * len(found["ids"])],
                str(offset) if more else None,
            )
            if not more:
                return

    def write(self, batch: Batch) -> None:
        metadata = batch.metadata or [{}] * len(batch.keys)
        collection = self._collection()
        collection.delete(ids=batch.keys)  # an upsert merges metadata; a write replaces it
        collection.upsert(
            ids=batch.keys, embeddings=batch.vectors, metadatas=[_to_chroma(m) for m in metadata]
        )

    def delete(self, keys: list[str]) -> None:
        if keys:
            self._collection().delete(ids=keys)

    def finish(self) -> None:
        pass

    def count(self) -> int:
        return int(self._collection().count())

    def close(self) -> None:
        pass


def _to_chroma(metadata: dict[str, Any]) -> dict[str, Any] | None:
    return {
        k: v if _native(v) else JSON_MARK + orjson.dumps(v).decode() for k, v in metadata.items()
    } or None


def _from_chroma(metadata: dict[str, Any] | None) -> dict[str, Any]:
    return {
        k: orjson.loads(v[len(JSON_MARK) :])
        if isinstance(v, str) and v.startswith(JSON_MARK)
        else v
        for k, v in (metadata or {}).items()
    }


def _native(value: Any) -> bool:
    """A value Chroma keeps as it is."""
    if isinstance(value, SCALARS):
        return not (isinstance(value, str) and value.startswith(JSON_MARK))
    if isinstance(value, list) and value:
        kind = type(value[0])
        return kind in SCALARS and all(type(v) is kind for v in value)
    return False
