"""A data source's sync state: for each document, what the index holds of it.

One versioned document per data source (``records.sync_state_records``) maps a document's URI
(or a CUSTOM document's id) to its entry: the signature it was ingested at, its status
(``INDEXED`` or ``FAILED`` with the reason), how many chunks it has, and which job wrote it and
how (``new``, ``modified``, ``deleted``), from which that job's statistics are counted again
after a restart. Changes are deltas committed with put-if-absent and replayed on the newer
version when another writer (a job, a direct ingestion) got there first: none is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictException
from ..store import ObjectStore
from .records import Document, sync_state_records

Entry = dict[str, Any]
DELETED = "DELETED"  # a tombstone: the job that removed the document counts it
STATISTICS = {
    "new": "numberOfNewDocumentsIndexed",
    "modified": "numberOfModifiedDocumentsIndexed",
    "deleted": "numberOfDocumentsDeleted",
    "failed": "numberOfDocumentsFailed",
}


class SyncState:
    def __init__(self, store: ObjectStore, kb_id: str, source_id: str) -> None:
        self.records = sync_state_records(store, kb_id)
        self.source_id = source_id

    def entries(self) -> dict[str, Entry]:
        """Every document's entry, tombstones included."""
        document = self.records.get(self.source_id)
        return dict(document["documents"]) if document else {}

    def live(self) -> dict[str, Entry]:
        return {uri: e for uri, e in self.entries().items() if e["status"] != DELETED}

    def commit(self, delta: dict[str, Entry | None]) -> None:
        """Apply ``delta`` (an entry per URI, None to forget one) on the latest version."""
        if not delta:
            return
        while True:
            old = self.records.get(self.source_id)
            documents = dict(old["documents"]) if old else {}
            for uri, entry in delta.items():
                if entry is None:
                    documents.pop(uri, None)
                else:
                    documents[uri] = entry
            new: Document = {"dataSourceId": self.source_id, "documents": documents}
            try:
                if old is None:
                    if self.records.create(new):
                        return
                else:
                    self.records.replace(old, new)
                    return
            except ConflictException:
                continue  # another writer's version came first: replay on it

    def delete(self) -> None:
        document = self.records.get(self.source_id)
        if document is not None:
            self.records.delete(document)


def entry(signature: str, status: str, chunks: int, job: str | None, outcome: str,
          reason: str | None = None, kind: str = "S3") -> Entry:  # fmt: skip
    found: Entry = {
        "signature": signature,
        "status": status,
        "chunks": chunks,
        "job": job,
        "outcome": outcome,
        "type": kind,
        "updatedAt": datetime.now(UTC).isoformat(),
    }
    if reason:
        found["reason"] = reason
    return found


def statistics(entries: dict[str, Entry], job_id: str) -> dict[str, int]:
    """What job ``job_id`` did, as Bedrock counts it, from the entries it wrote."""
    counts = dict.fromkeys(STATISTICS.values(), 0)
    for found in entries.values():
        if found.get("job") == job_id:
            counts[STATISTICS[found["outcome"]]] += 1
    return counts
