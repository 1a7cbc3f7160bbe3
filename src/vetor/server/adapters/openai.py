"""OpenAI-compatible ``POST /v1/embeddings`` and ``GET /v1/models`` on ``vetor serve``.

The adapter speaks OpenAI's wire format (its request members, its ``{"error": {...}}``
bodies and statuses); the models and their batching are the embeddings handler's.

Authentication: ``Authorization: Bearer <accessKeyId>:<secretAccessKey>`` with one of the
server's key pairs (the OpenAI client's ``api_key``); nothing with ``--no-auth``.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...errors import AccessDeniedException
from ..access import BEARER, Gate
from ..exchange import MAX_BODY_BYTES
from ..handlers.embeddings import EmbeddingError, EmbeddingService, InputProblem

MAX_INPUTS = 2048  # texts per request, as OpenAI's API


class OpenAIAdapter:
    def __init__(self, embeddings: EmbeddingService, gate: Gate) -> None:
        self.embeddings, self.gate = embeddings, gate

    def routes(self) -> list[Route]:
        """The routes to mount ahead of the AWS services' catch-all."""
        return [
            Route("/v1/embeddings", self.create_embeddings, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
        ]

    def _denied(self, request: Request) -> Response | None:
        try:
            self.gate.authenticate(request, b"", BEARER)
        except AccessDeniedException as error:
            return _error(401, error.message)
        return None

    async def create_embeddings(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return _error(413, f"The request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as error:
            return _error(400, f"The request body is not valid JSON: {error}")
        problem, texts = _texts(body)
        if problem:
            return _error(400, problem, "input")
        name = body.get("model")
        batcher = self.embeddings.batcher(name) if isinstance(name, str) else None
        if batcher is None:
            known = ", ".join(self.embeddings.models)
            return _error(
                404,
                f"The model {name!r} does not exist (served: {known})",
                "model",
                "model_not_found",
            )
        query = body.get("input_type") in ("query", "search_query")
        try:
            result = await self.embeddings.embed(batcher, texts, query, body.get("dimensions"))
        except InputProblem as error:
            return _error(400, error.message, error.param)
        except EmbeddingError as error:
            return _error(500, str(error), None, "embedding_error")
        base64_format = body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(v, base64_format)}
            for i, v in enumerate(result.vectors)
        ]
        usage = {"prompt_tokens": result.tokens, "total_tokens": result.tokens}
        document = {"object": "list", "data": data, "model": result.model_id, "usage": usage}
        return _json(document, headers={"x-vetor-batch-texts": str(result.batch_texts)})

    async def list_models(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        data = [
            {"id": model_id, "object": "model", "created": 0, "owned_by": f"vetor:{provider}"}
            for model_id, (provider, _) in self.embeddings.models.items()
        ]
        return _json({"object": "list", "data": data})


def _texts(body: Any) -> tuple[str | None, list[str]]:
    if not isinstance(body, dict):
        return "The request body must be a JSON object", []
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts:
        return "'input' must be a string or a non-empty array of strings", []
    if not all(isinstance(t, str) for t in texts):
        return "'input' must hold strings (token arrays are not supported)", []
    if len(texts) > MAX_INPUTS:
        return f"'input' may hold at most {MAX_INPUTS} texts", []
    return None, texts


def _encode(vector: np.ndarray, as_base64: bool) -> Any:
    if as_base64:  # what the official client asks for by default: little-endian float32
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return vector.tolist()


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers, media_type="application/json")


def _error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    error = {"message": message, "type": kind, "param": param, "code": code}
    return JSONResponse({"error": error}, status)
