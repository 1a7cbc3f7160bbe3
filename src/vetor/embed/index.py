"""The index an embed run fills: the metadata keys vetor embed owns, the model tags it records
on the index, and preparing the index for a run (creating it, or checking that its dimension,
model and text search fit). ``index_embedder`` picks the model a command should use for it.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from vetor.models import Embedder, EmbeddingError, get_embedder, parse_spec
from vetor.settings import Settings

# The AWS embed CLI's keys, so tools written for it read vetor's vectors unchanged.
CONTENT_KEY = "S3VECTORS-EMBED-SRC-CONTENT"
LOCATION_KEY = "S3VECTORS-EMBED-SRC-LOCATION"
# vetor's own keys; user metadata may not use this prefix.
RESERVED_PREFIX = "VETOR-EMBED-"
HASH_KEY = "VETOR-EMBED-HASH"
CHUNK_KEY = "VETOR-EMBED-CHUNK"
CHUNK_START_KEY = "VETOR-EMBED-CHUNK-START"
CHUNK_END_KEY = "VETOR-EMBED-CHUNK-END"
# Index tags naming the model that filled it: queries default to it, puts refuse another.
PROVIDER_TAG = "vetor:embed-provider"
MODEL_TAG = "vetor:embed-model"


@dataclass
class PutOptions:
    bucket: str
    index: str
    key: str | None = None  # the key of a single input
    key_prefix: str = ""
    filename_as_key: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 500  # vectors per PutVectors call
    embed_batch_size: int = 32  # inputs per model call
    max_workers: int = 4
    chunk_size: int = 1000  # characters; 0: one input, one vector
    chunk_overlap: int = 100
    force: bool = False  # embed again even when the stored hash matches
    create_index: bool = True
    distance_metric: str = "cosine"
    text_search: str | None = None  # language: make the stored text full-text searchable


def error_code(error: BaseException) -> str | None:
    """The S3 Vectors error code of a local (VetorError) or remote (ClientError) failure."""
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def describe(error: BaseException) -> str:
    message = getattr(error, "message", None)
    code = error_code(error)
    if code and isinstance(message, str):
        return f"{code}: {message}"
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"
    return str(error) or type(error).__name__


def prepare_index(client: Any, embedder: Embedder, options: PutOptions) -> bool:
    """Check the index against the model (creating it when absent); True if created."""
    address = {"vectorBucketName": options.bucket, "indexName": options.index}
    try:
        index = client.get_index(**address)["index"]
    except Exception as error:
        if error_code(error) != "NotFoundException" or not options.create_index:
            raise
        _create_index(client, embedder, options)
        return True
    if int(index["dimension"]) != embedder.dimension:
        raise EmbeddingError(
            f"index {options.bucket}/{options.index} has dimension {index['dimension']}, but "
            f"{embedder.identity} makes {embedder.dimension}-dimensional vectors"
        )
    _check_model_tags(client, index, embedder, options)
    if options.text_search:
        _add_text_search(client, index, options)
    return False


def _create_index(client: Any, embedder: Embedder, options: PutOptions) -> None:
    with suppress(Exception):  # it may exist already; create_index says so if not
        client.create_vector_bucket(vectorBucketName=options.bucket)
    metadata: dict[str, Any] = {"nonFilterableMetadataKeys": [CONTENT_KEY, HASH_KEY]}
    if options.text_search:
        metadata["textSearchConfigurations"] = [_text_config(options.text_search)]
    request: dict[str, Any] = {
        "vectorBucketName": options.bucket,
        "indexName": options.index,
        "dataType": "float32",
        "dimension": embedder.dimension,
        "distanceMetric": options.distance_metric,
        "metadataConfiguration": metadata,
    }
    tags = model_tags(embedder)
    if tags:
        request["tags"] = tags
    try:
        client.create_index(**request)
    except Exception as error:
        if error_code(error) != "ConflictException":  # another run created it meanwhile
            raise
    if options.text_search:  # full-text and hybrid search need ENHANCED
        address = {"vectorBucketName": options.bucket, "indexName": options.index}
        client.update_index_mode(**address, indexMode="ENHANCED")


def model_tags(embedder: Embedder) -> dict[str, str]:
    tags = {PROVIDER_TAG: embedder.provider, MODEL_TAG: embedder.model}
    allowed = re.compile(r"\A[\w\s.:/=+\-@]{1,256}\Z")
    return tags if all(allowed.match(v) for v in tags.values()) else {}


def index_model(client: Any, index: dict[str, Any]) -> tuple[str, str] | None:
    """The (provider, model) that ``vetor embed`` recorded on the index, if any."""
    try:
        tags = client.list_tags_for_resource(resourceArn=index["indexArn"]).get("tags", {})
    except Exception:
        return None
    if PROVIDER_TAG in tags and MODEL_TAG in tags:
        return tags[PROVIDER_TAG], tags[MODEL_TAG]
    return None


def _check_model_tags(
    client: Any, index: dict[str, Any], embedder: Embedder, options: PutOptions
) -> None:
    recorded = index_model(client, index)
    if recorded and recorded != (embedder.provider, embedder.model) and not options.force:
        raise EmbeddingError(
            f"index {options.bucket}/{options.index} holds vectors of {recorded[0]}:"
            f"{recorded[1]}, not {embedder.identity}; vectors of two models cannot be "
            "compared (use another index, or --force to mix them anyway)"
        )


def _text_config(language: str) -> dict[str, str]:
    return {"metadataKey": CONTENT_KEY, "language": language}


def _add_text_search(client: Any, index: dict[str, Any], options: PutOptions) -> None:
    """Make the stored text searchable in ``options.text_search`` (the index ENHANCED)."""
    assert options.text_search is not None
    address = {"vectorBucketName": options.bucket, "indexName": options.index}
    configs = index.get("metadataConfiguration", {}).get("textSearchConfigurations", [])
    for config in configs:
        if config.get("metadataKey") == CONTENT_KEY:
            if config.get("language") != options.text_search:
                raise EmbeddingError(
                    f"{CONTENT_KEY} is searchable in {config.get('language', 'standard')} "
                    f"already, not {options.text_search}: delete that text search "
                    "configuration first to change its language"
                )
            return
    if index.get("indexMode") != "ENHANCED":
        client.update_index_mode(**address, indexMode="ENHANCED")
    wanted = _text_config(options.text_search)
    client.update_metadata_configuration(**address, add={"textSearchConfigurations": [wanted]})


def index_embedder(
    client: Any,
    bucket: str,
    index: str,
    provider: str | None,
    model: str | None,
    options: dict[str, str],
    settings: Settings,
) -> Embedder:
    """The model asked for; else the one that filled the index; else the configured one."""
    if provider is None:
        recorded = _recorded_model(client, bucket, index)
        if recorded is not None and model is None:
            provider, model = recorded
        else:
            provider = settings.embed_provider
            model = model or settings.embed_model or None
    name, spec_model = parse_spec(provider)
    return get_embedder(name, model or spec_model, **options)


def _recorded_model(client: Any, bucket: str, index: str) -> tuple[str, str] | None:
    try:
        found = client.get_index(vectorBucketName=bucket, indexName=index)["index"]
    except Exception as error:
        if error_code(error) == "NotFoundException":
            return None
        raise
    return index_model(client, found)
