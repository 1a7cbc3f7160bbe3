"""``bedrock-runtime``: ``Converse`` and ``ConverseStream`` with this server's generation
models (the offline one, an OpenAI-compatible server's), so that Bedrock chat clients
(``ChatBedrockConverse``) use vetor as their gateway, and ``ApplyGuardrail``; the model's other
operations answer 501."""

from __future__ import annotations

from typing import Any

from ...generation.chat import Chat
from ...guardrails import GuardrailService
from ..access import Caller
from ..eventstream import EventStream, stream_errors
from . import NotImplementedOperation


class BedrockRuntimeHandler:
    def __init__(self, chat: Chat, guardrails: GuardrailService) -> None:
        self.chat, self.guardrails = chat, guardrails

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        if function == "converse":
            return self.chat.converse(**params)
        if function == "converse_stream":
            errors = stream_errors("bedrock-runtime", "ConverseStream")
            failed = {"DependencyFailedException": "modelStreamErrorException"}
            return EventStream(self.chat.converse_stream(**params), {}, errors, failed)
        if function == "apply_guardrail":
            return self.guardrails.apply_guardrail(**params)
        raise NotImplementedOperation(f"vetor does not serve bedrock-runtime {function} yet")
