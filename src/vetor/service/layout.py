"""Where the service keeps things on the store: every key it writes, in one place.

This is the top of the tree that ``docs/FORMAT.md`` §1 draws; below an index's incarnation
prefix the engine owns the layout (manifests, WAL, segments). Change a key here and in the
spec together, never one without the other::

    <bucket>/bucket.json                         bucket configuration
    <bucket>/policy.json, <bucket>/tags.json     optional
    <bucket>/indexes/<index>/index.json          index configuration (names the incarnation)
    <bucket>/indexes/<index>/<indexId>/          the incarnation: tags.json, settings.json
                                                 (legacy), and the engine's objects
    _vetor/...                                   the store's own scratch space and secrets
"""

from __future__ import annotations

BUCKETS = ""  # buckets are the store's top-level "directories"
READY_PROBE = "_vetor/ready/"  # listed by /ready: any answer means the store is reachable
TOKEN_KEY = "_vetor/token-key"  # the secret that signs pagination tokens


def bucket(name: str) -> str:
    """Everything of one bucket (deleted as a whole with it)."""
    return f"{name}/"


def bucket_config(name: str) -> str:
    return f"{name}/bucket.json"


def bucket_policy(name: str) -> str:
    return f"{name}/policy.json"


def bucket_tags(name: str) -> str:
    return f"{name}/tags.json"


def indexes(bucket_name: str) -> str:
    """The directory listing a bucket's indexes (deleted ones leave their manifests)."""
    return f"{bucket_name}/indexes/"


def index_config(bucket_name: str, index: str) -> str:
    return f"{bucket_name}/indexes/{index}/index.json"


def incarnation(bucket_name: str, index: str, index_id: str) -> str:
    """The prefix of one incarnation of an index: the engine's root (no trailing slash)."""
    return f"{bucket_name}/indexes/{index}/{index_id}"


def index_tags(bucket_name: str, index: str, index_id: str) -> str:
    return f"{incarnation(bucket_name, index, index_id)}/tags.json"


def legacy_settings(bucket_name: str, index: str, index_id: str) -> str:
    """Where format 1 kept an index's configuration changes (manifests carry them since)."""
    return f"{incarnation(bucket_name, index, index_id)}/settings.json"
