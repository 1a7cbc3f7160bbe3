"""Cache tiers: a bounded in-memory LRU, and a local-disk cache of immutable objects.

``MemoryCache`` keeps decoded parts (postings, ANN heads and partitions, small runs) under a
byte budget. ``DiskCache`` keeps local copies of an S3 store's immutable objects (runs and
their indexes), least recently used out.

Objects under ``wal/`` and ``segments/`` are written once and never changed (GC only deletes
them), so a copy on local disk is valid for as long as it exists: no invalidation is needed.
Manifests are never cached, so every read still sees the latest version in the store.

Several processes may share one directory: files appear by atomic rename, a read refreshes the
file's modification time (the LRU order every process sees), and a file evicted by another
process is simply fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

IMMUTABLE = ("/wal/", "/segments/")


# Every cache of this process, by kind, for GET /metrics (hits, misses, resident bytes).
CACHES: weakref.WeakSet[MemoryCache | DiskCache] = weakref.WeakSet()


class MemoryCache:
    """LRU over decoded parts of immutable objects, bounded in bytes; thread-safe."""

    def __init__(self, budget_bytes: int, kind: str = "memory") -> None:
        self.budget = budget_bytes
        self.used = 0
        self.kind, self.hits, self.misses = kind, 0, 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        CACHES.add(self)

    @property
    def resident_bytes(self) -> int:
        return self.used

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        """Keep ``value`` (about ``nbytes``), dropping the least recently used beyond budget;
        a value bigger than the whole budget is not kept."""
        with self._lock:
            if key in self._items or nbytes > self.budget:
                return
            self._items[key] = (value, nbytes)
            self.used += nbytes
            while self.used > self.budget:
                _, (_, size) = self._items.popitem(last=False)
                self.used -= size


class DiskCache:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, namespace: str) -> None:
        self.root = Path(directory).expanduser()
        self.root.mkdir(0o700, parents=True, exist_ok=True)  # cached objects are private data
        self.max_bytes = max_bytes
        self._namespace = namespace  # the store's URI: one directory may serve several stores
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()  # file name → bytes, oldest first
        entries = []
        for path in self.root.glob("*.obj"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, path.name, stat.st_size))
        for _, name, size in sorted(entries):
            self._sizes[name] = size
        self._total = sum(self._sizes.values())
        self.kind, self.hits, self.misses = "disk", 0, 0
        CACHES.add(self)

    @property
    def resident_bytes(self) -> int:
        return self._total

    @staticmethod
    def caches(key: str) -> bool:
        return any(part in "/" + key for part in IMMUTABLE)

    def _name(self, key: str) -> str:
        return hashlib.sha256(f"{self._namespace}\0{key}".encode()).hexdigest()[:40] + ".obj"

    def read(self, key: str) -> memoryview | None:
        name = self._name(key)
        path = self.root / name
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:  # not cached, or evicted meanwhile (by us or another process)
            with self._lock:
                self._forget(name)
                self.misses += 1
            return None
        self.hits += 1
        self._touch(name, len(data))
        return memoryview(data)

    def read_ranges(self, key: str, starts: list[int], ends: list[int]) -> list[bytes] | None:
        """Byte ranges of a cached object (no whole-file read), or None if it is not cached."""
        name = self._name(key)
        try:
            with open(self.root / name, "rb") as file:
                found = []
                for start, end in zip(starts, ends):
                    file.seek(start)
                    found.append(file.read(end - start))
        except OSError:
            return None
        self._touch(name, None)
        return found

    def write(self, key: str, data: bytes | memoryview) -> None:
        if len(data) > self.max_bytes:
            return
        name = self._name(key)
        temporary = self.root / f".{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(data)
            os.replace(temporary, self.root / name)
        except OSError:  # a full or read-only disk: the cache is only an optimisation
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        with self._lock:
            self._forget(name)
            self._add(name, len(data))
            self._evict()

    def _touch(self, name: str, size: int | None) -> None:
        """Mark a file just used; one this process has not seen is counted if its size is
        known (another process wrote it)."""
        with self._lock:
            if name in self._sizes:
                self._sizes.move_to_end(name)
            elif size is not None:
                self._add(name, size)

    def _add(self, name: str, size: int) -> None:
        self._sizes[name] = size
        self._total += size

    def _forget(self, name: str) -> None:
        self._total -= self._sizes.pop(name, 0)

    def _evict(self) -> None:
        while self._total > self.max_bytes and self._sizes:
            name, size = self._sizes.popitem(last=False)
            self._total -= size
            with contextlib.suppress(OSError):
                (self.root / name).unlink()
