"""Bedrock Knowledge Bases: ``bedrock-agent`` (knowledge bases, data sources, ingestion jobs,
documents) and ``bedrock-agent-runtime`` (Retrieve, Rerank). Each operation is the method of
the same (snake_case) name on ``KnowledgeBaseService``; the models' other operations (agents,
flows, prompts, sessions…) answer 501."""

from __future__ import annotations

from typing import Any

from ...kb import KnowledgeBaseService
from ..access import Caller
from . import NotImplementedOperation


class KnowledgeBaseHandler:
    def __init__(self, knowledge_bases: KnowledgeBaseService, service_name: str) -> None:
        self.knowledge_bases, self.service_name = knowledge_bases, service_name

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        method = self.knowledge_bases.operation(function)
        if method is None:
            raise NotImplementedOperation(
                f"vetor does not serve {self.service_name} {function} yet"
            )
        return method(**params)
