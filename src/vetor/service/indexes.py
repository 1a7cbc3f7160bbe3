"""Vector indexes: create, get, list, delete, and change their mode and text search.

An index is ``index.json`` (as created; it names the incarnation) plus the engine's manifest
chain, which carries every later configuration change as a commit.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import orjson

from .. import errors, validation
from ..engine import IndexEngine, IndexGone, Manifest, text_fields_of
from ..errors import ConflictException, NotFoundException, ValidationException
from ..store import require_conditional_create
from . import layout
from .core import Config, ServiceCore, current_config, now, parse_time, with_token

VIEW_FIELDS = (
    "dataType",
    "dimension",
    "distanceMetric",
    "metadataConfiguration",
    "encryptionConfiguration",
    "indexMode",
)


class Indexes:
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def create_index(
        self,
        *,
        indexName: str,
        dataType: str,
        dimension: int,
        distanceMetric: str,
        metadataConfiguration: dict[str, Any] | None = None,
        encryptionConfiguration: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        vectorBucketName: str | None = None,
        vectorBucketArn: str | None = None,
    ) -> dict[str, Any]:
        core, settings = self.core, self.core.settings
        bucket = core.bucket_of(vectorBucketName, vectorBucketArn)
        index = validation.index_name(indexName)
        dimension = int(dimension)  # the model's range is checked; JSON may say 1e3
        metadata_config = self._metadata_configuration(metadataConfiguration)
        tag_map = dict(tags or {})
        bucket_config = core.bucket_config(bucket)
        if len(core.index_names(bucket)) >= settings.max_indexes_per_bucket:
            raise errors.ServiceQuotaExceededException(
                f"A vector bucket can hold at most {settings.max_indexes_per_bucket} indexes"
            )
        require_conditional_create(core.store, settings)
        index_id = uuid.uuid4().hex
        config = {
            "vectorBucketName": bucket,
            "indexName": index,
            "indexId": index_id,
            "creationTime": now(),
            "dataType": "float32",
            "dimension": dimension,
            "distanceMetric": distanceMetric,
            "metadataConfiguration": metadata_config,
            "encryptionConfiguration": validation.encryption(encryptionConfiguration)
            if encryptionConfiguration
            else bucket_config["encryptionConfiguration"],
            "indexMode": bucket_config.get("defaultIndexMode", "CLASSIC"),
        }
        core.encryption.check(config["encryptionConfiguration"])
        if not core.create_config(layout.index_config(bucket, index), config, "indexId"):
            raise ConflictException(errors.INDEX_EXISTS)
        if tag_map:
            core.store.put(layout.index_tags(bucket, index, index_id), orjson.dumps(tag_map))
        core.new_engine(config).initialize()
        return {"indexArn": core.index_arn(bucket, index)}

    def _metadata_configuration(self, config: Any) -> dict[str, Any]:
        if config is None:
            return {"nonFilterableMetadataKeys": []}
        keys = config.get("nonFilterableMetadataKeys", [])
        result: dict[str, Any] = {"nonFilterableMetadataKeys": list(dict.fromkeys(keys))}
        texts = config.get("textSearchConfigurations")
        if texts is not None:
            result["textSearchConfigurations"] = validation.text_configs(
                texts, "/metadataConfiguration"
            )
        return result

    def get_index(self, **address: Any) -> dict[str, Any]:
        bucket, index = self.core.index_of(**address)

        def get(config: Config, engine: IndexEngine) -> dict[str, Any]:
            manifest = engine.latest_manifest()
            view = self._view(current_config(config, engine.config(manifest)), full=True)
            meta = view["metadataConfiguration"]
            if meta.get("textSearchConfigurations"):
                meta["textSearchConfigurations"] = _text_status(engine, manifest, meta)
            return {"index": view}

        return self.core.with_engine(bucket, index, get)

    def list_indexes(
        self,
        *,
        maxResults: int | None = None,
        nextToken: str | None = None,
        prefix: str | None = None,
        **address: Any,
    ) -> dict[str, Any]:
        core = self.core
        bucket = core.bucket_of(**address)
        core.bucket_config(bucket)
        names = core.store.list_dirs(layout.indexes(bucket))  # may include deleted ones
        page, token = core.page(names, maxResults, nextToken, prefix)
        keys = [layout.index_config(bucket, name) for name in page]
        found = core.store.get_many_json(keys)
        indexes = [self._view(config) for config in found if config is not None]
        return with_token({"indexes": indexes}, token)

    def delete_index(self, **address: Any) -> dict[str, Any]:
        core, store = self.core, self.core.store
        bucket, index = core.index_of(**address)
        core.index_config(bucket, index)
        core.forget(bucket, index)
        config = core.index_config(bucket, index)
        engine = core.new_engine(config)  # never a stale cache
        engine.retire()  # the linearization point; None if a delete already got that far
        # Finish the delete (also one that was interrupted), unless index.json now names
        # a newer index of this name.
        if core.index_config(bucket, index)["indexId"] != config["indexId"]:
            raise NotFoundException(errors.INDEX_NOT_FOUND)
        store.delete(layout.index_config(bucket, index))
        # The data goes; the manifests (small) stay, ending with the deletion marker, so a
        # writer still holding an old version can never commit into an emptied chain.
        store.delete_many([k.key for k in store.list(engine.prefix) if "/manifests/" not in k.key])
        return {}

    def update_index_mode(self, *, indexMode: str, **address: Any) -> dict[str, Any]:
        core = self.core
        bucket, index = core.index_of(**address)
        mode = indexMode

        def update(_: Config, engine: IndexEngine) -> None:
            core.refuse_classic(core.bucket_config(bucket), mode)  # once the index is found
            engine.update_config(lambda c: {**c, "indexMode": mode})

        core.with_engine(bucket, index, update)
        return {}

    def update_metadata_configuration(
        self,
        *,
        add: dict[str, Any] | None = None,
        delete: dict[str, Any] | None = None,
        **address: Any,
    ) -> dict[str, Any]:
        """Add or delete text search configurations (one or the other, as S3 Vectors), on an
        ENHANCED index. A change is a commit: concurrent ones all take effect."""
        bucket, index = self.core.index_of(**address)
        if (add is None) == (delete is None):
            raise ValidationException("Specify either add or delete, but not both")
        if add is not None:
            items = validation.required_member(add, "/add", "textSearchConfigurations")
            change = _adding(validation.text_configs(items, "/add"))
        else:
            items = validation.required_member(delete or {}, "/delete", "textSearchConfigurations")
            change = _removing({item["metadataKey"] for item in items})

        def update(_: Config, engine: IndexEngine) -> None:
            engine.update_config(change)
            if add is not None:  # backfill the new fields' indexes in the background
                with contextlib.suppress(IndexGone):  # committed: a delete since is no error
                    engine.start_background()

        self.core.with_engine(bucket, index, update)
        return {"indexArn": self.core.index_arn(bucket, index)}

    def _view(self, config: Config, full: bool = False) -> dict[str, Any]:
        bucket, index = config["vectorBucketName"], config["indexName"]
        view: dict[str, Any] = {
            "vectorBucketName": bucket,
            "indexName": index,
            "indexArn": self.core.index_arn(bucket, index),
            "creationTime": parse_time(config["creationTime"]),
        }
        if full:
            view.update({name: config[name] for name in VIEW_FIELDS})
        return view


def _enhanced(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The index's text search configurations; changing them needs an ENHANCED index."""
    if config.get("indexMode", "CLASSIC") != "ENHANCED":
        raise ValidationException(
            "The vector index must be in ENHANCED mode to change its text search "
            "configurations: set it with UpdateIndexMode"
        )
    return list(config.get("textSearchConfigurations", []))


def _adding(added: list[dict[str, Any]]) -> Any:
    def change(config: dict[str, Any]) -> dict[str, Any]:
        current = _enhanced(config)
        known = {c["metadataKey"] for c in current}
        for item in added:
            if item["metadataKey"] in known:
                raise ConflictException(
                    f"A text search configuration for '{item['metadataKey']}' already exists"
                )
        if len(current) + len(added) > validation.MAX_TEXT_SEARCH_CONFIGS:
            raise ValidationException(
                f"A vector index can have at most {validation.MAX_TEXT_SEARCH_CONFIGS} text "
                "search configurations"
            )
        return {**config, "textSearchConfigurations": current + added}

    return change


def _removing(removed: set[str]) -> Any:
    def change(config: dict[str, Any]) -> dict[str, Any]:
        current = _enhanced(config)
        if missing := sorted(removed - {c["metadataKey"] for c in current}):
            raise ValidationException(errors.no_text_search(missing[0]))
        kept = [c for c in current if c["metadataKey"] not in removed]
        return {**config, "textSearchConfigurations": kept}

    return change


def _text_status(
    engine: IndexEngine, manifest: Manifest, meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each configuration with its status: BUILDING while a segment still lacks its stored
    index. The backfill runs in the background (restarted here if this process has none
    running, e.g. after a restart); queries are answered meanwhile from in-memory indexes."""
    configs = meta["textSearchConfigurations"]
    out = [
        {**item, "status": engine.text_status(field, manifest)}
        for item, field in zip(configs, text_fields_of(meta), strict=True)
    ]
    if any(item["status"] == "BUILDING" for item in out):
        engine.start_background()
    return out
