"""A server killed with SIGKILL in the middle of an ingestion job: the next server on the same
store takes the job over when its lease runs out and finishes it, with every chunk exactly
once: the same chunks as an uninterrupted sync of the same documents."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import S3_CREDENTIALS, Server

MINILM = "arn:aws:bedrock:us-east-1::foundation-model/all-MiniLM-L6-v2"
VECTOR_BUCKET_ARN = "arn:aws:s3vectors:us-east-1:000000000000:bucket/"
DOCUMENTS = 120
TOPICS = ["rivers", "volcanoes", "glaciers", "deserts", "forests", "coral reefs"]


def body(n: int) -> bytes:
    topic = TOPICS[n % len(TOPICS)]
    paragraphs = [
        f"Report {n} on {topic}, section {s}. The {topic} observed in region {n * 7 + s} "
        f"changed over {s + 2} seasons; measurements {n}-{s} were taken every morning and "
        "compared with the archive of earlier expeditions."
        for s in range(6)
    ]
    return ("\n\n".join(paragraphs)).encode()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    name = f"reports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for n in range(DOCUMENTS):
        s3.put_object(Bucket=name, Key=f"reports/{n:03d}.md", Body=body(n))
    return name


def create(agent: Any, bucket: str, vector_bucket: str) -> dict[str, str]:
    kb = agent.create_knowledge_base(
        name=f"reports-{uuid.uuid4().hex[:6]}",
        roleArn="arn:aws:iam::000000000000:role/kb",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": MINILM},
        },
        storageConfiguration={
            "type": "S3_VECTORS",
            "s3VectorsConfiguration": {
                "vectorBucketArn": VECTOR_BUCKET_ARN + vector_bucket,
                "indexName": "chunks",
            },
        },
    )["knowledgeBase"]
    source = agent.create_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"],
        name="reports",
        dataSourceConfiguration={
            "type": "S3",
            "s3Configuration": {"bucketArn": f"arn:aws:s3:::{bucket}"},
        },
        vectorIngestionConfiguration={
            "chunkingConfiguration": {
                "chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 60, "overlapPercentage": 10},
            }
        },
    )["dataSource"]
    return {"knowledgeBaseId": kb["knowledgeBaseId"], "dataSourceId": source["dataSourceId"]}


def wait(agent: Any, ids: dict[str, str], job_id: str, until: Any, seconds: float = 300) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = agent.get_ingestion_job(**ids, ingestionJobId=job_id)["ingestionJob"]
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"the job never got there: {job}")


def chunks(server: Server, vector_bucket: str) -> list[tuple[str, str]]:
    """(source URI, chunk text) of every vector in the index."""
    s3v = server.client()
    found, token = [], None
    while True:
        page = s3v.list_vectors(
            vectorBucketName=vector_bucket,
            indexName="chunks",
            returnMetadata=True,
            **({"nextToken": token} if token else {}),
        )
        found += [
            (v["metadata"]["x-amz-bedrock-kb-source-uri"], v["metadata"]["AMAZON_BEDROCK_TEXT"])
            for v in page["vectors"]
        ]
        token = page.get("nextToken")
        if not token:
            return found


def test_a_job_survives_sigkill(bucket: str, s3_endpoint: str, tmp_path: Any) -> None:
    env = {
        "VETOR_SOURCE_ENDPOINT_URL": s3_endpoint,
        "VETOR_SOURCE_ACCESS_KEY_ID": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "VETOR_SOURCE_SECRET_ACCESS_KEY": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "VETOR_KB_CHECKPOINT_SECONDS": "0.2",
        "VETOR_KB_JOB_LEASE_SECONDS": "2",
        "VETOR_KB_WORKERS": "1",
    }
    data = str(tmp_path / "store")
    first = Server(data, env)
    agent = first.client("bedrock-agent")
    interrupted = create(agent, bucket, "interrupted")
    job_id = agent.start_ingestion_job(**interrupted)["ingestionJob"]["ingestionJobId"]
    with pytest.raises(ClientError) as busy:  # one job per data source at a time
        agent.start_ingestion_job(**interrupted)
    assert busy.value.response["Error"]["Code"] == "ConflictException"
    midway = wait(
        agent,
        interrupted,
        job_id,
        lambda j: j["statistics"].get("numberOfNewDocumentsIndexed", 0) >= 10,
    )
    first.process.kill()  # SIGKILL: no shutdown, no last checkpoint
    first.process.wait()
    assert midway["status"] == "IN_PROGRESS"
    assert midway["statistics"]["numberOfNewDocumentsIndexed"] < DOCUMENTS

    second = Server(data, env)
    try:
        agent = second.client("bedrock-agent")
        done = wait(agent, interrupted, job_id, lambda j: j["status"] != "IN_PROGRESS")
        assert done["status"] == "COMPLETE", done
        stats = done["statistics"]
        assert stats["numberOfNewDocumentsIndexed"] == DOCUMENTS
        assert stats["numberOfDocumentsFailed"] == 0
        after_restart = chunks(second, "interrupted")
        duplicates = [c for c, n in Counter(after_restart).items() if n > 1]
        assert duplicates == []

        clean = create(agent, bucket, "uninterrupted")  # the same documents, in one go
        clean_job = agent.start_ingestion_job(**clean)["ingestionJob"]["ingestionJobId"]
        wait(agent, clean, clean_job, lambda j: j["status"] == "COMPLETE")
        assert sorted(after_restart) == sorted(chunks(second, "uninterrupted"))
        assert len({uri for uri, _ in after_restart}) == DOCUMENTS
        # What the killed server had recorded was not embedded again (nor read).
        per_document = Counter(uri for uri, _ in after_restart)
        recorded = midway["statistics"]["numberOfNewDocumentsIndexed"]
        first_ones = sum(per_document[u] for u in sorted(per_document)[:recorded])
        found = re.search(rf"ingestion job {job_id} COMPLETE: (\d+) chunks embedded", second.logs())
        assert found, second.logs()
        assert int(found[1]) <= len(after_restart) - first_ones
    finally:
        second.stop()
