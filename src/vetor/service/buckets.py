"""Vector buckets: create, get, list, delete, and the default mode of their new indexes."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from .. import errors, validation
from ..errors import ConflictException
from ..store import require_conditional_create
from . import layout
from .core import Config, ServiceCore, now, parse_time, with_token


class Buckets:
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def create_vector_bucket(
        self,
        *,
        vectorBucketName: str,
        encryptionConfiguration: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        core = self.core
        bucket = validation.bucket_name(vectorBucketName)
        encryption = validation.encryption(encryptionConfiguration)
        self.core.encryption.check(encryption)
        tag_map = dict(tags or {})
        require_conditional_create(core.store, core.settings)
        config = {
            "vectorBucketName": bucket,
            "creationTime": now(),
            "encryptionConfiguration": encryption,
            "bucketId": uuid.uuid4().hex,
        }
        # New buckets behave as new S3 Vectors buckets: ENHANCED indexes (text search works
        # at once), unless the cutoff setting says this bucket counts as an old one.
        config["defaultIndexMode"] = "CLASSIC" if core.classic_allowed(config) else "ENHANCED"
        if not core.create_config(layout.bucket_config(bucket), config, "bucketId"):
            raise ConflictException(errors.BUCKET_EXISTS)
        if tag_map:
            core.store.put(layout.bucket_tags(bucket), orjson.dumps(tag_map))
        return {"vectorBucketArn": core.bucket_arn(bucket)}

    def get_vector_bucket(self, **address: Any) -> dict[str, Any]:
        bucket = self.core.bucket_of(**address)
        config = self.core.bucket_config(bucket)
        return {"vectorBucket": self._view(config, full=True)}

    def list_vector_buckets(
        self,
        *,
        maxResults: int | None = None,
        nextToken: str | None = None,
        prefix: str | None = None,
    ) -> dict[str, Any]:
        store = self.core.store
        # the store's top level also holds its scratch space (_vetor/), never a bucket name
        names = [n for n in store.list_dirs(layout.BUCKETS) if validation.BUCKET_NAME.match(n)]
        page, token = self.core.page(names, maxResults, nextToken, prefix)
        found = store.get_many_json([layout.bucket_config(n) for n in page])
        buckets = [self._view(config) for config in found if config is not None]
        return with_token({"vectorBuckets": buckets}, token)

    def delete_vector_bucket(self, **address: Any) -> dict[str, Any]:
        core = self.core
        bucket = core.bucket_of(**address)
        core.bucket_config(bucket)
        if core.index_names(bucket):
            raise ConflictException(errors.BUCKET_NOT_EMPTY)
        core.store.delete(layout.bucket_config(bucket))  # the bucket is gone from here on
        core.store.delete_prefix(layout.bucket(bucket))
        return {}

    def put_vector_bucket_default_index_mode(
        self, *, defaultIndexMode: str, **address: Any
    ) -> dict[str, Any]:
        core = self.core
        bucket = core.bucket_of(**address)
        mode = defaultIndexMode
        config = core.bucket_config(bucket)
        core.refuse_classic(config, mode)
        config["defaultIndexMode"] = mode
        core.store.put(layout.bucket_config(bucket), orjson.dumps(config))
        return {}

    def _view(self, config: Config, full: bool = False) -> dict[str, Any]:
        name = config["vectorBucketName"]
        view = {
            "vectorBucketName": name,
            "vectorBucketArn": self.core.bucket_arn(name),
            "creationTime": parse_time(config["creationTime"]),
        }
        if full:
            view["encryptionConfiguration"] = config["encryptionConfiguration"]
            view["defaultIndexMode"] = config.get("defaultIndexMode", "CLASSIC")
        return view
