"""``VectorService``: the boto3-shaped front of the service, composed of its parts.

It mirrors boto3's ``s3vectors`` client: the same method names, keyword parameters and
response dicts, so embedded use and remote use look the same. Every request is validated
(raising the typed errors of ``vetor.errors``) before anything is written. Each operation is
one part's method (buckets, indexes, vectors, policies, tags, maintenance), forwarded with its
own signature and documentation; the parts share one ``ServiceCore``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .. import tracing
from ..contract import Contract, service_model
from ..engine import IndexEngine, IndexGone, limit_numpy_blas
from ..errors import VetorError
from ..settings import Settings
from ..store import ObjectStore, call_deadline, open_store
from . import layout
from .buckets import Buckets
from .core import ServiceCore
from .indexes import Indexes
from .maintenance import Maintenance
from .policies import Policies
from .tags import Tags
from .vectors import Vectors

R = TypeVar("R")


MODEL = service_model("s3vectors")


class _Operation(Generic[R]):
    """A facade method that is a part's method: ``service.put_vectors`` is
    ``service.parts["Vectors"].put_vectors``, with the same signature and docstring.

    An S3 Vectors operation first checks its call against botocore's model (types, required
    members, lengths, ranges, enums, patterns: AWS's messages), for embedded and remote
    callers alike, then runs within ``call_timeout_seconds``; vetor's own operations
    (compact, warm, stats) go straight to the part.
    """

    def __init__(self, method: Callable[..., R]) -> None:
        self.method = method
        self.part = method.__qualname__.partition(".")[0]  # the class that defines it
        self.__doc__ = method.__doc__
        name = method.__name__.title().replace("_", "")  # put_vectors -> PutVectors
        self.operation = name if name in MODEL.operation_names else None
        parameters = inspect.signature(method).parameters.values()
        # required members the method fills in itself when the caller leaves them out
        self.defaults = frozenset(p.name for p in parameters if p.default not in (None, p.empty))

    def __get__(self, service: Any, owner: type | None = None) -> Callable[..., R]:
        if service is None:
            return self.method  # on the class: the part's function, for introspection
        part = service.parts[self.part]
        if self.operation is None:
            return functools.partial(self.method, part)
        operation, defaults, method, contract = (
            self.operation,
            self.defaults,
            self.method,
            service.contract,
        )
        bound = service.settings.call_timeout_seconds

        @functools.wraps(method)
        def checked(**params: Any) -> R:
            checked = contract.check(operation, params, defaults)
            with call_deadline(bound), tracing.span(f"service.{operation}"):
                return method(part, **checked)  # ends by then, whatever a remote store does

        return checked


class VectorService:
    def __init__(self, store: ObjectStore, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings.from_env()
        limit_numpy_blas(self.settings.blas_threads)  # numpy's threads, once per process
        self.core = ServiceCore(store, self.settings)
        self.contract = Contract(MODEL, _limits(self.settings))
        parts = (Buckets, Indexes, Vectors, Policies, Tags, Maintenance)
        self.parts: dict[str, Any] = {part.__name__: part(self.core) for part in parts}

    def __repr__(self) -> str:
        return f"VectorService({self.store.uri!r})"

    # --- S3 Vectors ---------------------------------------------------------------------------

    create_vector_bucket = _Operation(Buckets.create_vector_bucket)
    get_vector_bucket = _Operation(Buckets.get_vector_bucket)
    list_vector_buckets = _Operation(Buckets.list_vector_buckets)
    delete_vector_bucket = _Operation(Buckets.delete_vector_bucket)
    put_vector_bucket_default_index_mode = _Operation(Buckets.put_vector_bucket_default_index_mode)
    put_vector_bucket_policy = _Operation(Policies.put_vector_bucket_policy)
    get_vector_bucket_policy = _Operation(Policies.get_vector_bucket_policy)
    delete_vector_bucket_policy = _Operation(Policies.delete_vector_bucket_policy)
    create_index = _Operation(Indexes.create_index)
    get_index = _Operation(Indexes.get_index)
    list_indexes = _Operation(Indexes.list_indexes)
    delete_index = _Operation(Indexes.delete_index)
    update_index_mode = _Operation(Indexes.update_index_mode)
    update_metadata_configuration = _Operation(Indexes.update_metadata_configuration)
    put_vectors = _Operation(Vectors.put_vectors)
    delete_vectors = _Operation(Vectors.delete_vectors)
    get_vectors = _Operation(Vectors.get_vectors)
    list_vectors = _Operation(Vectors.list_vectors)
    query_vectors = _Operation(Vectors.query_vectors)
    tag_resource = _Operation(Tags.tag_resource)
    untag_resource = _Operation(Tags.untag_resource)
    list_tags_for_resource = _Operation(Tags.list_tags_for_resource)

    # --- vetor's own --------------------------------------------------------------------------

    compact = _Operation(Maintenance.compact)
    scan_vectors = _Operation(Vectors.scan_vectors)
    scan_keys = _Operation(Vectors.scan_keys)
    index_stats = _Operation(Maintenance.index_stats)
    warm = _Operation(Maintenance.warm)

    def bucket_arn(self, bucket: str) -> str:
        return self.core.bucket_arn(bucket)

    def index_arn(self, bucket: str, index: str) -> str:
        return self.core.index_arn(bucket, index)

    def engine(self, bucket: str, index: str) -> IndexEngine:
        """The engine serving an index in this process: the supported surface for stats,
        maintenance and tests (``engine.stats()``, ``engine.resident()``...)."""
        return self.core.engine(bucket, index)[1]

    def open_engine(self, bucket: str, index: str) -> IndexEngine:
        """A new engine on an index, sharing nothing with the cached one (another process's
        view of the same store, in one process)."""
        return self.core.new_engine(self.core.index_config(bucket, index))

    def check_ready(self) -> None:
        """Raise if the store cannot be reached (what ``/ready`` asks before saying yes)."""
        next(iter(self.store.list(layout.READY_PROBE)), None)

    def loaded_index_stats(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Rows, pending rows, segments and version of each index this process has open
        (what ``GET /metrics`` reports; an index deleted meanwhile is left out)."""
        found = {}
        for address, engine in self.core.loaded_engines().items():
            try:
                found[address] = engine.stats()
            except (IndexGone, VetorError):  # deleted meanwhile, or the store is down
                continue
        return found

    def close(self) -> None:
        """Wait for background compaction to finish."""
        self.core.close()


def _limits(settings: Settings) -> dict[str, tuple[float | None, float | None]]:
    """The model's bounds an operator may change, as this process has them."""
    return {
        "Dimension": (1, settings.max_dimension),
        "PutVectorsInputList": (1, settings.max_put_vectors),
        "DeleteVectorsInputList": (1, settings.max_delete_vectors),
        "GetVectorsInputList": (1, settings.max_get_vectors),
        "ListVectorsMaxResults": (1, settings.max_list_vectors),
        "ListIndexesMaxResults": (1, settings.max_list_buckets),
        "ListVectorBucketsMaxResults": (1, settings.max_list_buckets),
        "TopK": (1, settings.max_top_k),
        "VectorKey": (1, settings.max_key_length),
        "NonFilterableMetadataKeys": (0, settings.max_non_filterable_keys),
        "TagsMap": (None, settings.max_tags),
        "TagKeyList": (1, settings.max_tags),
    }


def connect(uri: str = "./vetor-data", **settings: Any) -> VectorService:
    """Open vetor on a store: a local directory (default), ``memory://`` or ``s3://…``."""
    config = Settings.from_env(**settings)
    return VectorService(open_store(uri, config), config)
