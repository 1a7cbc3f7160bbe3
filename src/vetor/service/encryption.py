"""Which key seals each object: its bucket's or index's ``encryptionConfiguration``.

``aws:kms`` is sealed with the KMS key it names, through the configured KMS endpoint;
``AES256`` (S3 Vectors' default) and vetor's own state (knowledge bases, sessions, the answer
log, the pagination-token key) with the server's default key: its key file, or else
``kms_default_key_arn`` (none of them: not sealed).

Configurations are read from the store (they are never sealed) and kept a minute: a bucket
deleted and created again with another configuration may be written with the former one's key
for that long, and still reads back (each object's header names its key).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import ValidationException
from ..settings import Settings
from ..store import KMS, LOCAL, Choice, ObjectNotFound, ObjectStore
from . import layout

CONFIG_SECONDS = 60.0


class EncryptionChoices:
    def __init__(self, store: ObjectStore, settings: Settings) -> None:
        self.store = store
        self.kms = bool(settings.kms_endpoint_url)
        self.default: Choice | None = None
        if settings.encryption_key_file:
            self.default = Choice(LOCAL)
        elif self.kms and settings.kms_default_key_arn:
            self.default = Choice(KMS, settings.kms_default_key_arn)
        self._configs: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def check(self, encryption: dict[str, Any]) -> None:
        """A bucket or index may ask for aws:kms only where KMS is configured."""
        if encryption.get("sseType") == "aws:kms" and not self.kms:
            raise ValidationException(
                "sseType aws:kms needs a KMS endpoint: this server has none (kms_endpoint_url)"
            )

    def __call__(self, key: str) -> Choice | None:
        bucket, _, rest = key.partition("/")
        if bucket == "_vetor" or not rest:
            return self.default
        config = None
        parts = rest.split("/")
        if parts[0] == "indexes" and len(parts) > 2:
            config = self._config(layout.index_config(bucket, parts[1]))
        config = config or self._config(layout.bucket_config(bucket)) or {}
        encryption = config.get("encryptionConfiguration") or {}
        if encryption.get("sseType") == "aws:kms" and encryption.get("kmsKeyArn"):
            return Choice(KMS, encryption["kmsKeyArn"])
        return self.default

    def _config(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            cached = self._configs.get(key)
        if cached is not None and time.monotonic() - cached[0] < CONFIG_SECONDS:
            return cached[1]
        try:
            config = self.store.get_json(key)
        except ObjectNotFound:
            config = None
        with self._lock:
            self._configs[key] = (time.monotonic(), config)
        return config
