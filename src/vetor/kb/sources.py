"""What a data source holds: its documents, each with a version signature, a reader and the
reader of its Bedrock metadata sidecar (``<file>.metadata.json``) when it has one.

``S3`` sources are listed through their own S3 client (``vetor.embed.SourceBucket``: the
standard AWS chain, or the ``VETOR_SOURCE_*`` settings for another S3-compatible endpoint with
its own credentials); the signature is the object's ETag (and its sidecar's), so a re-sync
reads nothing that did not change. ``LOCAL`` folders (a vetor extension, for embedded use) sign
with size and modification time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..embed import SourceBucket
from ..errors import ValidationException
from ..settings import Settings
from .parsing import SIDECAR_SUFFIX

Reader = Callable[[], bytes]


@dataclass(frozen=True)
class SourceDocument:
    uri: str  # s3://bucket/key, file:///path, or a CUSTOM document's id
    signature: str  # changes whenever the document or its sidecar does
    read: Reader
    read_sidecar: Reader | None = None


def s3_bucket(settings: Settings) -> SourceBucket:
    return SourceBucket(
        endpoint_url=settings.source_endpoint_url or None,
        region=settings.source_region or None,
        access_key_id=settings.source_access_key_id or None,
        secret_access_key=settings.source_secret_access_key or None,
    )


def list_documents(config: dict[str, Any], bucket: SourceBucket) -> Iterator[SourceDocument]:
    """Every document of an S3 or LOCAL data source, sidecars joined to their documents."""
    kind = config["type"]
    if kind == "S3":
        yield from _s3_documents(config["s3Configuration"], bucket)
    elif kind == "LOCAL":
        yield from _local_documents(config["localConfiguration"]["path"])
    else:
        raise ValidationException(f"A {kind} data source has no documents to list: ingest them")


def _s3_documents(config: dict[str, Any], bucket: SourceBucket) -> Iterator[SourceDocument]:
    name = config["bucketArn"].rsplit(":", 1)[-1]
    owner = config.get("bucketOwnerAccountId")
    options = {"ExpectedBucketOwner": owner} if owner else {}
    objects: dict[str, str] = {}
    pages = bucket.client.get_paginator("list_objects_v2")
    for prefix in config.get("inclusionPrefixes") or [""]:
        for page in pages.paginate(Bucket=name, Prefix=prefix, **options):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    objects[item["Key"]] = item.get("ETag", "").strip('"')

    def reader(key: str) -> Reader:
        return lambda: bucket.client.get_object(Bucket=name, Key=key, **options)["Body"].read()

    for key, etag in sorted(objects.items()):
        if key.endswith(SIDECAR_SUFFIX):
            continue
        sidecar = key + SIDECAR_SUFFIX
        signature = f"{etag}+{objects[sidecar]}" if sidecar in objects else etag
        read_sidecar = reader(sidecar) if sidecar in objects else None
        yield SourceDocument(f"s3://{name}/{key}", signature, reader(key), read_sidecar)


def _local_documents(folder: str) -> Iterator[SourceDocument]:
    root = Path(os.path.expanduser(folder)).absolute()
    if not root.is_dir():
        raise ValidationException(f"The folder {root} of the data source does not exist")
    files = {p: p.stat() for p in root.rglob("*") if p.is_file()}
    for path, stat in sorted(files.items()):
        if path.name.endswith(SIDECAR_SUFFIX):
            continue
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        signature = f"{stat.st_size}:{stat.st_mtime_ns}"
        if sidecar in files:
            signature += f"+{files[sidecar].st_size}:{files[sidecar].st_mtime_ns}"
        read_sidecar = sidecar.read_bytes if sidecar in files else None
        yield SourceDocument(path.as_uri(), signature, path.read_bytes, read_sidecar)
