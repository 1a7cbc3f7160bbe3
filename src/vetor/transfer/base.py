"""What every peer of ``vetor import`` / ``vetor export`` speaks: an index's shape and
batches of rows.

A peer is one collection (a vetor or S3 Vectors index, a pgvector table, a Qdrant, Chroma or
LanceDB collection). It reads its rows in a stable order from an opaque *cursor* — so that a
stopped copy resumes where it stopped — and writes and deletes by key, overwriting, so that
a batch written twice (a resumed copy, a repeated sync round) does no harm.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

METRICS = ("cosine", "euclidean")


class TransferError(Exception):
    """A copy that cannot start or did not end whole; the message says why."""


@dataclass(frozen=True)
class IndexSpec:
    """The configuration that travels with the vectors."""

    dimension: int
    metric: str  # "cosine" or "euclidean", S3 Vectors' distance metrics
    non_filterable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise TransferError(f"distance metric {self.metric!r}: vetor has {', '.join(METRICS)}")


@dataclass
class Batch:
    """Rows read together, and the cursor that reads on after them (None: the end)."""

    keys: list[str]
    vectors: np.ndarray  # (len(keys), dimension) float32
    metadata: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None


class Peer(Protocol):
    uri: str  # for messages and checkpoints, never holding a secret

    def spec(self) -> IndexSpec | None:
        """The collection's configuration; None when it does not exist."""

    def create(self, spec: IndexSpec) -> None: ...

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        """Batches of about ``size`` rows from ``cursor`` (None: the start) to the end."""

    def write(self, batch: Batch) -> None:
        """Insert or overwrite ``batch``'s rows by key; durable when it returns."""

    def delete(self, keys: list[str]) -> None:
        """Remove these keys' rows (keys not there are no error); durable when it returns."""

    def finish(self) -> None:
        """Work left after the last write (building a peer's own index)."""

    def count(self) -> int: ...

    def close(self) -> None: ...


def as_matrix(rows: Any, dimension: int) -> np.ndarray:
    """Vectors as one C-ordered float32 matrix, whatever sequence a client library gave."""
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix.reshape(-1, dimension) if matrix.size else np.empty((0, dimension), np.float32)
