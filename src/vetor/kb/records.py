"""Knowledge-base state on the store: versioned JSON documents and name claims.

A knowledge base is the chain ``_vetor/kb/knowledge-bases/<id>/<version>.json``, each version
created with put-if-absent (as an index's manifests are): of two concurrent updates of one
version, one wins and the other gets a ConflictException, so no update is lost. A name is
claimed by ``_vetor/kb/names/<name>`` (put-if-absent, holding the id) before the first version
is written, so two processes creating the same name cannot both succeed.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ConflictException
from ..store import ObjectStore

ROOT = "_vetor/kb"
DIGITS = 12
Document = dict[str, Any]


class KnowledgeBaseRecords:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def create(self, document: Document) -> bool:
        """Store a new knowledge base (version 1); False if its name is taken."""
        kb_id = document["knowledgeBaseId"]
        if not self._claim(document["name"], kb_id):
            return False
        self.store.put_if_absent(self._version_key(kb_id, 1), orjson.dumps(document))
        return True

    def get(self, kb_id: str) -> Document | None:
        """The latest version, with its number under ``"_version"``; None if there is none."""
        keys = sorted(info.key for info in self.store.list(f"{ROOT}/knowledge-bases/{kb_id}/"))
        if not keys:
            return None
        document = dict(self.store.get_json(keys[-1]))
        document["_version"] = int(keys[-1].rsplit("/", 1)[1].removesuffix(".json"))
        return document

    def ids(self) -> list[str]:
        return self.store.list_dirs(f"{ROOT}/knowledge-bases/")

    def replace(self, old: Document, new: Document) -> None:
        """Write ``new`` as the version after ``old``; a ConflictException if another request
        wrote that version first (or took the new name)."""
        kb_id = old["knowledgeBaseId"]
        renamed = new["name"] != old["name"]
        if renamed and not self._claim(new["name"], kb_id):
            raise ConflictException(f"A knowledge base named {new['name']} already exists")
        body = orjson.dumps({k: v for k, v in new.items() if k != "_version"})
        if not self.store.put_if_absent(self._version_key(kb_id, old["_version"] + 1), body):
            if renamed:
                self.store.delete(self._name_key(new["name"]))
            raise ConflictException("The knowledge base was changed by another request; retry")
        if renamed:
            self.store.delete(self._name_key(old["name"]))

    def delete(self, document: Document) -> None:
        self.store.delete_prefix(f"{ROOT}/knowledge-bases/{document['knowledgeBaseId']}/")
        self.store.delete(self._name_key(document["name"]))

    def _claim(self, name: str, kb_id: str) -> bool:
        key = self._name_key(name)
        if self.store.put_if_absent(key, kb_id.encode()):
            return True
        owner = self.store.get_many([key], missing_ok=True)[0]
        return owner is not None and bytes(owner).decode() == kb_id  # a retry of our own

    def _version_key(self, kb_id: str, version: int) -> str:
        return f"{ROOT}/knowledge-bases/{kb_id}/{version:0{DIGITS}d}.json"

    def _name_key(self, name: str) -> str:
        return f"{ROOT}/names/{name}"
