"""Knowledge bases that answer: every ``bedrock-agent`` and ``bedrock-agent-runtime``
operation (Retrieve, Rerank, …) of ``KnowledgeBaseService`` plus RetrieveAndGenerate and
RetrieveAndGenerateStream, on one object with boto3's method names::

    import vetor
    kbs = vetor.knowledge_bases("./vetor-data")
    kbs.retrieve_and_generate(input={"text": "..."}, retrieveAndGenerateConfiguration={...})
"""

from __future__ import annotations

from typing import Any

from ..kb import KnowledgeBaseService
from ..service import VectorService
from .answers import Answers

ANSWERING = ("retrieve_and_generate", "retrieve_and_generate_stream")


class AnsweringKnowledgeBases:
    def __init__(self, knowledge_bases: KnowledgeBaseService) -> None:
        self.knowledge_bases = knowledge_bases
        self.answers = Answers(knowledge_bases)
        self.routers = self.answers.routers  # the bedrock prompt-router operations

    def operation(self, name: str) -> Any:
        """The method serving a boto3 operation name, or None."""
        if name in ANSWERING:
            return getattr(self.answers, name)
        return self.knowledge_bases.operation(name)

    def rate_answer(self, *, sessionId: str, rating: int, comment: str = "") -> dict[str, Any]:
        """A user's rating of a session's latest answer, kept in the answer log."""
        return self.answers.log.rate(sessionId, rating, comment)

    def close(self) -> None:
        self.answers.log.flush()
        self.knowledge_bases.close()

    def __getattr__(self, name: str) -> Any:
        if name in ANSWERING:
            return getattr(self.answers, name)
        return getattr(self.knowledge_bases, name)  # its operations, jobs, service, close


def knowledge_bases(
    store: str | VectorService = "./vetor-data", **settings: Any
) -> AnsweringKnowledgeBases:
    """Knowledge bases over a store (a path or URI, as ``vetor.connect`` takes) or a service."""
    from ..kb import knowledge_bases as open_knowledge_bases

    return AnsweringKnowledgeBases(open_knowledge_bases(store, **settings))
