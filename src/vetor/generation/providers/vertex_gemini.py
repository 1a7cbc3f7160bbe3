"""The ``vertex-gemini`` provider: Gemini models on Google Vertex AI, streamed over its REST
API (``:streamGenerateContent?alt=sse``; no Google SDK needed).

Request: ``contents`` (``user`` / ``model`` turns of text ``parts``), ``systemInstruction``
and ``generationConfig`` (``maxOutputTokens``, ``temperature``, ``topP``, ``stopSequences``);
each event's ``candidates[0].content.parts[].text`` is a piece of the answer, and
``usageMetadata`` counts the tokens. Credentials as the Vertex embedding provider's: an access
token (``VERTEX_ACCESS_TOKEN``), else Application Default Credentials through google-auth.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vetor.embed.providers.http import google_access_token
from vetor.models.generator import (
    GenerationError,
    Generator,
    Inference,
    Message,
    TextStream,
    Usage,
)

from .sse import answer_deadline, post_events

STOP_REASONS = {"MAX_TOKENS": "max_tokens", "STOP": "end_turn"}


class VertexGeminiGenerator(Generator):
    provider = "vertex-gemini"

    def __init__(
        self,
        model: str | None = None,
        project: str | None = None,
        location: str | None = None,
        endpoint_url: str | None = None,
        access_token: str | None = None,
        timeout: float | str | None = None,
    ) -> None:
        self.model = model or "gemini-2.5-flash"
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise GenerationError("Vertex Gemini needs a project: GOOGLE_CLOUD_PROJECT")
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
        host = endpoint_url or os.environ.get("VERTEX_ENDPOINT_URL")
        host = host or f"https://{location}-aiplatform.googleapis.com"
        self.url = (
            f"{host.rstrip('/')}/v1/projects/{project}/locations/{location}/publishers/google"
            f"/models/{self.model}:streamGenerateContent?alt=sse"
        )
        self._token = access_token or os.environ.get("VERTEX_ACCESS_TOKEN")
        self.timeout = float(timeout or os.environ.get("VETOR_LLM_TIMEOUT_SECONDS") or 60.0)

    def stream(
        self, messages: Sequence[Message], system: str = "", inference: Inference = Inference()
    ) -> TextStream:
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.text}]}
                for m in messages
            ],
            "generationConfig": {
                "maxOutputTokens": inference.max_tokens,
                "temperature": inference.temperature,
                "topP": inference.top_p,
                **({"stopSequences": list(inference.stop)} if inference.stop else {}),
            },
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        token = self._token or google_access_token(GenerationError)
        deadline = answer_deadline(self.timeout, inference.max_tokens)
        usage = Usage()
        headers = {"Authorization": f"Bearer {token}"}
        for event in post_events(self.url, body, headers, self.timeout, deadline):
            for candidate in event.get("candidates") or []:
                for part in (candidate.get("content") or {}).get("parts") or []:
                    if part.get("text"):
                        yield part["text"]
                if candidate.get("finishReason"):
                    usage.stop_reason = STOP_REASONS.get(candidate["finishReason"], "end_turn")
            counted = event.get("usageMetadata") or {}
            usage.input_tokens = counted.get("promptTokenCount", usage.input_tokens)
            usage.output_tokens = counted.get("candidatesTokenCount", usage.output_tokens)
        return usage
