"""The interface every embedding provider implements, and the errors it raises.

A provider turns texts (and, for some, images) into float32 vectors. Documents and queries
are separate calls because some models want different prefixes (e5: ``passage:`` /
``query:``). Providers live in ``vetor.embed.providers`` and import only this module; the
registry (``vetor.models.registry``) finds them by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .calls import MODEL_CALLS


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
    loaded: bool = True  # False while a lazily loaded model is not in memory yet
    _dimension: int | None = None

    def load(self) -> None:  # noqa: B027 - a model that is always there loads nothing
        """Bring the model into memory now (the first embedding call would), so that a
        caller can say what the pause is for; a model that is there does nothing."""

    @property
    def dimension(self) -> int:
        if self._dimension is None:  # only remote providers with an unknown model get here
            self._dimension = int(self.embed_documents(["dimension probe"]).shape[1])
        return self._dimension

    @property
    def identity(self) -> str:
        return f"{self.provider}:{self.model}"

    # How the registry built it (get_embedder and its arguments): what it pickles to, so that
    # an embedder can travel to another process (a Ray worker) and load its model there.
    recipe: Callable[[], Embedder] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        if self.recipe is None:
            raise TypeError(f"{self.identity} was not made by vetor.models.get_embedder")
        return (self.recipe, ())

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of texts to be stored and searched, shape (len(texts), dimension)."""
        with MODEL_CALLS.timed("embedding", self.identity, len(texts)):
            return self._checked(self._embed(list(texts), query=False), len(texts))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of search queries (a different prefix or task type for some models)."""
        with MODEL_CALLS.timed("embedding", self.identity, len(texts)):
            return self._checked(self._embed(list(texts), query=True), len(texts))

    def embed_images(self, images: Sequence[bytes]) -> np.ndarray:
        """Vectors of encoded images (PNG, JPEG, ...), for providers that support them."""
        if not self.supports_images:
            raise UnsupportedInput(
                f"provider {self.provider} (model {self.model}) cannot embed images; use a "
                "CLIP model with --provider local, bedrock amazon.titan-embed-image-v1 or "
                "vertex multimodalembedding@001"
            )
        with MODEL_CALLS.timed("embedding", self.identity, len(images)):
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
