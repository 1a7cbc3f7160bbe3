"""Encryption at rest: every object sealed with AES-256-GCM under its own key.

Envelope encryption, as AWS's SSE does it. A data key (256 bits) is made by a key-encryption
key (KEK) — a local key file's primary key, or a KMS key (AWS KMS's API, ``GenerateDataKey``)
— and used for a few minutes of writes; each object's own key is derived from it with HKDF and
a random salt, so that no two objects share a key (and no nonce is ever reused). The wrapped
data key travels in the object's header; reading asks the KEK to unwrap it once per process
(cached). The body is sealed in 64 KiB blocks, each with its own nonce and tag and the
object's key and header as associated data, so that

* a ranged read decrypts only the blocks it touches (IVF partitions, postings);
* a block moved to another position or object, a truncated object or a swapped header fails
  authentication instead of decrypting to garbage;
* rotating a KEK never rewrites data: a key file gains a new primary key (the older ones keep
  unwrapping), a KMS key rotates inside KMS.

Layout (big-endian)::

    b"VETORENC" | version 2 | kind (1: key file, 2: KMS) | header length (2)
    | key id (2-byte length + bytes) | wrapped data key (2-byte length + bytes)
    | salt (16) | block size (4) | plaintext size (8)
    then each block's ciphertext + 16-byte tag (at least one block: an empty object too, so
    that even its header is authenticated)

Which objects are sealed, and with which KEK, is a ``choose(key)`` function the service sets
from each bucket's and index's ``encryptionConfiguration``. An object without the magic is
plaintext (configuration documents, or data written before encryption was on) and reads as is.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import (
    KmsDisabledException,
    KmsInvalidKeyUsageException,
    KmsInvalidStateException,
    KmsNotFoundException,
    ServiceUnavailableException,
    StoreError,
)

MAGIC = b"VETORENC"
VERSION = 2
LOCAL, KMS = 1, 2
PROBE = 1024  # a ranged read first fetches this much: the header is never longer
BLOCK_SIZE = 64 * 1024
TAG_SIZE = 16
DATA_KEY_SECONDS = 300.0  # a data key is used for this long, then a new one is made
DATA_KEYS = 256  # data keys kept at most (one per KEK in use: callers may name KMS keys)
_FIXED = struct.Struct(">8sBBH")
_TAIL = struct.Struct(">16sIQ")
# Never sealed: configuration documents read to decide everything else, and scratch probes.
_PLAIN_SUFFIXES = ("/bucket.json", "/index.json")
_PLAIN_PREFIXES = ("_vetor/tmp/", "_vetor/ready/", "_vetor/doctor/", "_vetor/probe/")


class EncryptionKeyError(ServiceUnavailableException):
    """A sealed object whose key-encryption key this process cannot use."""


@dataclass(frozen=True)
class Choice:
    """How to seal one object: with the key file, or with a KMS key (its ARN)."""

    kind: int
    key_id: str = ""


class Wrapper(Protocol):
    def new_data_key(self, key_id: str) -> tuple[bytes, bytes, str]:
        """(plaintext, wrapped, the id to record) of a fresh 256-bit data key."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes: ...


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
        if any(len(i.encode()) > 64 or not i for i in self.keys):
            raise ValueError("encryption key ids must be 1 to 64 bytes long")

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
            file.flush()
            os.fsync(file.fileno())  # losing this file would lose every object sealed with it
        os.replace(temporary, target)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return key_id

    def new_data_key(self, key_id: str) -> tuple[bytes, bytes, str]:
        plain, nonce = secrets.token_bytes(32), secrets.token_bytes(12)
        wrapped = nonce + AESGCM(self.keys[self.primary]).encrypt(nonce, plain, MAGIC)
        return plain, wrapped, self.primary

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        kek = self.keys.get(key_id)
        if kek is None:
            raise EncryptionKeyError(
                f"This data is encrypted with the key-encryption key {key_id!r}, which this "
                "server's key file (encryption_key_file) does not hold"
            )
        try:
            return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], MAGIC)
        except InvalidTag:
            raise EncryptionKeyError(
                f"The key-encryption key {key_id!r} of this server's key file is not the one "
                "this data was encrypted with"
            ) from None


class KmsKeys:
    """Data keys from a KMS-compatible service (AWS KMS's API through boto3)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def new_data_key(self, key_id: str) -> tuple[bytes, bytes, str]:
        reply = self._call(
            lambda: self.client.generate_data_key(KeyId=key_id, KeySpec="AES_256"), key_id
        )
        return reply["Plaintext"], reply["CiphertextBlob"], key_id

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        reply = self._call(
            lambda: self.client.decrypt(CiphertextBlob=wrapped, KeyId=key_id), key_id
        )
        return reply["Plaintext"]

    @staticmethod
    def _call(request: Callable[[], Any], key_id: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return request()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = f"KMS key {key_id}: {error.response.get('Error', {}).get('Message', code)}"
            refused = {  # KMS's codes -> S3 Vectors' (400)
                "DisabledException": KmsDisabledException,
                "NotFoundException": KmsNotFoundException,
                "KMSInvalidStateException": KmsInvalidStateException,
                "InvalidCiphertextException": KmsInvalidStateException,
            }.get(code, KmsInvalidKeyUsageException)
            raise refused(message) from None
        except BotoCoreError as error:  # unreachable, no credentials
            raise EncryptionKeyError(f"KMS cannot be reached for key {key_id}: {error}") from None


@dataclass(frozen=True)
class Header:
    raw: bytes
    key: bytes  # the object's own key (derived)
    size: int
    block_size: int

    @property
    def blocks(self) -> int:
        return max(1, -(-self.size // self.block_size))

    def sealed_span(self, first: int, last: int) -> tuple[int, int]:
        """The stored bytes holding plaintext blocks ``first..last`` (inclusive)."""
        width, start = self.block_size + TAG_SIZE, len(self.raw)
        end = start + min((last + 1) * width, self.blocks * TAG_SIZE + self.size)
        return start + first * width, end


# The key the writes inside a ``sealed_with`` block (this context: the thread, or a task)
# seal with, over what ``choose`` says: a document with a key of its own (a session's
# ``sessionConfiguration.kmsKeyArn``).
_SEAL_WITH: ContextVar[Choice | None] = ContextVar("seal_with", default=None)


@contextlib.contextmanager
def sealed_with(choice: Choice | None) -> Iterator[None]:
    """Seal what is written inside the block with ``choice`` (None: as ``choose`` says)."""
    token = _SEAL_WITH.set(choice)
    try:
        yield
    finally:
        _SEAL_WITH.reset(token)


class Sealer:
    """Seals and opens the objects of one store (see the module's docstring)."""

    def __init__(self, key_file: KeyFile | None, kms: KmsKeys | None) -> None:
        self.wrappers: dict[int, Wrapper] = {}
        if key_file is not None:
            self.wrappers[LOCAL] = key_file
        if kms is not None:
            self.wrappers[KMS] = kms
        # Until the service says otherwise: everything but configuration, with the key file.
        self.choose: Callable[[str], Choice | None] = lambda key: (
            Choice(LOCAL) if key_file is not None else None
        )
        self._data_keys: OrderedDict[Choice, tuple[float, bytes, bytes, str]] = OrderedDict()
        self._unwrapped: OrderedDict[bytes, bytes] = OrderedDict()
        self._headers: OrderedDict[str, Header] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def sealable(key: str) -> bool:
        return not (key.endswith(_PLAIN_SUFFIXES) or key.startswith(_PLAIN_PREFIXES))

    # --- writing ------------------------------------------------------------------------

    def seal(self, key: str, data: bytes | memoryview) -> bytes:
        choice = (_SEAL_WITH.get() or self.choose(key)) if self.sealable(key) else None
        if choice is None:
            return bytes(data)
        plain, wrapped, key_id = self._data_key(choice)
        salt = secrets.token_bytes(16)
        encoded_id = key_id.encode()
        body = struct.pack(">H", len(encoded_id)) + encoded_id
        body += struct.pack(">H", len(wrapped)) + wrapped + _TAIL.pack(salt, BLOCK_SIZE, len(data))
        if _FIXED.size + len(body) > PROBE:
            raise EncryptionKeyError(
                f"The key id {key_id[:80]!r} and its wrapped data key do not fit in an object "
                f"header of {PROBE} bytes"
            )
        head = _FIXED.pack(MAGIC, VERSION, choice.kind, _FIXED.size + len(body)) + body
        cipher, view, aad = AESGCM(_derive(plain, salt)), memoryview(data), _aad(key, head)
        parts = [head]
        for n, at in enumerate(range(0, max(len(view), 1), BLOCK_SIZE)):
            parts.append(cipher.encrypt(_nonce(n), view[at : at + BLOCK_SIZE], aad))
        return b"".join(parts)

    def ready(self, choice: Choice) -> None:
        """Make sure ``choice`` can seal (its KEK gives a data key): a KMS key that is
        disabled or missing fails here, before work whose result it would seal."""
        self._data_key(choice)

    def _data_key(self, choice: Choice) -> tuple[bytes, bytes, str]:
        with self._lock:
            current = self._data_keys.get(choice)
        if current is not None and time.monotonic() - current[0] < DATA_KEY_SECONDS:
            return current[1], current[2], current[3]
        wrapper = self._wrapper(choice.kind, choice.key_id)
        plain, wrapped, key_id = wrapper.new_data_key(choice.key_id)
        with self._lock:
            self._data_keys[choice] = (time.monotonic(), plain, wrapped, key_id)
            self._data_keys.move_to_end(choice)
            while len(self._data_keys) > DATA_KEYS:
                self._data_keys.popitem(last=False)
        return plain, wrapped, key_id

    def _wrapper(self, kind: int, key_id: str) -> Wrapper:
        wrapper = self.wrappers.get(kind)
        if wrapper is None:
            raise unconfigured(kind)
        return wrapper

    # --- reading ------------------------------------------------------------------------

    def open(self, key: str, stored: bytes | memoryview) -> memoryview:
        """The plaintext of a whole stored object."""
        view = memoryview(stored)
        if bytes(view[: len(MAGIC)]) != MAGIC:
            return view
        header = self._header(key, bytes(view[: _header_length(key, view)]))
        if len(view) != header.sealed_span(0, max(header.blocks - 1, 0))[1]:
            raise _corrupt(key, "its length does not match its header")
        return memoryview(self._open_blocks(key, header, 0, view[len(header.raw) :]))

    def header_of(self, key: str, head: Callable[[], bytes]) -> Header | None:
        """The header of a stored object (``head`` reads its first PROBE bytes, or all of a
        shorter one): None for a plaintext object."""
        with self._lock:
            found = self._headers.get(key)
        if found is not None:
            return found
        raw = head()
        if raw[: len(MAGIC)] != MAGIC:
            return None
        return self._header(key, raw[: _header_length(key, memoryview(raw))])

    def open_range(self, key: str, header: Header, first: int, stored: bytes | memoryview,
                   start: int, end: int) -> memoryview:  # fmt: skip
        """Plaintext ``[start, end)`` from the stored blocks beginning at block ``first``."""
        if end > header.size:  # as a plain object's read past its end: a short reply
            raise StoreError(f"The object store returned an incomplete '{key}' (past its end)")
        plain = self._open_blocks(key, header, first, memoryview(stored))
        offset = first * header.block_size
        return memoryview(plain)[start - offset : end - offset]

    def _open_blocks(self, key: str, header: Header, first: int, stored: memoryview) -> bytes:
        cipher, aad = AESGCM(header.key), _aad(key, header.raw)
        width, parts = header.block_size + TAG_SIZE, []
        try:
            for n, at in enumerate(range(0, len(stored), width)):
                parts.append(cipher.decrypt(_nonce(first + n), stored[at : at + width], aad))
        except InvalidTag:
            raise _corrupt(key, "a block failed authentication") from None
        return b"".join(parts)

    def _header(self, key: str, raw: bytes) -> Header:
        try:
            _, version, kind, _ = _FIXED.unpack_from(raw)
            at = _FIXED.size
            (length,) = struct.unpack_from(">H", raw, at)
            key_id = raw[at + 2 : at + 2 + length].decode()
            at += 2 + length
            (length,) = struct.unpack_from(">H", raw, at)
            wrapped = raw[at + 2 : at + 2 + length]
            salt, block, size = _TAIL.unpack_from(raw, at + 2 + length)
        except (struct.error, IndexError, UnicodeDecodeError):
            raise _corrupt(key, "its header is malformed") from None
        if version != VERSION:
            raise _corrupt(key, f"unknown encryption format version {version}")
        if block <= 0:
            raise _corrupt(key, "its header is malformed")
        header = Header(raw, _derive(self._unwrap(kind, key_id, wrapped), salt), size, block)
        with self._lock:
            self._headers[key] = header
            if len(self._headers) > 4096:
                self._headers.popitem(last=False)
        return header

    def _unwrap(self, kind: int, key_id: str, wrapped: bytes) -> bytes:
        with self._lock:
            found = self._unwrapped.get(wrapped)
        if found is not None:
            return found
        plain = self._wrapper(kind, key_id).unwrap(key_id, wrapped)
        with self._lock:
            self._unwrapped[wrapped] = plain
            if len(self._unwrapped) > 1024:
                self._unwrapped.popitem(last=False)
        return plain

    def forget(self, key: str) -> None:
        """An object about to be rewritten in place: its cached header is stale."""
        with self._lock:
            self._headers.pop(key, None)


def unconfigured(kind: int) -> EncryptionKeyError:
    """The error for sealed data a process has no means to open."""
    what = "a key file (encryption_key_file)" if kind == LOCAL else "KMS (kms_endpoint_url)"
    return EncryptionKeyError(
        f"This data is encrypted at rest with {what}, which this process is not configured with"
    )


def _header_length(key: str, view: memoryview) -> int:
    if len(view) < _FIXED.size:
        raise _corrupt(key, "it is shorter than its header")
    length = int.from_bytes(view[_FIXED.size - 2 : _FIXED.size], "big")
    if not _FIXED.size < length <= min(PROBE, len(view)):
        raise _corrupt(key, "its header is malformed")
    return length


def _derive(data_key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"vetor object").derive(
        data_key
    )


def _nonce(block: int) -> bytes:
    return bytes(4) + block.to_bytes(8, "big")  # unique per block; each object has its own key


def _aad(key: str, header: bytes) -> bytes:
    return key.encode() + b"\0" + header


def _corrupt(key: str, why: str) -> StoreError:
    return StoreError(f"The stored object '{key}' cannot be opened: {why}")
