"""Models: the interfaces providers implement and the one registry that lists and finds them.

A base package: it imports only the standard library and numpy. Providers (in
``vetor.embed.providers``) import their interface from here; the registry imports providers
lazily, by the dotted paths written in its table.
"""

from __future__ import annotations

from .calls import MODEL_CALLS, ModelCalls
from .embedder import Embedder, EmbeddingError, UnsupportedInput
from .generator import (
    Generation,
    GenerationError,
    Generator,
    Inference,
    Message,
    TextStream,
    Tracked,
    Usage,
)
from .registry import (
    AUDIO,
    EMBEDDING,
    GENERATION,
    IMAGE,
    MODEL_ENTRIES,
    PROVIDER_ENTRIES,
    PROVIDERS,
    RERANK,
    TEXT,
    TRANSCRIPTION,
    Kind,
    ModelEntry,
    ProviderEntry,
    default_model,
    get_embedder,
    get_generator,
    get_reranker,
    get_transcriber,
    model_entry,
    models,
    parse_spec,
    provider_of,
    reranker_of,
)
from .reranker import Reranker
from .transcriber import Transcriber, Transcript

__all__ = [
    "MODEL_CALLS",
    "ModelCalls",
    "AUDIO",
    "EMBEDDING",
    "GENERATION",
    "Generation",
    "GenerationError",
    "Generator",
    "Inference",
    "Message",
    "TextStream",
    "Tracked",
    "Usage",
    "get_generator",
    "IMAGE",
    "MODEL_ENTRIES",
    "PROVIDERS",
    "PROVIDER_ENTRIES",
    "RERANK",
    "Reranker",
    "TEXT",
    "TRANSCRIPTION",
    "Transcriber",
    "Transcript",
    "Embedder",
    "EmbeddingError",
    "Kind",
    "ModelEntry",
    "ProviderEntry",
    "UnsupportedInput",
    "default_model",
    "get_embedder",
    "get_reranker",
    "get_transcriber",
    "model_entry",
    "provider_of",
    "reranker_of",
    "models",
    "parse_spec",
]
