"""OpenAI-compatible ``POST /v1/embeddings``, ``POST /v1/chat/completions`` (streamed as
server-sent events when asked) and ``GET /v1/models`` on ``vetor serve``; and vetor's own
``POST /v1/feedback`` (a rating of an answer, ``{"sessionId", "rating", "comment"}``), with the
same credentials.

The adapter speaks OpenAI's wire format (its request members, its ``{"error": {...}}``
bodies and statuses); the embedding models and their batching are the embeddings handler's,
the chat models the generation layer's (``Chat``), the same ones Converse serves.

Authentication: ``Authorization: Bearer <accessKeyId>:<secretAccessKey>`` with one of the
server's key pairs (the OpenAI client's ``api_key``); nothing with ``--no-auth``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ...errors import AccessDeniedException, DependencyFailedException, VetorError
from ...generation.chat import Chat
from ...generation.feedback import AnswerLog
from ...generation.models import catalogue
from ...models import Inference, Message, TextStream, Tracked, Usage
from ..access import BEARER, Gate
from ..codec import decode_json
from ..exchange import Exchange, public
from ..handlers.embeddings import EmbeddingError, EmbeddingService, InputProblem

MAX_INPUTS = 2048  # texts per request, as OpenAI's API
FINISH_REASONS = {"max_tokens": "length", "end_turn": "stop", "stop_sequence": "stop"}


class OpenAIAdapter:
    def __init__(
        self, embeddings: EmbeddingService, chat: Chat, feedback: AnswerLog, gate: Gate
    ) -> None:
        self.embeddings, self.chat, self.feedback, self.gate = embeddings, chat, feedback, gate

    def routes(self) -> list[Route]:
        """The routes to mount ahead of the AWS services' catch-all."""
        return [
            Route("/v1/embeddings", self.create_embeddings, methods=["POST"]),
            Route("/v1/chat/completions", self.create_chat_completion, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/feedback", self.rate_answer, methods=["POST"]),
        ]

    async def _body(self, request: Request, action: str) -> tuple[Any, Response | None]:
        """The caller's JSON body, or the response refusing it (credentials, size, JSON,
        permission): through the same gate, body limits, strict JSON reading and policies as
        the AWS services. ``action`` is the Bedrock action the route performs on the body's
        model (``InvokeModel``...); a streamed chat is ``InvokeModelWithResponseStream``."""
        exchange = Exchange(request)
        try:
            async with self.gate.admit(request, exchange, BEARER) as (caller, raw):
                body = decode_json(raw)
                if action == "InvokeModel" and body.get("stream"):  # as the route reads it
                    action = "InvokeModelWithResponseStream"
                model = body.get("model")
                params = {"modelId": model} if isinstance(model, str) else {}
                self.gate.authorize(caller, "bedrock", action, params, exchange)
                return body, None
        except AccessDeniedException as error:  # 401: who are you; 403: not allowed to
            return None, _error(403 if error.message.startswith("User: ") else 401, error.message)
        except VetorError as error:
            status = 413 if "larger than" in error.message else error.http_status
            return None, _error(status, error.message)

    async def create_embeddings(self, request: Request) -> Response:
        body, refused = await self._body(request, "InvokeModel")
        if refused is not None:
            return refused
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

    async def create_chat_completion(self, request: Request) -> Response:
        body, refused = await self._body(request, "InvokeModel")
        if refused is not None:
            return refused
        try:
            messages, system, inference = _conversation(body)
            named = str(body.get("model") or "")
            model = await run_in_threadpool(self.chat.model, named, messages)  # a router's pick
            stream = await run_in_threadpool(self.chat.stream, model, messages, system, inference)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return _error(400, f"The request is not a chat completion request: {error!r}")
        except VetorError as error:
            return _vetor_error(error)
        reply = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _chunks(stream, reply, usage)
            return StreamingResponse(events, media_type="text/event-stream")
        tracked = Tracked(stream)
        try:
            text = await run_in_threadpool("".join, tracked)
        except VetorError as error:
            return _vetor_error(error)
        used = tracked.usage
        choice = {"index": 0, "message": {"role": "assistant", "content": text},
                  "finish_reason": FINISH_REASONS[used.stop_reason]}  # fmt: skip
        return _json({**reply, "object": "chat.completion", "choices": [choice],
                      "usage": _usage(used)})  # fmt: skip

    async def rate_answer(self, request: Request) -> Response:
        body, refused = await self._body(request, "RetrieveAndGenerate")
        if refused is not None:
            return refused
        try:
            fields = (body.get("sessionId"), body.get("rating"), body.get("comment", ""))
            rated = await run_in_threadpool(self.feedback.rate, *fields)
        except AttributeError:
            return _error(400, "The body must be a JSON object")
        except VetorError as error:
            return _vetor_error(error)
        return _json(rated)

    async def list_models(self, request: Request) -> Response:
        _, denied = await self._body(request, "ListFoundationModels")
        if denied is not None:
            return denied
        data = [
            {"id": model_id, "object": "model", "created": 0, "owned_by": f"vetor:{provider}"}
            for model_id, (provider, _) in self.embeddings.models.items()
        ]
        data += [{"id": entry.model_id, "object": "model", "created": 0,
                  "owned_by": f"vetor:{entry.provider}"}
                 for entry in catalogue(self.chat.settings)]  # fmt: skip
        return _json({"object": "list", "data": data})


def _conversation(body: Any) -> tuple[list[Message], str, Inference]:
    """OpenAI's messages (system and developer ones become the system prompt) and sampling."""
    if body.get("tools") or body.get("functions"):
        raise ValueError("tools and functions are not supported by vetor's models yet")
    system, messages = [], []
    for message in body["messages"]:
        content = message.get("content") or ""
        if isinstance(content, list):  # content parts: text only
            content = "".join(part["text"] for part in content if part.get("type") == "text")
        if message["role"] in ("system", "developer"):
            system.append(content)
        elif message["role"] in ("user", "assistant"):
            messages.append(Message(message["role"], content))
        else:
            raise ValueError(f"messages of role {message['role']!r} are not supported")
    stop = body.get("stop") or ()
    inference = Inference(
        max_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 512),
        temperature=float(body.get("temperature") if body.get("temperature") is not None else 0),
        top_p=float(body.get("top_p") or 1.0),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
    )
    return messages, "\n".join(system), inference


def _chunks(stream: TextStream, reply: dict[str, Any], include_usage: bool) -> Iterator[bytes]:
    """Server-sent events of ``chat.completion.chunk``s, then ``[DONE]``; a model that fails
    midway ends the stream with an error event."""

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        document = {**reply, "object": "chat.completion.chunk", "choices": choices, **extra}
        return b"data: " + orjson.dumps(document) + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    tracked = Tracked(stream)
    try:
        for piece in tracked:
            yield chunk({"content": piece})
    except Exception as error:  # the stream has started: an error event, never a cut stream
        message = error.message if isinstance(error, VetorError) else "the model failed"
        yield b"data: " + orjson.dumps({"error": {"message": message,
                                                  "type": "server_error"}}) + b"\n\n"  # fmt: skip
        return
    yield chunk({}, FINISH_REASONS[tracked.usage.stop_reason])
    if include_usage:
        yield chunk(None, usage=_usage(tracked.usage))  # the usage chunk has no choices
    yield b"data: [DONE]\n\n"


def _usage(usage: Usage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cached_input_tokens
    return {"prompt_tokens": prompt, "completion_tokens": usage.output_tokens,
            "total_tokens": prompt + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens}}  # fmt: skip


def _vetor_error(error: VetorError) -> JSONResponse:
    error = public(error)
    if isinstance(error, DependencyFailedException):
        return _error(502, error.message, None, "model_error")
    if error.http_status == 400 and "not available" in error.message:
        return _error(404, error.message, "model", "model_not_found")
    return _error(error.http_status, error.message)


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
