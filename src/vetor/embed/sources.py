"""Inputs of ``vetor embed``: literal text, local files, globs, folders, S3 objects and prefixes.

S3 sources are read through their own boto3 client (``SourceBucket``), so documents can sit
on one S3-compatible endpoint with one set of credentials while vectors are stored on
another (or in a local directory).
"""

from __future__ import annotations

import glob
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEXT = "text"
IMAGE = "image"
AUDIO = "audio"  # speech: transcribed, then embedded as text

IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO_TYPES = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".webm"}
# Types that are never plain text: refused with a clear message instead of decoded as noise.
BINARY_TYPES = IMAGE_TYPES | {
    ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".zip", ".gz",
    ".tar", ".7z", ".rar", ".exe", ".bin", ".so", ".dll", ".mp3", ".mp4", ".wav",
    ".mov", ".avi", ".parquet", ".arrow", ".npy", ".pkl",
}  # fmt: skip
MAX_SOURCE_BYTES = 64 * 1024 * 1024  # a bigger "text" file is almost surely a mistake


class SourceError(Exception):
    """An input that cannot be read or used; ``input`` names it when the message cannot."""

    def __init__(self, message: str, input: str = "") -> None:
        super().__init__(message)
        self.input = input


@dataclass(frozen=True)
class Source:
    """One input: a literal text, a local file or an S3 object."""

    kind: str  # TEXT, IMAGE or AUDIO
    location: str  # file:///abs/path, s3://bucket/key, or "" for a literal text
    name: str  # the name --filename-as-key uses: relative to the glob, folder or prefix
    value: str | None = None  # the literal text of --text-value
    reader: Callable[[], bytes] | None = None

    @property
    def label(self) -> str:
        """How messages name this input."""
        if self.location:
            return self.location
        preview = (self.value or "")[:40]
        return f"--text-value {preview!r}"

    def read_text(self) -> str:
        if self.value is not None:
            return self.value
        suffix = Path(self.name).suffix.lower()
        if suffix in BINARY_TYPES:
            raise SourceError(f"unsupported file type {suffix} for --text (plain text only)")
        data = self._read()
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise SourceError(f"not UTF-8 text ({error.reason} at byte {error.start})") from None

    def read_image(self) -> bytes:
        suffix = Path(self.name).suffix.lower()
        if suffix not in IMAGE_TYPES:
            known = " ".join(sorted(IMAGE_TYPES))
            raise SourceError(f"unsupported image type {suffix or '(none)'} (known: {known})")
        return self._read()

    def read_audio(self) -> bytes:
        suffix = Path(self.name).suffix.lower()
        if suffix not in AUDIO_TYPES:
            known = " ".join(sorted(AUDIO_TYPES))
            raise SourceError(f"unsupported audio type {suffix or '(none)'} (known: {known})")
        return self._read()

    def _read(self) -> bytes:
        assert self.reader is not None
        try:
            return self.reader()
        except SourceError:
            raise
        except Exception as error:  # OSError, botocore errors: say what went wrong, go on
            raise SourceError(f"cannot read: {error}") from None


def literal(text: str) -> Source:
    return Source(TEXT, "", "", value=text)


def literal_key(text: str) -> str:
    """A stable key for a literal text, so putting it twice updates one vector."""
    return "text-" + hashlib.sha256(text.encode()).hexdigest()[:32]


# --- local files ----------------------------------------------------------------------------


def local_sources(pattern: str, kind: str) -> Iterator[Source]:
    """A file, every file under a folder, or every file a glob matches (``**`` recurses)."""
    expanded = os.path.expanduser(pattern)
    if glob.has_magic(expanded):
        base = _glob_base(expanded)
        # Broken links and special files are kept: they fail on read, named, like any input.
        paths = sorted(p for p in glob.glob(expanded, recursive=True) if not os.path.isdir(p))
        if not paths:
            raise SourceError("no files match", pattern)
    elif os.path.isdir(expanded):
        base = expanded
        paths = sorted(str(p) for p in Path(expanded).rglob("*") if not p.is_dir())
        if not paths:
            raise SourceError("the folder has no files", pattern)
    elif os.path.exists(expanded):
        base, paths = os.path.dirname(expanded), [expanded]
    else:
        raise SourceError("no such file or folder", pattern)
    for path in paths:
        absolute = Path(os.path.abspath(path))  # not resolved: name the link the user gave
        name = os.path.relpath(path, base) if base else os.path.basename(path)
        yield Source(kind, absolute.as_uri(), name, reader=_file_reader(absolute))


def _glob_base(pattern: str) -> str:
    parts = Path(pattern).parts
    static = [p for p in _until_magic(parts)]
    return str(Path(*static)) if static else ""


def _until_magic(parts: tuple[str, ...]) -> Iterator[str]:
    for part in parts:
        if glob.has_magic(part):
            return
        yield part


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        size = path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise SourceError(f"file is {size} bytes, over the {MAX_SOURCE_BYTES}-byte limit")
        return path.read_bytes()

    return read


# --- S3 objects -----------------------------------------------------------------------------


class SourceBucket:
    """Reads source objects from any S3-compatible endpoint, with its own credentials.

    Without options it uses the standard AWS chain (``AWS_ENDPOINT_URL_S3`` etc.); the
    ``VETOR_SOURCE_*`` variables or CLI options set a separate endpoint and key pair.
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        owner: str | None = None,
    ) -> None:
        # the account that must own the source bucket (S3's ExpectedBucketOwner)
        self._owner = {"ExpectedBucketOwner": owner} if owner else {}
        self._options = {
            "endpoint_url": endpoint_url,
            "region": region,
            "profile": profile,
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
        }
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:  # boto3 clients are thread-safe once built, building is not
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        import boto3
        from botocore.config import Config

        o = self._options
        session = boto3.session.Session(profile_name=o["profile"])
        region = o["region"] or session.region_name or "us-east-1"
        credentials = {}
        if o["access_key_id"] and o["secret_access_key"]:
            credentials = {
                "aws_access_key_id": o["access_key_id"],
                "aws_secret_access_key": o["secret_access_key"],
            }
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)
        return session.client(
            "s3", endpoint_url=o["endpoint_url"], region_name=region, config=config, **credentials
        )

    def sources(self, uri: str, kind: str) -> Iterator[Source]:
        """``s3://b/key`` (one object), ``s3://b/prefix/`` or ``s3://b/prefix/*`` (a prefix);
        a key that is no object is read as a prefix."""
        bucket, _, rest = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise SourceError("no bucket name", uri)
        if "*" in rest or rest.endswith("/") or not rest:
            yield from self._listing(uri, bucket, rest.split("*", 1)[0], kind)
            return
        if self._exists(bucket, rest):
            yield self._source(kind, bucket, rest, os.path.basename(rest))
            return
        yield from self._listing(uri, bucket, rest + "/", kind)

    def _listing(self, uri: str, bucket: str, prefix: str, kind: str = TEXT) -> Iterator[Source]:
        keys = self._keys(uri, bucket, prefix)
        if not keys:
            raise SourceError("no objects under this prefix", uri)
        for key in keys:
            yield self._source(kind, bucket, key, key[len(prefix) :])

    def _keys(self, uri: str, bucket: str, prefix: str) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, **self._owner
            )
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
            return [k for k in keys if not k.endswith("/")]  # folder markers
        except Exception as error:
            raise SourceError(f"cannot list ({error})", uri) from None

    def _exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=bucket, Key=key, **self._owner)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise SourceError(f"cannot read ({error})", f"s3://{bucket}/{key}") from None

    def _source(self, kind: str, bucket: str, key: str, name: str) -> Source:
        def read() -> bytes:
            body = self.client.get_object(Bucket=bucket, Key=key, **self._owner)
            size = body.get("ContentLength") or 0
            if size > MAX_SOURCE_BYTES:
                raise SourceError(f"object is {size} bytes, over the {MAX_SOURCE_BYTES}-byte limit")
            return body["Body"].read()

        return Source(kind, f"s3://{bucket}/{key}", name, reader=read)


def expand(
    patterns: list[str], kind: str, bucket: SourceBucket | None = None
) -> Iterator[Source | SourceError]:
    """Every input the patterns name; a pattern that names none gives a ``SourceError``."""
    for pattern in patterns:
        try:
            if pattern.startswith("s3://"):
                yield from (bucket or SourceBucket()).sources(pattern, kind)
            else:
                yield from local_sources(pattern, kind)
        except SourceError as error:
            yield error
