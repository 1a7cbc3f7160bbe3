"""A data source's documents one by one: IngestKnowledgeBaseDocuments, Delete…, Get…, List….

Documents are pushed inline (text, or bytes of any type vetor parses) or by S3 location, into a
CUSTOM data source (named by their own id) or an S3 one (named by their URI). Unlike Bedrock,
which answers STARTING and works in the background, vetor ingests them before it answers:
the reply says INDEXED or FAILED (with the reason), and a Retrieve right after finds them.
Their entries join the data source's sync state, so a later sync of an S3 source knows them.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from ..errors import ValidationException
from .data_sources import DataSources
from .ingest import Incoming, Ingestor, remove_documents
from .knowledge_bases import index_address
from .parsing import sidecar_attributes
from .records import Document
from .sources import s3_bucket
from .state import SyncState, entry

MIME_SUFFIXES = {
    "text/plain": ".txt", "text/markdown": ".md", "text/html": ".html", "text/csv": ".csv",
    "application/json": ".json", "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}  # fmt: skip
VALUE_FIELDS = {"STRING": "stringValue", "NUMBER": "numberValue", "BOOLEAN": "booleanValue",
                "STRING_LIST": "stringListValue"}  # fmt: skip


class KnowledgeBaseDocuments:
    def __init__(self, data_sources: DataSources) -> None:
        self.data_sources = data_sources
        self.knowledge_bases = data_sources.knowledge_bases
        self.service = self.knowledge_bases.service

    def ingest_knowledge_base_documents(
        self,
        *,
        knowledgeBaseId: str,
        dataSourceId: str,
        documents: list[dict[str, Any]],
        clientToken: str | None = None,
    ) -> dict[str, Any]:
        kb = self.knowledge_bases.find(knowledgeBaseId)
        source = self.data_sources.find(knowledgeBaseId, dataSourceId)
        kind = source["dataSourceConfiguration"]["type"]
        incoming = [self._incoming(d, kind) for d in documents]
        state = SyncState(self.service.store, knowledgeBaseId, dataSourceId)
        live = state.live()
        ingestor = Ingestor.for_source(self.service, kb, source)
        old_counts = {u: e["chunks"] for u, e in live.items()}
        delta: dict[str, Any] = {}
        details = []
        for outcomes in ingestor.ingest(incoming, old_counts):
            for outcome in outcomes:
                status = "FAILED" if outcome.reason else "INDEXED"
                before = "modified" if outcome.uri in live else "new"
                found = entry(outcome.signature, status, outcome.chunks, None,
                              "failed" if outcome.reason else before, outcome.reason,
                              _type(kind))  # fmt: skip
                delta[outcome.uri] = found
                details.append(_detail(knowledgeBaseId, dataSourceId, outcome.uri, found))
        state.commit(delta)
        return {"documentDetails": details}

    def delete_knowledge_base_documents(
        self,
        *,
        knowledgeBaseId: str,
        dataSourceId: str,
        documentIdentifiers: list[dict[str, Any]],
        clientToken: str | None = None,
    ) -> dict[str, Any]:
        kb = self.knowledge_bases.find(knowledgeBaseId)
        self.data_sources.find(knowledgeBaseId, dataSourceId)
        state = SyncState(self.service.store, knowledgeBaseId, dataSourceId)
        live = state.live()
        uris = [_uri(i) for i in documentIdentifiers]
        counts = {u: live[u]["chunks"] for u in uris if u in live}
        remove_documents(self.service, index_address(kb), dataSourceId, counts)
        state.commit(dict.fromkeys(counts))
        details = []
        for identifier, uri in zip(documentIdentifiers, uris):
            status = "DELETING" if uri in counts else "NOT_FOUND"
            details.append({"knowledgeBaseId": knowledgeBaseId, "dataSourceId": dataSourceId,
                            "status": status, "identifier": identifier,
                            "updatedAt": datetime.now(UTC)})  # fmt: skip
        return {"documentDetails": details}

    def get_knowledge_base_documents(
        self, *, knowledgeBaseId: str, dataSourceId: str, documentIdentifiers: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self.data_sources.find(knowledgeBaseId, dataSourceId)
        live = SyncState(self.service.store, knowledgeBaseId, dataSourceId).live()
        details = []
        for identifier in documentIdentifiers:
            uri = _uri(identifier)
            if uri in live:
                details.append(_detail(knowledgeBaseId, dataSourceId, uri, live[uri]))
            else:
                details.append({"knowledgeBaseId": knowledgeBaseId, "dataSourceId": dataSourceId,
                                "status": "NOT_FOUND", "identifier": identifier})  # fmt: skip
        return {"documentDetails": details}

    def list_knowledge_base_documents(
        self,
        *,
        knowledgeBaseId: str,
        dataSourceId: str,
        maxResults: int | None = None,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self.data_sources.find(knowledgeBaseId, dataSourceId)
        live = SyncState(self.service.store, knowledgeBaseId, dataSourceId).live()
        uris = sorted(u for u in live if nextToken is None or u > nextToken)
        limit = int(maxResults or 1000)
        page = uris[:limit]
        body: dict[str, Any] = {
            "documentDetails": [_detail(knowledgeBaseId, dataSourceId, u, live[u]) for u in page]
        }
        if len(uris) > limit:
            body["nextToken"] = page[-1]
        return body

    # --- reading the request's documents ------------------------------------------------------

    def _incoming(self, document: dict[str, Any], kind: str) -> Incoming:
        content = document["content"]
        if content["dataSourceType"] != _type(kind):
            raise ValidationException(
                f"A {kind} data source takes documents of dataSourceType {_type(kind)}"
            )
        attributes = self._attributes(document.get("metadata"))
        if kind != "CUSTOM":
            uri = content["s3"]["s3Location"]["uri"]
            return Incoming(uri, uri, _now(), self._s3_reader(uri), attributes=attributes)
        custom = content["custom"]
        doc_id = custom["customDocumentIdentifier"]["id"]
        signature = _now()
        if custom["sourceType"] == "S3_LOCATION":
            uri = custom["s3Location"]["uri"]
            return Incoming(doc_id, uri, signature, self._s3_reader(uri), None, attributes,
                            kind="CUSTOM")  # fmt: skip
        inline = custom.get("inlineContent") or {}
        if inline.get("type") == "TEXT":
            text = inline["textContent"]["data"]
            return Incoming(doc_id, doc_id, signature, lambda: b"", None, attributes, text,
                            "CUSTOM")  # fmt: skip
        data = inline.get("byteContent") or {}
        suffix = MIME_SUFFIXES.get(data.get("mimeType", ""))
        if suffix is None:
            known = ", ".join(MIME_SUFFIXES)
            raise ValidationException(f"vetor reads inline bytes of these types: {known}")
        raw = data.get("data", b"")
        payload = raw if isinstance(raw, bytes) else base64.b64decode(raw)
        return Incoming(doc_id, doc_id + suffix, signature, lambda: payload, None, attributes,
                        kind="CUSTOM")  # fmt: skip

    def _attributes(self, metadata: dict[str, Any] | None) -> dict[str, Any]:
        if not metadata:
            return {}
        if metadata["type"] == "S3_LOCATION":
            return sidecar_attributes(self._s3_reader(metadata["s3Location"]["uri"])())
        found = {}
        for attribute in metadata.get("inlineAttributes") or []:
            value = attribute["value"]
            field = VALUE_FIELDS[value["type"]]
            if field not in value:
                raise ValidationException(f"Attribute {attribute['key']} needs its {field}")
            found[attribute["key"]] = value[field]
        return found

    def _s3_reader(self, uri: str) -> Any:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not key:
            raise ValidationException(f"{uri} is not an S3 object URI (s3://bucket/key)")
        client = s3_bucket(self.service.settings).client
        return lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _type(kind: str) -> str:
    return "CUSTOM" if kind == "CUSTOM" else "S3"


def _uri(identifier: dict[str, Any]) -> str:
    if identifier["dataSourceType"] == "CUSTOM":
        return identifier["custom"]["id"]
    return identifier["s3"]["uri"]


def _now() -> str:
    """A pushed document's signature: a later sync of its S3 source reads it again."""
    return "pushed:" + datetime.now(UTC).isoformat()


def _detail(kb_id: str, source_id: str, uri: str, found: Document) -> dict[str, Any]:
    identifier: dict[str, Any] = (
        {"dataSourceType": "CUSTOM", "custom": {"id": uri}}
        if found.get("type") == "CUSTOM"
        else {"dataSourceType": "S3", "s3": {"uri": uri}}
    )
    detail = {
        "knowledgeBaseId": kb_id,
        "dataSourceId": source_id,
        "status": found["status"],
        "identifier": identifier,
        "updatedAt": datetime.fromisoformat(found["updatedAt"]),
    }
    if found.get("reason"):
        detail["statusReason"] = found["reason"]
    return detail
