"""Versioned JSON documents on a store, for the state of the applications above the service
(knowledge bases, their jobs and sync state, sessions, guardrails).

A document is the chain ``<root>/<id>/<version>.json``, each version created with put-if-absent
(as an index's manifests are): of two concurrent updates of one version, one wins and the other
gets a ConflictException, so no update is lost. Only the last two versions are kept. A name,
where documents have one, is claimed by ``<names>/<name>`` (put-if-absent, holding the id)
before the first version is written, so two processes creating the same name cannot both
succeed.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime
from typing import Any

import orjson

from ..errors import ConflictException
from .objects import ObjectNotFound, ObjectStore

ID_ALPHABET = string.ascii_uppercase + string.digits
DIGITS = 12
Document = dict[str, Any]


class VersionedDocuments:
    def __init__(self, store: ObjectStore, root: str, names: str | None, id_field: str) -> None:
        self.store, self.root, self.names, self.id_field = store, root, names, id_field

    def create(self, document: Document) -> bool:
        """Store a new document (version 1); False if its name is taken (or, for documents
        without names, if its id is)."""
        doc_id = document[self.id_field]
        if self.names is not None and not self._claim(document["name"], doc_id):
            return False
        created = self.store.put_if_absent(self._version_key(doc_id, 1), orjson.dumps(document))
        return created or self.names is not None  # a named one: a retry of our own create

    def get(self, doc_id: str) -> Document | None:
        """The latest version, with its number under ``"_version"``; None if there is none."""
        while True:
            keys = sorted(info.key for info in self.store.list(f"{self.root}/{doc_id}/"))
            if not keys:
                return None
            try:
                document = dict(self.store.get_json(keys[-1]))
            except ObjectNotFound:  # pruned after two newer versions came: read those
                continue
            document["_version"] = int(keys[-1].rsplit("/", 1)[1].removesuffix(".json"))
            return document

    def ids(self) -> list[str]:
        return self.store.list_dirs(f"{self.root}/")

    def replace(self, old: Document, new: Document) -> None:
        """Write ``new`` as the version after ``old``; a ConflictException if another request
        wrote that version first (or took the new name)."""
        doc_id = old[self.id_field]
        renamed = self.names is not None and new["name"] != old["name"]
        if renamed and not self._claim(new["name"], doc_id):
            raise ConflictException(f"The name {new['name']} is already taken")
        body = orjson.dumps({k: v for k, v in new.items() if k != "_version"})
        version = old["_version"] + 1
        if not self.store.put_if_absent(self._version_key(doc_id, version), body):
            if renamed:
                self.store.delete(self._name_key(new["name"]))
            raise ConflictException("It was changed by another request; retry")
        new["_version"] = version
        if renamed:
            self.store.delete(self._name_key(old["name"]))
        if version > 2:  # a reader of the previous version may still be reading it
            self.store.delete(self._version_key(doc_id, version - 2))

    def delete(self, document: Document) -> None:
        self.store.delete_prefix(f"{self.root}/{document[self.id_field]}/")
        if self.names is not None:
            self.store.delete(self._name_key(document["name"]))

    def _claim(self, name: str, doc_id: str) -> bool:
        key = self._name_key(name)
        if self.store.put_if_absent(key, doc_id.encode()):
            return True
        owner = self.store.get_many([key], missing_ok=True)[0]
        return owner is not None and bytes(owner).decode() == doc_id  # a retry of our own

    def _version_key(self, doc_id: str, version: int) -> str:
        return f"{self.root}/{doc_id}/{version:0{DIGITS}d}.json"

    def _name_key(self, name: str) -> str:
        return f"{self.names}/{name}"


TIMES = ("createdAt", "updatedAt", "startedAt")


def view(document: Document, hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored document as the API shows it: timestamps as datetimes, no private fields
    (``_version``, ``_activeJob``…) and none of ``hidden``."""
    return {
        k: datetime.fromisoformat(v) if k in TIMES else v
        for k, v in document.items()
        if not k.startswith("_") and k not in hidden
    }


def new_lower_id(client_token: str | None) -> str:
    """A lowercase id, as Bedrock's guardrails and prompt routers have: ``new_id``'s, with two
    random hex digits more when there is no client token."""
    return new_id(client_token).lower() + ("" if client_token else secrets.token_hex(1))


def new_id(client_token: str | None) -> str:
    """Ten characters as Bedrock's ids; from the client token when there is one (boto3 sends
    one per call), so that a retried create finds its own name claim and version."""
    if not client_token:
        return "".join(secrets.choice(ID_ALPHABET) for _ in range(10))
    digest = hashlib.sha256(client_token.encode()).digest()
    return "".join(ID_ALPHABET[b % len(ID_ALPHABET)] for b in digest[:10])
