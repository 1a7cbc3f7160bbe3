"""What every part of the service shares: the store, settings, addressing, configuration
objects, pagination and the cache of index engines (with its retry when an index is
re-created under a request).

The parts (``buckets``, ``indexes``, ``vectors``, ``policies``, ``tags``, ``maintenance``)
each hold one ``ServiceCore``; none of them knows another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from .. import errors, validation
from ..engine import IndexEngine, IndexGone
from ..errors import NotFoundException, ValidationException
from ..settings import Settings
from ..store import ObjectNotFound, ObjectStore
from . import layout
from .encryption import EncryptionChoices
from .tokens import TokenSigner

T = TypeVar("T")
Config = dict[str, Any]  # an index.json or bucket.json document


class ServiceCore:
    def __init__(self, store: ObjectStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.encryption = EncryptionChoices(store, settings)
        if store.sealer is not None:
            store.sealer.choose = self.encryption
        self.tokens = TokenSigner(store)
        self._engines: dict[tuple[str, str], tuple[Config, IndexEngine]] = {}
        self._lock = threading.Lock()

    # --- addressing -------------------------------------------------------------------------

    def bucket_arn(self, bucket: str) -> str:
        s = self.settings
        return f"arn:aws:s3vectors:{s.region}:{s.account_id}:bucket/{bucket}"

    def index_arn(self, bucket: str, index: str) -> str:
        return f"{self.bucket_arn(bucket)}/index/{index}"

    def bucket_of(self, vectorBucketName: Any = None, vectorBucketArn: Any = None) -> str:
        """The bucket a request names, by name or ARN (exactly one of them)."""
        if (vectorBucketName is None) == (vectorBucketArn is None):
            raise ValidationException(errors.BUCKET_ADDRESS)
        if vectorBucketArn is not None:
            match = validation.BUCKET_ARN.match(str(vectorBucketArn))
            if not match:
                raise ValidationException("Invalid vector bucket ARN")
            self._check_arn_owner(match)
            return validation.bucket_name(match["bucket"])
        return validation.bucket_name(vectorBucketName)

    def index_of(
        self, vectorBucketName: Any = None, indexName: Any = None, indexArn: Any = None
    ) -> tuple[str, str]:
        """The (bucket, index) a request names, by names or by the index ARN."""
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

    # --- configuration objects --------------------------------------------------------------

    def create_config(self, key: str, config: Config, id_field: str) -> bool:
        """Create a configuration object; True if ours is the one that now exists.

        A retried request may have created it already: the random id tells ours apart.
        """
        if self.store.put_if_absent(key, orjson.dumps(config)):
            return True
        existing = self.store.get_many_json([key])[0]
        return existing is not None and existing.get(id_field) == config[id_field]

    def bucket_config(self, bucket: str) -> Config:
        try:
            return dict(self.store.get_json(layout.bucket_config(bucket)))
        except ObjectNotFound:
            raise NotFoundException(errors.BUCKET_NOT_FOUND) from None

    def classic_allowed(self, bucket_config: Config) -> bool:
        """Whether a bucket may hold CLASSIC indexes: it was created before the cutoff day
        (``classic_buckets_before``, S3 Vectors' 2026-09-30)."""
        cutoff = datetime.fromisoformat(self.settings.classic_buckets_before)
        created = parse_time(bucket_config["creationTime"])
        return created < (cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC))

    def refuse_classic(self, bucket_config: Config, mode: str) -> None:
        """A ValidationException if ``mode`` is CLASSIC in a bucket that may not have it."""
        if mode == "CLASSIC" and not self.classic_allowed(bucket_config):
            raise ValidationException(errors.classic_refused(self.settings.classic_buckets_before))

    def index_config(self, bucket: str, index: str) -> Config:
        """index.json: the index as created (its later configuration is in the manifests)."""
        try:
            return dict(self.store.get_json(layout.index_config(bucket, index)))
        except ObjectNotFound:  # also when the bucket is missing: AWS names the index then
            raise NotFoundException(errors.INDEX_NOT_FOUND) from None

    def index_names(self, bucket: str) -> list[str]:
        """Indexes that exist: those whose index.json does (deleted ones leave a marker)."""
        names = self.store.list_dirs(layout.indexes(bucket))
        keys = [layout.index_config(bucket, name) for name in names]
        found = self.store.get_many(keys, missing_ok=True)
        return [name for name, blob in zip(names, found, strict=True) if blob is not None]

    # --- engines ----------------------------------------------------------------------------

    def engine(self, bucket: str, index: str) -> tuple[Config, IndexEngine]:
        """The cached engine of an index (built on first use) and its index.json."""
        with self._lock:
            cached = self._engines.get((bucket, index))
        if cached is not None:
            return cached
        config = self.index_config(bucket, index)
        engine = self.new_engine(config)
        with self._lock:
            return self._engines.setdefault((bucket, index), (config, engine))

    def forget(self, bucket: str, index: str) -> None:
        """Drop the cached engine: the next request resolves the index again."""
        with self._lock:
            self._engines.pop((bucket, index), None)

    def new_engine(self, config: Config) -> IndexEngine:
        """An engine on one incarnation of an index, sharing nothing with the cache."""
        bucket, index, index_id = config["vectorBucketName"], config["indexName"], config["indexId"]
        return IndexEngine(
            self.store,
            layout.incarnation(bucket, index, index_id),
            index_id=index_id,
            dimension=config["dimension"],
            metric=config["distanceMetric"],
            settings=self.settings,
            config=mutable_config(config),
            legacy_config=lambda: mutable_config(self._with_legacy_settings(config)),
        )

    def _with_legacy_settings(self, config: Config) -> Config:
        """index.json overlaid with the ``settings.json`` where vetor kept later changes of
        an index's configuration before manifests carried it (manifest format 1)."""
        key = layout.legacy_settings(
            config["vectorBucketName"], config["indexName"], config["indexId"]
        )
        later = self.store.get_many_json([key])[0]
        return config if later is None else current_config(config, later)

    def with_engine(self, bucket: str, index: str, action: Callable[[Config, IndexEngine], T]) -> T:
        """Run ``action``; if the index was deleted or re-created under us, resolve again."""
        config, engine = self.engine(bucket, index)
        try:
            return action(config, engine)
        except ObjectNotFound:  # objects collected under a reader, three times over
            raise errors.ServiceUnavailableException(
                "The index is being compacted heavily; retry the request"
            ) from None
        except IndexGone:
            self.forget(bucket, index)
        config, engine = self.engine(bucket, index)  # NotFound if there is no index now
        try:
            return action(config, engine)
        except IndexGone:  # deleted again, or a delete that stopped before removing index.json
            self.forget(bucket, index)
            raise NotFoundException(errors.INDEX_NOT_FOUND) from None

    def loaded_engines(self) -> dict[tuple[str, str], IndexEngine]:
        """The indexes this process has open (and caches), by (bucket, index)."""
        with self._lock:
            return {address: engine for address, (_, engine) in self._engines.items()}

    def close(self) -> None:
        """Wait for every cached engine's background work to finish."""
        with self._lock:
            engines = [engine for _, engine in self._engines.values()]
        for engine in engines:
            engine.wait_for_background()

    # --- paging -----------------------------------------------------------------------------

    def page(
        self,
        names: list[str],
        max_results: int | None,
        token: str | None,
        prefix: str | None,
    ) -> tuple[list[str], str | None]:
        """One page of sorted names (ListVectorBuckets, ListIndexes) and the next token."""
        limit = self.settings.max_list_buckets if max_results is None else int(max_results)
        if prefix is not None:
            names = [n for n in names if n.startswith(prefix)]
        if token is not None:
            after = self.tokens.decode(token, "names")["after"]
            names = [n for n in names if n > after]
        page = names[:limit]
        more = len(names) > limit
        return page, self.tokens.encode("names", {"after": page[-1]}) if more else None


def mutable_config(config: Config) -> dict[str, Any]:
    """The part of an index configuration that can change after creation."""
    texts = config["metadataConfiguration"].get("textSearchConfigurations", [])
    return {
        "indexMode": config.get("indexMode", "CLASSIC"),
        "textSearchConfigurations": [  # not status (older index.json files stored it)
            {k: v for k, v in c.items() if k in ("metadataKey", "language")} for c in texts
        ],
    }


def current_config(created: Config, mutable: dict[str, Any]) -> Config:
    """index.json with the configuration of the latest manifest."""
    meta = dict(created["metadataConfiguration"])
    meta.pop("textSearchConfigurations", None)
    if mutable["textSearchConfigurations"]:
        meta["textSearchConfigurations"] = mutable["textSearchConfigurations"]
    return {**created, "indexMode": mutable["indexMode"], "metadataConfiguration": meta}


def now() -> str:
    return datetime.now(UTC).isoformat()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["nextToken"] = token
    return body
