"""The ``openai`` provider: any OpenAI-compatible ``/v1/embeddings`` server (vLLM, TEI,
Ollama, OpenAI, or another vetor)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vetor.models import Embedder, EmbeddingError, default_model

from .http import post_json


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
        self.model = (
            model or os.environ.get("OPENAI_EMBEDDING_MODEL") or default_model(self.provider)
        )
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
