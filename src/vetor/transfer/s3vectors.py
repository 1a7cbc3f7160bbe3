"""S3 Vectors indexes as peers: any S3 Vectors endpoint through boto3 (AWS itself, another
vetor), and a vetor store in this process through the service's Python API.

Both speak the same operations with the same names, so one class serves both; the
in-process one reads and writes whole arrays instead of JSON-shaped records.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import ConflictException, NotFoundException
from ..service import VectorService
from .base import Batch, IndexSpec, as_matrix

PUT_LIMIT = 500  # S3 Vectors' PutVectors limit
LIST_LIMIT = 1000  # and ListVectors'


class RemoteIndex:
    """An index behind an S3 Vectors endpoint (a boto3 ``s3vectors`` client)."""

    def __init__(self, api: Any, bucket: str, index: str, uri: str, writers: int = 4) -> None:
        self.api, self.bucket, self.index, self.uri = api, bucket, index, uri
        self.address = {"vectorBucketName": bucket, "indexName": index}
        self.writers = writers

    def spec(self) -> IndexSpec | None:
        try:
            found = self.api.get_index(**self.address)["index"]
        except Exception as error:
            if _not_found(error):
                return None
            raise
        configuration = found.get("metadataConfiguration") or {}
        return IndexSpec(
            int(found["dimension"]),
            found["distanceMetric"],
            tuple(configuration.get("nonFilterableMetadataKeys", ())),
        )

    def create(self, spec: IndexSpec) -> None:
        try:
            self.api.create_vector_bucket(vectorBucketName=self.bucket)
        except Exception as error:
            if not _conflict(error):
                raise
        options: dict[str, Any] = {}
        if spec.non_filterable:
            options["metadataConfiguration"] = {
                "nonFilterableMetadataKeys": list(spec.non_filterable)
            }
        self.api.create_index(
            **self.address, dataType="float32", dimension=spec.dimension,
            distanceMetric=spec.metric, **options,
        )  # fmt: skip

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        dimension = self._dimension()
        while True:
            page_options = {"nextToken": cursor} if cursor else {}
            page = self.api.list_vectors(
                **self.address, maxResults=min(size, LIST_LIMIT), returnData=True,
                returnMetadata=True, **page_options,
            )  # fmt: skip
            vectors = page["vectors"]
            cursor = page.get("nextToken")
            yield Batch(
                [v["key"] for v in vectors],
                as_matrix([v["data"]["float32"] for v in vectors], dimension),
                [v.get("metadata") or {} for v in vectors],
                cursor,
            )
            if cursor is None:
                return

    def write(self, batch: Batch) -> None:
        calls = _put_calls(batch, lists=True)  # JSON needs lists
        with ThreadPoolExecutor(self.writers) as pool:  # one endpoint, several connections
            list(pool.map(lambda call: self.api.put_vectors(**self.address, vectors=call), calls))

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), PUT_LIMIT):
            self.api.delete_vectors(**self.address, keys=keys[start : start + PUT_LIMIT])

    def finish(self) -> None:
        pass

    def count(self) -> int:
        total, token = 0, None
        while True:
            page = self.api.list_vectors(
                **self.address, maxResults=LIST_LIMIT, **({"nextToken": token} if token else {})
            )
            total += len(page["vectors"])
            token = page.get("nextToken")
            if token is None:
                return total

    def close(self) -> None:
        pass

    def _dimension(self) -> int:
        spec = self.spec()
        if spec is None:
            raise NotFoundException(f"{self.uri} does not exist")
        return spec.dimension


class LocalIndex(RemoteIndex):
    """An index of a vetor store opened in this process (``--data``): arrays in and out."""

    def __init__(self, service: VectorService, bucket: str, index: str) -> None:
        super().__init__(service, bucket, index, f"vetor:{service.store.uri}#{bucket}/{index}")
        self.service = service

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        while True:
            page = self.service.scan_vectors(**self.address, after=cursor, limit=size)
            cursor = page["after"]
            yield Batch(page["keys"], page["vectors"], page["metadata"], cursor)
            if cursor is None:
                return

    def write(self, batch: Batch) -> None:
        for call in _put_calls(batch, lists=False):  # arrays: the service's fast path
            self.service.put_vectors(**self.address, vectors=call)

    def count(self) -> int:
        return int(self.service.scan_vectors(**self.address, limit=1)["count"])


def _put_calls(batch: Batch, lists: bool) -> list[list[dict[str, Any]]]:
    """The batch's records, PutVectors-sized; vectors as lists or as array rows."""
    metadata = _padded(batch)
    records = [
        _record(key, vector.tolist() if lists else vector, meta)
        for key, vector, meta in zip(batch.keys, batch.vectors, metadata, strict=True)
    ]
    return [records[start : start + PUT_LIMIT] for start in range(0, len(records), PUT_LIMIT)]


def _record(key: str, vector: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"key": key, "data": {"float32": vector}}
    if metadata:
        record["metadata"] = metadata
    return record


def _padded(batch: Batch) -> list[dict[str, Any]]:
    return batch.metadata or [{}] * len(batch.keys)


def _not_found(error: Exception) -> bool:
    return isinstance(error, NotFoundException) or _code(error) == "NotFoundException"


def _conflict(error: Exception) -> bool:
    return isinstance(error, ConflictException) or _code(error) == "ConflictException"


def _code(error: Exception) -> str | None:
    response = getattr(error, "response", None)  # botocore's ClientError
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
