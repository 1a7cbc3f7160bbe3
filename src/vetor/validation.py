"""Request validation shared by every operation: names, ARNs, limits, vectors, metadata.

Messages follow AWS's wording so that clients matching on them keep working.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import orjson

from .errors import ValidationException
from .iam import parse_policy
from .settings import Settings

# \A...\Z, never ^...$: "$" also matches before a final newline, so "docs\n" would pass.
BUCKET_NAME = re.compile(r"\A[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
INDEX_NAME = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
BUCKET_ARN = re.compile(
    r"\Aarn:aws[-a-z0-9]*:s3vectors:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"bucket/(?P<bucket>[^/\n]+)\Z"
)
INDEX_ARN = re.compile(
    r"\Aarn:aws[-a-z0-9]*:s3vectors:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"bucket/(?P<bucket>[^/\n]+)/index/(?P<index>[^/\n]+)\Z"
)
MAX_TEXT_SEARCH_CONFIGS = 10  # per index


def bucket_name(name: Any) -> str:
    if not isinstance(name, str) or not BUCKET_NAME.match(name):
        raise ValidationException("Invalid vector bucket name")
    return name


def index_name(name: Any) -> str:
    if not isinstance(name, str) or not INDEX_NAME.match(name):
        raise ValidationException("Invalid index name")
    return name


def query_vector(data: Any, dimension: int, metric: str) -> np.ndarray:
    values = data.get("float32") if isinstance(data, dict) else None
    if not isinstance(values, list):
        raise ValidationException('Invalid query vector: expected {"float32": [numbers]}')
    vector = _as_floats(values)
    if vector is None or vector.ndim != 1:
        raise ValidationException("Invalid query vector: values must be numbers")
    if len(vector) != dimension:
        raise ValidationException(
            f"Invalid query vector: vector must have length {dimension}, "
            f"but has length {len(vector)}"
        )
    _check_finite_nonzero(vector[None, :], ["query vector"], metric, query=True)
    return vector


def vectors_matrix(records: list[dict[str, Any]], dimension: int, metric: str) -> np.ndarray:
    """Decode every record's ``data.float32`` into one (n, dimension) float32 matrix."""
    lists = []
    for record in records:
        data = record.get("data")
        values = data.get("float32") if isinstance(data, dict) else None
        if not isinstance(values, (list, np.ndarray)):  # arrays: the server's fast decoder
            raise ValidationException(
                f"Invalid record for key '{record['key']}': data must be {{\"float32\": [numbers]}}"
            )
        lists.append(values)
    matrix = _as_floats(lists)
    if matrix is None or matrix.ndim != 2 or matrix.shape[1] != dimension:
        for record, values in zip(records, lists):  # find the first offender for the message
            if len(values) != dimension:
                raise ValidationException(
                    f"Invalid record for key '{record['key']}': vector must have length "
                    f"{dimension}, but has length {len(values)}"
                )
            if _as_floats(values) is None:
                raise ValidationException(
                    f"Invalid record for key '{record['key']}': vector values must be numbers"
                )
        raise ValidationException("Invalid vectors: values must be numbers")
    _check_finite_nonzero(matrix, [r["key"] for r in records], metric)
    return matrix


def _as_floats(values: Any) -> np.ndarray | None:
    """A float32 array, or None when the input is ragged or holds non-numbers.

    Converting without a dtype first lets numpy report strings (kind "U") and objects
    (kind "O") instead of silently parsing "1.5"; no per-element Python loop.
    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind not in "fiu" or (array.size == 0 and array.ndim > 1):
        return None
    return array.astype(np.float32, copy=False)


def _check_finite_nonzero(
    matrix: np.ndarray, names: list[str], metric: str, query: bool = False
) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        which = names[int(np.argmin(finite))]
        raise ValidationException(_record(which, query) + "vector must contain only finite values")
    if metric == "cosine":
        zero = ~np.any(matrix != 0, axis=1)
        if zero.any():
            which = names[int(np.argmax(zero))]
            raise ValidationException(
                _record(which, query) + "a zero vector has no direction for the cosine metric"
            )


def _record(name: str, query: bool) -> str:
    return "Invalid query vector: " if query else f"Invalid record for key '{name}': "


def metadata(
    key: str, value: Any, non_filterable: frozenset[str], settings: Settings
) -> bytes | None:
    """Validate one vector's metadata; return its JSON encoding (None when absent)."""
    if value is None:
        return None
    prefix = f"Invalid record for key '{key}': "
    if not isinstance(value, dict):
        raise ValidationException(prefix + "metadata must be a JSON object")
    if len(value) > settings.max_metadata_keys:
        raise ValidationException(
            prefix + f"metadata has {len(value)} keys, more than the limit of "
            f"{settings.max_metadata_keys}"
        )
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise ValidationException(prefix + "metadata keys must be non-empty strings")
        if not _metadata_value_ok(item):
            raise ValidationException(
                prefix + f"metadata value for '{name}' must be a string, number, boolean "
                "or a list of those"
            )
    encoded = orjson.dumps(value)
    if len(encoded) > settings.max_metadata_bytes:
        raise ValidationException(
            prefix + f"metadata is {len(encoded)} bytes, more than the limit of "
            f"{settings.max_metadata_bytes} bytes"
        )
    filterable_bytes = len(encoded)
    if filterable_bytes > settings.max_filterable_metadata_bytes and non_filterable & value.keys():
        filterable = {k: v for k, v in value.items() if k not in non_filterable}
        filterable_bytes = len(orjson.dumps(filterable))
    if filterable_bytes > settings.max_filterable_metadata_bytes:
        raise ValidationException(
            prefix + f"filterable metadata is {filterable_bytes} bytes, more than the limit of "
            f"{settings.max_filterable_metadata_bytes} bytes"
        )
    return encoded


def _metadata_value_ok(item: Any) -> bool:
    if isinstance(item, list):
        return all(_scalar_ok(v) for v in item)
    return _scalar_ok(item)


def _scalar_ok(item: Any) -> bool:
    if isinstance(item, float):
        return math.isfinite(item)
    return isinstance(item, (str, int, bool))


# --- request structures -----------------------------------------------------------------------


def encryption(config: dict[str, Any] | None) -> dict[str, Any]:
    """An ``encryptionConfiguration``, defaulted to SSE-S3 (``AES256``) as S3 Vectors does."""
    if config is None:
        return {"sseType": "AES256"}
    sse = config.get("sseType", "AES256")
    if sse == "aws:kms" and not config.get("kmsKeyArn"):
        raise ValidationException("kmsKeyArn is required when sseType is aws:kms")
    return {k: v for k, v in {"sseType": sse, "kmsKeyArn": config.get("kmsKeyArn")}.items() if v}


def policy_document(policy: Any) -> str:
    """A bucket policy: a string holding a valid IAM resource policy of at most 20 KB."""
    if not isinstance(policy, str):
        raise ValidationException.field("/policy", "Member must be a string")
    parse_policy(policy, "resource")
    return policy


def text_configs(items: list[dict[str, Any]], parent: str) -> list[dict[str, Any]]:
    """Text search configurations: {metadataKey, language?} (no language: the standard
    analyzer), one per key. ``status`` is output only; one sent along is ignored."""
    result = []
    for item in items:
        config = {"metadataKey": item["metadataKey"]}
        if "language" in item:
            config["language"] = item["language"]
        result.append(config)
    if len({c["metadataKey"] for c in result}) < len(result):
        raise ValidationException(
            f"{parent}/textSearchConfigurations names a metadata key more than once"
        )
    return result


def required_member(structure: dict[str, Any], path: str, name: str) -> Any:
    """A member the model leaves optional but S3 Vectors requires in this place."""
    if name not in structure:
        raise ValidationException.field(f"{path}/{name}", "Member must not be null")
    return structure[name]


def text_queries(items: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    """``queryTexts`` as (metadata key, text) pairs, one per distinct key."""
    pairs = [(item["metadataKey"], item["text"]) for item in items or ()]
    if len({key for key, _ in pairs}) < len(pairs):
        raise ValidationException("Each entry of queryTexts must target a distinct metadata key")
    return pairs


def list_segment(segment_count: int | None, segment_index: int | None) -> tuple[int, int] | None:
    """ListVectors' parallel-scan segment: both or neither, the index below the count."""
    if (segment_count is None) != (segment_index is None):
        raise ValidationException("segmentCount and segmentIndex must be specified together")
    if segment_count is None or segment_index is None:
        return None
    if segment_index >= segment_count:
        raise ValidationException("segmentIndex must be less than segmentCount")
    return int(segment_count), int(segment_index)
