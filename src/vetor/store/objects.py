"""Objects: one small interface over a local directory, memory and S3.

The protocol work (S3 signing, retries with backoff and jitter, conditional create) is done
by obstore; this module names the operations vetor needs, turns the store's errors into
vetor's, keeps remote requests within their call's deadline (``deadline``) and writes a
directory store's files durably (``local``).
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import functools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import obstore
import orjson
from obstore.exceptions import AlreadyExistsError, NotFoundError
from obstore.store import LocalStore, MemoryStore, S3Store

from ..cache import DiskCache
from ..errors import StoreError
from ..settings import Settings
from . import local, sealing
from .deadline import T, within_deadline
from .sealing import KeyFile, KmsKeys, Sealer
from .stats import StoreStats


class ObjectNotFound(KeyError):
    """The object does not exist."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStore:
    """Keys are ``/``-separated paths relative to the store's root prefix."""

    def __init__(
        self,
        inner: Any,
        uri: str,
        *,
        trusted_conditional_create: bool,
        local_root: Path | None = None,
        cache: DiskCache | None = None,
        remote: bool = False,
        sealer: Sealer | None = None,
    ) -> None:
        self._inner = inner
        self._sealer = sealer  # encryption at rest (sealing.py), when a key file is set
        self.stats = StoreStats()  # requests, failures, time, bytes: read by /metrics
        self._remote = remote  # requests cross a network: keep them within call deadlines
        self._cache = cache  # local-disk copies of immutable objects (remote stores)
        self.uri = uri
        self._local_root = local_root  # set for directory stores, which keep empty folders
        # Local and memory stores implement create-if-absent atomically; S3-compatible
        # endpoints must prove it (see ``check_conditional_create``).
        self.trusted_conditional_create = trusted_conditional_create

    def __repr__(self) -> str:
        return f"ObjectStore({self.uri!r})"

    @property
    def sealer(self) -> Sealer | None:
        """Encryption at rest, when configured; the service sets which key seals what."""
        return self._sealer

    def get(self, key: str) -> bytes:
        return bytes(self._buffer(key))

    def get_json(self, key: str) -> Any:
        """The object, parsed as the JSON document vetor wrote there."""
        return parse_json(key, self._buffer(key))

    def get_many_json(self, keys: builtins.list[str]) -> builtins.list[Any]:
        """Several JSON objects in parallel; a missing one is None."""
        blobs = self.get_many(keys, missing_ok=True)
        return [None if b is None else parse_json(k, b) for k, b in zip(keys, blobs, strict=True)]

    def _buffer(self, key: str) -> memoryview:
        """The object's bytes without a copy (large runs are read this way)."""
        stored = self._stored(key)
        if self._sealer is not None:
            return self._sealer.open(key, stored)
        if stored[: len(sealing.MAGIC)] == sealing.MAGIC:
            raise sealing.unconfigured(stored[len(sealing.MAGIC) + 1])
        return stored

    def _stored(self, key: str) -> memoryview:
        """The bytes as stored (sealed, when encryption is on); the disk cache keeps these."""
        cache = self._cache_for(key)
        if cache is not None and (hit := cache.read(key)) is not None:
            return hit
        with _translated(key):
            data = memoryview(self._call(lambda: obstore.get(self._inner, key).bytes(), "get"))
        self.stats.moved(read=len(data))
        if cache is not None:
            cache.write(key, data)
        return data

    def _cache_for(self, key: str) -> DiskCache | None:
        """The disk cache, if there is one and it keeps this kind of object."""
        return self._cache if self._cache is not None and DiskCache.caches(key) else None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object."""
        return bytes(self.get_ranges(key, [start], [end])[0])

    def get_ranges(self, key: str, starts: list[int], ends: list[int]) -> list[memoryview]:
        """Several byte ranges of one object, fetched together (nearby ranges coalesce); of a
        sealed object, the blocks that hold them, opened."""
        if not starts:
            return []
        if self._sealer is None:
            return self._stored_ranges(key, starts, ends)
        header = self._sealer.header_of(key, lambda: self._head(key))
        if header is None:  # written before encryption was turned on
            return self._stored_ranges(key, starts, ends)
        blocks = [(s // header.block_size, max(e - 1, s) // header.block_size)
                  for s, e in zip(starts, ends)]  # fmt: skip
        spans = [header.sealed_span(first, last) for first, last in blocks]
        stored = self._stored_ranges(key, [a for a, _ in spans], [b for _, b in spans])
        return [
            self._sealer.open_range(key, header, first, data, start, end)
            for (first, _), data, start, end in zip(blocks, stored, starts, ends)
        ]

    def _head(self, key: str) -> bytes:
        """The first bytes of an object, where a sealed one keeps its header (all of a
        shorter object)."""
        try:
            return bytes(self._stored_ranges(key, [0], [sealing.PROBE])[0])
        except StoreError:  # shorter than the probe: read it whole
            return bytes(self._stored(key))

    def _stored_ranges(self, key: str, starts: list[int], ends: list[int]) -> list[memoryview]:
        cache = self._cache_for(key)
        if cache is not None and (hit := cache.read_ranges(key, starts, ends)) is not None:
            return [memoryview(b) for b in hit]
        with _translated(key):
            found = self._call(
                lambda: obstore.get_ranges(self._inner, key, starts=starts, ends=ends), "get"
            )
        self.stats.moved(read=sum(len(b) for b in found))
        for start, end, blob in zip(starts, ends, found, strict=True):
            if len(blob) != end - start:  # a reply cut short, headers and all
                raise unreadable(key, f"{len(blob)} of {end - start} bytes came back")
        return [memoryview(b) for b in found]

    def read_ranges(self, wanted: list[tuple[str, int, int]]) -> list[memoryview]:
        """Byte ranges ``(key, start, end)`` of any objects, in one round of parallel requests
        (a few ranges per request batch, so that many scattered ranges do not queue)."""
        by_key: dict[str, list[int]] = {}
        for i in sorted(range(len(wanted)), key=lambda i: wanted[i][:2]):  # neighbours coalesce
            by_key.setdefault(wanted[i][0], []).append(i)
        local = self._local_root is not None  # no network to wait on: one call per object
        chunk = len(wanted) if local else _RANGES_PER_CALL
        calls = [
            (key, members[at : at + chunk])
            for key, members in by_key.items()
            for at in range(0, len(members), chunk)
        ]

        def fetch(call: tuple[str, list[int]]) -> list[memoryview]:
            key, members = call
            starts = [wanted[i][1] for i in members]
            return self.get_ranges(key, starts, [wanted[i][2] for i in members])

        found: list[memoryview] = [memoryview(b"")] * len(wanted)
        results = map(fetch, calls) if local or len(calls) <= 1 else _parallel(fetch, calls)
        for (_, members), blobs in zip(calls, results):
            for i, blob in zip(members, blobs):
                found[i] = blob
        return found

    def put(self, key: str, data: bytes | memoryview) -> None:
        if self._sealer is not None:
            self._sealer.forget(key)
            data = self._sealer.seal(key, data)
        self.stats.moved(written=len(data))
        with _translated(key):
            if self._local_root is not None:
                with self.stats.timed("put"):
                    local.write(self._local_root, key, data, create=False)
            else:
                self._call(lambda: obstore.put(self._inner, key, data), "put")

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if no object has the key; False when it already exists."""
        if self._sealer is not None:
            data = self._sealer.seal(key, data)
        self.stats.moved(written=len(data))
        if self._local_root is not None:
            with _translated(key), self.stats.timed("put"):
                return local.write(self._local_root, key, data, create=True)
        try:
            with _translated(key):
                self._call(lambda: obstore.put(self._inner, key, data, mode="create"), "put")
        except _AlreadyExists:
            return False
        return True

    def now(self) -> float:
        """The store's clock (epoch seconds), to compare with its objects' timestamps: a
        remote store's own, read from an object written for the purpose, never this host's."""
        if not self._remote:
            return time.time()
        key = f"{local.TEMPORARY}/clock-{uuid.uuid4().hex}"
        self.put(key, b"")
        try:
            with _translated(key):
                meta = self._call(lambda: obstore.head(self._inner, key), "head")
        finally:
            self.delete(key)
        return float(meta["last_modified"].timestamp())

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` (recursively), optionally only keys > start_after."""
        offset = start_after or None
        if self._remote:  # the whole listing within the call's bound (pages are network calls)
            with _translated(prefix):
                metas = self._call(
                    lambda: [
                        m for c in obstore.list(self._inner, prefix, offset=offset) for m in c
                    ],
                    "list",
                )
            yield from (ObjectInfo(m["path"], m["size"], m["last_modified"]) for m in metas)
            return
        with _translated(prefix):
            for chunk in obstore.list(self._inner, prefix, offset=offset):
                for meta in chunk:
                    yield ObjectInfo(meta["path"], meta["size"], meta["last_modified"])

    def list_dirs(self, prefix: str) -> builtins.list[str]:
        """Names of the immediate "sub-directories" of ``prefix`` (common prefixes)."""
        with _translated(prefix):
            result = self._call(
                lambda: obstore.list_with_delimiter(self._inner, prefix or None), "list"
            )
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in result["common_prefixes"])

    def exists(self, key: str) -> bool:
        try:
            with _translated(key):
                self._call(lambda: obstore.head(self._inner, key), "head")
        except ObjectNotFound:
            return False
        return True

    def exists_many(self, keys: builtins.list[str]) -> builtins.list[bool]:
        """Whether each object exists: in parallel, and a plain ``stat`` on a directory store
        (its objects are files created by rename, so a file seen is a complete object)."""
        if self._local_root is not None:
            root = str(self._local_root)
            return [os.path.isfile(os.path.join(root, key)) for key in keys]
        if len(keys) <= 1:
            return [self.exists(k) for k in keys]
        return _parallel(self.exists, keys)

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        try:
            with _translated(key):
                self._call(lambda: obstore.delete(self._inner, key), "delete")
        except ObjectNotFound:
            pass

    def delete_many(self, keys: builtins.list[str]) -> None:
        """Delete objects; keys that are already gone are fine (another deleter won)."""
        if not keys:
            return
        try:
            with _translated(keys[0]):
                self._call(lambda: obstore.delete(self._inner, keys), "delete")
        except ObjectNotFound:  # some stores stop at the first missing key: finish one by one
            for key in keys:
                self.delete(key)

    def delete_prefix(self, prefix: str) -> None:
        self.delete_many([info.key for info in self.list(prefix)])
        if self._local_root is not None:  # folders are not objects: leave no empty ones behind
            _remove_empty_dirs(self._local_root, prefix)

    def get_many(
        self, keys: builtins.list[str], missing_ok: bool = False
    ) -> builtins.list[memoryview | None]:
        """Fetch several objects in parallel (object stores reward concurrency), without copies.

        With ``missing_ok``, a missing object yields None instead of raising ObjectNotFound.
        """

        def fetch(key: str) -> memoryview | None:
            try:
                return self._buffer(key)
            except ObjectNotFound:
                if missing_ok:
                    return None
                raise

        if len(keys) <= 1 or self._local_root is not None:  # local reads don't wait on a network
            return [fetch(k) for k in keys]
        return _parallel(fetch, keys)

    def _call(self, request: Callable[[], T], operation: str) -> T:
        """Run one request, counted in ``stats``; a remote one within the call's deadline."""
        with self.stats.timed(operation):
            return within_deadline(request) if self._remote else request()


# Ranges per obstore call: each call runs its ranges about 10 at a time, so a call per few
# ranges (on the pool) lets a hundred scattered ranges go out at once.
_RANGES_PER_CALL = 4


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Shared by all stores: a pool per call would cost more than a small request."""
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="vetor-store")


def _parallel(work: Callable[[Any], T], items: builtins.list[Any]) -> builtins.list[T]:
    """``work`` over ``items`` on the store pool, each under the caller's deadline."""
    contexts = [contextvars.copy_context() for _ in items]
    return builtins.list(_pool().map(lambda c, i: c.run(work, i), contexts, items))


def unreadable(key: str, why: object) -> StoreError:
    """The error for an object that came back incomplete or corrupt (a retry may succeed)."""
    return StoreError(f"The object store returned an incomplete or corrupt '{key}' ({why})")


def parse_json(key: str, data: bytes | memoryview) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise unreadable(key, error) from None


class _AlreadyExists(Exception):
    pass


class _translated:
    """Context manager mapping obstore errors onto vetor's."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> Literal[False]:
        if error is None:
            return False
        if isinstance(error, AlreadyExistsError):
            raise _AlreadyExists(self.key) from None
        if isinstance(error, (NotFoundError, FileNotFoundError)):
            raise ObjectNotFound(self.key) from None
        if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            return False
        if not isinstance(error, (ObjectNotFound, StoreError)):  # panics are BaseExceptions
            first = (str(error).splitlines() or [""])[0]  # not the library's debug dump
            raise StoreError(f"Object store request failed for '{self.key}': {first}") from error
        return False


_memory_stores: dict[str, MemoryStore] = {}
_memory_lock = threading.Lock()


def open_store(uri: str | os.PathLike[str], settings: Settings | None = None) -> ObjectStore:
    """Open a store from a URI.

    - ``./data`` or ``file:///abs/path``: a local directory (created if missing);
    - ``memory://name``: an in-process store, shared by every ``open_store`` of the same name;
    - ``s3://bucket/prefix``: an S3-compatible endpoint. Endpoint, region and credentials come
      from the usual ``AWS_*`` variables (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
      ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE``) or query options:
      ``?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true&allow_http=true``.
    """
    settings = settings or Settings.from_env()
    text = os.fspath(uri)
    parsed = urlparse(text)
    sealer = _sealer(settings)
    if parsed.scheme == "memory":
        name = parsed.netloc + parsed.path
        with _memory_lock:
            inner = _memory_stores.setdefault(name, MemoryStore())
        return ObjectStore(inner, text, trusted_conditional_create=True, sealer=sealer)
    if parsed.scheme == "s3":
        cache = None
        if settings.cache_dir:
            cache = DiskCache(settings.cache_dir, settings.cache_disk_bytes, text)
        s3 = _s3_store(parsed, settings)
        return ObjectStore(
            s3, text, trusted_conditional_create=False, cache=cache, remote=True, sealer=sealer
        )
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else text).expanduser().resolve()
        if not path.exists():
            path.mkdir(local.FOLDER_MODE, parents=True)
        local.sweep(path)
        return ObjectStore(
            LocalStore(path),
            str(path),
            trusted_conditional_create=True,
            local_root=path,
            sealer=sealer,
        )
    raise ValueError(f"Unsupported store URI '{text}': use a path, file://, memory:// or s3://")


def _sealer(settings: Settings) -> Sealer | None:
    """Encryption at rest: a key file's keys, KMS, both or (neither configured) none."""
    key_file = KeyFile(settings.encryption_key_file) if settings.encryption_key_file else None
    kms = None
    if settings.kms_endpoint_url:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "kms",
            endpoint_url=settings.kms_endpoint_url,
            region_name=settings.region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5),
        )
        kms = KmsKeys(client)
    return Sealer(key_file, kms) if key_file is not None or kms is not None else None


def _remove_empty_dirs(root: Path, prefix: str) -> None:
    top = root / prefix.strip("/")
    if not top.is_dir():
        return
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
    for folder in (top, *top.parents):
        if folder == root or not folder.is_relative_to(root):
            break
        try:
            folder.rmdir()
        except OSError:
            break


def _s3_store(parsed: Any, settings: Settings) -> S3Store:
    options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    endpoint = (
        options.get("endpoint")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    config: dict[str, Any] = {}
    if endpoint:
        config["endpoint"] = endpoint
    region = options.get("region") or os.environ.get("AWS_REGION")
    region = region or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        config["region"] = region
    if _truthy(options.get("path_style", "true" if endpoint else "false")):
        config["virtual_hosted_style_request"] = False
    client_options: dict[str, Any] = {
        "timeout": timedelta(seconds=settings.store_request_timeout_seconds),
        "connect_timeout": timedelta(seconds=10),
    }
    if _truthy(options.get("allow_http", "false")) or (endpoint or "").startswith("http://"):
        client_options["allow_http"] = True
    retry = {
        "max_retries": settings.store_max_retries,
        "retry_timeout": timedelta(seconds=settings.store_retry_timeout_seconds),
        "backoff": {
            "init_backoff": timedelta(milliseconds=50),
            "max_backoff": timedelta(seconds=5),
        },
    }
    credentials = _profile_credentials(options.get("profile") or os.environ.get("AWS_PROFILE"))
    prefix = parsed.path.strip("/") or None
    return S3Store(
        parsed.netloc,
        prefix=prefix,
        config=config,  # type: ignore[arg-type]
        client_options=client_options,  # type: ignore[arg-type]
        retry_config=retry,  # type: ignore[arg-type]
        credential_provider=credentials,
    )


def _profile_credentials(profile: str | None) -> Any:
    """Credentials of a named AWS profile, read by boto3 when it is installed."""
    if not profile or os.environ.get("AWS_ACCESS_KEY_ID"):
        return None
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError as error:  # pragma: no cover - boto3 is in the dev extra
        raise ValueError("AWS_PROFILE needs boto3: pip install boto3") from error
    return Boto3CredentialProvider(boto3.Session(profile_name=profile))


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}
