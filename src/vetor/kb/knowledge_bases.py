"""Knowledge bases as Bedrock's ``bedrock-agent`` shapes them: a configuration (embedding
model, S3 Vectors storage) over a vetor vector index that holds its chunks.

A client of the S3 Vectors API only (``VectorService``): the index is created through it when
absent, with the embedding model's dimension and Bedrock's two non-filterable keys. The
embedding model is any model vetor embeds with, named as Bedrock names models
(``arn:aws:bedrock:REGION::foundation-model/all-MiniLM-L6-v2``, ``…/amazon.titan-embed-text-
v2:0``). Creation is synchronous: a knowledge base is ACTIVE when the call returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictException, ResourceNotFoundException, ValidationException
from ..models import EMBEDDING, Embedder, get_embedder, model_entry, models, provider_of
from ..service import VectorService
from ..validation import BUCKET_ARN, INDEX_ARN
from .records import Document, data_source_records, knowledge_base_records, new_id, view

# Bedrock's metadata keys in an S3 Vectors index: the chunk text and its source's metadata.
TEXT_KEY, METADATA_KEY = "AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"
FIXED = ("knowledgeBaseConfiguration", "storageConfiguration")  # set once, at creation


class KnowledgeBases:
    def __init__(self, service: VectorService) -> None:
        self.service = service
        self.records = knowledge_base_records(service.store)
        settings = service.settings
        self.arn_prefix = f"arn:aws:bedrock:{settings.region}:{settings.account_id}"

    def create_knowledge_base(
        self,
        *,
        name: str,
        roleArn: str,
        knowledgeBaseConfiguration: dict[str, Any],
        description: str | None = None,
        storageConfiguration: dict[str, Any] | None = None,
        clientToken: str | None = None,
        tags: dict[str, str] | None = None,
        **unsupported: Any,
    ) -> dict[str, Any]:
        _refuse(unsupported)
        dimension = _dimension(knowledgeBaseConfiguration)
        storage = self._storage(storageConfiguration, dimension)
        kb_id = new_id(clientToken)
        stamp = datetime.now(UTC).isoformat()
        document: Document = {
            "knowledgeBaseId": kb_id,
            "name": name,
            "knowledgeBaseArn": f"{self.arn_prefix}:knowledge-base/{kb_id}",
            "roleArn": roleArn,
            "knowledgeBaseConfiguration": knowledgeBaseConfiguration,
            "storageConfiguration": storage,
            "status": "ACTIVE",
            "createdAt": stamp,
            "updatedAt": stamp,
            **({"description": description} if description is not None else {}),
            **({"tags": tags} if tags else {}),
        }
        if not self.records.create(document):
            raise ConflictException(f"A knowledge base named {name} already exists")
        stored = self.records.get(kb_id) or document  # a retry's: the one first created
        return {"knowledgeBase": _view(stored)}

    def get_knowledge_base(self, *, knowledgeBaseId: str) -> dict[str, Any]:
        return {"knowledgeBase": _view(self.find(knowledgeBaseId))}

    def list_knowledge_bases(
        self, *, maxResults: int | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        ids = [i for i in self.records.ids() if nextToken is None or i > nextToken]
        limit = int(maxResults or 1000)
        page = [d for d in (self.records.get(i) for i in ids[:limit]) if d is not None]
        fields = ("knowledgeBaseId", "name", "description", "status", "updatedAt")
        summaries = [{k: v for k, v in view(d).items() if k in fields} for d in page]
        body: dict[str, Any] = {"knowledgeBaseSummaries": summaries}
        if len(ids) > limit:
            body["nextToken"] = ids[limit - 1]
        return body

    def update_knowledge_base(
        self,
        *,
        knowledgeBaseId: str,
        name: str,
        roleArn: str,
        knowledgeBaseConfiguration: dict[str, Any],
        description: str | None = None,
        storageConfiguration: dict[str, Any] | None = None,
        **unsupported: Any,
    ) -> dict[str, Any]:
        """Rename, describe or re-role a knowledge base; its embedding model and storage are
        fixed at creation, as in Bedrock."""
        _refuse(unsupported)
        old = self.find(knowledgeBaseId)
        given = {"knowledgeBaseConfiguration": knowledgeBaseConfiguration}
        if storageConfiguration is not None:
            given["storageConfiguration"] = storageConfiguration
        for field, value in given.items():
            if value != old[field]:
                raise ValidationException(f"The {field} of a knowledge base cannot be changed")
        new = {**old, "name": name, "roleArn": roleArn}
        new["updatedAt"] = datetime.now(UTC).isoformat()
        if description is not None:
            new["description"] = description
        self.records.replace(old, new)
        return {"knowledgeBase": _view(new)}

    def delete_knowledge_base(self, *, knowledgeBaseId: str) -> dict[str, Any]:
        """Forget the knowledge base and its data sources; its vector index stays (it is the
        user's S3 Vectors index)."""
        document = self.find(knowledgeBaseId)
        sources = data_source_records(self.service.store, knowledgeBaseId)
        for source_id in sources.ids():
            found = sources.get(source_id)
            if found is not None:
                sources.delete(found)
        self.records.delete(document)
        return {"knowledgeBaseId": knowledgeBaseId, "status": "DELETING"}

    # --- helpers ------------------------------------------------------------------------------

    def find(self, kb_id: str) -> Document:
        """The knowledge base, or Bedrock's ResourceNotFoundException."""
        document = self.records.get(kb_id)
        if document is None:
            raise ResourceNotFoundException(f"Knowledge base {kb_id} does not exist")
        return document

    def _storage(self, storage: dict[str, Any] | None, dimension: int) -> dict[str, Any]:
        """The S3 Vectors index of the knowledge base, created (bucket too) when absent."""
        config = (storage or {}).get("s3VectorsConfiguration")
        if (storage or {}).get("type") != "S3_VECTORS" or not config:
            raise ValidationException(
                "vetor stores knowledge bases in S3 Vectors: storageConfiguration.type "
                "S3_VECTORS with s3VectorsConfiguration"
            )
        bucket, index = _index_of(config)
        service = self.service
        if bucket not in [b["vectorBucketName"] for b in _all_buckets(service)]:
            service.create_vector_bucket(vectorBucketName=bucket)
        try:
            found = service.get_index(vectorBucketName=bucket, indexName=index)["index"]
        except Exception as error:
            if getattr(error, "code", "") != "NotFoundException":
                raise
            service.create_index(
                vectorBucketName=bucket,
                indexName=index,
                dataType="float32",
                dimension=dimension,
                distanceMetric="cosine",
                metadataConfiguration={
                    "nonFilterableMetadataKeys": [TEXT_KEY, METADATA_KEY],
                    "textSearchConfigurations": [{"metadataKey": TEXT_KEY}],  # hybrid search
                },
            )
        else:
            _check_index(found, dimension)
        arn = service.index_arn(bucket, index)
        return {
            "type": "S3_VECTORS",
            "s3VectorsConfiguration": {
                "vectorBucketArn": service.bucket_arn(bucket),
                "indexArn": arn,
                "indexName": index,
            },
        }


def index_address(document: Document) -> dict[str, str]:
    """``vectorBucketName`` and ``indexName`` of the knowledge base's index."""
    bucket, index = _index_of(document["storageConfiguration"]["s3VectorsConfiguration"])
    return {"vectorBucketName": bucket, "indexName": index}


def embedder_for(document: Document) -> Embedder:
    """The knowledge base's embedding model (loaded once per process)."""
    vector = document["knowledgeBaseConfiguration"]["vectorKnowledgeBaseConfiguration"]
    model_id = _model_id(vector["embeddingModelArn"])
    provider = provider_of(model_id)
    if provider is None:
        raise ValidationException(f"The embedding model {model_id} is not available")
    return get_embedder(provider, model_id)


def _model_id(arn: str) -> str:
    return arn.rsplit("foundation-model/", 1)[-1]


def _check_index(index: dict[str, Any], dimension: int) -> None:
    """An index made beforehand (the AWS way) is used as it is, if it can hold the chunks."""
    name = index["indexName"]
    if index["dimension"] != dimension:
        raise ValidationException(
            f"The index {name} has dimension {index['dimension']}; the embedding model makes "
            f"{dimension}-dimensional vectors"
        )
    if index.get("dataType", "float32") != "float32":
        raise ValidationException(f"The index {name} must hold float32 vectors")
    declared = (index.get("metadataConfiguration") or {}).get("nonFilterableMetadataKeys") or []
    missing = [key for key in (TEXT_KEY, METADATA_KEY) if key not in declared]
    if missing:
        raise ValidationException(
            f"The index {name} must declare {' and '.join(missing)} non-filterable (Bedrock "
            "stores the chunk text and its metadata there)"
        )


def _refuse(unsupported: dict[str, Any]) -> None:
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise ValidationException(f"vetor does not support {names} for knowledge bases yet")


def _dimension(config: dict[str, Any]) -> int:
    """The dimension of the knowledge base's embedding model (which vetor must be able to use)."""
    if config.get("type") != "VECTOR":
        raise ValidationException("vetor serves knowledge bases of type VECTOR")
    vector = config.get("vectorKnowledgeBaseConfiguration") or {}
    arn = vector.get("embeddingModelArn", "")
    model_id = _model_id(arn)
    provider = provider_of(model_id)
    entry = model_entry(provider, model_id) if provider else None
    if entry is None or entry.dimension is None:
        known = ", ".join(m.model_id for m in models(EMBEDDING) if m.dimension)
        raise ValidationException(
            f"The embedding model {arn} is not available (vetor has: {known})"
        )
    chosen = (
        (vector.get("embeddingModelConfiguration") or {})
        .get("bedrockEmbeddingModelConfiguration", {})
        .get("dimensions")
    )
    return int(chosen or entry.dimension)


def _index_of(config: dict[str, Any]) -> tuple[str, str]:
    bucket = BUCKET_ARN.match(config.get("vectorBucketArn", ""))
    by_arn = INDEX_ARN.match(config.get("indexArn") or "")
    if by_arn:
        return by_arn["bucket"], by_arn["index"]
    if bucket and config.get("indexName"):
        return bucket["bucket"], config["indexName"]
    raise ValidationException(
        "s3VectorsConfiguration needs vectorBucketArn and indexName, or indexArn"
    )


def _all_buckets(service: VectorService) -> list[dict[str, Any]]:
    found, token = [], None
    while True:
        page = service.list_vector_buckets(**({"nextToken": token} if token else {}))
        found += page["vectorBuckets"]
        token = page.get("nextToken")
        if token is None:
            return found


def _view(document: Document) -> dict[str, Any]:
    return view(document, hidden=("tags",))
