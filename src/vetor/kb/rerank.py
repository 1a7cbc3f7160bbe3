"""Re-ranking: the ``Rerank`` operation (``bedrock-agent-runtime``) and re-ranking inside
Retrieve, with any re-ranking model of the registry, named as Bedrock names models
(``arn:aws:bedrock:REGION::foundation-model/<model id>``)."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ValidationException
from ..models import MODEL_CALLS, RERANK, Reranker, get_reranker, models, reranker_of


class Reranking:
    def rerank(
        self,
        *,
        queries: list[dict[str, Any]],
        sources: list[dict[str, Any]],
        rerankingConfiguration: dict[str, Any],
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        if len(queries) != 1:
            raise ValidationException("Rerank takes exactly one query")
        if nextToken is not None:
            raise ValidationException("The nextToken is not one this server gave")
        query = queries[0]["textQuery"].get("text", "")
        documents = [s["inlineDocumentSource"] for s in sources]
        texts = [_document_text(d) for d in documents]
        config = rerankingConfiguration["bedrockRerankingConfiguration"]
        reranker = self.reranker(config["modelConfiguration"]["modelArn"])
        scores = _score(reranker, query, texts)
        order = sorted(range(len(texts)), key=lambda i: -float(scores[i]))
        wanted = int(config.get("numberOfResults") or len(order))
        return {
            "results": [
                {"index": i, "relevanceScore": float(scores[i]), "document": documents[i]}
                for i in order[:wanted]
            ]
        }

    def rerank_results(
        self, query: str, results: list[dict[str, Any]], config: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Retrieve's results in the re-ranker's order, with its scores (Bedrock's
        ``rerankingConfiguration``: ``numberOfRerankedResults`` of them, default all)."""
        bedrock = config.get("bedrockRerankingConfiguration") or {}
        reranker = self.reranker(bedrock["modelConfiguration"]["modelArn"])
        scores = _score(reranker, query, [r["content"]["text"] for r in results])
        order = sorted(range(len(results)), key=lambda i: -float(scores[i]))
        wanted = int(bedrock.get("numberOfRerankedResults") or len(order))
        return [{**results[i], "score": float(scores[i])} for i in order[:wanted]]

    def reranker(self, model_arn: str) -> Reranker:
        model_id = model_arn.rsplit("foundation-model/", 1)[-1]
        provider = reranker_of(model_id)
        if provider is None:
            known = ", ".join(m.model_id for m in models(RERANK))
            raise ValidationException(
                f"The re-ranking model {model_arn} is not available (vetor has: {known})"
            )
        return get_reranker(provider, model_id)


def _document_text(document: dict[str, Any]) -> str:
    if document.get("type") == "JSON":
        return orjson.dumps(document.get("jsonDocument")).decode()
    return (document.get("textDocument") or {}).get("text", "")


def _score(reranker: Reranker, query: str, texts: list[str]) -> Any:
    """The re-ranker's scores, the call counted for ``GET /metrics``."""
    with MODEL_CALLS.timed("rerank", f"{reranker.provider}:{reranker.model}", len(texts)):
        return reranker.score(query, texts)
