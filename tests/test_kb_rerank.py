"""Re-ranking through boto3's ``bedrock-agent-runtime``: the ``Rerank`` operation and re-ranking
inside Retrieve, with the offline default model; and the ``rerank-http`` provider against
loopback servers that speak Cohere's and TEI's ``/rerank``."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import Server
from test_kb_documents import ask, inline, new_kb

from vetor.models import get_reranker

DEFAULT = "arn:aws:bedrock:us-east-1::foundation-model/ms-marco-minilm-l-12-v2"
E5 = "arn:aws:bedrock:us-east-1::foundation-model/vetor-rerank-e5"


def rerank_config(model_arn: str = DEFAULT, **extra: Any) -> dict[str, Any]:
    return {
        "type": "BEDROCK_RERANKING_MODEL",
        "bedrockRerankingConfiguration": {"modelConfiguration": {"modelArn": model_arn}, **extra},
    }


def test_rerank_orders_passages_by_relevance(server: Server) -> None:
    runtime = server.client("bedrock-agent-runtime")
    passages = [
        "The train to the airport leaves every fifteen minutes.",
        "Volcanoes erupt when magma reaches the surface of the earth.",
        "A volcano in Iceland erupted last week, sending ash into the sky.",
    ]
    reply = runtime.rerank(
        queries=[{"type": "TEXT", "textQuery": {"text": "volcanic eruption in Iceland"}}],
        sources=[
            {
                "type": "INLINE",
                "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": p}},
            }
            for p in passages
        ],
        rerankingConfiguration=rerank_config(numberOfResults=2),
    )["results"]
    assert [r["index"] for r in reply] == [2, 1]
    assert reply[0]["relevanceScore"] > reply[1]["relevanceScore"]
    assert reply[0]["document"]["textDocument"]["text"] == passages[2]
    listed = server.client("bedrock").list_foundation_models()["modelSummaries"]
    assert {"ms-marco-minilm-l-12-v2", "vetor-rerank-e5"} <= {m["modelId"] for m in listed}


@pytest.mark.parametrize("model_arn", [DEFAULT, E5])
def test_retrieve_reranks_its_results(server: Server, model_arn: str) -> None:
    agent, runtime = server.client("bedrock-agent"), server.client("bedrock-agent-runtime")
    ids = new_kb(agent)
    agent.ingest_knowledge_base_documents(
        **ids,
        documents=[
            inline("a", "Hotels must be booked through the travel portal."),
            inline("b", "Meals during business trips are paid up to 40 euros a day."),
            inline("c", "The office closes at six on Fridays."),
        ],
    )
    reranked = ask(
        runtime,
        ids["knowledgeBaseId"],
        "how much can I spend on food when traveling?",
        rerankingConfiguration=rerank_config(model_arn, numberOfRerankedResults=2),
    )
    assert len(reranked) == 2
    assert reranked[0]["location"]["customDocumentLocation"]["id"] == "b"
    assert reranked[0]["score"] >= reranked[1]["score"]


class _Reranker(BaseHTTPRequestHandler):
    """Scores by shared words, in Cohere's or TEI's reply shape."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        words = set(request["query"].lower().split())
        texts = request.get("documents") or request.get("texts")
        scores = [len(words & set(t.lower().split())) / len(words) for t in texts]
        if "texts" in request:  # TEI
            body: Any = [{"index": i, "score": s} for i, s in enumerate(scores)]
        else:
            body = {"results": [{"index": i, "relevance_score": s} for i, s in enumerate(scores)]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("dialect", ["cohere", "tei"])
def test_http_reranker_speaks_both_dialects(dialect: str, monkeypatch: Any) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Reranker)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("VETOR_RERANK_BASE_URL", f"http://127.0.0.1:{httpd.server_port}/v1")
        monkeypatch.setenv("VETOR_RERANK_DIALECT", dialect)
        reranker = get_reranker("rerank-http", f"model-{uuid.uuid4().hex[:6]}")
        scores = reranker.score("red apple pie", ["green tea", "apple pie", "red apple pie"])
        assert list(scores) == pytest.approx([0.0, 2 / 3, 1.0])
    finally:
        httpd.shutdown()
