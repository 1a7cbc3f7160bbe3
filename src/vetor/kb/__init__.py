"""Knowledge bases: Bedrock's ``bedrock-agent`` knowledge bases over vetor's vector indexes.

A client of the S3 Vectors API (``VectorService``) and the model registry; its own state
(knowledge bases, later data sources and ingestion jobs) lives in the store as versioned
documents created with put-if-absent (``records``).
"""

from .data_sources import DataSources
from .knowledge_bases import KnowledgeBases

__all__ = ["DataSources", "KnowledgeBases"]
