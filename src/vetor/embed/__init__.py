"""Embeddings: the ``vetor embed`` pipeline and the providers behind one interface.

Everything here is a client of the S3 Vectors API (``VectorService`` or a boto3
``s3vectors`` client), never of the engine's internals. The interface and the registry that
finds providers by name live in ``vetor.models``; the providers, one module each, in
``vetor.embed.providers``. This front is what the CLI and the server import.
"""

from __future__ import annotations

from vetor.models import (
    PROVIDERS,
    Embedder,
    EmbeddingError,
    UnsupportedInput,
    default_model,
    get_embedder,
    parse_spec,
    provider_of,
)

from .distributed import on_ray
from .index import (
    CHUNK_KEY,
    CONTENT_KEY,
    LOCATION_KEY,
    RESERVED_PREFIX,
    PutOptions,
    index_embedder,
)
from .pipeline import Failure, PutReport, put, transcript
from .sources import AUDIO, IMAGE, TEXT, Source, SourceBucket, SourceError, expand, literal

__all__ = [
    "AUDIO",
    "CHUNK_KEY",
    "CONTENT_KEY",
    "IMAGE",
    "LOCATION_KEY",
    "PROVIDERS",
    "RESERVED_PREFIX",
    "TEXT",
    "Embedder",
    "EmbeddingError",
    "Failure",
    "PutOptions",
    "PutReport",
    "Source",
    "SourceBucket",
    "SourceError",
    "UnsupportedInput",
    "default_model",
    "expand",
    "get_embedder",
    "index_embedder",
    "literal",
    "parse_spec",
    "provider_of",
    "put",
    "transcript",
    "on_ray",
]
