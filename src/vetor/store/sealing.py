"""Encryption at rest: every object sealed with AES-256-GCM under its own data key.

Envelope encryption, as AWS's SSE does it. Each object gets a fresh 256-bit data key (DEK),
wrapped by a key-encryption key (KEK) from a local key file; the wrapped DEK travels in the
object's fixed-size header. The body is sealed in 64 KiB blocks, each with its own nonce
(object nonce prefix + block number) and tag, and the object's key and header as associated
data, so that

* a ranged read decrypts only the blocks it touches (IVF partitions, postings);
* a block moved to another position or object, a truncated object or a swapped header fails
  authentication instead of decrypting to garbage;
* rotating the KEK is adding a new primary key to the key file: new objects use it, old ones
  keep opening with the older key, nothing is rewritten.

Layout (all integers big-endian)::

    header (128 bytes): b"VETORENC" | version 1 | key-id length | key id (32, padded)
                        | wrap nonce (12) | wrapped DEK (48) | block size (4)
                        | plaintext size (8) | nonce prefix (4) | zero padding
    blocks:             ciphertext of each block of ``block size`` bytes, + 16-byte tag

An object without the magic is plaintext: a configuration document (never sealed), or an
object written before encryption was turned on, which stays readable (and is sealed when it is
next rewritten, by compaction for segments).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ServiceUnavailableException, StoreError

MAGIC = b"VETORENC"
VERSION = 1
HEADER_SIZE = 128
BLOCK_SIZE = 64 * 1024
TAG_SIZE = 16
_LAYOUT = struct.Struct(">8sBB32s12s48sIQ4s")  # 118 bytes, padded to HEADER_SIZE
# Never sealed: configuration documents read to decide everything else, and scratch probes.
_PLAIN_SUFFIXES = ("/bucket.json", "/index.json")
_PLAIN_PREFIXES = ("_vetor/tmp/", "_vetor/ready/", "_vetor/doctor/", "_vetor/probe/")


class EncryptionKeyError(ServiceUnavailableException):
    """A sealed object whose key-encryption key this process does not have (or a wrong one)."""


class KeyFile:
    """Key-encryption keys: ``{"primary": id, "keys": [{"id", "key": base64 of 32 bytes}]}``.

    The primary key wraps new data keys; every listed key can unwrap. ``create`` makes a file
    (0600) or adds a fresh primary key to one: that is the rotation.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            self.keys = {k["id"]: base64.b64decode(k["key"], validate=True)
                         for k in document["keys"]}  # fmt: skip
            self.primary = document["primary"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"invalid encryption key file {str(self.path)!r}: {error}") from None
        if self.primary not in self.keys or any(len(k) != 32 for k in self.keys.values()):
            raise ValueError(
                f"invalid encryption key file {str(self.path)!r}: the primary key must be "
                "listed and every key must be 32 bytes (AES-256)"
            )
        if any(len(i.encode()) > 32 or not i for i in self.keys):
            raise ValueError("encryption key ids must be 1 to 32 bytes long")

    @staticmethod
    def create(path: str | os.PathLike[str]) -> str:
        """Write a new primary key into ``path`` (created 0600 if absent); its id."""
        target = Path(path)
        document: dict[str, Any] = {"keys": []}
        if target.exists():
            document = json.loads(target.read_text(encoding="utf-8"))
        key_id = f"k{len(document['keys']) + 1}-{secrets.token_hex(4)}"
        fresh = base64.b64encode(secrets.token_bytes(32)).decode()
        document["keys"].append({"id": key_id, "key": fresh})
        document["primary"] = key_id
        temporary = target.with_name(f".{target.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
        os.replace(temporary, target)
        return key_id


@dataclass(frozen=True)
class Header:
    raw: bytes
    dek: bytes
    size: int
    block_size: int
    prefix: bytes

    @property
    def blocks(self) -> int:
        return -(-self.size // self.block_size)

    def sealed_span(self, first: int, last: int) -> tuple[int, int]:
        """The stored bytes holding plaintext blocks ``first..last`` (inclusive)."""
        width = self.block_size + TAG_SIZE
        end = HEADER_SIZE + min((last + 1) * width, self.blocks * TAG_SIZE + self.size)
        return HEADER_SIZE + first * width, end


class Sealer:
    """Seals and opens the objects of one store (see the module's docstring)."""

    def __init__(self, keys: KeyFile) -> None:
        self.keys = keys
        self._headers: OrderedDict[str, Header] = OrderedDict()  # immutable objects' headers
        self._lock = threading.Lock()

    @staticmethod
    def applies(key: str) -> bool:
        return not (key.endswith(_PLAIN_SUFFIXES) or key.startswith(_PLAIN_PREFIXES))

    # --- writing ------------------------------------------------------------------------

    def seal(self, key: str, data: bytes | memoryview) -> bytes:
        if not self.applies(key):
            return bytes(data)
        dek, wrap_nonce, prefix = secrets.token_bytes(32), secrets.token_bytes(12), os.urandom(4)
        kek_id = self.keys.primary
        wrapped = AESGCM(self.keys.keys[kek_id]).encrypt(wrap_nonce, dek, MAGIC)
        head = _LAYOUT.pack(MAGIC, VERSION, len(kek_id.encode()), kek_id.encode(), wrap_nonce,
                            wrapped, BLOCK_SIZE, len(data), prefix)  # fmt: skip
        head = head.ljust(HEADER_SIZE, b"\0")
        cipher, view = AESGCM(dek), memoryview(data)
        aad = _aad(key, head)
        parts = [head]
        for n, at in enumerate(range(0, len(view), BLOCK_SIZE)):
            parts.append(cipher.encrypt(_nonce(prefix, n), view[at : at + BLOCK_SIZE], aad))
        return b"".join(parts)

    # --- reading ------------------------------------------------------------------------

    def open(self, key: str, stored: bytes | memoryview) -> memoryview:
        """The plaintext of a whole stored object."""
        view = memoryview(stored)
        if bytes(view[: len(MAGIC)]) != MAGIC:
            return view
        header = self._header(key, bytes(view[:HEADER_SIZE]))
        if len(view) != header.sealed_span(0, max(header.blocks - 1, 0))[1]:
            raise _corrupt(key, "its length does not match its header")
        return memoryview(self._open_blocks(key, header, 0, view[HEADER_SIZE:]))

    def header_of(self, key: str, head: Callable[[], bytes | None]) -> Header | None:
        """The header of a stored object (``head`` reads its first HEADER_SIZE bytes, or
        None if it is shorter): None for a plaintext object."""
        with self._lock:
            found = self._headers.get(key)
        if found is not None:
            return found
        raw = head()
        if raw is None or raw[: len(MAGIC)] != MAGIC:
            return None
        return self._header(key, raw)

    def open_range(self, key: str, header: Header, first: int, stored: bytes | memoryview,
                   start: int, end: int) -> memoryview:  # fmt: skip
        """Plaintext ``[start, end)`` from the stored blocks beginning at block ``first``."""
        plain = self._open_blocks(key, header, first, memoryview(stored))
        offset = first * header.block_size
        return memoryview(plain)[start - offset : end - offset]

    def _open_blocks(self, key: str, header: Header, first: int, stored: memoryview) -> bytes:
        cipher, aad, width = AESGCM(header.dek), _aad(key, header.raw), header.block_size + TAG_SIZE
        parts = []
        try:
            for n, at in enumerate(range(0, len(stored), width)):
                block = stored[at : at + width]
                parts.append(cipher.decrypt(_nonce(header.prefix, first + n), block, aad))
        except InvalidTag:
            raise _corrupt(key, "a block failed authentication") from None
        return b"".join(parts)

    def _header(self, key: str, raw: bytes) -> Header:
        magic, version, id_length, kek_id, nonce, wrapped, block, size, prefix = _LAYOUT.unpack(
            raw[: _LAYOUT.size]
        )
        if version != VERSION:
            raise _corrupt(key, f"unknown encryption format version {version}")
        name = kek_id[:id_length].decode("utf-8", "replace")
        kek = self.keys.keys.get(name)
        if kek is None:
            raise EncryptionKeyError(
                f"This data is encrypted with the key-encryption key {name!r}, which this "
                "server's key file (encryption_key_file) does not hold"
            )
        try:
            dek = AESGCM(kek).decrypt(nonce, wrapped, MAGIC)
        except InvalidTag:
            raise EncryptionKeyError(
                f"The key-encryption key {name!r} of this server's key file is not the one "
                "this data was encrypted with"
            ) from None
        header = Header(raw[:HEADER_SIZE], dek, size, block, prefix)
        with self._lock:
            self._headers[key] = header
            if len(self._headers) > 4096:
                self._headers.popitem(last=False)
        return header

    def forget(self, key: str) -> None:
        """An object rewritten in place (manifests are not; plain puts may be)."""
        with self._lock:
            self._headers.pop(key, None)


def _nonce(prefix: bytes, block: int) -> bytes:
    return prefix + block.to_bytes(8, "big")


def _aad(key: str, header: bytes) -> bytes:
    return key.encode() + b"\0" + header


def _corrupt(key: str, why: str) -> StoreError:
    return StoreError(f"The stored object '{key}' cannot be opened: {why}")
