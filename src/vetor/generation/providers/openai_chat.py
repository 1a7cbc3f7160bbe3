"""The ``openai-chat`` provider: any OpenAI-compatible ``/v1/chat/completions`` server (vLLM,
Ollama, llama.cpp's server, TGI, OpenAI, or another vetor), streamed as server-sent events.

Every read has the timeout ``llm_timeout_seconds`` and the whole answer a deadline of the same
length per 64 tokens asked for, so a server that is down, stalls or trickles fails the call
with ``GenerationError``; it never hangs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vetor.models.generator import (
    GenerationError,
    Generator,
    Inference,
    Message,
    TextStream,
    Usage,
)

from .sse import answer_deadline, post_events

STOP_REASONS = {"length": "max_tokens", "stop": "end_turn"}


class OpenAIChatGenerator(Generator):
    provider = "openai-chat"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | str | None = None,
    ) -> None:
        base = base_url or os.environ.get("VETOR_LLM_BASE_URL")
        if not base:
            raise GenerationError("provider openai-chat needs a base URL (VETOR_LLM_BASE_URL)")
        self.model = model or _first(os.environ.get("VETOR_LLM_MODELS", "")) or "default"
        self.url = base.rstrip("/") + "/chat/completions"
        key = api_key or os.environ.get("VETOR_LLM_API_KEY")
        self._headers: dict[str, str] = {}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self.timeout = float(timeout or os.environ.get("VETOR_LLM_TIMEOUT_SECONDS") or 60.0)

    def stream(
        self, messages: Sequence[Message], system: str = "", inference: Inference = Inference()
    ) -> TextStream:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _messages(messages, system),
            "max_tokens": inference.max_tokens,
            "temperature": inference.temperature,
            "top_p": inference.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if inference.stop:
            body["stop"] = list(inference.stop)
        deadline = answer_deadline(self.timeout, inference.max_tokens)
        usage = Usage()
        for event in map(_complete, post_events(self.url, body, self._headers, self.timeout,
                                                deadline)):  # fmt: skip
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield piece
                if choice.get("finish_reason"):
                    usage.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
            counted = event.get("usage") or {}
            usage.input_tokens = counted.get("prompt_tokens", usage.input_tokens)
            usage.output_tokens = counted.get("completion_tokens", usage.output_tokens)
        return usage


def _messages(messages: Sequence[Message], system: str) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": m.role, "content": m.text} for m in messages]


def _complete(event: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed reply's ``message`` read as a stream's ``delta``."""
    for choice in event.get("choices") or []:
        if "message" in choice and "delta" not in choice:
            choice["delta"] = choice["message"]
    return event


def _first(models: str) -> str:
    return next((m.strip() for m in models.split(",") if m.strip()), "")
