"""Opaque, tamper-proof pagination tokens shared by every process on a store.

A token is ``base64url(JSON state) "." base64url(HMAC-SHA256(key, state)[:16])``. The key is a
random secret created once per store (put-if-absent at ``_vetor/token-key``), so a token issued
by one server process is accepted by every other process serving the same store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from typing import Any

import orjson

from ..errors import ValidationException
from ..store import ObjectNotFound, ObjectStore
from . import layout

KEY_PATH = layout.TOKEN_KEY


class TokenSigner:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._store.put_if_absent(KEY_PATH, secrets.token_bytes(32))
                try:
                    self._key = self._store.get(KEY_PATH)
                except ObjectNotFound:  # deleted between the two calls: start over
                    self._store.put_if_absent(KEY_PATH, secrets.token_bytes(32))
                    self._key = self._store.get(KEY_PATH)
            return self._key

    def encode(self, kind: str, state: dict[str, Any]) -> str:
        payload = orjson.dumps({"k": kind, **state})
        mac = hmac.new(self._secret(), payload, hashlib.sha256).digest()[:16]
        return f"{_b64(payload)}.{_b64(mac)}"

    def decode(self, token: Any, kind: str) -> dict[str, Any]:
        """The state of a token this store issued for ``kind``; ValidationException otherwise."""
        try:
            payload_text, mac_text = str(token).split(".")
            payload = _unb64(payload_text)
            expected = hmac.new(self._secret(), payload, hashlib.sha256).digest()[:16]
            if hmac.compare_digest(expected, _unb64(mac_text)):
                state = orjson.loads(payload)
                if state.pop("k") == kind:
                    return dict(state)
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            pass
        raise ValidationException("Invalid nextToken")


def fingerprint(request: dict[str, Any]) -> str:
    """A short digest of a request, so a token cannot be replayed on a different request."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
