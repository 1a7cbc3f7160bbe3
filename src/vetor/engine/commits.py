"""The commit protocol: one index's chain of manifest versions on the store.

Manifest versions are immutable objects ``manifests/<version>.json`` created with
put-if-absent (docs/FORMAT.md §4). A commit builds version ``v+1`` on the latest ``v``; the
loser of a race reloads the latest and retries on top of it. ``CommitLog`` keeps the latest
manifest this process knows, finds newer ones cheaply, and serializes this process's commits
(``commit_lock``) so that concurrent writers in one process never race each other.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictException
from ..settings import Settings
from ..store import ObjectNotFound, ObjectStore
from .format import FORMAT_VERSION, Manifest, RunRef, manifest_name
from .textindex import TextField, text_fields_of


class IndexGone(Exception):
    """The index was deleted (or deleted and re-created) under this engine."""


def too_many_commits() -> ConflictException:
    return ConflictException("Too many concurrent commits on this index; retry")


class CommitLog:
    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        index_id: str,
        settings: Settings,
        config: dict[str, Any] | None = None,
        legacy_config: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.index_id = index_id
        self.settings = settings
        self.commit_lock = threading.Lock()  # one commit at a time in this process
        self._lock = threading.Lock()  # guards current / seen_at
        self.current = Manifest(version=0, next_seq=1, extra={"index_id": index_id})
        self.seen_at = 0.0  # monotonic time ``current`` was last known to be the latest
        # The configuration of a new index, until its first manifest carries it; for manifests
        # of format 1 (none carries it), ``legacy_config`` reads it once.
        self._initial_config = config or {}
        self._legacy_config = legacy_config

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def manifest_key(self, version: int) -> str:
        return self.key("manifests/" + manifest_name(version))

    # --- finding the latest version ---------------------------------------------------------

    def latest(self) -> Manifest:
        """The newest manifest in the store (one round trip when nothing changed)."""
        current = self.current
        known = current.version
        seen_at = time.monotonic()
        fresh = known > 0 and seen_at - self.seen_at < self.fresh_for()
        if fresh and self._nothing_after(current):
            self.advance(current, seen_at)
            return current
        after = self.manifest_key(known - 1) if known > 0 else None
        listed = list(self.store.list(self.key("manifests/"), after))
        if not listed:
            if known > 0:  # our current manifest vanished: only an index delete does that
                raise IndexGone(self.prefix)
            return self.current
        latest = max(listed, key=lambda info: info.key)
        if known > 0 and latest.key == self.manifest_key(known):
            self.advance(current, seen_at)
            return current
        try:
            manifest = Manifest.decode(self.store.get(latest.key), latest.key)
        except ObjectNotFound:
            raise IndexGone(self.prefix) from None
        if manifest.deleted or manifest.extra.get("index_id") != self.index_id:
            raise IndexGone(self.prefix)
        self.advance(manifest, seen_at)
        return manifest

    def fresh_for(self) -> float:
        """How long a manifest known to be latest stays safe to build on (or probe past).

        GC deletes a manifest only once its successor is older than the grace period, so
        within a quarter of it (capped at 30 s) the chain after a known-latest version cannot
        have holes.
        """
        return min(30.0, self.settings.gc_grace_seconds / 4)

    def _nothing_after(self, current: Manifest) -> bool:
        """Probe instead of LIST (whose cost grows with the manifests GC still keeps): True if
        ``current`` is still latest — version + 1 is absent while ``current`` itself still
        exists (a deleted index or bucket removes it). False: ask LIST."""
        keys = [self.manifest_key(current.version + 1), self.manifest_key(current.version)]
        after, itself = self.store.exists_many(keys)
        return not after and itself

    def advance(self, manifest: Manifest, seen_at: float) -> None:
        """Remember ``manifest`` as the latest known (at ``seen_at``), if it is not older."""
        with self._lock:
            if manifest.version > self.current.version:
                self.current, self.seen_at = manifest, seen_at
            elif manifest.version == self.current.version:
                self.seen_at = max(self.seen_at, seen_at)

    def commit_base(self) -> Manifest:
        """A base to commit on that GC cannot have made unsafe.

        GC deletes a manifest only once its successor is older than the grace period, so a
        put-if-absent of ``base.version + 1`` can only land in a collected hole if ``base`` was
        known to be latest longer ago than that. Bases older than a quarter of the grace
        period (capped at 30 s) are refreshed first.
        """
        if time.monotonic() - self.seen_at < self.fresh_for():
            return self.current
        return self.latest()

    # --- committing -------------------------------------------------------------------------

    def next(self, base: Manifest, runs: tuple[RunRef, ...], next_seq: int) -> Manifest:
        """Version ``base + 1`` with these runs (not yet committed)."""
        return base.evolve(
            version=base.version + 1,
            next_seq=next_seq,
            runs=runs,
            commit_id=uuid.uuid4().hex,
            created_at=datetime.now(UTC).isoformat(),
            format=FORMAT_VERSION,  # a manifest of format 1 evolves into the current format
        )

    def try_commit(self, manifest: Manifest) -> bool:
        """Create a manifest version; True if ours is the one that now exists."""
        key = self.manifest_key(manifest.version)
        if self.store.put_if_absent(key, manifest.encode()):
            return True
        # A retried request may have created it already: only the commit id tells.
        try:
            return Manifest.decode(self.store.get(key), key).commit_id == manifest.commit_id
        except ObjectNotFound:
            return False

    def rewrite_after(self) -> float:
        """How old an uncommitted object may get before it is written again (seconds): GC
        takes unreferenced objects older than the grace period for abandoned."""
        s = self.settings
        budget = s.store_retry_timeout_seconds + s.store_request_timeout_seconds
        return max(0.0, s.gc_grace_seconds - budget) / 2

    def initialize(self) -> None:
        """Write version 1, empty, for a new index (a writer that got there first is fine)."""
        first = self.next(self.current, (), 1).evolve(config=self._initial_config)
        self.store.put_if_absent(self.manifest_key(1), first.encode())

    def retire(self) -> str | None:
        """Commit the deletion of this index; return the key of that last manifest.

        Deleting is a commit like any other, so a concurrent writer either committed before it
        (and is deleted with the index) or fails its commit and reports the index missing.
        Returns None if the index was already deleted.
        """
        for _ in range(self.settings.commit_retries):
            try:
                base = self.latest()
            except IndexGone:
                return None
            tombstone = self.next(base, (), base.next_seq).evolve(deleted=True)
            if self.try_commit(tombstone):
                return self.manifest_key(tombstone.version)
        raise too_many_commits()

    # --- configuration ----------------------------------------------------------------------

    def config(self, manifest: Manifest) -> dict[str, Any]:
        """The index configuration at ``manifest``."""
        if manifest.config:
            return manifest.config
        load = self._legacy_config
        if load is not None:  # once (or twice, in a race): then it is the initial configuration
            self._initial_config = load()
            self._legacy_config = None
        return self._initial_config

    def text_fields(self, manifest: Manifest) -> tuple[TextField, ...]:
        return text_fields_of(self.config(manifest))

    def update_config(
        self, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> tuple[Manifest, Manifest]:
        """Commit a new configuration: ``change`` maps the latest one to it (and may raise to
        refuse the change); on a lost race it is applied again on top of the winner. Returns
        (base, committed). The caller holds ``commit_lock``."""
        assert self.commit_lock.locked(), "update_config runs under commit_lock"
        for _ in range(self.settings.commit_retries):
            base = self.latest()
            config = change(copy.deepcopy(self.config(base)))
            manifest = self.next(base, base.runs, base.next_seq).evolve(config=config)
            if self.try_commit(manifest):
                return base, manifest
        raise too_many_commits()
