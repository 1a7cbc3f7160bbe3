"""Embeddings: providers behind one interface, the ``vetor embed`` pipeline, and its CLI.

Everything here is a client of the S3 Vectors API (``VectorService`` or a boto3
``s3vectors`` client), never of the engine's internals.
"""

from __future__ import annotations

from .providers import (
    PROVIDERS,
    Embedder,
    EmbeddingError,
    UnsupportedInput,
    get_embedder,
)

__all__ = ["PROVIDERS", "Embedder", "EmbeddingError", "UnsupportedInput", "get_embedder"]
