"""A knowledge base's data sources, as Bedrock's ``bedrock-agent`` shapes them: where its
documents come from. ``S3`` (a bucket ARN and inclusion prefixes, read from the store's
endpoint or from one given by the ``VETOR_SOURCE_*`` settings), ``CUSTOM`` (documents pushed
through IngestKnowledgeBaseDocuments) and, for embedded use only, ``LOCAL`` (a folder:
``{"type": "LOCAL", "localConfiguration": {"path": "./docs"}}``; the wire model has no such
type, so a remote caller cannot make the server read its disk).

Deleting a data source whose ``dataDeletionPolicy`` is DELETE (the default) deletes its chunks
from the index; RETAIN keeps them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictException, ResourceNotFoundException, ValidationException
from .chunking import check as check_chunking
from .ingest import remove_documents
from .knowledge_bases import KnowledgeBases, index_address
from .records import Document, data_source_records, new_id
from .records import view as _view
from .state import SyncState

BUCKET_ARN = re.compile(r"\Aarn:aws[-a-z]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
SERVED = ("S3", "CUSTOM", "LOCAL")


class DataSources:
    def __init__(self, knowledge_bases: KnowledgeBases) -> None:
        self.knowledge_bases = knowledge_bases
        self.store = knowledge_bases.service.store

    def create_data_source(
        self,
        *,
        knowledgeBaseId: str,
        name: str,
        dataSourceConfiguration: dict[str, Any],
        description: str | None = None,
        dataDeletionPolicy: str = "DELETE",
        clientToken: str | None = None,
        vectorIngestionConfiguration: dict[str, Any] | None = None,
        serverSideEncryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.knowledge_bases.find(knowledgeBaseId)
        _check(dataSourceConfiguration, vectorIngestionConfiguration)
        stamp = datetime.now(UTC).isoformat()
        source_id = new_id(clientToken)
        document: Document = {
            "knowledgeBaseId": knowledgeBaseId,
            "dataSourceId": source_id,
            "name": name,
            "status": "AVAILABLE",
            "dataSourceConfiguration": dataSourceConfiguration,
            "dataDeletionPolicy": dataDeletionPolicy,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        optional = {
            "description": description,
            "vectorIngestionConfiguration": vectorIngestionConfiguration,
            "serverSideEncryptionConfiguration": serverSideEncryptionConfiguration,
        }
        document.update({k: v for k, v in optional.items() if v is not None})
        records = data_source_records(self.store, knowledgeBaseId)
        if not records.create(document):
            raise ConflictException(f"A data source named {name} already exists")
        return {"dataSource": _view(records.get(source_id) or document)}

    def get_data_source(self, *, knowledgeBaseId: str, dataSourceId: str) -> dict[str, Any]:
        return {"dataSource": _view(self.find(knowledgeBaseId, dataSourceId))}

    def list_data_sources(
        self, *, knowledgeBaseId: str, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        self.knowledge_bases.find(knowledgeBaseId)
        records = data_source_records(self.store, knowledgeBaseId)
        ids = [i for i in records.ids() if nextToken is None or i > nextToken]
        limit = int(maxResults or 1000)
        fields = ("knowledgeBaseId", "dataSourceId", "name", "status", "description", "updatedAt")
        page = [d for d in (records.get(i) for i in ids[:limit]) if d is not None]
        body: dict[str, Any] = {
            "dataSourceSummaries": [
                {k: v for k, v in _view(d).items() if k in fields} for d in page
            ]
        }
        if len(ids) > limit:
            body["nextToken"] = ids[limit - 1]
        return body

    def update_data_source(
        self,
        *,
        knowledgeBaseId: str,
        dataSourceId: str,
        name: str,
        dataSourceConfiguration: dict[str, Any],
        description: str | None = None,
        dataDeletionPolicy: str | None = None,
        vectorIngestionConfiguration: dict[str, Any] | None = None,
        serverSideEncryptionConfiguration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        old = self.find(knowledgeBaseId, dataSourceId)
        _check(dataSourceConfiguration, vectorIngestionConfiguration)
        if dataSourceConfiguration["type"] != old["dataSourceConfiguration"]["type"]:
            raise ValidationException("The type of a data source cannot be changed")
        new = {**old, "name": name, "dataSourceConfiguration": dataSourceConfiguration}
        optional = {
            "description": description,
            "dataDeletionPolicy": dataDeletionPolicy,
            "vectorIngestionConfiguration": vectorIngestionConfiguration,
            "serverSideEncryptionConfiguration": serverSideEncryptionConfiguration,
        }
        new.update({k: v for k, v in optional.items() if v is not None})
        new["updatedAt"] = datetime.now(UTC).isoformat()
        data_source_records(self.store, knowledgeBaseId).replace(old, new)
        return {"dataSource": _view(new)}

    def delete_data_source(self, *, knowledgeBaseId: str, dataSourceId: str) -> dict[str, Any]:
        document = self.find(knowledgeBaseId, dataSourceId)
        state = SyncState(self.store, knowledgeBaseId, dataSourceId)
        if document["dataDeletionPolicy"] == "DELETE":
            kb = self.knowledge_bases.find(knowledgeBaseId)
            counts = {uri: e["chunks"] for uri, e in state.live().items()}
            remove_documents(self.knowledge_bases.service, index_address(kb), dataSourceId, counts)
        state.delete()
        data_source_records(self.store, knowledgeBaseId).delete(document)
        return {"knowledgeBaseId": knowledgeBaseId, "dataSourceId": dataSourceId,
                "status": "DELETING"}  # fmt: skip

    def find(self, kb_id: str, source_id: str) -> Document:
        """The data source, or Bedrock's ResourceNotFoundException."""
        self.knowledge_bases.find(kb_id)
        document = data_source_records(self.store, kb_id).get(source_id)
        if document is None:
            raise ResourceNotFoundException(
                f"Data source {source_id} does not exist in knowledge base {kb_id}"
            )
        return document


def _check(config: dict[str, Any], ingestion: dict[str, Any] | None) -> None:
    chunking = (ingestion or {}).get("chunkingConfiguration")
    if chunking:
        check_chunking(chunking)
    kind = config.get("type")
    if kind not in SERVED:
        raise ValidationException(f"vetor serves data sources of type {' or '.join(SERVED)}")
    if kind == "S3":
        s3 = config.get("s3Configuration") or {}
        if not BUCKET_ARN.match(s3.get("bucketArn", "")):
            raise ValidationException("An S3 data source needs s3Configuration.bucketArn")
    if kind == "LOCAL" and not (config.get("localConfiguration") or {}).get("path"):
        raise ValidationException("A LOCAL data source needs localConfiguration.path")
