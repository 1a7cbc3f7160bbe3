"""What each operation needs: the IAM actions it performs and the ARNs they act on.

As AWS's Service Authorization Reference names them. S3 Vectors: ``s3vectors:<Operation>`` on
the index (operations that name an index), the vector bucket (those that name only a bucket),
the tagged resource, or ``*`` (ListVectorBuckets); QueryVectors also needs
``s3vectors:GetVectors`` when it filters or returns metadata. Bedrock's services:
``bedrock:<Operation>`` on the knowledge base, guardrail, prompt router or foundation model
they name, else ``*``; ``GET /metrics`` is ``vetor:GetMetrics`` on ``*``; Converse is
``bedrock:InvokeModel``, ConverseStream
``bedrock:InvokeModelWithResponseStream``, RetrieveAndGenerateStream
``bedrock:RetrieveAndGenerate``. STS GetCallerIdentity needs no permission, as in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..generation.routing import router_id
from ..settings import Settings
from ..validation import BUCKET_ARN, INDEX_ARN

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
        if service == "vetor":  # vetor's own routes (GetMetrics): no resource of their own
            return [Need(f"vetor:{operation}", "*")]
        action = "bedrock:" + _BEDROCK_ACTIONS.get(operation, operation)
        needs = [Need(action, self._bedrock_resource(params))]
        if action == "bedrock:RetrieveAndGenerate":  # AWS: and Retrieve, and the model
            config = params.get("retrieveAndGenerateConfiguration")
            knowledge_base = _nested_knowledge_base(params)
            if isinstance(knowledge_base, str):
                needs.append(Need("bedrock:Retrieve", needs[0].resource))
            model = _nested_model(config)
            if isinstance(model, str):
                needs.append(Need("bedrock:InvokeModel", self.model(model)))
        return needs

    def _s3vectors(self, operation: str, params: dict[str, Any]) -> list[Need]:
        resource = self._vector_resource(params)
        needs = [Need(f"s3vectors:{operation}", resource)]
        reads = {"QueryVectors": ("filter", "returnMetadata"),
                 "ListVectors": ("returnData", "returnMetadata")}.get(operation, ())  # fmt: skip
        if any(params.get(member) for member in reads):  # AWS: these also need GetVectors
            needs.append(Need("s3vectors:GetVectors", resource))
        return needs

    def _vector_resource(self, params: dict[str, Any]) -> str:
        """The canonical ARN a request acts on: rebuilt from the names the service will use
        (an ARN is parsed, never trusted as given: ``arn:aws-cn:`` or ``arn:awsx:`` name the
        same index for the service, and must for policies too)."""
        bucket, index = params.get("vectorBucketName"), params.get("indexName")
        for member in ("indexArn", "vectorBucketArn", "resourceArn"):
            arn = params.get(member)
            if isinstance(arn, str):
                found = INDEX_ARN.match(arn) or BUCKET_ARN.match(arn)
                if found is None:
                    return arn  # the service refuses it as malformed
                names = found.groupdict()
                bucket, index = names["bucket"], names.get("index") or index
                break
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
        if isinstance(guardrail, str):  # the handlers use the id that ends an ARN
            return f"{prefix}:guardrail/{guardrail.rsplit('/', 1)[-1]}"
        model = (params.get("modelId") or params.get("modelIdentifier")
                 or params.get("modelArn") or params.get("promptRouterArn"))  # fmt: skip
        if isinstance(model, str):
            return self.model(model)
        return "*"

    def model(self, model: str) -> str:
        """The foundation-model ARN of a model named by id or by any ARN ending in its id; a
        prompt router's canonical ARN (rebuilt, as the service reads only its id)."""
        router = router_id(model)
        if router is not None:
            return f"arn:aws:bedrock:{self.region}:{self.account}:prompt-router/{router}"
        return f"arn:aws:bedrock:{self.region}::foundation-model/{model.rsplit('/', 1)[-1]}"


def _nested_model(config: Any) -> Any:
    """The model a RetrieveAndGenerate configuration answers with."""
    if not isinstance(config, dict):
        return None
    for inner in ("knowledgeBaseConfiguration", "externalSourcesConfiguration"):
        if isinstance(config.get(inner), dict):
            return config[inner].get("modelArn")
    return None


def _nested_knowledge_base(params: dict[str, Any]) -> Any:
    """RetrieveAndGenerate names its knowledge base inside its configuration."""
    config = params.get("retrieveAndGenerateConfiguration")
    if isinstance(config, dict):
        inner = config.get("knowledgeBaseConfiguration")
        if isinstance(inner, dict):
            return inner.get("knowledgeBaseId")
    return None
