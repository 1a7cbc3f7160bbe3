"""Vector bucket policies: stored and returned as S3 Vectors does (not yet evaluated)."""

from __future__ import annotations

from typing import Any

from .. import errors, validation
from ..errors import NotFoundException
from ..store import ObjectNotFound
from . import layout
from .core import ServiceCore


class Policies:
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def put_vector_bucket_policy(self, *, policy: str, **address: Any) -> dict[str, Any]:
        bucket = self.core.bucket_of(**address)
        document = validation.policy_document(policy)
        self.core.bucket_config(bucket)
        self.core.store.put(layout.bucket_policy(bucket), document.encode())
        return {}

    def get_vector_bucket_policy(self, **address: Any) -> dict[str, Any]:
        bucket = self.core.bucket_of(**address)
        self.core.bucket_config(bucket)
        try:
            return {"policy": self.core.store.get(layout.bucket_policy(bucket)).decode()}
        except ObjectNotFound:
            raise NotFoundException(errors.POLICY_NOT_FOUND) from None

    def delete_vector_bucket_policy(self, **address: Any) -> dict[str, Any]:
        bucket = self.core.bucket_of(**address)
        self.core.bucket_config(bucket)
        key = layout.bucket_policy(bucket)
        if not self.core.store.exists(key):
            raise NotFoundException(errors.POLICY_NOT_FOUND)
        self.core.store.delete(key)
        return {}
