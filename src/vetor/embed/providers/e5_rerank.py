"""The ``e5-rerank`` provider: the offline re-ranker, multilingual-e5-small reading the query
and each passage with its retrieval prefixes (``query:`` / ``passage:``).

No cross-encoder ships its weights inside a package of the registries this project installs
from (see the README), so the local re-ranker is the best measured alternative: a second,
retrieval-trained model (multilingual, Portuguese included) that re-scores the few best
results of a search made with another model and with BM25. A user with a cross-encoder
server points the ``rerank-http`` provider at it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vetor.models import get_embedder
from vetor.models.reranker import Reranker


class E5Reranker(Reranker):
    provider = "e5-rerank"

    def __init__(self, model: str | None = None) -> None:
        self.model = model or "vetor-rerank-e5"
        self._embedder = get_embedder("e5-multilingual")  # shared with embedding, loaded once

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        question = self._embedder.embed_queries([query])[0]
        vectors = self._embedder.embed_documents(list(passages))
        norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(question)), 1e-12)
        cosine = vectors @ question / np.maximum(norms, 1e-12)
        return ((1.0 + cosine) / 2.0).astype(np.float32)
