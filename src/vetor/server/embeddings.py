"""OpenAI-compatible ``POST /v1/embeddings`` and ``GET /v1/models`` on ``vetor serve``.

Other services share the server's models instead of each loading their own. Requests that
arrive together are folded into one model call (``embed_serve_max_batch`` texts, waiting at
most ``embed_serve_batch_wait_ms`` for company), which is what keeps a CPU model busy under
concurrent load. Models load on first use, in the batching thread, never in the event loop.

Authentication: ``Authorization: Bearer <accessKeyId>:<secretAccessKey>`` with one of the
server's key pairs (the OpenAI client's ``api_key``); nothing with ``--no-auth``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..embed.providers import Embedder, EmbeddingError, get_embedder, parse_spec
from ..settings import Settings
from .auth import Keyring

MAX_INPUTS = 2048  # texts per request, as OpenAI's API
MAX_BODY_BYTES = 20 * 1024 * 1024
DEFAULT_MODELS = {"local": "all-MiniLM-L6-v2", "e5-multilingual": "multilingual-e5-small"}


@dataclass
class _Job:
    texts: list[str]
    query: bool
    future: Future[np.ndarray] = field(default_factory=Future)
    batch_texts: int = 0  # texts in the model call that served it (x-vetor-batch-texts)


class Batcher:
    """One model, one thread: concurrent requests' texts go through it in shared batches."""

    def __init__(self, provider: str, model: str | None, max_batch: int, wait_s: float) -> None:
        self.provider, self.model = provider, model
        self.max_batch, self.wait_s = max(1, max_batch), wait_s
        self.calls = 0  # model calls made, for tests and metrics
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._embedder: Embedder | None = None
        self._thread = threading.Thread(
            target=self._loop, name=f"vetor-embed-{provider}", daemon=True
        )
        self._thread.start()

    def submit(self, texts: list[str], query: bool) -> _Job:
        job = _Job(texts, query)
        self._jobs.put(job)
        return job

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.provider, self.model)
        return self._embedder

    def _loop(self) -> None:
        while True:
            jobs = self._gather(self._jobs.get())
            for query in (False, True):
                group = [j for j in jobs if j.query is query]
                if group:
                    self._run(group, query)

    def _gather(self, first: _Job) -> list[_Job]:
        """The first job plus whatever arrives within the wait, up to a batch of texts."""
        jobs, size = [first], len(first.texts)
        deadline = time.monotonic() + self.wait_s
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = (
                    self._jobs.get(timeout=remaining) if remaining > 0 else self._jobs.get_nowait()
                )
            except queue.Empty:
                break
            jobs.append(job)
            size += len(job.texts)
        return jobs

    def _run(self, jobs: list[_Job], query: bool) -> None:
        texts = [t for j in jobs for t in j.texts]
        try:
            embedder = self.embedder()
            call = embedder.embed_queries if query else embedder.embed_documents
            parts = []
            for start in range(0, len(texts), self.max_batch):
                parts.append(call(texts[start : start + self.max_batch]))
                self.calls += 1
            vectors = np.concatenate(parts)
        except Exception as error:
            for job in jobs:
                job.future.set_exception(error)
            return
        offset = 0
        for job in jobs:
            job.batch_texts = min(len(texts), self.max_batch)
            job.future.set_result(vectors[offset : offset + len(job.texts)])
            offset += len(job.texts)


class EmbeddingService:
    """The configured models by id, each behind its batcher."""

    def __init__(self, settings: Settings, keyring: Keyring | None) -> None:
        self.keyring = keyring
        self.models: dict[str, tuple[str, str | None]] = {}  # id -> (provider, model)
        self.aliases: dict[str, str] = {}
        for spec in filter(None, (s.strip() for s in settings.embed_serve_models.split(","))):
            provider, model = parse_spec(spec)
            model_id = model or DEFAULT_MODELS.get(provider) or provider
            self.models[model_id] = (provider, model)
            self.aliases.update({spec: model_id, provider: self.aliases.get(provider, model_id)})
        self._settings = settings
        self._batchers: dict[str, Batcher] = {}
        self._lock = threading.Lock()

    def batcher(self, name: str) -> Batcher | None:
        model_id = name if name in self.models else self.aliases.get(name)
        if model_id is None:
            return None
        with self._lock:
            if model_id not in self._batchers:
                provider, model = self.models[model_id]
                self._batchers[model_id] = Batcher(
                    provider,
                    model,
                    self._settings.embed_serve_max_batch,
                    self._settings.embed_serve_batch_wait_ms / 1000,
                )
            return self._batchers[model_id]

    def authorized(self, request: Request) -> bool:
        if self.keyring is None:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key_id, _, secret = token.strip().partition(":")
        expected = self.keyring.secret(key_id) if scheme.lower() == "bearer" else None
        return expected is not None and hmac.compare_digest(expected, secret)

    async def embeddings(self, request: Request) -> Response:
        if not self.authorized(request):
            return _error(401, "Invalid API key: use Bearer <accessKeyId>:<secretAccessKey>")
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
        batcher = self.batcher(name) if isinstance(name, str) else None
        if batcher is None:
            known = ", ".join(self.models)
            return _error(
                404,
                f"The model {name!r} does not exist (served: {known})",
                "model",
                "model_not_found",
            )
        return await self._answer(batcher, body, texts)

    async def _answer(self, batcher: Batcher, body: dict[str, Any], texts: list[str]) -> Response:
        query = body.get("input_type") in ("query", "search_query")
        try:
            embedder = await asyncio.to_thread(batcher.embedder)
            # Tokenizing is CPU work: off the event loop, like the model call.
            problem, tokens = await asyncio.to_thread(_check, embedder, texts)
            if problem:
                return _error(400, problem, "input")
            wanted = body.get("dimensions")
            if wanted is not None and wanted != embedder.dimension:
                return _error(
                    400, f"This model makes {embedder.dimension}-dimensional vectors", "dimensions"
                )
            job = batcher.submit(texts, query)
            vectors = await asyncio.wrap_future(job.future)
        except EmbeddingError as error:
            return _error(500, str(error), None, "embedding_error")
        base64_format = body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(v, base64_format)}
            for i, v in enumerate(vectors)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model_id = next(m for m, b in self._batchers.items() if b is batcher)
        document = {"object": "list", "data": data, "model": model_id, "usage": usage}
        return _json(document, headers={"x-vetor-batch-texts": str(job.batch_texts)})

    async def list_models(self, request: Request) -> Response:
        if not self.authorized(request):
            return _error(401, "Invalid API key: use Bearer <accessKeyId>:<secretAccessKey>")
        data = [
            {"id": model_id, "object": "model", "created": 0, "owned_by": f"vetor:{provider}"}
            for model_id, (provider, _) in self.models.items()
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


def _check(embedder: Embedder, texts: list[str]) -> tuple[str | None, int]:
    """The first input the model cannot take, and the token count for ``usage``."""
    for n, text in enumerate(texts):
        problem = embedder.input_problem(text)
        if problem:
            return f"input[{n}]: {problem}", 0
    return None, sum(embedder.count_tokens(t) or 0 for t in texts)


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


def embedding_routes(keyring: Keyring | None, settings: Settings | None = None) -> list[Route]:
    """The routes to mount ahead of the S3 Vectors catch-all."""
    service = EmbeddingService(settings or Settings.from_env(), keyring)
    return [
        Route("/v1/embeddings", service.embeddings, methods=["POST"]),
        Route("/v1/models", service.list_models, methods=["GET"]),
    ]
