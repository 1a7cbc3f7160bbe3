"""A knowledge base's whole life through boto3's real ``bedrock-agent`` and
``bedrock-agent-runtime`` clients against ``vetor serve``, with its documents in a real
S3-compatible server on loopback (moto): ingest PDF, Word, HTML and Markdown with metadata
sidecars, change one file, delete one, sync again; Retrieve reflects each step. LangChain's
``AmazonKnowledgeBasesRetriever`` reads the same knowledge base."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import documents
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import S3_CREDENTIALS, SERVER_KEYS, Server

MINILM = "arn:aws:bedrock:us-east-1::foundation-model/all-MiniLM-L6-v2"
ROLE = "arn:aws:iam::000000000000:role/kb"
SOURCE_URI = "x-amz-bedrock-kb-source-uri"

FILES = {
    "handbook/policies/vacation.pdf": documents.pdf([
        "Vacation policy\nEvery employee gets 25 days of paid vacation per calendar year.\n"
        "Unused vacation days can be carried over until the end of March.",
        "Sick leave\nSick leave longer than three days requires a note from a doctor.",
    ]),
    "handbook/policies/vacation.pdf.metadata.json": documents.sidecar(department="hr", year=2024),
    "handbook/guides/expenses.docx": documents.docx("Expense reports", [
        "Submit receipts for travel expenses within 30 days of the purchase.",
        "Hotel costs above 200 euros per night need the approval of a manager.",
    ]),
    "handbook/guides/onboarding.html": documents.html("Onboarding", [
        "On the first day new hires receive a laptop and a badge for the building.",
        "The onboarding buddy answers questions during the first two weeks.",
    ]),
    "handbook/notes/security.md": b"# Security\n\nAlways connect through the VPN on public wifi "
    b"networks. Laptop disks must be encrypted.\n",
    "handbook/notes/security.md.metadata.json":
        documents.sidecar(department="it", tags=["vpn", "laptop"]),
    "handbook/notes/diagram.bin": b"\x00\x01\x02 not a document",
    "drafts/ignored.md": b"# Draft\n\nThis file is outside the inclusion prefixes.\n",
}  # fmt: skip


@pytest.fixture(scope="module")
def source_bucket(s3_endpoint: str) -> dict[str, Any]:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    name = f"handbook-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    for key, body in FILES.items():
        s3.put_object(Bucket=name, Key=key, Body=body)
    return {"client": s3, "name": name}


@pytest.fixture(scope="module")
def kb_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    env = {
        "VETOR_SOURCE_ENDPOINT_URL": s3_endpoint,
        "VETOR_SOURCE_ACCESS_KEY_ID": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "VETOR_SOURCE_SECRET_ACCESS_KEY": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "VETOR_KB_CHECKPOINT_SECONDS": "0.2",
    }
    running = Server(str(tmp_path_factory.mktemp("kb-served")), env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def handbook(kb_server: Server, source_bucket: dict[str, Any]) -> dict[str, Any]:
    """A knowledge base over the bucket, synced once."""
    agent = kb_server.client("bedrock-agent")
    bucket = f"kb-{uuid.uuid4().hex[:8]}"
    ids = s3_knowledge_base(agent, bucket, source_bucket["name"], ["handbook/"])
    first = sync(agent, ids)
    return {**ids, "bucket": bucket, "first": first}


def s3_knowledge_base(
    agent: Any, vector_bucket: str, documents: str, prefixes: list[str] | None = None
) -> dict[str, str]:
    """A knowledge base over the bucket ``documents`` (its ids), its chunks in
    ``vector_bucket``."""
    kb = agent.create_knowledge_base(
        name=f"{vector_bucket}-{uuid.uuid4().hex[:6]}", roleArn=ROLE,
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
            "embeddingModelArn": MINILM}},
        storageConfiguration={"type": "S3_VECTORS", "s3VectorsConfiguration": {
            "vectorBucketArn": f"arn:aws:s3vectors:us-east-1:000000000000:bucket/{vector_bucket}",
            "indexName": "chunks"}},
    )["knowledgeBase"]  # fmt: skip
    location = {"bucketArn": f"arn:aws:s3:::{documents}"}
    if prefixes:
        location["inclusionPrefixes"] = prefixes  # type: ignore[assignment]
    source = agent.create_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"], name=f"{documents}-bucket",
        dataSourceConfiguration={"type": "S3", "s3Configuration": location},
    )["dataSource"]  # fmt: skip
    return {"knowledgeBaseId": kb["knowledgeBaseId"], "dataSourceId": source["dataSourceId"]}


def sync(agent: Any, ids: dict[str, str]) -> dict[str, Any]:
    started = agent.start_ingestion_job(**ids)["ingestionJob"]
    assert started["status"] == "STARTING"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = agent.get_ingestion_job(**ids, ingestionJobId=started["ingestionJobId"])
        if job["ingestionJob"]["status"] not in ("STARTING", "IN_PROGRESS", "STOPPING"):
            return job["ingestionJob"]
        time.sleep(0.2)
    raise AssertionError("the ingestion job did not finish")


def retrieve(runtime: Any, kb_id: str, text: str, **search: Any) -> list[dict[str, Any]]:
    config = {"vectorSearchConfiguration": {"numberOfResults": 5, **search}}
    reply = runtime.retrieve(
        knowledgeBaseId=kb_id, retrievalQuery={"text": text}, retrievalConfiguration=config
    )
    return reply["retrievalResults"]


def sources_of(results: list[dict[str, Any]]) -> list[str]:
    return [r["location"]["s3Location"]["uri"].rsplit("/", 1)[-1] for r in results]


def test_first_sync_indexes_every_document_type(
    handbook: dict[str, Any], kb_server: Server
) -> None:
    job = handbook["first"]
    assert job["status"] == "COMPLETE", job
    stats = job["statistics"]
    assert stats["numberOfDocumentsScanned"] == 5  # drafts/ is not included
    assert stats["numberOfMetadataDocumentsScanned"] == 2
    assert stats["numberOfNewDocumentsIndexed"] == 4
    assert stats["numberOfDocumentsFailed"] == 1
    assert any("diagram.bin: unsupported file type .bin" in r for r in job["failureReasons"])
    agent = kb_server.client("bedrock-agent")
    ids = {k: handbook[k] for k in ("knowledgeBaseId", "dataSourceId")}
    listed = agent.list_knowledge_base_documents(**ids)["documentDetails"]
    status = {d["identifier"]["s3"]["uri"].rsplit("/", 1)[-1]: d["status"] for d in listed}
    assert status == {"vacation.pdf": "INDEXED", "expenses.docx": "INDEXED",
                      "onboarding.html": "INDEXED", "security.md": "INDEXED",
                      "diagram.bin": "FAILED"}  # fmt: skip
    jobs = agent.list_ingestion_jobs(**ids)["ingestionJobSummaries"]
    assert [j["ingestionJobId"] for j in jobs] == [job["ingestionJobId"]]


def test_retrieve_finds_the_passage_with_its_page_and_sidecar(
    handbook: dict[str, Any], kb_server: Server
) -> None:
    runtime = kb_server.client("bedrock-agent-runtime")
    results = retrieve(runtime, handbook["knowledgeBaseId"], "How many days of paid vacation?")
    best = results[0]
    assert best["content"]["type"] == "TEXT" and "25 days" in best["content"]["text"]
    assert best["location"]["type"] == "S3"
    assert best["location"]["s3Location"]["uri"].endswith("/policies/vacation.pdf")
    meta = best["metadata"]
    assert meta["department"] == "hr" and meta["year"] == 2024
    assert meta["x-amz-bedrock-kb-document-page-number"] == 1
    assert meta["x-amz-bedrock-kb-data-source-id"] == handbook["dataSourceId"]
    assert 0 < best["score"] <= 1 and best["score"] >= results[-1]["score"]
    doctor = retrieve(runtime, handbook["knowledgeBaseId"], "sick leave doctor note")[0]
    assert doctor["metadata"]["x-amz-bedrock-kb-document-page-number"] == 2
    html = retrieve(runtime, handbook["knowledgeBaseId"], "laptop and badge on the first day")
    assert sources_of(html)[0] == "onboarding.html"
    assert all("tracking" not in r["content"]["text"] for r in html)  # scripts are not text


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        ({"equals": {"key": "department", "value": "it"}}, {"security.md"}),
        ({"listContains": {"key": "tags", "value": "vpn"}}, {"security.md"}),
        ({"stringContains": {"key": SOURCE_URI, "value": "/guides/"}},
         {"expenses.docx", "onboarding.html"}),
        ({"startsWith": {"key": SOURCE_URI, "value": "s3://"}},
         {"vacation.pdf", "expenses.docx", "onboarding.html", "security.md"}),
        ({"andAll": [{"equals": {"key": "department", "value": "hr"}},
                     {"greaterThanOrEquals": {"key": "year", "value": 2024}}]}, {"vacation.pdf"}),
        ({"orAll": [{"equals": {"key": "department", "value": "it"}},
                    {"lessThan": {"key": "year", "value": 2000}}]}, {"security.md"}),
        ({"notIn": {"key": "department", "value": ["hr", "it"]}},
         {"expenses.docx", "onboarding.html"}),
    ],
)  # fmt: skip
def test_retrieval_filters_are_exact(
    handbook: dict[str, Any], kb_server: Server, search_filter: dict[str, Any], expected: set[str]
) -> None:
    runtime = kb_server.client("bedrock-agent-runtime")
    results = retrieve(runtime, handbook["knowledgeBaseId"], "company rules", filter=search_filter)
    assert set(sources_of(results)) == expected


def test_semantic_and_hybrid_search(handbook: dict[str, Any], kb_server: Server) -> None:
    runtime = kb_server.client("bedrock-agent-runtime")
    for search in ("SEMANTIC", "HYBRID"):
        results = retrieve(runtime, handbook["knowledgeBaseId"], "hotel approval manager",
                           overrideSearchType=search)  # fmt: skip
        assert sources_of(results)[0] == "expenses.docx", search


def test_retrieve_pages_through_next_token(handbook: dict[str, Any], kb_server: Server) -> None:
    runtime = kb_server.client("bedrock-agent-runtime")
    kb_id, question = handbook["knowledgeBaseId"], {"text": "company policy"}

    def page(size: int, token: str | None = None) -> dict[str, Any]:
        config = {"vectorSearchConfiguration": {"numberOfResults": size}}
        extra = {"nextToken": token} if token else {}
        return runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery=question,
                                retrievalConfiguration=config, **extra)  # fmt: skip

    everything = [r["content"]["text"] for r in page(100)["retrievalResults"]]
    assert len(everything) >= 4
    paged, token = [], None
    while True:
        reply = page(2, token)
        paged += [r["content"]["text"] for r in reply["retrievalResults"]]
        token = reply.get("nextToken")
        if token is None:
            break
    assert paged == everything  # the same order, nothing repeated or skipped
    first = page(2)["nextToken"]
    with pytest.raises(ClientError) as error:  # a token is bound to its question
        config = {"vectorSearchConfiguration": {"numberOfResults": 2}}
        runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "another question"},
                         retrievalConfiguration=config, nextToken=first)  # fmt: skip
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_the_index_can_be_queried_directly(handbook: dict[str, Any], kb_server: Server) -> None:
    s3v = kb_server.client()
    keys = s3v.list_vectors(vectorBucketName=handbook["bucket"], indexName="chunks")["vectors"]
    assert keys and all(k["key"].startswith(handbook["dataSourceId"]) for k in keys)
    got = s3v.get_vectors(vectorBucketName=handbook["bucket"], indexName="chunks",
                          keys=[keys[0]["key"]], returnMetadata=True)["vectors"][0]  # fmt: skip
    assert {"AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA", SOURCE_URI} <= set(got["metadata"])


def test_langchain_retriever_reads_the_knowledge_base(
    handbook: dict[str, Any], kb_server: Server
) -> None:
    from langchain_aws.retrievers import AmazonKnowledgeBasesRetriever

    retriever = AmazonKnowledgeBasesRetriever(
        knowledge_base_id=handbook["knowledgeBaseId"],
        retrieval_config={"vectorSearchConfiguration": {"numberOfResults": 3}},
        client=kb_server.client("bedrock-agent-runtime"),
    )
    found = retriever.invoke("Where do I send receipts for travel?")
    assert len(found) == 3
    assert "receipts" in found[0].page_content
    assert found[0].metadata["location"]["s3Location"]["uri"].endswith("/guides/expenses.docx")
    assert found[0].metadata["score"] > 0


def test_llamaindex_retriever_reads_the_knowledge_base(
    handbook: dict[str, Any], kb_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_index.retrievers.bedrock import AmazonKnowledgeBasesRetriever

    # LlamaIndex builds its own boto3 client: the endpoint setting is all a user changes.
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", kb_server.endpoint)
    retriever = AmazonKnowledgeBasesRetriever(
        knowledge_base_id=handbook["knowledgeBaseId"],
        retrieval_config={"vectorSearchConfiguration": {"numberOfResults": 2}},
        region_name="us-east-1",
        aws_access_key_id=SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
        aws_secret_access_key=SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
    )
    found = retriever.retrieve("Where do I send receipts for travel?")
    assert len(found) == 2
    assert "receipts" in found[0].node.get_content()
    location = found[0].node.metadata["location"]["s3Location"]["uri"]
    assert location.endswith("/guides/expenses.docx")
    assert found[0].score is not None and found[0].score > 0


def test_wrong_input_gets_bedrocks_errors(handbook: dict[str, Any], kb_server: Server) -> None:
    unchecked = Config(parameter_validation=False)  # the server's checks, not boto3's
    agent = kb_server.client("bedrock-agent", config=unchecked)
    runtime = kb_server.client("bedrock-agent-runtime", config=unchecked)
    cases = [
        (lambda: agent.start_ingestion_job(knowledgeBaseId=handbook["knowledgeBaseId"],
                                           dataSourceId="NOSUCHDS00"),
         "ResourceNotFoundException"),
        (lambda: runtime.retrieve(knowledgeBaseId="NOSUCHKB00", retrievalQuery={"text": "x"}),
         "ResourceNotFoundException"),
        (lambda: retrieve(runtime, handbook["knowledgeBaseId"], "x", filter={
            "equals": {"key": "a", "value": 1}, "notEquals": {"key": "b", "value": 2}}),
         "ValidationException"),
        (lambda: retrieve(runtime, handbook["knowledgeBaseId"], "x", numberOfResults=0),
         "ValidationException"),
        (lambda: agent.get_ingestion_job(ingestionJobId="NOSUCHJOB0", **{
            k: handbook[k] for k in ("knowledgeBaseId", "dataSourceId")}),
         "ResourceNotFoundException"),
    ]  # fmt: skip
    before = agent.list_knowledge_base_documents(
        knowledgeBaseId=handbook["knowledgeBaseId"], dataSourceId=handbook["dataSourceId"]
    )["documentDetails"]
    for call, code in cases:
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == code
    after = agent.list_knowledge_base_documents(
        knowledgeBaseId=handbook["knowledgeBaseId"], dataSourceId=handbook["dataSourceId"]
    )["documentDetails"]
    assert before == after


def test_metrics_follow_a_running_job(kb_server: Server, s3_endpoint: str) -> None:
    """``GET /metrics`` while a job runs: the job counted, its statistics growing."""
    from test_metrics import samples, scrape

    from vetor.server.metrics import parse

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    name = f"many-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    count = 300
    for n in range(count):
        body = f"# Note {n}\n\nNote number {n} is about topic {n % 17} and more words.\n"
        s3.put_object(Bucket=name, Key=f"notes/{n:03d}.md", Body=body.encode())
    agent = kb_server.client("bedrock-agent")
    ids = s3_knowledge_base(agent, name, name)
    labels = {"knowledge_base": ids["knowledgeBaseId"], "data_source": ids["dataSourceId"]}
    started = agent.start_ingestion_job(**ids)["ingestionJob"]
    seen: list[tuple[float, float]] = []  # (scanned, indexed) while running
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        families = parse(scrape(kb_server)[1])
        running = samples(families, "vetor_ingestion_jobs_running", "vetor_ingestion_jobs_running")
        figures = {
            s.labels["statistic"]: s.value
            for s in families["vetor_ingestion_documents"].samples
            if all(s.labels.get(k) == v for k, v in labels.items())
        }
        if figures:
            assert running[0] >= 1
            seen.append((figures.get("numberOfDocumentsScanned", 0),
                         figures.get("numberOfNewDocumentsIndexed", 0)))  # fmt: skip
        job = agent.get_ingestion_job(**ids, ingestionJobId=started["ingestionJobId"])
        if job["ingestionJob"]["status"] == "COMPLETE":
            break
        time.sleep(0.05)
    assert job["ingestionJob"]["statistics"]["numberOfNewDocumentsIndexed"] == count
    assert seen, "no scrape caught the job running"
    assert all(scanned in (0, count) and 0 <= indexed <= count for scanned, indexed in seen)
    assert any(scanned == count and indexed < count for scanned, indexed in seen)
    indexed = [i for _, i in seen]
    assert indexed == sorted(indexed)  # it only grows
    families = parse(scrape(kb_server)[1])
    assert not [s for s in families["vetor_ingestion_documents"].samples
                if s.labels.get("knowledge_base") == ids["knowledgeBaseId"]]  # fmt: skip


def test_resync_reflects_a_changed_and_a_deleted_file(
    handbook: dict[str, Any], kb_server: Server, source_bucket: dict[str, Any]
) -> None:
    """Last in the module: it changes the bucket."""
    agent = kb_server.client("bedrock-agent")
    runtime = kb_server.client("bedrock-agent-runtime")
    ids = {k: handbook[k] for k in ("knowledgeBaseId", "dataSourceId")}
    s3, name = source_bucket["client"], source_bucket["name"]
    unchanged = sync(agent, ids)["statistics"]
    assert unchanged["numberOfNewDocumentsIndexed"] == 0
    assert unchanged["numberOfModifiedDocumentsIndexed"] == 0
    assert unchanged["numberOfDocumentsDeleted"] == 0
    changed = documents.docx("Expense reports", [
        "Submit receipts for travel expenses within 60 days of the purchase."])  # fmt: skip
    s3.put_object(Bucket=name, Key="handbook/guides/expenses.docx", Body=changed)
    s3.delete_object(Bucket=name, Key="handbook/notes/security.md")
    s3.delete_object(Bucket=name, Key="handbook/notes/security.md.metadata.json")
    job = sync(agent, ids)
    stats = job["statistics"]
    assert job["status"] == "COMPLETE"
    assert stats["numberOfModifiedDocumentsIndexed"] == 1
    assert stats["numberOfDocumentsDeleted"] == 1
    assert stats["numberOfNewDocumentsIndexed"] == 0
    receipts = retrieve(runtime, handbook["knowledgeBaseId"], "deadline for receipts")
    texts = [r["content"]["text"] for r in receipts if r["location"]["s3Location"]["uri"]
             .endswith("expenses.docx")]  # fmt: skip
    assert texts and all("60 days" in t for t in texts)
    assert not any("200 euros" in t for t in texts)  # the old chunk is gone
    it = retrieve(runtime, handbook["knowledgeBaseId"], "vpn",
                  filter={"equals": {"key": "department", "value": "it"}})  # fmt: skip
    assert it == []
    listed = agent.list_knowledge_base_documents(**ids)["documentDetails"]
    assert "security.md" not in {d["identifier"]["s3"]["uri"].rsplit("/", 1)[-1] for d in listed}
