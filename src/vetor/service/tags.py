"""Tags on vector buckets and indexes, addressed by ARN (TagResource and its siblings)."""

from __future__ import annotations

from typing import Any

import orjson

from .. import errors, validation
from ..errors import ValidationException
from ..store import ObjectNotFound
from . import layout
from .core import ServiceCore


class Tags:
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def tag_resource(self, *, resourceArn: str, tags: dict[str, str]) -> dict[str, Any]:
        settings = self.core.settings
        key = self._key(resourceArn)
        new = dict(tags)
        merged = {**self._read(key), **new}
        if len(merged) > settings.max_tags:
            raise errors.ServiceQuotaExceededException(
                f"A resource can have at most {settings.max_tags} tags"
            )
        self.core.store.put(key, orjson.dumps(merged))
        return {}

    def untag_resource(self, *, resourceArn: str, tagKeys: list[str]) -> dict[str, Any]:
        key = self._key(resourceArn)
        drop = set(tagKeys)
        remaining = {k: v for k, v in self._read(key).items() if k not in drop}
        self.core.store.put(key, orjson.dumps(remaining))
        return {}

    def list_tags_for_resource(self, *, resourceArn: str) -> dict[str, Any]:
        return {"tags": self._read(self._key(resourceArn))}

    def _key(self, arn: Any) -> str:
        """The tags object of an existing bucket or index named by its ARN."""
        core = self.core
        if isinstance(arn, str) and validation.INDEX_ARN.match(arn):
            bucket, index = core.index_of(indexArn=arn)
            index_id = core.index_config(bucket, index)["indexId"]
            return layout.index_tags(bucket, index, index_id)
        if isinstance(arn, str) and validation.BUCKET_ARN.match(arn):
            bucket = core.bucket_of(vectorBucketArn=arn)
            core.bucket_config(bucket)
            return layout.bucket_tags(bucket)
        raise ValidationException("Invalid resource ARN")

    def _read(self, key: str) -> dict[str, str]:
        try:
            return dict(self.core.store.get_json(key))
        except ObjectNotFound:
            return {}
