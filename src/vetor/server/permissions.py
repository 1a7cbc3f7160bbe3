"""What each operation needs: the IAM actions it performs and the ARNs they act on.

As AWS's Service Authorization Reference names them. S3 Vectors: ``s3vectors:<Operation>`` on
the index (operations that name an index), the vector bucket (those that name only a bucket),
the tagged resource, or ``*`` (ListVectorBuckets); QueryVectors also needs
``s3vectors:GetVectors`` when it filters or returns metadata. Bedrock's services:
``bedrock:<Operation>`` on the knowledge base, guardrail or foundation model they name, else
``*``; Converse is ``bedrock:InvokeModel``, ConverseStream
``bedrock:InvokeModelWithResponseStream``, RetrieveAndGenerateStream
``bedrock:RetrieveAndGenerate``. STS GetCallerIdentity needs no permission, as in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import Settings

_BEDROCK_ACTIONS = {
    "Converse": "InvokeModel",
    "ConverseStream": "InvokeModelWithResponseStream",
    "RetrieveAndGenerateStream": "RetrieveAndGenerate",
}
_UNCHECKED = {("sts", "GetCallerIdentity")}
# Listings show only what the caller may read: the action that decides each item, the key
# of the items in the result, and how to name an item's ARN.
LISTINGS = {
    "ListVectorBuckets": ("s3vectors:GetVectorBucket", "vectorBuckets", "vectorBucketArn"),
    "ListIndexes": ("s3vectors:GetIndex", "indexes", "indexArn"),
}


@dataclass(frozen=True)
class Need:
    action: str
    resource: str

    @property
    def bucket(self) -> str | None:
        """The vector bucket whose policy also applies, for S3 Vectors resources."""
        if ":s3vectors:" not in self.resource or "bucket/" not in self.resource:
            return None
        return self.resource.split("bucket/", 1)[1].split("/", 1)[0]


class Permissions:
    """The needs of every operation of every service, for one server's region and account."""

    def __init__(self, settings: Settings) -> None:
        self.region, self.account = settings.region, settings.account_id

    def needs(self, service: str, operation: str, params: dict[str, Any]) -> list[Need]:
        if (service, operation) in _UNCHECKED:
            return []
        if service == "s3vectors":
            return self._s3vectors(operation, params)
        action = "bedrock:" + _BEDROCK_ACTIONS.get(operation, operation)
        return [Need(action, self._bedrock_resource(params))]

    def _s3vectors(self, operation: str, params: dict[str, Any]) -> list[Need]:
        resource = self._vector_resource(params)
        needs = [Need(f"s3vectors:{operation}", resource)]
        if operation == "QueryVectors" and (params.get("filter") or params.get("returnMetadata")):
            needs.append(Need("s3vectors:GetVectors", resource))
        return needs

    def _vector_resource(self, params: dict[str, Any]) -> str:
        for member in ("indexArn", "vectorBucketArn", "resourceArn"):
            if isinstance(params.get(member), str):
                return params[member]
        bucket, index = params.get("vectorBucketName"), params.get("indexName")
        if not isinstance(bucket, str):
            return "*"
        arn = f"arn:aws:s3vectors:{self.region}:{self.account}:bucket/{bucket}"
        return f"{arn}/index/{index}" if isinstance(index, str) else arn

    def _bedrock_resource(self, params: dict[str, Any]) -> str:
        prefix = f"arn:aws:bedrock:{self.region}:{self.account}"
        knowledge_base = params.get("knowledgeBaseId") or _nested_knowledge_base(params)
        if isinstance(knowledge_base, str):
            return f"{prefix}:knowledge-base/{knowledge_base}"
        guardrail = params.get("guardrailIdentifier")
        if isinstance(guardrail, str):
            return guardrail if guardrail.startswith("arn:") else f"{prefix}:guardrail/{guardrail}"
        model = params.get("modelId") or params.get("modelIdentifier")
        if isinstance(model, str):
            if model.startswith("arn:"):
                return model
            return f"arn:aws:bedrock:{self.region}::foundation-model/{model}"
        return "*"

    def model(self, model_id: str) -> str:
        """The ARN of a model named by id (the OpenAI-compatible routes)."""
        return self._bedrock_resource({"modelId": model_id})


def _nested_knowledge_base(params: dict[str, Any]) -> Any:
    """RetrieveAndGenerate names its knowledge base inside its configuration."""
    config = params.get("retrieveAndGenerateConfiguration")
    if isinstance(config, dict):
        inner = config.get("knowledgeBaseConfiguration")
        if isinstance(inner, dict):
            return inner.get("knowledgeBaseId")
    return None
