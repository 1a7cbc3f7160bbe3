"""Portuguese retrieval: multilingual-e5 finds the right passage, English MiniLM often misses.

Ten short factual passages on distinct Brazilian topics, and one question for each worded
with different vocabulary (no shared key nouns), so a model must understand Portuguese.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import vetor
from vetor.embed import get_embedder
from vetor.embed.pipeline import PutOptions, put
from vetor.embed.sources import Source, literal, literal_key

DATA = json.loads((Path(__file__).parent / "data" / "portuguese.json").read_text())


def top1_accuracy(provider: str) -> tuple[float, float]:
    """Top-1 accuracy and mean reciprocal rank over the questions, through a vetor index."""
    s3v = vetor.connect(f"memory://{uuid.uuid4().hex}")
    embedder = get_embedder(provider)
    options = PutOptions("portugues", "textos")
    sources: list[Source] = [literal(text) for text in DATA["passages"].values()]
    report = put(s3v, embedder, sources, options)
    assert report.failures == [] and report.vectors == len(sources)
    key_of = {literal_key(text): name for name, text in DATA["passages"].items()}
    hits, reciprocal = 0, 0.0
    vectors = embedder.embed_queries(list(DATA["queries"]))
    for vector, expected in zip(vectors, DATA["queries"].values()):
        found = s3v.query_vectors(
            vectorBucketName="portugues", indexName="textos", topK=10,
            queryVector={"float32": vector.tolist()},
        )["vectors"]  # fmt: skip
        ranking = [key_of[v["key"]] for v in found]
        hits += ranking[0] == expected
        reciprocal += 1 / (ranking.index(expected) + 1)
    count = len(DATA["queries"])
    return hits / count, reciprocal / count


def test_e5_understands_portuguese_and_minilm_does_measurably_worse() -> None:
    e5, e5_mrr = top1_accuracy("e5-multilingual")
    minilm, minilm_mrr = top1_accuracy("local")
    print(f"\nPortuguese top-1 accuracy: e5-multilingual {e5:.0%} (MRR {e5_mrr:.2f}), "
          f"MiniLM {minilm:.0%} (MRR {minilm_mrr:.2f})")  # fmt: skip
    assert e5 >= 0.9
    assert minilm <= e5 - 0.3 and minilm_mrr < e5_mrr
