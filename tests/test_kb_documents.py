"""Documents pushed one by one (CUSTOM data sources, through boto3 against ``vetor serve``),
Bedrock's chunking strategies, LOCAL folders and Portuguese, in process and over the wire."""

from __future__ import annotations

import uuid
from typing import Any

import documents
import pytest
from conftest import Server

import vetor

ROLE = "arn:aws:iam::000000000000:role/kb"


def model(name: str) -> dict[str, Any]:
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{name}"
    return {"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": arn}}


def storage(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3vectors:us-east-1:000000000000:bucket/{bucket}"
    return {
        "type": "S3_VECTORS",
        "s3VectorsConfiguration": {"vectorBucketArn": arn, "indexName": "chunks"},
    }


def new_kb(client: Any, model_id: str = "all-MiniLM-L6-v2", **source: Any) -> dict[str, str]:
    kb = client.create_knowledge_base(
        name=f"kb-{uuid.uuid4().hex[:8]}",
        roleArn=ROLE,
        knowledgeBaseConfiguration=model(model_id),
        storageConfiguration=storage(f"kb-{uuid.uuid4().hex[:8]}"),
    )["knowledgeBase"]
    config = source.pop("config", {"type": "CUSTOM"})
    created = client.create_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"], name="src", dataSourceConfiguration=config, **source
    )["dataSource"]
    return {"knowledgeBaseId": kb["knowledgeBaseId"], "dataSourceId": created["dataSourceId"]}


def inline(doc_id: str, text: str, **attributes: Any) -> dict[str, Any]:
    typed = {
        str: lambda v: {"type": "STRING", "stringValue": v},
        int: lambda v: {"type": "NUMBER", "numberValue": v},
        list: lambda v: {"type": "STRING_LIST", "stringListValue": v},
    }
    document: dict[str, Any] = {
        "content": {
            "dataSourceType": "CUSTOM",
            "custom": {
                "customDocumentIdentifier": {"id": doc_id},
                "sourceType": "IN_LINE",
                "inlineContent": {"type": "TEXT", "textContent": {"data": text}},
            },
        }
    }
    if attributes:
        document["metadata"] = {
            "type": "IN_LINE_ATTRIBUTE",
            "inlineAttributes": [
                {"key": k, "value": typed[type(v)](v)} for k, v in attributes.items()
            ],
        }
    return document


def ask(client: Any, kb_id: str, text: str, **search: Any) -> list[dict[str, Any]]:
    config = {"vectorSearchConfiguration": {"numberOfResults": 3, **search}}
    return client.retrieve(
        knowledgeBaseId=kb_id, retrievalQuery={"text": text}, retrievalConfiguration=config
    )["retrievalResults"]


def test_custom_documents_through_boto3(server: Server) -> None:
    agent, runtime = server.client("bedrock-agent"), server.client("bedrock-agent-runtime")
    ids = new_kb(agent)
    pdf = documents.pdf(["The cafeteria opens at eight and closes at three."])
    pushed = agent.ingest_knowledge_base_documents(
        **ids,
        documents=[
            inline("parking", "Staff park in the garage under building B.", floor=2),
            inline("badges", "Lost badges are replaced at the front desk.", teams=["ops", "it"]),
            {
                "content": {
                    "dataSourceType": "CUSTOM",
                    "custom": {
                        "customDocumentIdentifier": {"id": "cafeteria"},
                        "sourceType": "IN_LINE",
                        "inlineContent": {
                            "type": "BYTE",
                            "byteContent": {"mimeType": "application/pdf", "data": pdf},
                        },
                    },
                }
            },
        ],
    )["documentDetails"]
    assert [d["status"] for d in pushed] == ["INDEXED"] * 3
    best = ask(runtime, ids["knowledgeBaseId"], "where can I park my car?")[0]
    assert best["location"] == {"type": "CUSTOM", "customDocumentLocation": {"id": "parking"}}
    assert best["metadata"]["floor"] == 2
    cafeteria = ask(runtime, ids["knowledgeBaseId"], "when does the cafeteria open?")[0]
    assert cafeteria["location"]["customDocumentLocation"]["id"] == "cafeteria"
    teams = ask(
        runtime,
        ids["knowledgeBaseId"],
        "badge",
        filter={"listContains": {"key": "teams", "value": "it"}},
    )
    assert [r["location"]["customDocumentLocation"]["id"] for r in teams] == ["badges"]
    got = agent.get_knowledge_base_documents(
        **ids,
        documentIdentifiers=[
            {"dataSourceType": "CUSTOM", "custom": {"id": "parking"}},
            {"dataSourceType": "CUSTOM", "custom": {"id": "nothing"}},
        ],
    )["documentDetails"]
    assert [d["status"] for d in got] == ["INDEXED", "NOT_FOUND"]
    agent.delete_knowledge_base_documents(
        **ids, documentIdentifiers=[{"dataSourceType": "CUSTOM", "custom": {"id": "parking"}}]
    )
    left = ask(runtime, ids["knowledgeBaseId"], "where can I park my car?")
    assert "parking" not in [r["location"]["customDocumentLocation"]["id"] for r in left]
    listed = agent.list_knowledge_base_documents(**ids)["documentDetails"]
    assert sorted(d["identifier"]["custom"]["id"] for d in listed) == ["badges", "cafeteria"]
    bad = agent.ingest_knowledge_base_documents(
        **ids,
        documents=[
            {
                "content": {
                    "dataSourceType": "CUSTOM",
                    "custom": {
                        "customDocumentIdentifier": {"id": "broken"},
                        "sourceType": "IN_LINE",
                        "inlineContent": {
                            "type": "BYTE",
                            "byteContent": {"mimeType": "application/pdf", "data": b"not a pdf"},
                        },
                    },
                }
            }
        ],
    )["documentDetails"]
    assert bad[0]["status"] == "FAILED" and "pdf" in bad[0]["statusReason"].lower()


def test_hierarchical_chunks_return_their_parents(tmp_path: Any) -> None:
    kbs = vetor.knowledge_bases(str(tmp_path / "store"))
    levels = {
        "chunkingStrategy": "HIERARCHICAL",
        "hierarchicalChunkingConfiguration": {
            "levelConfigurations": [{"maxTokens": 120}, {"maxTokens": 30}],
            "overlapTokens": 5,
        },
    }
    ids = new_kb(kbs, vectorIngestionConfiguration={"chunkingConfiguration": levels})
    text = (
        "The north office has a rooftop garden with tomatoes and herbs. " * 3
        + "\n\n"
        + "The south office keeps the archive of signed contracts in the basement. " * 3
    )
    kbs.ingest_knowledge_base_documents(**ids, documents=[inline("offices", text)])
    results = ask(kbs, ids["knowledgeBaseId"], "where are the contracts archived?")
    texts = [r["content"]["text"] for r in results]
    assert len(texts) == len(set(texts))  # each parent once
    assert "archive of signed contracts" in texts[0]
    assert len(texts[0]) > 200  # the parent, not a 30-token child
    kbs.close()


def test_semantic_and_no_chunking(tmp_path: Any) -> None:
    kbs = vetor.knowledge_bases(str(tmp_path / "store"))
    semantic = {
        "chunkingStrategy": "SEMANTIC",
        "semanticChunkingConfiguration": {
            "maxTokens": 200,
            "bufferSize": 0,
            "breakpointPercentileThreshold": 50,
        },
    }
    ids = new_kb(kbs, vectorIngestionConfiguration={"chunkingConfiguration": semantic})
    text = (
        "Cats sleep most of the day. Cats purr when they are content. Kittens play a lot. "
        "The stock market fell sharply today. Investors sold their shares. Bond yields rose."
    )
    kbs.ingest_knowledge_base_documents(**ids, documents=[inline("mixed", text)])
    results = ask(kbs, ids["knowledgeBaseId"], "why do cats purr?", numberOfResults=5)
    assert len(results) >= 2  # the text was split where the topic changes
    assert "purr" in results[0]["content"]["text"] and "stock" not in results[0]["content"]["text"]
    whole = new_kb(
        kbs, vectorIngestionConfiguration={"chunkingConfiguration": {"chunkingStrategy": "NONE"}}
    )
    kbs.ingest_knowledge_base_documents(**whole, documents=[inline("mixed", text)])
    one = ask(kbs, whole["knowledgeBaseId"], "cats", numberOfResults=5)
    assert [r["content"]["text"] for r in one] == [text]
    kbs.close()


def test_a_local_folder_in_portuguese(tmp_path: Any) -> None:
    folder = tmp_path / "documentos"
    folder.mkdir()
    (folder / "ferias.md").write_text(
        "# Férias\n\nCada funcionário tem direito a trinta dias de férias remuneradas por ano.",
        encoding="utf-8",
    )
    (folder / "ferias.md.metadata.json").write_bytes(documents.sidecar(area="rh"))
    (folder / "reembolso.html").write_bytes(
        documents.html(
            "Reembolso",
            ["Os recibos de viagem devem ser enviados em até trinta dias após a compra."],
        )
    )
    (folder / "vulcoes.txt").write_text(
        "Os vulcões da Islândia entram em erupção com frequência.", encoding="utf-8"
    )
    kbs = vetor.knowledge_bases(str(tmp_path / "store"))
    ids = new_kb(
        kbs,
        "multilingual-e5-small",
        config={"type": "LOCAL", "localConfiguration": {"path": str(folder)}},
    )
    job = kbs.start_ingestion_job(**ids)["ingestionJob"]
    done = kbs.jobs.wait(ids["knowledgeBaseId"], ids["dataSourceId"], job["ingestionJobId"])
    assert done["status"] == "COMPLETE" and done["statistics"]["numberOfNewDocumentsIndexed"] == 3
    best = ask(kbs, ids["knowledgeBaseId"], "Quantos dias de férias eu tenho?")[0]
    assert best["location"]["s3Location"]["uri"].endswith("/ferias.md")
    assert best["metadata"]["area"] == "rh"
    receipts = ask(
        kbs, ids["knowledgeBaseId"], "prazo para enviar recibos", overrideSearchType="HYBRID"
    )
    assert receipts[0]["location"]["s3Location"]["uri"].endswith("/reembolso.html")
    (folder / "vulcoes.txt").unlink()
    again = kbs.start_ingestion_job(**ids)["ingestionJob"]
    stats = kbs.jobs.wait(ids["knowledgeBaseId"], ids["dataSourceId"], again["ingestionJobId"])
    assert stats["statistics"]["numberOfDocumentsDeleted"] == 1
    assert stats["statistics"]["numberOfNewDocumentsIndexed"] == 0
    kbs.close()


def test_inline_bytes_are_base64_on_the_wire(server: Server) -> None:
    """boto3 encodes blobs as base64 in JSON; the server decodes them once."""
    agent = server.client("bedrock-agent")
    ids = new_kb(agent)
    page = b"<html><body><p>The gym is open on weekends.</p></body></html>"
    reply = agent.ingest_knowledge_base_documents(
        **ids,
        documents=[
            {
                "content": {
                    "dataSourceType": "CUSTOM",
                    "custom": {
                        "customDocumentIdentifier": {"id": "gym"},
                        "sourceType": "IN_LINE",
                        "inlineContent": {
                            "type": "BYTE",
                            "byteContent": {"mimeType": "text/html", "data": page},
                        },
                    },
                }
            }
        ],
    )["documentDetails"]
    assert reply[0]["status"] == "INDEXED"
    found = ask(server.client("bedrock-agent-runtime"), ids["knowledgeBaseId"], "gym hours")
    assert found[0]["content"]["text"] == "The gym is open on weekends."


@pytest.mark.parametrize(
    "bad",
    [
        {
            "chunkingStrategy": "HIERARCHICAL",
            "hierarchicalChunkingConfiguration": {
                "levelConfigurations": [{"maxTokens": 20}, {"maxTokens": 100}],
                "overlapTokens": 5,
            },
        },
        {"chunkingStrategy": "SEMANTIC"},
    ],
)
def test_bad_chunking_is_refused_at_creation(tmp_path: Any, bad: dict[str, Any]) -> None:
    kbs = vetor.knowledge_bases(str(tmp_path / "store"))
    with pytest.raises(vetor.ValidationException):
        new_kb(kbs, vectorIngestionConfiguration={"chunkingConfiguration": bad})
    kbs.close()
