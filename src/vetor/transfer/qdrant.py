"""Qdrant collections as peers (a server, or qdrant-client's local mode on a folder).

Qdrant's point ids are integers or UUIDs, so a vetor key becomes the UUID5 of the key, and
the point's payload keeps the key and the metadata as LangChain lays them out:
``{"key": ..., "metadata": {...}}`` (filters then name ``metadata.genre``). A collection
vetor did not write is read as it is: the payload's ``key`` or else the point id is the key,
and the payload's ``metadata`` or else the whole payload is the metadata.

Qdrant stores a cosine collection's vectors normalised to unit length, so only a euclidean
collection gives back exactly the floats it was given (see the README's "Migrating").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from .base import Batch, IndexSpec, TransferError, as_matrix

KEYS = uuid.UUID("6f6d7a1e-7665-746f-722d-6b6579730000")  # the namespace of vetor's point ids


class QdrantCollection:
    def __init__(self, client: Any, name: str, uri: str) -> None:
        from qdrant_client import models

        self.client, self.name, self.uri, self.models = client, name, uri, models
        self.distances = {"cosine": models.Distance.COSINE, "euclidean": models.Distance.EUCLID}

    def spec(self) -> IndexSpec | None:
        if not self.client.collection_exists(self.name):
            return None
        vectors = self.client.get_collection(self.name).config.params.vectors
        if isinstance(vectors, dict):  # named vectors: vetor's indexes hold one vector a key
            if len(vectors) != 1:
                raise TransferError(f"{self.uri} has {len(vectors)} named vectors; vetor one")
            vectors = next(iter(vectors.values()))
        metric = {v: k for k, v in self.distances.items()}.get(vectors.distance)
        if metric is None:
            raise TransferError(f"{self.uri} uses {vectors.distance}: vetor has cosine, euclidean")
        return IndexSpec(int(vectors.size), metric)

    def create(self, spec: IndexSpec) -> None:
        params = self.models.VectorParams(size=spec.dimension, distance=self.distances[spec.metric])
        self.client.create_collection(self.name, vectors_config=params)

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        spec = self.spec()
        assert spec is not None
        while True:
            offset = orjson.loads(cursor) if cursor else None
            points, following = self.client.scroll(
                self.name, limit=size, offset=offset, with_payload=True, with_vectors=True
            )
            cursor = orjson.dumps(str(following)).decode() if following is not None else None
            yield Batch(
                [_key(point) for point in points],
                as_matrix([_vector(point.vector) for point in points], spec.dimension),
                [_metadata(point.payload or {}) for point in points],
                cursor,
            )
            if cursor is None:
                return

    def write(self, batch: Batch) -> None:
        metadata = batch.metadata or [{}] * len(batch.keys)
        self.client.upsert(
            self.name,
            points=self.models.Batch(
                ids=[str(uuid.uuid5(KEYS, key)) for key in batch.keys],
                vectors=batch.vectors.tolist(),
                payloads=[{"key": k, "metadata": m} for k, m in zip(batch.keys, metadata)],
            ),
            wait=True,
        )

    def delete(self, keys: list[str]) -> None:
        ids: list[Any] = [str(uuid.uuid5(KEYS, key)) for key in keys]
        self.client.delete(self.name, self.models.PointIdsList(points=ids), wait=True)

    def finish(self) -> None:
        pass

    def count(self) -> int:
        return int(self.client.count(self.name, exact=True).count)

    def close(self) -> None:
        self.client.close()


def _key(point: Any) -> str:
    key = (point.payload or {}).get("key")
    return key if isinstance(key, str) else str(point.id)


def _vector(vector: Any) -> Any:
    return next(iter(vector.values())) if isinstance(vector, dict) else vector


def _metadata(payload: dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload.get("metadata"), dict):
        return payload["metadata"]
    return {k: v for k, v in payload.items() if k != "key"}
