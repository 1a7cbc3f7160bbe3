"""Bedrock Agents (``bedrock-agent``): each knowledge-base and data-source operation is the
method of the same (snake_case) name on ``KnowledgeBases`` or ``DataSources``; the model's
other operations answer 501."""

from __future__ import annotations

from typing import Any

from ...kb import DataSources, KnowledgeBases
from ..access import Caller
from . import NotImplementedOperation


class BedrockAgentHandler:
    def __init__(self, knowledge_bases: KnowledgeBases) -> None:
        self.parts = (knowledge_bases, DataSources(knowledge_bases))

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        for part in self.parts:
            method = getattr(part, function, None)
            if method is not None and not function.startswith("_"):
                return method(**params)
        raise NotImplementedOperation(f"vetor does not serve bedrock-agent {function} yet")
