"""Conversations with any generation model of this server: bedrock-runtime's ``Converse`` and
``ConverseStream`` (what LangChain's ``ChatBedrockConverse`` calls), in Bedrock's shapes, and
the one ``stream`` the OpenAI-compatible ``/v1/chat/completions`` route uses too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..errors import ValidationException
from ..models import Inference, Message, TextStream, Tracked, Usage
from ..settings import Settings
from .models import generate, generator_for, inference_of
from .routing import PromptRouters

ROLES = ("user", "assistant")
# Converse members vetor's models cannot honour: refused, never silently dropped.
UNSUPPORTED = ("toolConfig", "guardrailConfig", "outputConfig", "promptVariables")


class Chat:
    def __init__(self, settings: Settings, routers: PromptRouters) -> None:
        self.settings, self.routers = settings, routers

    def model(self, model_id: str, messages: list[Message]) -> str:
        """The model that answers: the one named, or the one a prompt router picks."""
        if not messages or messages[-1].role != "user":
            raise ValidationException("A conversation must end with a user message")
        earlier = sum(m.role == "user" for m in messages[:-1])
        return self.routers.resolve(model_id, messages[-1].text, earlier)

    def stream(
        self, model_id: str, messages: list[Message], system: str, inference: Inference
    ) -> TextStream:
        """The answer of ``model_id`` (a model the caller resolved with ``model``)."""
        generator = generator_for(model_id, self.settings)
        return generate(generator, messages, system, inference, self.settings.answer_cache_seconds)

    def converse(self, *, modelId: str, messages: list[dict[str, Any]], **request: Any) -> Any:
        started = time.perf_counter()
        turns, system, inference = _conversation(messages, request)
        model = self.model(modelId, turns)
        stream = Tracked(self.stream(model, turns, system, inference))
        text = "".join(stream)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stream.usage.stop_reason,
            "usage": _usage(stream.usage),
            "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
            **_trace(modelId, model),
        }

    def converse_stream(
        self, *, modelId: str, messages: list[dict[str, Any]], **request: Any
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        started = time.perf_counter()
        turns, system, inference = _conversation(messages, request)
        model = self.model(modelId, turns)
        stream = Tracked(self.stream(model, turns, system, inference))  # checked

        def events() -> Iterator[tuple[str, dict[str, Any]]]:
            yield "messageStart", {"role": "assistant"}
            for piece in stream:
                yield "contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}
            yield "contentBlockStop", {"contentBlockIndex": 0}
            yield "messageStop", {"stopReason": stream.usage.stop_reason}
            latency = int((time.perf_counter() - started) * 1000)
            yield "metadata", {"usage": _usage(stream.usage), "metrics": {"latencyMs": latency},
                               **_trace(modelId, model)}  # fmt: skip

        return events()


def _trace(named: str, invoked: str) -> dict[str, Any]:
    """Converse's ``trace.promptRouter``: which model a prompt router picked."""
    if named == invoked:
        return {}
    return {"trace": {"promptRouter": {"invokedModelId": invoked}}}


def _conversation(
    messages: list[dict[str, Any]], request: dict[str, Any]
) -> tuple[list[Message], str, Inference]:
    """Converse's messages, system blocks and inference configuration, as the models take
    them (text only: vetor's generation models read no images or documents)."""
    refused = [member for member in UNSUPPORTED if request.get(member)]
    if refused:
        raise ValidationException(f"vetor's Converse does not take {', '.join(refused)} yet")
    turns = []
    for message in messages:
        if message.get("role") not in ROLES:
            raise ValidationException("Each message's role must be user or assistant")
        blocks = message.get("content") or []
        if any("text" not in block for block in blocks):
            raise ValidationException("vetor's generation models read text content blocks only")
        turns.append(Message(message["role"], "".join(block["text"] for block in blocks)))
    system = "\n".join(block.get("text", "") for block in request.get("system") or [])
    return turns, system, inference_of(request.get("inferenceConfig"))


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.input_tokens + usage.output_tokens + usage.cached_input_tokens,
        "cacheReadInputTokens": usage.cached_input_tokens,
    }
