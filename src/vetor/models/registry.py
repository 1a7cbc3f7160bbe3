"""The one registry of models and providers: what ``ListFoundationModels`` lists, and where
each provider's code lives.

Two tables. ``PROVIDER_ENTRIES`` names every provider (``local``, ``bedrock``, ...) with its
kind and the class that implements it, as a dotted path string that is imported only when the
provider is first used: this base module never imports the application layer, and a provider's
heavy libraries load only when someone asks for it. ``MODEL_ENTRIES`` lists the models vetor
knows (the catalogue: id, kind, vendor, modalities, dimension where known, and which one a
provider uses by default). A provider may accept models not listed here (a local path, a
model an OpenAI-compatible server hosts); listed ones are the ones it can describe.

Kinds: ``embedding`` and ``transcription`` (speech, or the text in an image, to text: what a
text model embeds of a recording or a picture); ``generation`` and ``rerank`` entries take the
same shape.

Adding a provider is one new file and one registry line:

1. ``src/vetor/embed/providers/<name>.py`` with a class that subclasses
   ``vetor.models.Embedder`` (it imports only ``vetor.models``, the standard library and its
   third-party client, the latter inside ``__init__``);
2. ``ProviderEntry("<name>", EMBEDDING, "vetor.embed.providers.<name>:<Class>")`` below, and
   a line in ``MODEL_ENTRIES`` for each model it offers (one with ``default=True``).
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from .embedder import Embedder, EmbeddingError
from .generator import Generator
from .reranker import Reranker
from .transcriber import Transcriber

Kind = Literal["embedding", "transcription", "generation", "rerank"]
EMBEDDING: Kind = "embedding"
TRANSCRIPTION: Kind = "transcription"
RERANK: Kind = "rerank"
GENERATION: Kind = "generation"
TEXT, IMAGE, AUDIO = "TEXT", "IMAGE", "AUDIO"  # modalities, as Bedrock's ListFoundationModels


@dataclass(frozen=True)
class ProviderEntry:
    name: str  # what --provider, VETOR_EMBED_PROVIDER and "provider:model" specs say
    kind: Kind
    implementation: str  # "package.module:Class", imported on first use


@dataclass(frozen=True)
class ModelEntry:
    model_id: str  # modelId
    provider: str  # the ProviderEntry that serves it
    kind: Kind
    vendor: str  # providerName in ListFoundationModels: Amazon, Cohere, Google, ...
    input_modalities: tuple[str, ...] = (TEXT,)
    output_modalities: tuple[str, ...] = ("EMBEDDING",)
    dimension: int | None = None  # None: unknown until the model answers
    default: bool = False  # the provider's model when none is named


PROVIDER_ENTRIES: tuple[ProviderEntry, ...] = (
    ProviderEntry("local", EMBEDDING, "vetor.embed.providers.local:LocalEmbedder"),
    ProviderEntry("e5-multilingual", EMBEDDING, "vetor.embed.providers.e5:E5Embedder"),
    ProviderEntry("openai", EMBEDDING, "vetor.embed.providers.openai:OpenAIEmbedder"),
    ProviderEntry("vertex", EMBEDDING, "vetor.embed.providers.vertex:VertexEmbedder"),
    ProviderEntry("bedrock", EMBEDDING, "vetor.embed.providers.bedrock:BedrockEmbedder"),
    ProviderEntry("whisper", TRANSCRIPTION, "vetor.embed.providers.whisper:WhisperTranscriber"),
    ProviderEntry("ocr", TRANSCRIPTION, "vetor.embed.providers.ocr:OcrTranscriber"),
    ProviderEntry(
        "cross-encoder", RERANK, "vetor.embed.providers.cross_encoder:CrossEncoderReranker"
    ),
    ProviderEntry("e5-rerank", RERANK, "vetor.embed.providers.e5_rerank:E5Reranker"),
    ProviderEntry("rerank-http", RERANK, "vetor.embed.providers.rerank_http:HttpReranker"),
    ProviderEntry(
        "llama-cpp", GENERATION, "vetor.generation.providers.llama_cpp:LlamaCppGenerator"
    ),
    ProviderEntry(
        "openai-chat", GENERATION, "vetor.generation.providers.openai_chat:OpenAIChatGenerator"
    ),
    ProviderEntry(
        "bedrock-converse",
        GENERATION,
        "vetor.generation.providers.bedrock_converse:BedrockConverseGenerator",
    ),
    ProviderEntry(
        "vertex-gemini",
        GENERATION,
        "vetor.generation.providers.vertex_gemini:VertexGeminiGenerator",
    ),
)


def _embedding(
    model_id: str,
    provider: str,
    vendor: str,
    dimension: int | None,
    images: bool = False,
    default: bool = False,
) -> ModelEntry:
    inputs = (TEXT, IMAGE) if images else (TEXT,)
    return ModelEntry(
        model_id, provider, EMBEDDING, vendor, inputs, dimension=dimension, default=default
    )


MODEL_ENTRIES: tuple[ModelEntry, ...] = (
    # model id, provider, vendor, dimension (None: ask the model), images too, default
    _embedding("all-MiniLM-L6-v2", "local", "sentence-transformers", 384, default=True),
    _embedding("multilingual-e5-small", "e5-multilingual", "intfloat", 384, default=True),
    _embedding("multilingual-e5-small-enpt", "e5-multilingual", "intfloat", 384),
    _embedding("text-embedding-3-small", "openai", "OpenAI", None, default=True),
    _embedding("text-embedding-005", "vertex", "Google", 768, default=True),
    _embedding("text-multilingual-embedding-002", "vertex", "Google", 768),
    _embedding("gemini-embedding-001", "vertex", "Google", 3072),
    _embedding("multimodalembedding@001", "vertex", "Google", 1408, images=True),
    _embedding("amazon.titan-embed-text-v2:0", "bedrock", "Amazon", 1024, default=True),
    _embedding("amazon.titan-embed-text-v1", "bedrock", "Amazon", 1536),
    _embedding("amazon.titan-embed-image-v1", "bedrock", "Amazon", 1024, images=True),
    _embedding("cohere.embed-english-v3", "bedrock", "Cohere", 1024, images=True),
    _embedding("cohere.embed-multilingual-v3", "bedrock", "Cohere", 1024, images=True),
    _embedding("cohere.embed-v4:0", "bedrock", "Cohere", 1536, images=True),
    ModelEntry("whisper-base", "whisper", TRANSCRIPTION, "OpenAI", (AUDIO,), ("TEXT",), None, True),
    ModelEntry("pp-ocrv4", "ocr", TRANSCRIPTION, "PaddlePaddle", (IMAGE,), ("TEXT",), None, True),
    # re-rankers: the offline ones first (a cross-encoder, English; e5, multilingual), then a
    # remote server's model
    ModelEntry(
        "ms-marco-minilm-l-12-v2",
        "cross-encoder",
        RERANK,
        "cross-encoder",
        (TEXT,),
        ("TEXT",),
        None,
        True,
    ),  # fmt: skip
    ModelEntry("vetor-rerank-e5", "e5-rerank", RERANK, "vetor", (TEXT,), ("TEXT",), None, True),
    ModelEntry("rerank", "rerank-http", RERANK, "vetor", (TEXT,), ("TEXT",), None, True),
    # text generation: the offline default first (SmolLM2-135M-Instruct, GGUF, llama.cpp); the
    # models of an OpenAI-compatible server (settings llm_base_url, llm_models) come after
    ModelEntry(
        "smollm2-135m-instruct",
        "llama-cpp",
        GENERATION,
        "HuggingFaceTB",
        (TEXT,),
        ("TEXT",),
        None,
        True,
    ),  # fmt: skip
    # chat models of the clouds: Bedrock (Converse) and Vertex AI (Gemini)
    *(
        ModelEntry(model_id, provider, GENERATION, vendor, (TEXT,), ("TEXT",), None, default)
        for model_id, provider, vendor, default in (
            ("amazon.nova-lite-v1:0", "bedrock-converse", "Amazon", True),
            ("amazon.nova-pro-v1:0", "bedrock-converse", "Amazon", False),
            ("anthropic.claude-3-5-haiku-20241022-v1:0", "bedrock-converse", "Anthropic", False),
            ("meta.llama3-1-8b-instruct-v1:0", "bedrock-converse", "Meta", False),
            ("gemini-2.5-flash", "vertex-gemini", "Google", True),
            ("gemini-2.5-pro", "vertex-gemini", "Google", False),
        )
    ),
)


# --- looking things up ------------------------------------------------------------------------


def models(kind: Kind | None = None, provider: str | None = None) -> list[ModelEntry]:
    """The catalogue, optionally of one kind or one provider (ListFoundationModels)."""
    return [
        entry
        for entry in MODEL_ENTRIES
        if (kind is None or entry.kind == kind) and (provider is None or entry.provider == provider)
    ]


def model_entry(provider: str, model_id: str) -> ModelEntry | None:
    """The catalogue entry of ``model_id`` as ``provider`` serves it, if listed."""
    for entry in MODEL_ENTRIES:
        if entry.provider == provider and entry.model_id == model_id:
            return entry
    return None


def provider_of(model_id: str) -> str | None:
    """The provider serving a catalogued model id (``amazon.titan-embed-text-v2:0`` → bedrock,
    ``all-MiniLM-L6-v2`` → local), as the AWS embed CLI's ``--model-id`` names models."""
    for entry in MODEL_ENTRIES:
        if entry.model_id == model_id and entry.kind == EMBEDDING:
            return entry.provider
    return None


def default_model(provider: str) -> str:
    """The model ``provider`` uses when none is named."""
    for entry in MODEL_ENTRIES:
        if entry.provider == provider and entry.default:
            return entry.model_id
    raise LookupError(f"provider {provider!r} has no default model in the registry")


@cache
def implementation(provider: str) -> Callable[..., Any]:
    """The class implementing ``provider``, imported the first time it is asked for."""
    for entry in PROVIDER_ENTRIES:
        if entry.name == provider:
            module, _, name = entry.implementation.partition(":")
            return getattr(importlib.import_module(module), name)
    raise KeyError(provider)


class _Factories(Mapping[str, Callable[..., Embedder]]):
    """Provider name → class for one kind; classes are imported only when looked up."""

    def __init__(self, kind: Kind) -> None:
        self._names = [entry.name for entry in PROVIDER_ENTRIES if entry.kind == kind]

    def __getitem__(self, name: str) -> Callable[..., Embedder]:
        if name not in self._names:
            raise KeyError(name)
        return implementation(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


PROVIDERS: Mapping[str, Callable[..., Embedder]] = _Factories(EMBEDDING)


# --- building embedders -----------------------------------------------------------------------

_cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(provider: str, model: str | None = None, **options: Any) -> Embedder:
    """The provider's embedder for ``model``, built once per process (models are big)."""
    if provider not in PROVIDERS:
        known = ", ".join(PROVIDERS)
        raise EmbeddingError(f"unknown embedding provider {provider!r} (known: {known})")
    factory = PROVIDERS[provider]
    key = (provider, model or "", tuple(sorted((k, str(v)) for k, v in options.items())))
    with _cache_lock:  # one load even when server threads ask at once
        if key not in _cache:
            try:
                _cache[key] = factory(model=model or None, **options)
            except TypeError as error:  # an option the provider does not take
                raise EmbeddingError(f"provider {provider}: {error}") from None
            _cache[key].recipe = functools.partial(get_embedder, provider, model, **options)
        return _cache[key]


_loaded: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = {}
_loaded_lock = threading.Lock()  # not the embedders': loading one takes seconds


def _load(kind: Kind, provider: str, model: str | None, **options: Any) -> Any:
    """The model of ``provider`` (of ``kind``), built once per process and options."""
    names = [e.name for e in PROVIDER_ENTRIES if e.kind == kind]
    if provider not in names:
        raise EmbeddingError(f"unknown {kind} provider {provider!r} (known: {names})")
    key = (provider, model or "", tuple(sorted((k, str(v)) for k, v in options.items())))
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = implementation(provider)(model=model or None, **options)
        return _loaded[key]


def get_transcriber(provider: str = "whisper", model: str | None = None) -> Transcriber:
    """The speech-to-text (or image-to-text) model, loaded once per process."""
    transcriber: Transcriber = _load(TRANSCRIPTION, provider, model)
    return transcriber


def get_reranker(provider: str, model: str | None = None) -> Reranker:
    """The re-ranking model, loaded once per process."""
    reranker: Reranker = _load(RERANK, provider, model)
    return reranker


def reranker_of(model_id: str) -> str | None:
    """The provider of a catalogued re-ranking model id."""
    for entry in MODEL_ENTRIES:
        if entry.model_id == model_id and entry.kind == RERANK:
            return entry.provider
    return None


def get_generator(provider: str, model: str | None = None, **options: Any) -> Generator:
    """The text-generation model, loaded (or connected) once per process and options."""
    generator: Generator = _load(GENERATION, provider, model, **options)
    return generator


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``provider`` or ``provider:model`` (the model may itself contain colons)."""
    provider, _, model = spec.strip().partition(":")
    return provider, model or None
