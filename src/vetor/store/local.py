"""Durable files for directory stores: an acknowledged write survives an OS crash.

A file is written under ``_vetor/tmp/``, flushed to disk (``fsync``), then moved into place:
renamed over an existing object for a plain put, hard-linked for a create-if-absent (``link``
fails if the name exists, atomically). The directory that gained the name is flushed too, and
so is every directory created on the way, so that the name itself is on disk before the
write is acknowledged.

Every file and folder is private to the server's user (0600 / 0700, whatever the umask): the
store holds vectors, metadata, document text and the pagination-token key.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

TEMPORARY = "_vetor/tmp"
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def write(root: Path, key: str, data: bytes | memoryview, create: bool) -> bool:
    """Write ``key`` under ``root``; with ``create``, only if absent (False if it exists)."""
    target = root / key
    temporary = root / TEMPORARY / uuid.uuid4().hex
    _make_dirs(root, temporary.parent)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with open(os.open(temporary, flags, FILE_MODE), "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        for attempt in (1, 2):  # a concurrent prefix delete may remove the empty folder
            _make_dirs(root, target.parent)
            try:
                if not create:
                    os.replace(temporary, target)
                    break
                os.link(temporary, target)
                break
            except FileExistsError:
                return False
            except FileNotFoundError:
                if attempt == 2:
                    raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _sync_dir(target.parent)
    return True


def sweep(root: Path, older_than: float = 3600.0) -> None:
    """Remove temporary files a crashed writer left behind (none is younger than a write)."""
    folder = root / TEMPORARY
    if not folder.is_dir():
        return
    limit = time.time() - older_than
    for stale in folder.iterdir():
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < limit:
                stale.unlink()


def _make_dirs(root: Path, folder: Path) -> None:
    """Create ``folder`` and its missing parents, each new name flushed into its parent."""
    missing = []
    while not folder.is_dir() and folder != root:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        with contextlib.suppress(FileExistsError):
            new.mkdir(FOLDER_MODE)
        _sync_dir(new.parent)


def _sync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
