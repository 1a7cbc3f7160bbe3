"""Knowledge bases through boto3's real ``bedrock-agent`` client against ``vetor serve``:
only the endpoint changes. A knowledge base's S3 Vectors index is created with its model's
dimension; its state lives in the store, versioned, so concurrent updates never get lost."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

import vetor
from vetor.errors import ConflictException
from vetor.kb.records import knowledge_base_records

MINILM = "arn:aws:bedrock:us-east-1::foundation-model/all-MiniLM-L6-v2"
ROLE = "arn:aws:iam::000000000000:role/kb"


def storage(bucket: str, index: str = "chunks") -> dict[str, Any]:
    arn = f"arn:aws:s3vectors:us-east-1:000000000000:bucket/{bucket}"
    return {
        "type": "S3_VECTORS",
        "s3VectorsConfiguration": {"vectorBucketArn": arn, "indexName": index},
    }


def vector(model_arn: str = MINILM) -> dict[str, Any]:
    return {"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": model_arn}}


@pytest.fixture
def agent(server: Server) -> Any:
    return server.client("bedrock-agent")


def test_knowledge_base_lifecycle(agent: Any, server: Server) -> None:
    bucket, name = f"kb-{uuid.uuid4().hex[:8]}", f"handbook-{uuid.uuid4().hex[:6]}"
    created = agent.create_knowledge_base(
        name=name, roleArn=ROLE, knowledgeBaseConfiguration=vector(),
        storageConfiguration=storage(bucket), description="the staff handbook",
    )["knowledgeBase"]  # fmt: skip
    assert created["status"] == "ACTIVE" and len(created["knowledgeBaseId"]) == 10
    assert created["knowledgeBaseArn"].endswith(f":knowledge-base/{created['knowledgeBaseId']}")
    s3v = created["storageConfiguration"]["s3VectorsConfiguration"]
    assert s3v["indexArn"].endswith(f"bucket/{bucket}/index/chunks")
    index = server.client().get_index(vectorBucketName=bucket, indexName="chunks")["index"]
    assert index["dimension"] == 384  # the model's
    assert index["metadataConfiguration"]["nonFilterableMetadataKeys"] == [
        "AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA",
    ]  # fmt: skip
    kb_id = created["knowledgeBaseId"]
    fetched = agent.get_knowledge_base(knowledgeBaseId=kb_id)["knowledgeBase"]
    assert fetched["name"] == name and fetched["createdAt"] == created["createdAt"]
    listed = agent.list_knowledge_bases()["knowledgeBaseSummaries"]
    assert {"knowledgeBaseId": kb_id, "name": name} in [
        {k: s[k] for k in ("knowledgeBaseId", "name")} for s in listed
    ]
    renamed = agent.update_knowledge_base(
        knowledgeBaseId=kb_id, name=name + "-v2", roleArn=ROLE, knowledgeBaseConfiguration=vector()
    )["knowledgeBase"]
    assert renamed["name"] == name + "-v2" and renamed["updatedAt"] >= created["updatedAt"]
    deleted = agent.delete_knowledge_base(knowledgeBaseId=kb_id)
    assert deleted["status"] == "DELETING"
    with pytest.raises(ClientError) as missing:
        agent.get_knowledge_base(knowledgeBaseId=kb_id)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_knowledge_base_errors(agent: Any) -> None:
    bucket, name = f"kb-{uuid.uuid4().hex[:8]}", f"dup-{uuid.uuid4().hex[:6]}"
    agent.create_knowledge_base(
        name=name,
        roleArn=ROLE,
        knowledgeBaseConfiguration=vector(),
        storageConfiguration=storage(bucket),
    )
    with pytest.raises(ClientError) as taken:
        agent.create_knowledge_base(
            name=name,
            roleArn=ROLE,
            knowledgeBaseConfiguration=vector(),
            storageConfiguration=storage(bucket),
        )
    assert taken.value.response["Error"]["Code"] == "ConflictException"
    unknown = "arn:aws:bedrock:us-east-1::foundation-model/no-such-model"
    with pytest.raises(ClientError) as model:
        agent.create_knowledge_base(
            name=name + "x", roleArn=ROLE, knowledgeBaseConfiguration=vector(unknown),
            storageConfiguration=storage(bucket + "x"),
        )  # fmt: skip
    assert model.value.response["Error"]["Code"] == "ValidationException"
    assert "not available" in model.value.response["Error"]["Message"]
    titan = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
    with pytest.raises(ClientError) as dimension:  # the index holds 384-d MiniLM vectors
        agent.create_knowledge_base(
            name=name + "y", roleArn=ROLE, knowledgeBaseConfiguration=vector(titan),
            storageConfiguration=storage(bucket),
        )  # fmt: skip
    assert "dimension 384" in dimension.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as unserved:
        agent.list_agents()  # agents are not what vetor serves
    assert unserved.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_concurrent_updates_never_lose_one(tmp_path: Any) -> None:
    """Two writers update the same version: one wins, the other is told to retry."""
    records = knowledge_base_records(vetor.connect(str(tmp_path)).store)
    document = {"knowledgeBaseId": "ABCDEFGHIJ", "name": "kb", "updatedAt": "t0"}
    assert records.create(document)
    assert not records.create({**document, "knowledgeBaseId": "KLMNOPQRST"})  # name taken
    base = records.get("ABCDEFGHIJ")
    assert base is not None
    records.replace(base, {**base, "description": "first"})
    with pytest.raises(ConflictException):
        records.replace(base, {**base, "description": "second"})
    latest = records.get("ABCDEFGHIJ")
    assert latest is not None and latest["description"] == "first" and latest["_version"] == 2


def test_a_retried_create_is_the_same_knowledge_base(tmp_path: Any) -> None:
    """boto3 sends a client token per call and repeats it on a retry: the retry after a lost
    reply finds its own name claim and returns the knowledge base it made."""
    from vetor.kb import KnowledgeBases

    service = vetor.connect(str(tmp_path))
    kbs = KnowledgeBases(service)
    request = dict(
        name="retried", roleArn=ROLE, knowledgeBaseConfiguration=vector(),
        storageConfiguration=storage("retried"), clientToken="token-1",
    )  # fmt: skip
    first = kbs.create_knowledge_base(**request)["knowledgeBase"]
    again = kbs.create_knowledge_base(**request)["knowledgeBase"]
    assert again == first
    with pytest.raises(ConflictException):
        kbs.create_knowledge_base(**{**request, "clientToken": "token-2"})


def test_the_foundation_models_a_knowledge_base_may_name(server: Server) -> None:
    """bedrock's ListFoundationModels on vetor serve lists the embedding models it can use."""
    bedrock = server.client("bedrock")
    summaries = bedrock.list_foundation_models(byOutputModality="EMBEDDING")["modelSummaries"]
    ids = [s["modelId"] for s in summaries]
    assert "all-MiniLM-L6-v2" in ids and "amazon.titan-embed-text-v2:0" in ids
    minilm = next(s for s in summaries if s["modelId"] == "all-MiniLM-L6-v2")
    assert minilm["modelArn"] == MINILM and minilm["inputModalities"] == ["TEXT"]
    # GetFoundationModel's identifier must look like "vendor.model" (the model's pattern)
    titan = bedrock.get_foundation_model(modelIdentifier="amazon.titan-embed-text-v2:0")
    assert titan["modelDetails"]["providerName"] == "Amazon"
    cohere = bedrock.list_foundation_models(byProvider="Cohere")["modelSummaries"]
    assert cohere and all(s["modelId"].startswith("cohere.") for s in cohere)
    with pytest.raises(ClientError) as missing:
        bedrock.get_foundation_model(modelIdentifier="acme.no-such-model")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_data_sources_of_a_knowledge_base(agent: Any) -> None:
    bucket = f"kb-{uuid.uuid4().hex[:8]}"
    kb = agent.create_knowledge_base(
        name=f"ds-{uuid.uuid4().hex[:6]}", roleArn=ROLE, knowledgeBaseConfiguration=vector(),
        storageConfiguration=storage(bucket),
    )["knowledgeBase"]  # fmt: skip
    kb_id = kb["knowledgeBaseId"]
    s3 = {"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::corp-docs",
                                            "inclusionPrefixes": ["policies/"]}}  # fmt: skip
    source = agent.create_data_source(
        knowledgeBaseId=kb_id, name="policies", dataSourceConfiguration=s3
    )["dataSource"]
    assert source["status"] == "AVAILABLE" and source["dataDeletionPolicy"] == "DELETE"
    ds_id = source["dataSourceId"]
    custom = agent.create_data_source(
        knowledgeBaseId=kb_id, name="pushed", dataSourceConfiguration={"type": "CUSTOM"}
    )["dataSource"]
    listed = agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"]
    assert sorted(s["name"] for s in listed) == ["policies", "pushed"]
    s3["s3Configuration"]["inclusionPrefixes"] = ["handbook/"]  # Bedrock allows one
    updated = agent.update_data_source(
        knowledgeBaseId=kb_id, dataSourceId=ds_id, name="policies", dataSourceConfiguration=s3
    )["dataSource"]
    assert updated["dataSourceConfiguration"]["s3Configuration"]["inclusionPrefixes"] == [
        "handbook/"
    ]
    fetched = agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds_id)["dataSource"]
    assert fetched == updated
    with pytest.raises(ClientError) as taken:
        agent.create_data_source(
            knowledgeBaseId=kb_id, name="policies", dataSourceConfiguration={"type": "CUSTOM"}
        )
    assert taken.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as web:
        agent.create_data_source(
            knowledgeBaseId=kb_id, name="site", dataSourceConfiguration={"type": "WEB"}
        )
    assert web.value.response["Error"]["Code"] == "ValidationException"
    agent.delete_data_source(knowledgeBaseId=kb_id, dataSourceId=custom["dataSourceId"])
    assert len(agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"]) == 1
    agent.delete_knowledge_base(knowledgeBaseId=kb_id)  # takes its data sources along
    with pytest.raises(ClientError) as gone:
        agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds_id)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
