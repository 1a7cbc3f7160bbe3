"""Knowledge bases: Bedrock Knowledge Bases (``bedrock-agent``, ``bedrock-agent-runtime``) over
vetor's vector indexes.

A client of the S3 Vectors API (``VectorService``), the embedding pipeline's pieces and the
model registry. Its own state (knowledge bases, data sources, ingestion jobs, each data
source's sync state) lives in the store as versioned documents created with put-if-absent
(``records``). The layout: ``parsing`` and ``chunking`` turn documents into chunks, ``sources``
lists what a data source holds, ``ingest`` writes chunks as Bedrock writes them into S3
Vectors, ``jobs`` runs syncs in the background, ``documents`` takes documents one by one,
``retrieval`` and ``rerank`` answer questions; ``service`` puts them behind one front.
"""

from .data_sources import DataSources
from .knowledge_bases import KnowledgeBases
from .service import KnowledgeBaseService, knowledge_bases

__all__ = ["DataSources", "KnowledgeBaseService", "KnowledgeBases", "knowledge_bases"]
