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
from .settings import Settings
from .text import LANGUAGES

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_ARN = re.compile(
    r"^arn:aws[-a-z0-9]*:s3vectors:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"bucket/(?P<bucket>[^/]+)$"
)
INDEX_ARN = re.compile(
    r"^arn:aws[-a-z0-9]*:s3vectors:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"bucket/(?P<bucket>[^/]+)/index/(?P<index>[^/]+)$"
)
TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)
METRICS = ("cosine", "euclidean")
INDEX_MODES = ("CLASSIC", "ENHANCED")
MAX_TEXT_SEARCH_CONFIGS = 10  # per index


def bucket_name(name: Any) -> str:
    if not isinstance(name, str) or not BUCKET_NAME.match(name):
        raise ValidationException("Invalid vector bucket name")
    return name


def index_name(name: Any) -> str:
    if not isinstance(name, str) or not INDEX_NAME.match(name):
        raise ValidationException("Invalid index name")
    return name


def between(path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, float) and value.is_integer():  # JSON's 1e3 is the integer 1000
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationException.field(path, "Member must be an integer")
    if not low <= value <= high:
        raise ValidationException.field(path, f"Member must be between {low} and {high}, inclusive")
    return value


def length_between(path: str, value: Any, low: int, high: int) -> Any:
    if not isinstance(value, (list, str, dict)):
        raise ValidationException.field(path, "Member must be a list")
    if not low <= len(value) <= high:
        raise ValidationException.field(
            path, f"Member must have length between {low} and {high}, inclusive"
        )
    return value


def one_of(path: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationException.field(
            path, f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return str(value)


def boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationException.field(path, "Member must be a boolean")
    return value


def keys(path: str, values: Any, limit: int, settings: Settings) -> list[str]:
    length_between(path, values, 1, limit)
    for key in values:
        vector_key(key, settings)
    return list(values)


def vector_key(key: Any, settings: Settings) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= settings.max_key_length:
        raise ValidationException.field(
            "/vectors/key",
            f"Member must have length between 1 and {settings.max_key_length}, inclusive",
        )
    return key


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


def tags(value: Any, settings: Settings, path: str = "/tags") -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationException.field(path, "Member must be a map of strings")
    if len(value) > settings.max_tags:
        raise ValidationException.field(
            path, f"Member must have length less than or equal to {settings.max_tags}"
        )
    for key, text in value.items():
        tag_key(key, path)
        if not isinstance(text, str) or len(text) > 256 or not TAG_TEXT.match(text):
            raise ValidationException.field(
                f"{path}/{key}",
                "Member must have length less than or equal to 256 and satisfy regular "
                r"expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*",
            )
    return dict(value)


def tag_key(key: Any, path: str = "/tagKeys") -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 128 or not TAG_TEXT.match(key):
        raise ValidationException.field(
            path,
            "Member must have length between 1 and 128 and satisfy regular expression "
            r"pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*",
        )
    return key


# --- request structures -----------------------------------------------------------------------


def encryption(config: Any) -> dict[str, Any]:
    """An ``encryptionConfiguration``, defaulted to SSE-S3 (``AES256``) as S3 Vectors does."""
    if config is None:
        return {"sseType": "AES256"}
    if not isinstance(config, dict):
        raise ValidationException.field("/encryptionConfiguration", "Member must be an object")
    sse = one_of(
        "/encryptionConfiguration/sseType", config.get("sseType", "AES256"), ("AES256", "aws:kms")
    )
    if sse == "aws:kms" and not config.get("kmsKeyArn"):
        raise ValidationException("kmsKeyArn is required when sseType is aws:kms")
    return {k: v for k, v in {"sseType": sse, "kmsKeyArn": config.get("kmsKeyArn")}.items() if v}


def policy_document(policy: Any) -> str:
    """A bucket policy: a string holding a JSON object."""
    if not isinstance(policy, str):
        raise ValidationException.field("/policy", "Member must be a string")
    try:
        document = orjson.loads(policy)
    except orjson.JSONDecodeError:
        raise ValidationException("Invalid policy document: not valid JSON") from None
    if not isinstance(document, dict):
        raise ValidationException("Invalid policy document: must be a JSON object")
    return policy


def text_configs(items: Any, parent: str) -> list[dict[str, Any]]:
    """Validated text search configurations: {metadataKey, language?} (no language: the
    standard analyzer). ``status`` is output only; a valid one sent along is ignored."""
    path = f"{parent}/textSearchConfigurations"
    length_between(path, items, 0, MAX_TEXT_SEARCH_CONFIGS)
    result = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationException.field(path, "Member must be a list of objects")
        key = metadata_key(item.get("metadataKey"), f"{path}/metadataKey")
        config = {"metadataKey": key}
        if "language" in item:
            config["language"] = one_of(f"{path}/language", item["language"], LANGUAGES)
        if "status" in item:
            one_of(f"{path}/status", item["status"], ("ACTIVE", "BUILDING"))
        result.append(config)
    if len({c["metadataKey"] for c in result}) < len(result):
        raise ValidationException(f"{path} names a metadata key more than once")
    return result


def deleted_text_keys(items: Any) -> set[str]:
    """The metadata keys of ``delete.textSearchConfigurations``."""
    path = "/delete/textSearchConfigurations"
    length_between(path, items, 1, MAX_TEXT_SEARCH_CONFIGS)
    if not all(isinstance(item, dict) for item in items):
        raise ValidationException.field(path, "Member must be a list of objects")
    return {metadata_key(item.get("metadataKey"), f"{path}/metadataKey") for item in items}


def metadata_key(key: Any, path: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 63:
        raise ValidationException.field(path, "Member must have length between 1 and 63, inclusive")
    return key


def required_member(structure: Any, path: str, name: str) -> Any:
    if not isinstance(structure, dict):
        raise ValidationException.field(path, "Member must be an object")
    if name not in structure:
        raise ValidationException.field(f"{path}/{name}", "Member must not be null")
    return structure[name]


def text_queries(items: Any) -> list[tuple[str, str]]:
    """Validated ``queryTexts``: (metadata key, text) pairs, one per distinct key."""
    if items is None:
        return []
    length_between("/queryTexts", items, 1, 10)
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationException.field("/queryTexts", "Member must be a list of objects")
        text = item.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 1024:
            raise ValidationException.field(
                "/queryTexts/text", "Member must have length between 1 and 1024, inclusive"
            )
        pairs.append((metadata_key(item.get("metadataKey"), "/queryTexts/metadataKey"), text))
    if len({key for key, _ in pairs}) < len(pairs):
        raise ValidationException("Each entry of queryTexts must target a distinct metadata key")
    return pairs


def list_segment(segment_count: Any, segment_index: Any) -> tuple[int, int] | None:
    """ListVectors' parallel-scan segment, checked together."""
    if (segment_count is None) != (segment_index is None):
        raise ValidationException("segmentCount and segmentIndex must be specified together")
    if segment_count is None:
        return None
    segment_count = between("/segmentCount", segment_count, 1, 16)
    segment_index = between("/segmentIndex", segment_index, 0, 15)
    if segment_index >= segment_count:
        raise ValidationException("segmentIndex must be less than segmentCount")
    return segment_count, segment_index
