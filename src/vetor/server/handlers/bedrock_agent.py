"""Bedrock Knowledge Bases: ``bedrock-agent`` (knowledge bases, data sources, ingestion jobs,
documents) and ``bedrock-agent-runtime`` (Retrieve, Rerank, RetrieveAndGenerate and its
stream). Each operation is the method of the same (snake_case) name on
``AnsweringKnowledgeBases``; the models' other operations (agents, flows, prompts, sessions…)
answer 501."""

from __future__ import annotations

from typing import Any

from ...generation import AnsweringKnowledgeBases
from ..access import Caller
from ..eventstream import EventStream, stream_errors
from . import NotImplementedOperation

# The header each streamed operation sends its session id in (the model's output shape).
STREAM_HEADERS = {"retrieve_and_generate_stream": "x-amzn-bedrock-knowledge-base-session-id"}


class KnowledgeBaseHandler:
    def __init__(self, knowledge_bases: AnsweringKnowledgeBases, service_name: str) -> None:
        self.knowledge_bases, self.service_name = knowledge_bases, service_name

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        method = self.knowledge_bases.operation(function)
        if method is None:
            raise NotImplementedOperation(
                f"vetor does not serve {self.service_name} {function} yet"
            )
        if function in STREAM_HEADERS:
            reply = method(**params)
            events = (next(iter(event.items())) for event in reply["stream"])
            errors = stream_errors("bedrock-agent-runtime", "RetrieveAndGenerateStream")
            return EventStream(events, {STREAM_HEADERS[function]: reply["sessionId"]}, errors)
        return method(**params)
