"""Vector buckets, indexes and vectors with S3 Vectors semantics.

``VectorService`` mirrors boto3's ``s3vectors`` client: the same method names, keyword
parameters and response dicts, so embedded use and remote use look the same. It validates
every request (raising the typed errors of ``vetor.errors``) before anything is written.

Store layout (docs/FORMAT.md has the details)::

    <bucket>/bucket.json                     bucket configuration
    <bucket>/policy.json, <bucket>/tags.json
    <bucket>/indexes/<index>/index.json      index configuration
    <bucket>/indexes/<index>/tags.json
    <bucket>/indexes/<index>/<indexId>/manifests/ wal/ segments/    the engine's objects
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import orjson

from . import errors, validation
from .engine import (
    Hit,
    IndexEngine,
    IndexGone,
    IndexView,
    Manifest,
    TextField,
    TextQuery,
    filter_keys,
    limit_numpy_blas,
    text_fields_of,
)
from .errors import ConflictException, NotFoundException, ValidationException
from .settings import Settings
from .store import ObjectNotFound, ObjectStore, open_store, require_conditional_create
from .text import LANGUAGES
from .tokens import TokenSigner, fingerprint

T = TypeVar("T")


class VectorService:
    def __init__(self, store: ObjectStore, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings.from_env()
        limit_numpy_blas(self.settings.blas_threads)
        self._engines: dict[tuple[str, str], tuple[dict[str, Any], IndexEngine]] = {}
        self._lock = threading.Lock()
        self._tokens = TokenSigner(store)

    def __repr__(self) -> str:
        return f"VectorService({self.store.uri!r})"

    # --- addressing -------------------------------------------------------------------------

    def bucket_arn(self, bucket: str) -> str:
        s = self.settings
        return f"arn:aws:s3vectors:{s.region}:{s.account_id}:bucket/{bucket}"

    def index_arn(self, bucket: str, index: str) -> str:
        return f"{self.bucket_arn(bucket)}/index/{index}"

    def _bucket_of(self, vectorBucketName: Any = None, vectorBucketArn: Any = None) -> str:
        if (vectorBucketName is None) == (vectorBucketArn is None):
            raise ValidationException(errors.BUCKET_ADDRESS)
        if vectorBucketArn is not None:
            match = validation.BUCKET_ARN.match(str(vectorBucketArn))
            if not match:
                raise ValidationException("Invalid vector bucket ARN")
            self._check_arn_owner(match)
            return validation.bucket_name(match["bucket"])
        return validation.bucket_name(vectorBucketName)

    def _index_of(
        self, vectorBucketName: Any = None, indexName: Any = None, indexArn: Any = None
    ) -> tuple[str, str]:
        by_name = vectorBucketName is not None and indexName is not None
        if indexArn is not None:
            if vectorBucketName is not None or indexName is not None:
                raise ValidationException(errors.INDEX_ADDRESS)
            match = validation.INDEX_ARN.match(str(indexArn))
            if not match:
                raise ValidationException("Invalid index ARN")
            self._check_arn_owner(match)
            return validation.bucket_name(match["bucket"]), validation.index_name(match["index"])
        if not by_name:
            raise ValidationException(errors.INDEX_ADDRESS)
        return validation.bucket_name(vectorBucketName), validation.index_name(indexName)

    def _check_arn_owner(self, match: Any) -> None:
        if match["account"] != self.settings.account_id or match["region"] != self.settings.region:
            raise NotFoundException(
                errors.INDEX_NOT_FOUND
                if match.groupdict().get("index")
                else errors.BUCKET_NOT_FOUND
            )

    # --- buckets ----------------------------------------------------------------------------

    def create_vector_bucket(
        self,
        *,
        vectorBucketName: str,
        encryptionConfiguration: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        bucket = validation.bucket_name(vectorBucketName)
        encryption = _encryption(encryptionConfiguration)
        tag_map = validation.tags(tags, self.settings) if tags is not None else {}
        require_conditional_create(self.store, self.settings)
        config = {
            "vectorBucketName": bucket,
            "creationTime": _now(),
            "encryptionConfiguration": encryption,
            "defaultIndexMode": "CLASSIC",
            "bucketId": uuid.uuid4().hex,
        }
        if not self._create(f"{bucket}/bucket.json", config, "bucketId"):
            raise ConflictException(errors.BUCKET_EXISTS)
        if tag_map:
            self.store.put(f"{bucket}/tags.json", orjson.dumps(tag_map))
        return {"vectorBucketArn": self.bucket_arn(bucket)}

    def _create(self, key: str, config: dict[str, Any], id_field: str) -> bool:
        """Create a configuration object; True if ours is the one that now exists.

        A retried request may have created it already: the random id tells ours apart.
        """
        if self.store.put_if_absent(key, orjson.dumps(config)):
            return True
        existing = self.store.get_many([key], missing_ok=True)[0]
        return existing is not None and orjson.loads(existing).get(id_field) == config[id_field]

    def get_vector_bucket(self, **address: Any) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        config = self._bucket_config(bucket)
        return {"vectorBucket": self._bucket_view(config, full=True)}

    def list_vector_buckets(
        self,
        *,
        maxResults: int | None = None,
        nextToken: str | None = None,
        prefix: str | None = None,
    ) -> dict[str, Any]:
        names = self.store.list_dirs("")
        page, token = self._page(names, maxResults, nextToken, prefix, "/maxResults")
        blobs = self.store.get_many(missing_ok=True, keys=[f"{name}/bucket.json" for name in page])
        buckets = [self._bucket_view(orjson.loads(b)) for b in blobs if b is not None]
        return _with_token({"vectorBuckets": buckets}, token)

    def delete_vector_bucket(self, **address: Any) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        self._bucket_config(bucket)
        if self._index_names(bucket):
            raise ConflictException(errors.BUCKET_NOT_EMPTY)
        self.store.delete(f"{bucket}/bucket.json")
        self.store.delete_prefix(f"{bucket}/")
        return {}

    def put_vector_bucket_policy(self, *, policy: str, **address: Any) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        if not isinstance(policy, str):
            raise ValidationException.field("/policy", "Member must be a string")
        try:
            document = orjson.loads(policy)
        except orjson.JSONDecodeError:
            raise ValidationException("Invalid policy document: not valid JSON") from None
        if not isinstance(document, dict):
            raise ValidationException("Invalid policy document: must be a JSON object")
        self._bucket_config(bucket)
        self.store.put(f"{bucket}/policy.json", policy.encode())
        return {}

    def get_vector_bucket_policy(self, **address: Any) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        self._bucket_config(bucket)
        try:
            return {"policy": self.store.get(f"{bucket}/policy.json").decode()}
        except ObjectNotFound:
            raise NotFoundException(errors.POLICY_NOT_FOUND) from None

    def delete_vector_bucket_policy(self, **address: Any) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        self._bucket_config(bucket)
        if not self.store.exists(f"{bucket}/policy.json"):
            raise NotFoundException(errors.POLICY_NOT_FOUND)
        self.store.delete(f"{bucket}/policy.json")
        return {}

    def put_vector_bucket_default_index_mode(
        self, *, defaultIndexMode: str, **address: Any
    ) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        mode = validation.one_of("/defaultIndexMode", defaultIndexMode, validation.INDEX_MODES)
        config = self._bucket_config(bucket)
        config["defaultIndexMode"] = mode
        self.store.put(f"{bucket}/bucket.json", orjson.dumps(config))
        return {}

    def _bucket_config(self, bucket: str) -> dict[str, Any]:
        try:
            return dict(orjson.loads(self.store.get(f"{bucket}/bucket.json")))
        except ObjectNotFound:
            raise NotFoundException(errors.BUCKET_NOT_FOUND) from None

    def _bucket_view(self, config: dict[str, Any], full: bool = False) -> dict[str, Any]:
        name = config["vectorBucketName"]
        view = {
            "vectorBucketName": name,
            "vectorBucketArn": self.bucket_arn(name),
            "creationTime": _parse_time(config["creationTime"]),
        }
        if full:
            view["encryptionConfiguration"] = config["encryptionConfiguration"]
            view["defaultIndexMode"] = config.get("defaultIndexMode", "CLASSIC")
        return view

    # --- indexes ----------------------------------------------------------------------------

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
        bucket = self._bucket_of(vectorBucketName, vectorBucketArn)
        index = validation.index_name(indexName)
        validation.one_of("/dataType", dataType, ("float32",))
        validation.between("/dimension", dimension, 1, self.settings.max_dimension)
        validation.one_of("/distanceMetric", distanceMetric, validation.METRICS)
        metadata_config = self._metadata_configuration(metadataConfiguration)
        tag_map = validation.tags(tags, self.settings) if tags is not None else {}
        bucket_config = self._bucket_config(bucket)
        if len(self._index_names(bucket)) >= self.settings.max_indexes_per_bucket:
            raise errors.ServiceQuotaExceededException(
                f"A vector bucket can hold at most {self.settings.max_indexes_per_bucket} indexes"
            )
        require_conditional_create(self.store, self.settings)
        index_id = uuid.uuid4().hex
        config = {
            "vectorBucketName": bucket,
            "indexName": index,
            "indexId": index_id,
            "creationTime": _now(),
            "dataType": "float32",
            "dimension": dimension,
            "distanceMetric": distanceMetric,
            "metadataConfiguration": metadata_config,
            "encryptionConfiguration": _encryption(encryptionConfiguration)
            if encryptionConfiguration
            else bucket_config["encryptionConfiguration"],
            "indexMode": bucket_config.get("defaultIndexMode", "CLASSIC"),
        }
        prefix = f"{bucket}/indexes/{index}"
        if not self._create(f"{prefix}/index.json", config, "indexId"):
            raise ConflictException(errors.INDEX_EXISTS)
        if tag_map:
            self.store.put(f"{prefix}/{index_id}/tags.json", orjson.dumps(tag_map))
        self._new_engine(config).initialize()
        return {"indexArn": self.index_arn(bucket, index)}

    def _metadata_configuration(self, config: Any) -> dict[str, Any]:
        if config is None:
            return {"nonFilterableMetadataKeys": []}
        if not isinstance(config, dict):
            raise ValidationException.field("/metadataConfiguration", "Member must be an object")
        keys = config.get("nonFilterableMetadataKeys", [])
        validation.length_between(
            "/metadataConfiguration/nonFilterableMetadataKeys",
            keys,
            0,
            self.settings.max_non_filterable_keys,
        )
        for key in keys:
            _metadata_key(key, "/metadataConfiguration/nonFilterableMetadataKeys")
        result: dict[str, Any] = {"nonFilterableMetadataKeys": list(dict.fromkeys(keys))}
        texts = config.get("textSearchConfigurations")
        if texts is not None:
            result["textSearchConfigurations"] = _text_configs(texts, "/metadataConfiguration")
        return result

    def get_index(self, **address: Any) -> dict[str, Any]:
        bucket, index = self._index_of(**address)

        def get(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            manifest = engine.latest_manifest()
            view = self._index_view(_current(config, engine.config(manifest)), full=True)
            meta = view["metadataConfiguration"]
            if meta.get("textSearchConfigurations"):
                meta["textSearchConfigurations"] = _text_status(engine, manifest, meta)
            return {"index": view}

        return self._with_engine(bucket, index, get)

    def list_indexes(
        self,
        *,
        maxResults: int | None = None,
        nextToken: str | None = None,
        prefix: str | None = None,
        **address: Any,
    ) -> dict[str, Any]:
        bucket = self._bucket_of(**address)
        self._bucket_config(bucket)
        names = self.store.list_dirs(f"{bucket}/indexes/")  # may include deleted ones' markers
        page, token = self._page(names, maxResults, nextToken, prefix, "/maxResults")
        blobs = self.store.get_many(
            missing_ok=True, keys=[f"{bucket}/indexes/{n}/index.json" for n in page]
        )
        indexes = [self._index_view(orjson.loads(b)) for b in blobs if b is not None]
        return _with_token({"indexes": indexes}, token)

    def delete_index(self, **address: Any) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        self._index_config(bucket, index)
        with self._lock:
            self._engines.pop((bucket, index), None)
        config = self._index_config(bucket, index)
        engine = self._new_engine(config)  # never a stale cache
        engine.retire()  # the linearization point; None if a delete already got that far
        # Finish the delete (also one that was interrupted), unless index.json now names
        # a newer index of this name.
        if self._index_config(bucket, index)["indexId"] != config["indexId"]:
            raise NotFoundException(errors.INDEX_NOT_FOUND)
        self.store.delete(f"{bucket}/indexes/{index}/index.json")
        # The data goes; the manifests (small) stay, ending with the deletion marker, so a
        # writer still holding an old version can never commit into an emptied chain.
        self.store.delete_many(
            [k.key for k in self.store.list(engine.prefix) if "/manifests/" not in k.key]
        )
        return {}

    def update_index_mode(self, *, indexMode: str, **address: Any) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        mode = validation.one_of("/indexMode", indexMode, validation.INDEX_MODES)
        self._with_engine(
            bucket,
            index,
            lambda _, engine: engine.update_config(lambda c: {**c, "indexMode": mode}),
        )
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
        bucket, index = self._index_of(**address)
        if (add is None) == (delete is None):
            raise ValidationException("Specify either add or delete, but not both")
        if add is not None:
            added = _text_configs(_required_member(add, "/add", "textSearchConfigurations"), "/add")
        else:
            removed = _deleted_keys(_required_member(delete, "/delete", "textSearchConfigurations"))

        def change(config: dict[str, Any]) -> dict[str, Any]:
            if config.get("indexMode", "CLASSIC") != "ENHANCED":
                raise ValidationException(
                    "The vector index must be in ENHANCED mode to change its text search "
                    "configurations: set it with UpdateIndexMode"
                )
            current = config.get("textSearchConfigurations", [])
            known = {c["metadataKey"] for c in current}
            if add is None:
                if missing := sorted(removed - known):
                    raise ValidationException(_no_text_search(missing[0]))
                kept = [c for c in current if c["metadataKey"] not in removed]
                return {**config, "textSearchConfigurations": kept}
            for item in added:
                if item["metadataKey"] in known:
                    raise ConflictException(
                        f"A text search configuration for '{item['metadataKey']}' already exists"
                    )
            if len(current) + len(added) > MAX_TEXT_SEARCH_CONFIGS:
                raise ValidationException(
                    f"A vector index can have at most {MAX_TEXT_SEARCH_CONFIGS} text search "
                    "configurations"
                )
            return {**config, "textSearchConfigurations": current + added}

        def update(_: dict[str, Any], engine: IndexEngine) -> None:
            engine.update_config(change)
            if add is not None:  # backfill the new fields' indexes in the background
                with contextlib.suppress(IndexGone):  # committed: a delete since is no error
                    engine.start_background()

        self._with_engine(bucket, index, update)
        return {"indexArn": self.index_arn(bucket, index)}

    def _index_names(self, bucket: str) -> list[str]:
        """Indexes that exist: those whose index.json does (deleted ones leave a marker)."""
        names = self.store.list_dirs(f"{bucket}/indexes/")
        found = self.store.get_many(
            [f"{bucket}/indexes/{n}/index.json" for n in names], missing_ok=True
        )
        return [name for name, blob in zip(names, found) if blob is not None]

    def _index_config(self, bucket: str, index: str) -> dict[str, Any]:
        """index.json: the index as created (its later configuration is in the manifests)."""
        try:
            return dict(orjson.loads(self.store.get(f"{bucket}/indexes/{index}/index.json")))
        except ObjectNotFound:
            if not self.store.exists(f"{bucket}/bucket.json"):
                raise NotFoundException(errors.BUCKET_NOT_FOUND) from None
            raise NotFoundException(errors.INDEX_NOT_FOUND) from None

    def _index_view(self, config: dict[str, Any], full: bool = False) -> dict[str, Any]:
        bucket, index = config["vectorBucketName"], config["indexName"]
        view: dict[str, Any] = {
            "vectorBucketName": bucket,
            "indexName": index,
            "indexArn": self.index_arn(bucket, index),
            "creationTime": _parse_time(config["creationTime"]),
        }
        if full:
            for name in (
                "dataType",
                "dimension",
                "distanceMetric",
                "metadataConfiguration",
                "encryptionConfiguration",
                "indexMode",
            ):
                view[name] = config[name]
        return view

    def engine(self, bucket: str, index: str) -> IndexEngine:
        """The engine serving an index in this process: the supported surface for stats,
        maintenance and tests (``engine.stats()``, ``engine.resident()``...)."""
        return self._engine(bucket, index)[1]

    def open_engine(self, bucket: str, index: str) -> IndexEngine:
        """A new engine on an index, sharing nothing with the cached one (another process's
        view of the same store, in one process)."""
        return self._new_engine(self._index_config(bucket, index))

    def _engine(self, bucket: str, index: str) -> tuple[dict[str, Any], IndexEngine]:
        with self._lock:
            cached = self._engines.get((bucket, index))
        if cached is not None:
            return cached
        config = self._index_config(bucket, index)
        engine = self._new_engine(config)
        with self._lock:
            return self._engines.setdefault((bucket, index), (config, engine))

    def _new_engine(self, config: dict[str, Any]) -> IndexEngine:
        bucket, index = config["vectorBucketName"], config["indexName"]
        return IndexEngine(
            self.store,
            f"{bucket}/indexes/{index}/{config['indexId']}",  # one prefix per incarnation
            index_id=config["indexId"],
            dimension=config["dimension"],
            metric=config["distanceMetric"],
            settings=self.settings,
            config=_mutable(config),
            legacy_config=lambda: _mutable(self._with_legacy_settings(config)),
        )

    def _with_legacy_settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """index.json overlaid with the ``settings.json`` where vetor kept later changes of
        an index's configuration before manifests carried it (manifest format 1)."""
        prefix = f"{config['vectorBucketName']}/indexes/{config['indexName']}"
        blob = self.store.get_many(
            [f"{prefix}/{config['indexId']}/settings.json"], missing_ok=True
        )[0]
        if blob is None:
            return config
        return _current(config, orjson.loads(blob))

    def _with_engine(
        self, bucket: str, index: str, action: Callable[[dict[str, Any], IndexEngine], T]
    ) -> T:
        """Run ``action``; if the index was deleted or re-created under us, resolve again."""
        config, engine = self._engine(bucket, index)
        try:
            return action(config, engine)
        except ObjectNotFound:  # objects collected under a reader, three times over
            raise errors.ServiceUnavailableException(
                "The index is being compacted heavily; retry the request"
            ) from None
        except IndexGone:
            with self._lock:
                self._engines.pop((bucket, index), None)
        config, engine = self._engine(bucket, index)  # NotFound if there is no index now
        try:
            return action(config, engine)
        except IndexGone:  # deleted again, or a delete that stopped before removing index.json
            with self._lock:
                self._engines.pop((bucket, index), None)
            raise NotFoundException(errors.INDEX_NOT_FOUND) from None

    # --- vectors ----------------------------------------------------------------------------

    def put_vectors(self, *, vectors: list[dict[str, Any]], **address: Any) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        validation.length_between("/vectors", vectors, 1, self.settings.max_put_vectors)
        for record in vectors:
            if not isinstance(record, dict):
                raise ValidationException.field("/vectors", "Member must be a list of objects")
            validation.vector_key(record.get("key"), self.settings)
        records = list({r["key"]: r for r in vectors}.values())  # the last put of a key wins

        def put(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            matrix = validation.vectors_matrix(
                records, config["dimension"], config["distanceMetric"]
            )
            non_filterable = frozenset(config["metadataConfiguration"]["nonFilterableMetadataKeys"])
            metadata = [
                validation.metadata(r["key"], r.get("metadata"), non_filterable, self.settings)
                for r in records
            ]
            require_conditional_create(self.store, self.settings)
            engine.upsert([r["key"] for r in records], matrix, metadata)
            return {}

        return self._with_engine(bucket, index, put)

    def delete_vectors(self, *, keys: list[str], **address: Any) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        wanted = validation.keys("/keys", keys, self.settings.max_delete_vectors, self.settings)

        def delete(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            require_conditional_create(self.store, self.settings)
            engine.delete(list(dict.fromkeys(wanted)))
            return {}

        return self._with_engine(bucket, index, delete)

    def get_vectors(
        self,
        *,
        keys: list[str],
        returnData: bool = False,
        returnMetadata: bool = False,
        **address: Any,
    ) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        wanted = validation.keys("/keys", keys, self.settings.max_get_vectors, self.settings)
        validation.boolean("/returnData", returnData)
        validation.boolean("/returnMetadata", returnMetadata)

        def get(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            with engine.snapshot() as view:
                rows = [r for r in (view.row(k) for k in dict.fromkeys(wanted)) if r is not None]
                return {"vectors": [_record(view, r, returnData, returnMetadata) for r in rows]}

        return self._with_engine(bucket, index, get)

    def list_vectors(
        self,
        *,
        maxResults: int | None = None,
        nextToken: str | None = None,
        segmentCount: int | None = None,
        segmentIndex: int | None = None,
        returnData: bool = False,
        returnMetadata: bool = False,
        **address: Any,
    ) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        s = self.settings
        limit = s.default_list_vectors if maxResults is None else maxResults
        validation.between("/maxResults", limit, 1, s.max_list_vectors)
        validation.boolean("/returnData", returnData)
        validation.boolean("/returnMetadata", returnMetadata)
        if (segmentCount is None) != (segmentIndex is None):
            raise ValidationException("segmentCount and segmentIndex must be specified together")
        if segmentCount is not None:
            validation.between("/segmentCount", segmentCount, 1, 16)
            validation.between("/segmentIndex", segmentIndex, 0, 15)
            if segmentIndex >= segmentCount:  # type: ignore[operator]
                raise ValidationException("segmentIndex must be less than segmentCount")
        after = None
        if nextToken is not None:
            after = self._tokens.decode(nextToken, "vectors")["after"]

        def page(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            with engine.snapshot() as view:
                segment = None if segmentCount is None else (segmentCount, segmentIndex)
                rows, more = view.list_page(after, limit, segment)
                out, size = [], 0
                for row in rows:
                    record = _record(view, row, returnData, returnMetadata)
                    size += len(record["key"]) + (4 * view.dimension if returnData else 0)
                    size += len(orjson.dumps(record.get("metadata"))) if returnMetadata else 0
                    out.append(record)
                    if size >= s.list_page_bytes:
                        more = more or len(out) < len(rows)
                        break
                token = self._tokens.encode("vectors", {"after": out[-1]["key"]}) if more else None
                return _with_token({"vectors": out}, token)

        return self._with_engine(bucket, index, page)

    def query_vectors(
        self,
        *,
        topK: int,
        queryVector: dict[str, Any] | None = None,
        filter: dict[str, Any] | None = None,
        returnMetadata: bool = False,
        returnDistance: bool = False,
        queryMode: str | None = None,
        queryTexts: list[dict[str, Any]] | None = None,
        returnScores: bool = False,
        nextToken: str | None = None,
        **address: Any,
    ) -> dict[str, Any]:
        bucket, index = self._index_of(**address)
        validation.between("/topK", topK, 1, self.settings.max_top_k)
        validation.boolean("/returnMetadata", returnMetadata)
        validation.boolean("/returnDistance", returnDistance)
        validation.boolean("/returnScores", returnScores)
        texts = _text_queries(queryTexts)
        if queryVector is None and not texts:
            raise ValidationException("Must specify queryVector, queryTexts, or both")
        if queryMode is not None:
            validation.one_of("/queryMode", queryMode, validation.INDEX_MODES)

        def query(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            manifest = engine.latest_manifest()  # the configuration and data queried
            config = _current(config, engine.config(manifest))
            vector = None
            if queryVector is not None:
                vector = validation.query_vector(
                    queryVector, config["dimension"], config["distanceMetric"]
                )
            mode = _query_mode(config, queryMode, bool(texts))
            searches = tuple(TextQuery(_text_field(config, key), text) for key, text in texts)
            where = None
            if filter is not None:
                non_filterable = config["metadataConfiguration"]["nonFilterableMetadataKeys"]
                filter_keys(filter, non_filterable, allow_starts_with=mode == "ENHANCED")
                document = filter

                def where(view: IndexView) -> np.ndarray:
                    return view.filter_mask(document)

            offset = 0
            page_size = self.settings.query_page_size
            request = {
                "index": [bucket, index, config["indexId"]],  # not a re-created namesake
                "topK": topK,
                "queryVector": None if vector is None else vector.tolist(),
                "queryTexts": texts,
                "filter": filter,
                "queryMode": queryMode,
            }
            if nextToken is not None:
                state = self._tokens.decode(nextToken, "query")
                if state["request"] != fingerprint(request):
                    raise ValidationException("Invalid nextToken: it belongs to another query")
                offset = int(state["offset"])
            end = min(topK, offset + page_size)
            # Every page ranks the same topK (with the same RRF candidates): pages of an
            # unchanged index neither repeat nor skip a hit.
            depth = max(topK, self.settings.hybrid_candidates)
            page = slice(offset, end + 1)  # one more: is there a next page?
            hits = engine.search(
                vector, searches, topK, where, depth, returnMetadata, page=page, at=manifest
            )
            scores = returnScores and bool(texts)  # vector-only results carry no scores
            results = [
                _hit(h, returnDistance, returnMetadata, scores) for h in hits[: end - offset]
            ]
            body = {"vectors": results, "distanceMetric": config["distanceMetric"]}
            if len(hits) > end - offset:
                state = {"offset": end, "request": fingerprint(request)}
                body["nextToken"] = self._tokens.encode("query", state)
            return body

        return self._with_engine(bucket, index, query)

    # --- tags -------------------------------------------------------------------------------

    def tag_resource(self, *, resourceArn: str, tags: dict[str, str]) -> dict[str, Any]:
        key = self._tags_key(resourceArn)
        new = validation.tags(tags, self.settings)
        merged = {**self._read_tags(key), **new}
        if len(merged) > self.settings.max_tags:
            raise errors.ServiceQuotaExceededException(
                f"A resource can have at most {self.settings.max_tags} tags"
            )
        self.store.put(key, orjson.dumps(merged))
        return {}

    def untag_resource(self, *, resourceArn: str, tagKeys: list[str]) -> dict[str, Any]:
        key = self._tags_key(resourceArn)
        validation.length_between("/tagKeys", tagKeys, 1, self.settings.max_tags)
        drop = {validation.tag_key(k) for k in tagKeys}
        remaining = {k: v for k, v in self._read_tags(key).items() if k not in drop}
        self.store.put(key, orjson.dumps(remaining))
        return {}

    def list_tags_for_resource(self, *, resourceArn: str) -> dict[str, Any]:
        return {"tags": self._read_tags(self._tags_key(resourceArn))}

    def _tags_key(self, arn: Any) -> str:
        """The tags object of an existing bucket or index named by its ARN."""
        if isinstance(arn, str) and validation.INDEX_ARN.match(arn):
            bucket, index = self._index_of(indexArn=arn)
            index_id = self._index_config(bucket, index)["indexId"]
            return f"{bucket}/indexes/{index}/{index_id}/tags.json"
        if isinstance(arn, str) and validation.BUCKET_ARN.match(arn):
            bucket = self._bucket_of(vectorBucketArn=arn)
            self._bucket_config(bucket)
            return f"{bucket}/tags.json"
        raise ValidationException("Invalid resource ARN")

    def _read_tags(self, key: str) -> dict[str, str]:
        try:
            return dict(orjson.loads(self.store.get(key)))
        except ObjectNotFound:
            return {}

    # --- maintenance ------------------------------------------------------------------------

    def compact(self, *, full: bool = False, **address: Any) -> dict[str, Any]:
        """Fold pending write batches into segments, merge segments, collect garbage.

        ``full=True`` rewrites the whole index as one segment with deletes applied. A vetor
        extension; the response counts what is left and what was deleted.
        """
        bucket, index = self._index_of(**address)

        def run(config: dict[str, Any], engine: IndexEngine) -> dict[str, Any]:
            engine.wait_for_background()
            engine.compact("full" if full else "eager")
            while engine.compact():
                pass
            return {"deletedObjects": engine.collect_garbage(), **engine.stats()}

        return self._with_engine(bucket, index, run)

    def index_stats(self, **address: Any) -> dict[str, Any]:
        """Layout and indexing progress of an index (a vetor extension): rows in segments with
        an ANN index, in segments small enough to stay exact, and in write batches pending."""
        bucket, index = self._index_of(**address)
        return self._with_engine(bucket, index, lambda config, engine: engine.stats())

    def warm(self, **address: Any) -> dict[str, Any]:
        """Load an index into this process now (a vetor extension): its rows and every
        segment's ANN index, so the first query does not pay for it."""
        bucket, index = self._index_of(**address)
        return self._with_engine(bucket, index, lambda config, engine: engine.warm())

    def close(self) -> None:
        """Wait for background compaction to finish."""
        with self._lock:
            engines = [engine for _, engine in self._engines.values()]
        for engine in engines:
            engine.wait_for_background()

    # --- paging -----------------------------------------------------------------------------

    def _page(
        self,
        names: list[str],
        max_results: int | None,
        token: str | None,
        prefix: str | None,
        path: str,
    ) -> tuple[list[str], str | None]:
        limit = self.settings.max_list_buckets if max_results is None else max_results
        validation.between(path, limit, 1, self.settings.max_list_buckets)
        if prefix is not None:
            validation.length_between("/prefix", prefix, 1, 63)
            names = [n for n in names if n.startswith(prefix)]
        if token is not None:
            after = self._tokens.decode(token, "names")["after"]
            names = [n for n in names if n > after]
        page = names[:limit]
        more = len(names) > limit
        return page, self._tokens.encode("names", {"after": page[-1]}) if more else None


def connect(uri: str = "./vetor-data", **settings: Any) -> VectorService:
    """Open vetor on a store: a local directory (default), ``memory://`` or ``s3://…``."""
    config = Settings.from_env(**settings)
    return VectorService(open_store(uri, config), config)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _encryption(config: Any) -> dict[str, Any]:
    if config is None:
        return {"sseType": "AES256"}
    if not isinstance(config, dict):
        raise ValidationException.field("/encryptionConfiguration", "Member must be an object")
    sse = validation.one_of(
        "/encryptionConfiguration/sseType", config.get("sseType", "AES256"), ("AES256", "aws:kms")
    )
    if sse == "aws:kms" and not config.get("kmsKeyArn"):
        raise ValidationException("kmsKeyArn is required when sseType is aws:kms")
    return {k: v for k, v in {"sseType": sse, "kmsKeyArn": config.get("kmsKeyArn")}.items() if v}


MAX_TEXT_SEARCH_CONFIGS = 10  # per index


def _text_configs(items: Any, parent: str) -> list[dict[str, Any]]:
    """Validated text search configurations: {metadataKey, language?} (no language: the
    standard analyzer). ``status`` is output only; a valid one sent along is ignored."""
    path = f"{parent}/textSearchConfigurations"
    validation.length_between(path, items, 0, MAX_TEXT_SEARCH_CONFIGS)
    result = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationException.field(path, "Member must be a list of objects")
        key = _metadata_key(item.get("metadataKey"), f"{path}/metadataKey")
        config = {"metadataKey": key}
        if "language" in item:
            config["language"] = validation.one_of(f"{path}/language", item["language"], LANGUAGES)
        if "status" in item:
            validation.one_of(f"{path}/status", item["status"], ("ACTIVE", "BUILDING"))
        result.append(config)
    if len({c["metadataKey"] for c in result}) < len(result):
        raise ValidationException(f"{path} names a metadata key more than once")
    return result


def _deleted_keys(items: Any) -> set[str]:
    path = "/delete/textSearchConfigurations"
    validation.length_between(path, items, 1, MAX_TEXT_SEARCH_CONFIGS)
    if not all(isinstance(item, dict) for item in items):
        raise ValidationException.field(path, "Member must be a list of objects")
    return {_metadata_key(item.get("metadataKey"), f"{path}/metadataKey") for item in items}


def _metadata_key(key: Any, path: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 63:
        raise ValidationException.field(path, "Member must have length between 1 and 63, inclusive")
    return key


def _required_member(structure: Any, path: str, name: str) -> Any:
    if not isinstance(structure, dict):
        raise ValidationException.field(path, "Member must be an object")
    if name not in structure:
        raise ValidationException.field(f"{path}/{name}", "Member must not be null")
    return structure[name]


def _mutable(config: dict[str, Any]) -> dict[str, Any]:
    """The part of an index configuration that can change after creation."""
    texts = config["metadataConfiguration"].get("textSearchConfigurations", [])
    return {
        "indexMode": config.get("indexMode", "CLASSIC"),
        "textSearchConfigurations": [  # not status (older index.json files stored it)
            {k: v for k, v in c.items() if k in ("metadataKey", "language")} for c in texts
        ],
    }


def _current(created: dict[str, Any], mutable: dict[str, Any]) -> dict[str, Any]:
    """index.json with the configuration of the latest manifest."""
    meta = dict(created["metadataConfiguration"])
    meta.pop("textSearchConfigurations", None)
    if mutable["textSearchConfigurations"]:
        meta["textSearchConfigurations"] = mutable["textSearchConfigurations"]
    return {**created, "indexMode": mutable["indexMode"], "metadataConfiguration": meta}


def _text_status(
    engine: IndexEngine, manifest: Manifest, meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each configuration with its status: BUILDING while a segment still lacks its stored
    index (the backfill runs in the background; queries are answered meanwhile, from
    indexes built in memory)."""
    configs = meta["textSearchConfigurations"]
    out = [
        {**item, "status": engine.text_status(field, manifest)}
        for item, field in zip(configs, text_fields_of(meta))
    ]
    if any(item["status"] == "BUILDING" for item in out):
        engine.start_background()
    return out


def _text_queries(items: Any) -> list[tuple[str, str]]:
    """Validated ``queryTexts``: (metadata key, text) pairs, one per distinct key."""
    if items is None:
        return []
    validation.length_between("/queryTexts", items, 1, 10)
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationException.field("/queryTexts", "Member must be a list of objects")
        text = item.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 1024:
            raise ValidationException.field(
                "/queryTexts/text", "Member must have length between 1 and 1024, inclusive"
            )
        pairs.append((_metadata_key(item.get("metadataKey"), "/queryTexts/metadataKey"), text))
    if len({key for key, _ in pairs}) < len(pairs):
        raise ValidationException("Each entry of queryTexts must target a distinct metadata key")
    return pairs


def _query_mode(config: dict[str, Any], requested: str | None, text_search: bool) -> str:
    """The mode a query runs in. As in S3 Vectors, an ENHANCED index cannot be queried in
    CLASSIC mode, and full-text or hybrid search needs ENHANCED."""
    configured = config.get("indexMode", "CLASSIC")
    if requested == "CLASSIC" and configured == "ENHANCED":
        raise ValidationException("CLASSIC query mode cannot be used with an ENHANCED index")
    mode = requested or configured
    if text_search and mode != "ENHANCED":
        raise ValidationException(
            "Full-text and hybrid search (queryTexts) require ENHANCED mode: set the index's "
            "mode with UpdateIndexMode, or queryMode='ENHANCED'"
        )
    return mode


def _text_field(config: dict[str, Any], key: str) -> TextField:
    for field in text_fields_of(config["metadataConfiguration"]):
        if field.key == key:
            return field
    raise ValidationException(_no_text_search(key))


def _no_text_search(key: str) -> str:
    return (
        f"The metadata key '{key}' has no text search configuration: add one with "
        "UpdateMetadataConfiguration to search it"
    )


def _hit(hit: Hit, distance: bool, metadata: bool, scores: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"key": hit.key}
    if distance and hit.distance is not None:
        item["distance"] = hit.distance
    if metadata:
        item["metadata"] = hit.metadata
    if scores:
        block: dict[str, Any] = {
            "bm25Scores": [{"metadataKey": k, "score": s} for k, s in hit.bm25]
        }
        if hit.fused is not None:
            block["fused"] = hit.fused
        if hit.vector_distance is not None:
            block["vectorDistance"] = hit.vector_distance
        item["scores"] = block
    return item


def _record(view: IndexView, row: int, data: bool, metadata: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"key": view.key(row)}
    if data:
        record["data"] = {"float32": view.vector(row).tolist()}
    if metadata:
        record["metadata"] = view.metadata(row)
    return record


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["nextToken"] = token
    return body
