"""The ``rerank-http`` provider: a re-ranking server over HTTP, in either of the two common
dialects. Cohere's ``POST {base_url}/rerank`` (``{"model", "query", "documents"}`` →
``results[].relevance_score``; also Jina, vLLM and LocalAI) and Hugging Face TEI's
``POST {base_url}/rerank`` (``{"query", "texts"}`` → ``[{"index", "score"}]``)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from vetor.models import EmbeddingError
from vetor.models.reranker import Reranker

from .http import post_json


class HttpReranker(Reranker):
    provider = "rerank-http"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        dialect: str | None = None,
        timeout: float | str = 60.0,
    ) -> None:
        base = base_url or os.environ.get("VETOR_RERANK_BASE_URL")
        if not base:
            raise EmbeddingError("provider rerank-http needs a base URL (VETOR_RERANK_BASE_URL)")
        self.model = model or os.environ.get("VETOR_RERANK_MODEL") or "rerank"
        self.url = base.rstrip("/") + "/rerank"
        self.dialect = dialect or os.environ.get("VETOR_RERANK_DIALECT") or "cohere"
        if self.dialect not in ("cohere", "tei"):
            raise EmbeddingError(f"unknown rerank dialect {self.dialect!r} (cohere or tei)")
        key = api_key or os.environ.get("VETOR_RERANK_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._timeout = float(timeout)

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        if self.dialect == "tei":
            body: dict[str, object] = {"query": query, "texts": list(passages), "raw_scores": False}
            rows = post_json(self.url, body, self._headers, self._timeout)
            pairs = [(row["index"], row["score"]) for row in rows]
        else:
            body = {"model": self.model, "query": query, "documents": list(passages),
                    "top_n": len(passages)}  # fmt: skip
            reply = post_json(self.url, body, self._headers, self._timeout)
            pairs = [(row["index"], row["relevance_score"]) for row in reply["results"]]
        scores = np.zeros(len(passages), dtype=np.float32)
        for index, value in pairs:
            scores[int(index)] = _unit(float(value))
        return scores


def _unit(value: float) -> float:
    """A score in [0, 1]: probabilities stay, logits go through the logistic function."""
    return value if 0.0 <= value <= 1.0 else 1.0 / (1.0 + math.exp(-value))
