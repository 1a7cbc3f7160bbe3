"""One front for knowledge bases, with boto3's method names for both Bedrock clients.

``bedrock-agent`` (knowledge bases, data sources, ingestion jobs, documents) and
``bedrock-agent-runtime`` (Retrieve, Rerank) on one object, in process::

    import vetor
    kbs = vetor.knowledge_bases("./vetor-data")   # a store URI, as vetor.connect takes
    kb = kbs.create_knowledge_base(name="handbook", roleArn=..., ...)["knowledgeBase"]
    kbs.retrieve(knowledgeBaseId=kb["knowledgeBaseId"], retrievalQuery={"text": "..."})

``vetor serve`` puts the same object behind both wire services.
"""

from __future__ import annotations

from typing import Any

from ..guardrails import GuardrailService
from ..service import VectorService
from .data_sources import DataSources
from .documents import KnowledgeBaseDocuments
from .jobs import IngestionJobs
from .knowledge_bases import KnowledgeBases
from .rerank import Reranking
from .retrieval import Retrieval


class KnowledgeBaseService:
    def __init__(self, service: VectorService) -> None:
        self.service = service
        self.knowledge_bases = KnowledgeBases(service)
        self.data_sources = DataSources(self.knowledge_bases)
        self.jobs = IngestionJobs(self.knowledge_bases, self.data_sources)
        self.documents = KnowledgeBaseDocuments(self.data_sources)
        self.reranking = Reranking()
        self.guardrails = GuardrailService(service)
        self.retrieval = Retrieval(self.knowledge_bases, self.reranking, self.guardrails)
        self.parts = (self.knowledge_bases, self.data_sources, self.jobs, self.documents,
                      self.retrieval, self.reranking)  # fmt: skip

    def operation(self, name: str) -> Any:
        """The method serving a boto3 operation name (``start_ingestion_job``), or None."""
        if name.startswith("_"):
            return None
        for part in self.parts:
            method = getattr(part, name, None)
            if method is not None:
                return method
        return None

    def __getattr__(self, name: str) -> Any:
        method = self.operation(name) if name != "parts" else None
        if method is None:
            raise AttributeError(name)
        return method

    def close(self) -> None:
        self.jobs.close()


def knowledge_bases(
    store: str | VectorService = "./vetor-data", **settings: Any
) -> KnowledgeBaseService:
    """Knowledge bases over a store (a path or URI, as ``vetor.connect`` takes) or a service."""
    from ..service import connect

    service = store if isinstance(store, VectorService) else connect(store, **settings)
    return KnowledgeBaseService(service)
