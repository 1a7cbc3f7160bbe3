"""RetrieveAndGenerate sessions: the earlier turns of a conversation, kept in the store.

A session is a versioned document (``kb.records``) under ``_vetor/kb/sessions``: each turn is
a new version written with put-if-absent, so two processes answering in one session at once
cannot lose a turn (the later one retries on the newer version). The last ``MAX_TURNS`` turns
are kept; a session not used for ``session_ttl_seconds`` has expired. A session created with
``sessionConfiguration.kmsKeyArn`` is sealed with that KMS key, every version of it, in any
process (the document names its key); others with the server's default key, if it has one.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConflictException, ValidationException
from ..kb.records import ROOT
from ..store import KMS, Choice, ObjectStore, sealed_with
from ..store.documents import VersionedDocuments

MAX_TURNS = 10


class Sessions:
    def __init__(self, store: ObjectStore, ttl_seconds: float) -> None:
        self.store = store
        self.records = VersionedDocuments(store, f"{ROOT}/sessions", None, "sessionId")
        self.ttl = timedelta(seconds=ttl_seconds)

    def turns(self, session_id: str | None, kms_key_arn: str | None = None) -> list[dict[str, str]]:
        """The earlier turns (``question``, ``answer``) of a session; none for a new one. A
        session keeps the key it was created with: another one named is refused."""
        if session_id is None:
            return []
        found = self._find(session_id)
        if kms_key_arn and kms_key_arn != found.get("kmsKeyArn"):
            raise ValidationException(
                f"Session with Id {session_id} is not sealed with the KMS key {kms_key_arn}"
            )
        return list(found["turns"])

    def check_key(self, kms_key_arn: str | None) -> None:
        """A session may be sealed with a KMS key of its own only where KMS is configured,
        and a key KMS refuses fails the call before the answer is made."""
        if not kms_key_arn:
            return
        sealer = self.store.sealer
        if sealer is None or KMS not in sealer.wrappers:
            raise ValidationException(
                "sessionConfiguration.kmsKeyArn needs a KMS endpoint: this server has none "
                "(kms_endpoint_url)"
            )
        sealer.ready(Choice(KMS, kms_key_arn))

    def open(self, kms_key_arn: str | None = None) -> str:
        """A new, empty session (its id is sent before its first answer is written)."""
        session_id = str(uuid.uuid4())
        now = datetime.now(UTC).isoformat()
        with _sealed(kms_key_arn):
            self.records.create({"sessionId": session_id, "createdAt": now, "updatedAt": now,
                                 "turns": [], **_key(kms_key_arn)})  # fmt: skip
        return session_id

    def record(
        self, session_id: str | None, question: str, answer: str, kms_key_arn: str | None = None
    ) -> str:
        """Add a turn (to a new session when ``session_id`` is None, sealed with
        ``kms_key_arn`` when one is given; a session keeps the key it was created with)."""
        session_id = session_id or str(uuid.uuid4())
        now = datetime.now(UTC).isoformat()
        turn = {"question": question, "answer": answer}
        while True:
            old = self.records.get(session_id)
            if old is None:
                first = {"sessionId": session_id, "createdAt": now, "updatedAt": now}
                with _sealed(kms_key_arn):
                    if self.records.create({**first, "turns": [turn], **_key(kms_key_arn)}):
                        return session_id
                continue  # created at the same moment by another turn: add ours after it
            new = {**old, "updatedAt": now, "turns": [*old["turns"], turn][-MAX_TURNS:]}
            try:
                with _sealed(old.get("kmsKeyArn")):
                    self.records.replace(old, new)
                return session_id
            except ConflictException:  # another turn landed first: add ours after it
                continue

    def _find(self, session_id: str) -> dict[str, Any]:
        found = self.records.get(session_id) if _valid(session_id) else None
        if found is None or datetime.fromisoformat(found["updatedAt"]) + self.ttl < datetime.now(
            UTC
        ):
            raise ValidationException(f"Session with Id {session_id} is not valid")
        return found


def _sealed(kms_key_arn: str | None) -> contextlib.AbstractContextManager[None]:
    return sealed_with(Choice(KMS, kms_key_arn) if kms_key_arn else None)


def _key(kms_key_arn: str | None) -> dict[str, str]:
    return {"kmsKeyArn": kms_key_arn} if kms_key_arn else {}


def _valid(session_id: str) -> bool:
    return 2 <= len(session_id) <= 100 and all(c.isalnum() or c in "-_" for c in session_id)
