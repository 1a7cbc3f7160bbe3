"""Bedrock Agents (``bedrock-agent``): each knowledge-base operation is the ``KnowledgeBases``
method of the same (snake_case) name; the model's other operations answer 501."""

from __future__ import annotations

from typing import Any

from ...kb import KnowledgeBases
from ..access import Caller
from . import NotImplementedOperation


class BedrockAgentHandler:
    def __init__(self, knowledge_bases: KnowledgeBases) -> None:
        self.knowledge_bases = knowledge_bases

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        method = getattr(self.knowledge_bases, function, None)
        if method is None or function.startswith("_"):
            raise NotImplementedOperation(f"vetor does not serve bedrock-agent {function} yet")
        return method(**params)
