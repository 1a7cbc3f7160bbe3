"""Embeddings for the OpenAI-compatible routes: the served models, each behind a batcher.

Other services share the server's models instead of each loading their own. Requests that
arrive together are folded into one model call (``embed_serve_max_batch`` texts, waiting at
most ``embed_serve_batch_wait_ms`` for company), which is what keeps a CPU model busy under
concurrent load. Models load on first use, in the batching thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from ...embed import Embedder, EmbeddingError, default_model, get_embedder, parse_spec
from ...models import get_transcriber
from ...settings import Settings

__all__ = ["Batcher", "EmbeddingError", "EmbeddingService", "Embeddings", "InputProblem"]


class InputProblem(Exception):
    """A request the model cannot serve; ``param`` names the request member at fault."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray
    model_id: str
    tokens: int  # for ``usage``
    batch_texts: int  # texts in the model call that served the request


@dataclass
class _Job:
    texts: list[str]
    query: bool
    future: Future[np.ndarray] = field(default_factory=Future)
    batch_texts: int = 0  # texts in the model call that served it (x-vetor-batch-texts)


class Batcher:
    """One model, one thread: concurrent requests' texts go through it in shared batches."""

    def __init__(
        self, model_id: str, provider: str, model: str | None, max_batch: int, wait_s: float
    ) -> None:
        self.model_id, self.provider, self.model = model_id, provider, model
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

    def __init__(self, settings: Settings) -> None:
        self.models: dict[str, tuple[str, str | None]] = {}  # id -> (provider, model)
        self.aliases: dict[str, str] = {}
        for spec in filter(None, (s.strip() for s in settings.embed_serve_models.split(","))):
            provider, model = parse_spec(spec)
            model_id = model or _default_model(provider)
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
                    model_id,
                    provider,
                    model,
                    self._settings.embed_serve_max_batch,
                    self._settings.embed_serve_batch_wait_ms / 1000,
                )
            return self._batchers[model_id]

    async def embed(
        self, batcher: Batcher, texts: list[str], query: bool, dimensions: object = None
    ) -> Embeddings:
        """The texts' vectors; :class:`InputProblem` or :class:`EmbeddingError` otherwise."""
        embedder = await asyncio.to_thread(batcher.embedder)
        if dimensions is not None and dimensions != embedder.dimension:
            raise InputProblem(
                f"This model makes {embedder.dimension}-dimensional vectors", "dimensions"
            )
        # A model that embeds pictures takes them as they are; other media become words.
        pictures = [n for n, t in enumerate(texts) if embedder.supports_images and _picture(t)]
        words = [t for n, t in enumerate(texts) if n not in set(pictures)]
        if any(t.startswith(MEDIA_URIS) for t in words):
            words = await asyncio.to_thread(_transcribed, words)
        # Tokenizing is CPU work: off the event loop, like the model call.
        problem, tokens = await asyncio.to_thread(_check, embedder, words)
        if problem:
            raise InputProblem(problem, "input")
        vectors = np.zeros((len(texts), embedder.dimension), np.float32)
        batch_texts = 0
        if words:
            job = batcher.submit(words, query)
            embedded: np.ndarray = await asyncio.wrap_future(job.future)
            vectors[[n for n in range(len(texts)) if n not in set(pictures)]] = embedded
            batch_texts = job.batch_texts
        if pictures:
            images = [_media(n, texts[n]) for n in pictures]
            vectors[pictures] = await asyncio.to_thread(embedder.embed_images, images)
        return Embeddings(vectors, batcher.model_id, tokens, batch_texts)


# vetor's own: an input "data:audio/wav;base64,…" is a recording (read by Whisper),
# "data:image/png;base64,…" a picture (its text read by OCR).
MEDIA_URIS = ("data:audio/", "data:image/")


def _picture(text: str) -> bool:
    return text.startswith(MEDIA_URIS[1])


def _media(n: int, text: str) -> bytes:
    """The bytes of a ``data:…;base64,…`` input."""
    header, _, payload = text.partition(",")
    if not header.endswith(";base64"):
        raise InputProblem(f"input[{n}]: a data URI must be base64", "input")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise InputProblem(f"input[{n}]: the data is not valid base64", "input") from None


def _transcribed(texts: list[str]) -> list[str]:
    """Each recording or picture in ``texts`` replaced by the words in it."""
    out = []
    for n, text in enumerate(texts):
        if not text.startswith(MEDIA_URIS):
            out.append(text)
            continue
        reader = "ocr" if _picture(text) else "whisper"
        try:
            out.append(get_transcriber(reader).transcribe(_media(n, text)).text)
        except EmbeddingError as error:
            raise InputProblem(f"input[{n}]: {error}", "input") from None
    return out


def _check(embedder: Embedder, texts: list[str]) -> tuple[str | None, int]:
    """The first input the model cannot take, and the token count for ``usage``."""
    for n, text in enumerate(texts):
        problem = embedder.input_problem(text)
        if problem:
            return f"input[{n}]: {problem}", 0
    return None, sum(embedder.count_tokens(t) or 0 for t in texts)


def _default_model(provider: str) -> str:
    """The id a provider's default model is served under (the registry's, else its name)."""
    try:
        return default_model(provider)
    except LookupError:
        return provider
