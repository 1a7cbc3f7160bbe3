"""Google Vertex AI embeddings over its REST API (no Google SDK needed).

Text models (``text-embedding-005``, ``text-multilingual-embedding-002``,
``gemini-embedding-001``) answer ``:predict`` with ``{"instances": [{"content", "task_type"}]}``
→ ``{"predictions": [{"embeddings": {"values": [...]}}]}``. The multimodal model
(``multimodalembedding@001``) takes ``{"text"}`` or ``{"image": {"bytesBase64Encoded"}}`` and
answers ``textEmbedding`` / ``imageEmbedding``.

Credentials: ``access_token`` (option or ``VERTEX_ACCESS_TOKEN``), else Application Default
Credentials through ``google-auth`` (``pip install 'vetor[vertex]'``).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from vetor.models import Embedder, EmbeddingError, default_model, model_entry

from .http import google_access_token, post_json


@dataclass(frozen=True)
class VertexModel:
    """How to talk to one model; its dimension is in the registry."""

    max_tokens: int
    batch: int  # instances per request the API accepts
    multimodal: bool = False


MODELS = {
    "text-embedding-005": VertexModel(2048, 250),
    "text-multilingual-embedding-002": VertexModel(2048, 250),
    "gemini-embedding-001": VertexModel(2048, 1),
    "multimodalembedding@001": VertexModel(32, 1, multimodal=True),
}
UNKNOWN_MODEL = VertexModel(2048, 1)
UNKNOWN_DIMENSION = 768


class VertexEmbedder(Embedder):
    provider = "vertex"
    parallel = True

    def __init__(
        self,
        model: str | None = None,
        project: str | None = None,
        location: str | None = None,
        endpoint_url: str | None = None,
        access_token: str | None = None,
        dimensions: int | str | None = None,
        timeout: float | str = 60.0,
    ) -> None:
        self.model = model or default_model(self.provider)
        spec = MODELS.get(self.model, UNKNOWN_MODEL)
        self._spec = spec
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise EmbeddingError(
                "provider vertex needs a project: GOOGLE_CLOUD_PROJECT or project="
            )
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
        host = endpoint_url or os.environ.get("VERTEX_ENDPOINT_URL")
        host = host or f"https://{location}-aiplatform.googleapis.com"
        self.url = (
            f"{host.rstrip('/')}/v1/projects/{project}/locations/{location}"
            f"/publishers/google/models/{self.model}:predict"
        )
        self._token = access_token or os.environ.get("VERTEX_ACCESS_TOKEN")
        self._requested = int(dimensions) if dimensions else None
        entry = model_entry(self.provider, self.model)
        known = entry.dimension if entry is not None else None
        self._dimension = self._requested or known or UNKNOWN_DIMENSION
        self.max_input_tokens = spec.max_tokens
        self.supports_images = spec.multimodal
        self._timeout = float(timeout)

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        if self._spec.multimodal:
            embedded = [self._predict([{"text": t}])[0]["textEmbedding"] for t in texts]
            return np.asarray(embedded, dtype=np.float32)
        task = "RETRIEVAL_QUERY" if query else "RETRIEVAL_DOCUMENT"
        rows: list[Any] = []
        for start in range(0, len(texts), self._spec.batch):
            instances = [
                {"content": t, "task_type": task} for t in texts[start : start + self._spec.batch]
            ]
            rows += [p["embeddings"]["values"] for p in self._predict(instances)]
        return np.asarray(rows, dtype=np.float32)

    def _embed_images(self, images: list[bytes]) -> np.ndarray:
        rows = []
        for image in images:
            instance = {"image": {"bytesBase64Encoded": base64.b64encode(image).decode()}}
            rows.append(self._predict([instance])[0]["imageEmbedding"])
        return np.asarray(rows, dtype=np.float32)

    def _predict(self, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parameters: dict[str, Any] = {}
        if self._spec.multimodal:
            if self._requested:
                parameters["dimension"] = self._requested
        else:
            parameters["autoTruncate"] = False  # an over-long text is an error, not cut
            if self._requested:
                parameters["outputDimensionality"] = self._requested
        body = {"instances": instances, "parameters": parameters}
        reply = post_json(self.url, body, self._headers(), self._timeout)
        predictions = reply.get("predictions") if isinstance(reply, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(instances):
            raise EmbeddingError(f"{self.url}: unexpected response")
        return predictions

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token or google_access_token(EmbeddingError)}"}
