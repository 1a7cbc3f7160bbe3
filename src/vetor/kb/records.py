"""Knowledge-base state on the store: which versioned documents (``store.documents``) hold
knowledge bases, data sources, ingestion jobs and each data source's sync state."""

from __future__ import annotations

from ..store import ObjectStore
from ..store.documents import Document, VersionedDocuments, new_id, view

__all__ = ["ROOT", "Document", "VersionedDocuments", "new_id", "view"]

ROOT = "_vetor/kb"


def knowledge_base_records(store: ObjectStore) -> VersionedDocuments:
    return VersionedDocuments(store, f"{ROOT}/knowledge-bases", f"{ROOT}/names", "knowledgeBaseId")


def data_source_records(store: ObjectStore, kb_id: str) -> VersionedDocuments:
    """A knowledge base's data sources (names are unique within it)."""
    return VersionedDocuments(
        store, f"{ROOT}/data-sources/{kb_id}", f"{ROOT}/data-source-names/{kb_id}", "dataSourceId"
    )


def job_records(store: ObjectStore, kb_id: str, source_id: str) -> VersionedDocuments:
    """A data source's ingestion jobs (no names)."""
    return VersionedDocuments(store, f"{ROOT}/jobs/{kb_id}/{source_id}", None, "ingestionJobId")


def sync_state_records(store: ObjectStore, kb_id: str) -> VersionedDocuments:
    """Per data source, what its documents are in the index (see ``kb.state``)."""
    return VersionedDocuments(store, f"{ROOT}/documents/{kb_id}", None, "dataSourceId")
