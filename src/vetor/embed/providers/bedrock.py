"""Amazon Bedrock embeddings through boto3's ``bedrock-runtime`` ``InvokeModel``.

Request and response bodies follow the model providers' documented formats:

- Titan Text Embeddings V2 (``amazon.titan-embed-text-v2:0``): ``{"inputText", "dimensions",
  "normalize"}`` → ``{"embedding", "inputTextTokenCount"}``, one text per call.
- Titan Multimodal Embeddings G1 (``amazon.titan-embed-image-v1``): ``{"inputText"}`` or
  ``{"inputImage": base64}`` with ``embeddingConfig.outputEmbeddingLength`` → ``{"embedding"}``.
- Cohere Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``): ``{"texts",
  "input_type", "truncate"}`` → ``{"embeddings": [[...]]}``, up to 96 texts per call; v4
  (``cohere.embed-v4:0``) answers ``{"embeddings": {"float": [[...]]}}``.

Endpoint and credentials come from the usual AWS chain (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
too) or from the ``endpoint_url``, ``region`` and ``profile`` options.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from vetor.models import Embedder, EmbeddingError, default_model, model_entry


@dataclass(frozen=True)
class BedrockModel:
    """How to talk to one model; its dimension and modalities are in the registry."""

    family: str  # titan-text, titan-image, cohere
    max_chars: int | None = None
    max_tokens: int | None = None


MODELS = {
    "amazon.titan-embed-text-v2:0": BedrockModel("titan-text", 50_000, 8192),
    "amazon.titan-embed-text-v1": BedrockModel("titan-text", 50_000, 8192),
    "amazon.titan-embed-image-v1": BedrockModel("titan-image", None, 128),
    "cohere.embed-english-v3": BedrockModel("cohere", 2048),
    "cohere.embed-multilingual-v3": BedrockModel("cohere", 2048),
    "cohere.embed-v4:0": BedrockModel("cohere", None, 128_000),
}
COHERE_BATCH = 96


class BedrockEmbedder(Embedder):
    provider = "bedrock"
    parallel = True

    def __init__(
        self,
        model: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        dimensions: int | str | None = None,
        normalize: bool | str = True,
        inference_params: dict[str, Any] | str | None = None,
    ) -> None:
        self.model = model or default_model(self.provider)
        spec = MODELS.get(self.model)
        entry = model_entry(self.provider, self.model)
        if spec is None or entry is None or entry.dimension is None:
            known = ", ".join(MODELS)
            raise EmbeddingError(f"unknown Bedrock embedding model {self.model!r} (known: {known})")
        self._spec = spec
        self._requested = int(dimensions) if dimensions else None
        self._dimension = self._requested or entry.dimension
        self.max_input_chars = spec.max_chars
        self.max_input_tokens = None  # no tokenizer here: the service checks tokens
        self.supports_images = spec.family in ("titan-image", "cohere")
        self._normalize = str(normalize).lower() not in ("false", "0", "no")
        self._options = {"region": region, "profile": profile, "endpoint_url": endpoint_url}
        self._extra = _inference_params(inference_params, self._spec.family)
        self._client: Any = None
        self._lock = threading.Lock()

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        family = self._spec.family
        if family == "cohere":
            kind = "search_query" if query else "search_document"
            rows: list[Any] = []
            for start in range(0, len(texts), COHERE_BATCH):
                body = self._cohere_body(kind, texts=texts[start : start + COHERE_BATCH])
                rows += _cohere_vectors(self._invoke(body))
            return np.asarray(rows, dtype=np.float32)
        return np.asarray([self._titan({"inputText": t}) for t in texts], dtype=np.float32)

    def _embed_images(self, images: list[bytes]) -> np.ndarray:
        if self._spec.family == "cohere":  # one image per call
            rows = []
            for image in images:
                uri = f"data:{_media_type(image)};base64,{base64.b64encode(image).decode()}"
                rows += _cohere_vectors(self._invoke(self._cohere_body("image", images=[uri])))
            return np.asarray(rows, dtype=np.float32)
        encoded = [base64.b64encode(i).decode() for i in images]
        return np.asarray([self._titan({"inputImage": e}) for e in encoded], dtype=np.float32)

    def _titan(self, body: dict[str, Any]) -> Any:
        if self._spec.family == "titan-image":
            body["embeddingConfig"] = {"outputEmbeddingLength": self._dimension}
        elif self.model.endswith("v2:0"):
            body.update(dimensions=self._dimension, normalize=self._normalize)
        reply = self._invoke(body)
        if "embedding" not in reply:
            raise EmbeddingError(f"bedrock {self.model}: no embedding in the response")
        return reply["embedding"]

    def _cohere_body(self, input_type: str, **inputs: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"input_type": input_type, **inputs}
        if "texts" in inputs:
            body["truncate"] = "NONE"  # an over-long text is an error, not silently cut
        if self.model.startswith("cohere.embed-v4"):
            body["embedding_types"] = ["float"]
            if self._requested:
                body["output_dimension"] = self._requested
        return body

    def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reply = self.client.invoke_model(
                modelId=self.model,
                body=orjson.dumps(_merged(self._extra, body)),
                contentType="application/json",
                accept="application/json",
            )
            return orjson.loads(reply["body"].read())
        except ClientError as error:
            details = error.response.get("Error", {})
            message = f"{details.get('Code')}: {details.get('Message')}"
            raise EmbeddingError(f"bedrock {self.model}: {message}") from None
        except BotoCoreError as error:
            raise EmbeddingError(f"bedrock {self.model}: {error}") from None

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                session = boto3.session.Session(profile_name=self._options["profile"])
                self._client = session.client(
                    "bedrock-runtime",
                    region_name=self._options["region"] or session.region_name or "us-east-1",
                    endpoint_url=self._options["endpoint_url"],
                    config=Config(retries={"max_attempts": 8, "mode": "adaptive"}),
                )
            return self._client


def _cohere_vectors(reply: dict[str, Any]) -> list[Any]:
    embeddings = reply.get("embeddings")
    if isinstance(embeddings, dict):  # v4, or v3 asked for embedding_types
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list):
        raise EmbeddingError("bedrock cohere: no embeddings in the response")
    return embeddings


def _media_type(image: bytes) -> str:
    if image.startswith(b"\x89PNG"):
        return "image/png"
    if image.startswith(b"GIF8"):
        return "image/gif"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


# The request members the embedder sets from its inputs, which inference parameters may not
# override (the AWS embed CLI's rule for --bedrock-inference-params).
SYSTEM_KEYS = {
    "titan-text": {"inputText", "dimensions"},
    "titan-image": {"inputText", "inputImage", "embeddingConfig"},
    "cohere": {"texts", "images", "input_type"},
}


def _inference_params(params: dict[str, Any] | str | None, family: str) -> dict[str, Any]:
    """Extra request members for every call (``--bedrock-inference-params``)."""
    if not params:
        return {}
    value = orjson.loads(params) if isinstance(params, str) else params
    if not isinstance(value, dict):
        raise EmbeddingError("bedrock inference parameters must be a JSON object")
    fixed = sorted(SYSTEM_KEYS.get(family, set()) & value.keys())
    if fixed:
        raise EmbeddingError(
            f"Cannot override system-controlled parameters: {fixed}. These parameters are "
            "automatically set based on your CLI inputs."
        )
    return value


def _merged(extra: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` over ``extra``, nested objects merged member by member."""
    merged = dict(extra)
    for name, value in body.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            value = _merged(merged[name], value)
        merged[name] = value
    return merged
