"""Retrieve (``bedrock-agent-runtime``): a question against a knowledge base's chunks.

The question is embedded with the knowledge base's model and searched in its index: HYBRID
(vetor's BM25 + vector fusion over the chunk text) by default where the index is full-text
searchable, SEMANTIC otherwise or when asked. Bedrock's ``RetrievalFilter`` is translated into
the index's filter language and applied exactly, inside the search (k results whenever k chunks
match). Results carry Bedrock's shape: ``content.text``, ``location``, ``score`` (the cosine
similarity mapped to [0, 1], or the re-ranker's relevance), ``metadata``. Hierarchical chunks
are searched as children and returned as their parents, each parent once. Pages of
``numberOfResults`` follow one another through a signed ``nextToken`` bound to the request;
re-ranking orders each page. A ``guardrailConfiguration`` checks the question first: blocked,
nothing is searched; anonymized, the anonymized question is.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ValidationException
from ..guardrails import GuardrailService
from ..service.tokens import TokenSigner, fingerprint
from .knowledge_bases import METADATA_KEY, TEXT_KEY, KnowledgeBases, embedder_for, index_address
from .rerank import Reranking

DEFAULT_RESULTS = 5
COMPARISONS = {
    "equals": "$eq", "notEquals": "$ne", "greaterThan": "$gt", "greaterThanOrEquals": "$gte",
    "lessThan": "$lt", "lessThanOrEquals": "$lte", "in": "$in", "notIn": "$nin",
    "startsWith": "$startsWith", "listContains": "$eq", "stringContains": "$contains",
}  # fmt: skip


class Retrieval:
    def __init__(
        self, knowledge_bases: KnowledgeBases, reranking: Reranking, guardrails: GuardrailService
    ) -> None:
        self.knowledge_bases, self.reranking, self.guardrails = (
            knowledge_bases,
            reranking,
            guardrails,
        )
        self.service = knowledge_bases.service
        self.tokens = TokenSigner(self.service.store)

    def retrieve(
        self,
        *,
        knowledgeBaseId: str,
        retrievalQuery: dict[str, Any],
        retrievalConfiguration: dict[str, Any] | None = None,
        nextToken: str | None = None,
        guardrailConfiguration: dict[str, Any] | None = None,
        userContext: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        kb = self.knowledge_bases.find(knowledgeBaseId)
        text = retrievalQuery.get("text", "")
        if not text.strip():
            raise ValidationException("retrievalQuery.text must not be empty")
        if guardrailConfiguration is not None:  # the question first: blocked, nothing is searched
            verdict, text = self.guardrails.check(guardrailConfiguration, "INPUT", text)
            if verdict.blocked:
                return {"retrievalResults": [], "guardrailAction": "INTERVENED"}
        config = (retrievalConfiguration or {}).get("vectorSearchConfiguration") or {}
        wanted = int(config.get("numberOfResults") or DEFAULT_RESULTS)
        request = fingerprint({"kb": knowledgeBaseId, "text": text, "config": config})
        offset = self._offset(nextToken, request)
        hits = self._search(kb, text, config, offset + wanted + 1)  # one more: a next page?
        results = [_result(hit) for hit in hits[offset : offset + wanted]]
        rerank = config.get("rerankingConfiguration")
        if rerank is not None:
            results = self.reranking.rerank_results(text, results, rerank)
        body: dict[str, Any] = {"retrievalResults": results}
        if guardrailConfiguration is not None:
            body["guardrailAction"] = "INTERVENED" if verdict.changed else "NONE"
        if len(hits) > offset + wanted:
            state = {"offset": offset + wanted, "request": request}
            body["nextToken"] = self.tokens.encode("retrieve", state)
        return body

    def _offset(self, token: str | None, request: str) -> int:
        if token is None:
            return 0
        state = self.tokens.decode(token, "retrieve")
        if state["request"] != request:
            raise ValidationException("Invalid nextToken: it belongs to another retrieval")
        return int(state["offset"])

    def _search(
        self, kb: dict[str, Any], text: str, config: dict[str, Any], wanted: int
    ) -> list[dict[str, Any]]:
        address = index_address(kb)
        index = self.service.get_index(**address)["index"]
        searchable = any(
            c["metadataKey"] == TEXT_KEY
            for c in (index.get("metadataConfiguration") or {}).get("textSearchConfigurations", [])
        )
        search_type = config.get("overrideSearchType")
        if search_type == "HYBRID" and not searchable:
            raise ValidationException(
                f"HYBRID search needs the index {address['indexName']} to make {TEXT_KEY} "
                "full-text searchable (knowledge bases vetor creates do)"
            )
        vector = embedder_for(kb).embed_queries([text])[0]
        request: dict[str, Any] = {
            **address,
            "queryVector": {"float32": vector.tolist()},
            "returnMetadata": True,
            "returnDistance": True,
        }
        if searchable and search_type != "SEMANTIC":
            request["queryTexts"] = [{"metadataKey": TEXT_KEY, "text": text}]
        if config.get("filter"):
            request["filter"] = translate(config["filter"])
        top_k = wanted
        while True:
            hits = self._query(request, top_k)
            if not any(_bedrock(h).get("parentText") for h in hits):
                return hits
            parents = _parents(hits)  # several children may share a parent: ask for more
            limit = self.service.settings.max_top_k
            if len(parents) >= wanted or len(hits) < top_k or top_k >= limit:
                return parents[:wanted]
            top_k = min(top_k * 4, limit)

    def _query(self, request: dict[str, Any], top_k: int) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        token = None
        while True:
            extra: dict[str, str] = {"nextToken": token} if token else {}
            page = self.service.query_vectors(**request, topK=top_k, **extra)
            hits += page["vectors"]
            token = page.get("nextToken")
            if token is None:
                return hits


def translate(node: dict[str, Any]) -> dict[str, Any]:
    """A Bedrock ``RetrievalFilter`` as the index's filter; each node names one operator."""
    if not isinstance(node, dict) or len(node) != 1:
        raise ValidationException("Each retrieval filter must set exactly one operator")
    ((operator, argument),) = node.items()
    if operator in ("andAll", "orAll"):
        if not isinstance(argument, list) or len(argument) < 2:
            raise ValidationException(f"{operator} takes a list of at least two filters")
        return {"$and" if operator == "andAll" else "$or": [translate(a) for a in argument]}
    if operator not in COMPARISONS:
        raise ValidationException(f"Unknown retrieval filter operator {operator}")
    key, value = argument.get("key"), argument.get("value")
    if not key:
        raise ValidationException(f"The {operator} filter needs a key")
    if operator in ("in", "notIn") and not isinstance(value, list):
        raise ValidationException(f"The {operator} filter takes a list of values")
    if operator in ("startsWith", "stringContains") and not isinstance(value, str):
        raise ValidationException(f"The {operator} filter takes a string")
    if operator == "listContains" and isinstance(value, (list, dict)):
        raise ValidationException("The listContains filter takes one value")
    return {key: {COMPARISONS[operator]: value}}


def _bedrock(hit: dict[str, Any]) -> dict[str, Any]:
    raw = (hit.get("metadata") or {}).get(METADATA_KEY)
    return orjson.loads(raw) if isinstance(raw, str) else {}


def _parents(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each hierarchical parent once, at its best child's rank, holding the parent's text."""
    seen: set[str] = set()
    parents = []
    for hit in hits:
        parent = _bedrock(hit).get("parentText")
        if parent is None or parent in seen:
            continue
        seen.add(parent)
        metadata = {**hit["metadata"], TEXT_KEY: parent}
        parents.append({**hit, "metadata": metadata})
    return parents


def _result(hit: dict[str, Any]) -> dict[str, Any]:
    metadata = hit.get("metadata") or {}
    bedrock = _bedrock(hit)
    source = bedrock.get("source", "")
    location = (
        {"type": "CUSTOM", "customDocumentLocation": {"id": source}}
        if bedrock.get("type") == "CUSTOM"
        else {"type": "S3", "s3Location": {"uri": source}}
    )
    shown = {k: v for k, v in metadata.items() if k not in (TEXT_KEY, METADATA_KEY)}
    return {
        "content": {"type": "TEXT", "text": metadata.get(TEXT_KEY, "")},
        "location": location,
        "score": 1.0 - float(hit.get("distance", 1.0)) / 2.0,  # cosine distance → [0, 1]
        "metadata": shown,
    }
