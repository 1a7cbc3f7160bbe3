"""Peer URIs: what ``vetor import`` reads from and ``vetor export`` writes to.

======================================  ================================================
``s3vectors://BUCKET/INDEX``            any S3 Vectors endpoint (``?endpoint=URL`` or
                                        ``AWS_ENDPOINT_URL_S3VECTORS``, ``?region=``;
                                        AWS credentials)
``postgresql://USER@HOST/DB?table=T``   a pgvector table (password: ``PGPASSWORD``)
``qdrant://HOST:PORT/COLLECTION``       a Qdrant server (``QDRANT_API_KEY``)
``qdrant+local:FOLDER/COLLECTION``      qdrant-client's local mode on a folder
``chroma:FOLDER/COLLECTION``            a persistent Chroma folder
``chroma+http://HOST:PORT/COLLECTION``  a Chroma server
``lancedb:FOLDER/TABLE``                a LanceDB database folder (or ``lancedb+s3://``)
======================================  ================================================
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .base import Peer, TransferError

SCHEMES = (
    "s3vectors", "postgresql", "postgres", "qdrant", "qdrant+https", "qdrant+local",
    "chroma", "chroma+http", "chroma+https", "lancedb", "lancedb+s3",
)  # fmt: skip


def open_peer(uri: str) -> Peer:
    scheme = uri.partition(":")[0].lower()
    if scheme not in SCHEMES:
        raise TransferError(f"unknown peer {uri!r}: the schemes are {', '.join(SCHEMES)}")
    parts = urlsplit(uri)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme == "s3vectors":
        return _s3vectors(parts.netloc, parts.path.strip("/"), options, uri)
    if scheme in ("postgresql", "postgres"):
        return _pgvector(uri, options)
    if scheme in ("qdrant", "qdrant+https", "qdrant+local"):
        return _qdrant(scheme, uri)
    if scheme.startswith("chroma"):
        return _chroma(scheme, uri)
    return _lancedb(scheme, options, uri)


def _folder_and_name(uri: str) -> tuple[str, str]:
    """``scheme:FOLDER/NAME`` or ``scheme://FOLDER/NAME`` (an absolute or relative path)."""
    path = uri.split(":", 1)[1].split("?", 1)[0]
    path = path[2:] if path.startswith("//") else path
    folder, _, name = path.rstrip("/").rpartition("/")
    if not name:
        raise TransferError(f"{uri!r}: name the collection after the folder (FOLDER/NAME)")
    return folder or ".", name


def _s3vectors(bucket: str, index: str, options: dict[str, str], uri: str) -> Peer:
    import boto3

    from .s3vectors import RemoteIndex

    if not bucket or not index:
        raise TransferError(f"{uri!r}: write s3vectors://BUCKET/INDEX")
    endpoint = options.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3VECTORS")
    environment = os.environ
    region = options.get("region") or environment.get("AWS_REGION")
    region = region or environment.get("AWS_DEFAULT_REGION") or "us-east-1"
    client = boto3.client("s3vectors", endpoint_url=endpoint or None, region_name=region)
    return RemoteIndex(client, bucket, index, f"s3vectors://{bucket}/{index}@{endpoint or 'aws'}")


def _pgvector(uri: str, options: dict[str, str]) -> Peer:
    from .pgvector import PgVectorTable

    table = options.pop("table", None)
    if not table:
        raise TransferError(f"{uri!r}: name the table (?table=NAME)")
    parts = urlsplit(uri)
    keep = {"key", "vector", "metadata", "metric", "index"}
    columns = {k: options.pop(k) for k in list(options) if k in keep}
    query = "&".join(f"{k}={v}" for k, v in options.items())  # libpq's own options
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    public = "&".join(f"{k}={v}" for k, v in options.items() if k != "password")
    shown = parts._replace(netloc=parts.netloc.rpartition("@")[2], query=f"table={table}&{public}")
    return PgVectorTable(conninfo, table, urlunsplit(shown), **columns)


def _qdrant(scheme: str, uri: str) -> Peer:
    from qdrant_client import QdrantClient

    from .qdrant import QdrantCollection

    if scheme == "qdrant+local":
        folder, name = _folder_and_name(uri)
        return QdrantCollection(
            QdrantClient(path=folder), name, f"qdrant+local:{os.path.abspath(folder)}/{name}"
        )
    split = urlsplit(uri)
    name = split.path.strip("/")
    http = "https" if scheme == "qdrant+https" else "http"
    client = QdrantClient(url=f"{http}://{split.netloc}", api_key=os.environ.get("QDRANT_API_KEY"))
    return QdrantCollection(client, name, f"{scheme}://{split.netloc}/{name}")


def _chroma(scheme: str, uri: str) -> Peer:
    import chromadb

    from .chroma import ChromaCollection

    if scheme == "chroma":
        folder, name = _folder_and_name(uri)
        client = chromadb.PersistentClient(path=folder)
        return ChromaCollection(client, name, f"chroma:{os.path.abspath(folder)}/{name}")
    split = urlsplit(uri)
    client = chromadb.HttpClient(
        host=split.hostname or "localhost", port=split.port or 8000, ssl=scheme == "chroma+https"
    )
    name = split.path.strip("/")
    return ChromaCollection(client, name, f"{scheme}://{split.netloc}/{name}")


def _lancedb(scheme: str, options: dict[str, str], uri: str) -> Peer:
    import lancedb

    from .lancedb import LanceTable

    folder, name = _folder_and_name(uri)
    location = f"s3://{folder}" if scheme == "lancedb+s3" else folder
    shown = location if scheme == "lancedb+s3" else os.path.abspath(folder)
    return LanceTable(
        lancedb.connect(location), name, f"lancedb:{shown}/{name}", options.get("metric")
    )
