"""Full-text and hybrid search: analyzers, BM25 against a reference, RRF, paging, backfill.

The text is real and written by nobody here: docstrings of the Python standard library, so
the fixture exists wherever the tests run. BM25 scores must equal ``bm25s`` (Lucene variant,
the same k1 and b) fed with vetor's own analyzer, across segments, write batches, deletes and
overwrites, in a warm process and in a cold one reading the stored indexes.
"""

from __future__ import annotations

import inspect
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bm25s
import numpy as np
import pytest

import vetor
from vetor.engine.textindex import TermPostings, TextField, summed_scores
from vetor.errors import ValidationException
from vetor.text import analyzer

DIMENSION = 8
QUERIES = [
    "return the number of items",
    "raise an exception if the file does not exist",
    "convert a string to an integer",
    "iterator over the elements",
    "decimal floating point arithmetic",
    "create a new thread",
    "parse command line arguments",
    "regular expression match object",
    "sort a list in place",
    "time zone offset",
]


def stdlib_passages(count: int = 700) -> list[str]:
    import argparse
    import collections
    import datetime
    import decimal
    import functools
    import itertools
    import json
    import logging
    import os
    import pathlib
    import re
    import statistics
    import string
    import textwrap
    import threading

    modules = [argparse, collections, datetime, decimal, functools, itertools, json, logging]
    modules += [os, pathlib, re, statistics, string, textwrap, threading]
    seen: dict[str, None] = {}

    def add(value: object) -> None:
        for paragraph in (inspect.getdoc(value) or "").split("\n\n"):
            if len(paragraph) > 60:
                seen.setdefault(" ".join(paragraph.split()))

    for module in modules:
        for name, value in sorted(vars(module).items()):
            if not name.startswith("_"):
                add(value)
                if inspect.isclass(value):  # and its methods
                    for attribute, member in sorted(vars(value).items()):
                        if not attribute.startswith("_"):
                            add(member)
    passages = list(seen)
    assert len(passages) >= count, len(passages)
    return passages[:count]


PASSAGES = stdlib_passages()


def reference(texts: dict[str, str], query: str) -> dict[str, float]:
    """BM25 by bm25s over exactly these documents, with vetor's English analyzer."""
    analyze = analyzer("en")
    keys = list(texts)
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index([analyze(texts[k]) for k in keys], show_progress=False)
    scores = retriever.get_scores(analyze(query))
    return {k: float(s) for k, s in zip(keys, scores) if s > 0}


def vector_of(i: int) -> list[float]:
    rng = np.random.default_rng(i)
    return (rng.random(DIMENSION, dtype=np.float32) + 0.01).tolist()


def make_index(service: vetor.VectorService, **metadata_config: Any) -> dict[str, str]:
    service.create_vector_bucket(vectorBucketName="docs")
    service.create_index(
        vectorBucketName="docs",
        indexName="text",
        dataType="float32",
        dimension=DIMENSION,
        distanceMetric="cosine",
        metadataConfiguration={"nonFilterableMetadataKeys": ["body"], **metadata_config},
    )
    address = {"vectorBucketName": "docs", "indexName": "text"}
    service.update_index_mode(**address, indexMode="ENHANCED")
    return address


def put(service: vetor.VectorService, address: dict, items: dict[str, str]) -> None:
    records = [
        {
            "key": key,
            "data": {"float32": vector_of(int(key[1:]))},
            "metadata": {"body": text, "group": int(key[1:]) % 3},
        }
        for key, text in items.items()
    ]
    for start in range(0, len(records), 100):
        service.put_vectors(**address, vectors=records[start : start + 100])


def text_scores(
    service: vetor.VectorService, address: dict, query: str, **extra: Any
) -> dict[str, float]:
    found = service.query_vectors(
        **address,
        topK=1000,
        queryTexts=[{"metadataKey": "body", "text": query}],
        returnScores=True,
        **extra,
    )
    return {
        v["key"]: v["scores"]["bm25Scores"][0]["score"]
        for v in all_pages(service, address, found, query, extra)
    }


def all_pages(
    service: vetor.VectorService, address: dict, first: dict, query: str, extra: dict
) -> list[dict]:
    results, page = list(first["vectors"]), first
    while "nextToken" in page:
        page = service.query_vectors(
            **address,
            topK=1000,
            queryTexts=[{"metadataKey": "body", "text": query}],
            returnScores=True,
            nextToken=page["nextToken"],
            **extra,
        )
        results += page["vectors"]
    return results


def assert_same_scores(found: dict[str, float], expected: dict[str, float]) -> None:
    assert found.keys() == expected.keys()
    for key, score in expected.items():
        assert found[key] == pytest.approx(score, rel=1e-5), key


@pytest.fixture
def settings() -> dict[str, Any]:
    # Small runs: compaction, segments with stored indexes and write batches all take part.
    return {"compact_wal_runs": 3, "max_segments": 3, "background_compaction": False}


# --- analyzers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "terms"),
    [
        ("en", "The Running dogs ran to the café", ["run", "dog", "ran", "cafe"]),
        ("pt", "As ações da empresa caíram", ["aco", "empres", "cair"]),
        ("fr", "Les élèves étudiaient à la bibliothèque", ["elev", "etudi", "bibliothequ"]),
        ("es", "Los niños corrían por el parque", ["nin", "corr", "parqu"]),
        ("de", "Die Häuser sind schön", ["haus", "schon"]),
        ("zh", "我爱北京", ["我爱", "爱北", "北京"]),
        ("ja", "東京都", ["東京", "京都"]),
        ("ko", "한국어 분석", ["한국", "국어", "분석"]),
        (
            "standard",
            "The ERR_42 in São Paulo 東京都",
            ["the", "err_42", "in", "são", "paulo", "東京", "京都"],
        ),
    ],
)
def test_analyzers(language: str, text: str, terms: list[str]) -> None:
    assert analyzer(language)(text) == terms


def test_an_analyzer_forgets_tokens_past_its_cache_limit_and_still_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vetor.text import analyzers

    monkeypatch.setattr(analyzers, "_CACHE_LIMIT", 5)
    small = analyzers.Analyzer("en")
    assert small("one two three four five six seven") == analyzer("en")(
        "one two three four five six seven"
    )
    assert small("one eight") == ["one", "eight"]  # "one" was learned before the cache reset


def test_accents_and_case_do_not_matter() -> None:
    pt = analyzer("pt")
    assert pt("AÇÃO ação acao") == pt("acao") * 3


# --- BM25 equals the reference ------------------------------------------------------------


def test_bm25_equals_reference_across_segments_deletes_and_overwrites(
    store_uri: str, settings: dict[str, Any]
) -> None:
    service = vetor.connect(store_uri, **settings)
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    live = {f"k{i}": text for i, text in enumerate(PASSAGES[:600])}
    put(service, address, live)  # six write batches: a segment, and a tail of batches
    rng = random.Random(7)
    deleted = rng.sample(sorted(live), 60)
    service.delete_vectors(**address, keys=deleted)
    for key in deleted:
        del live[key]
    overwritten = {k: PASSAGES[600 + i] for i, k in enumerate(rng.sample(sorted(live), 50))}
    put(service, address, overwritten)
    live.update(overwritten)
    put(service, address, {"k900": PASSAGES[650]})  # a fresh write batch, not yet compacted

    manifest = service.engine("docs", "text").latest_manifest()
    kinds = {r.kind for r in manifest.runs}
    assert kinds == {"segment", "wal"}, kinds  # both paths are exercised
    live["k900"] = PASSAGES[650]
    for query in QUERIES:
        assert_same_scores(text_scores(service, address, query), reference(live, query))

    cold = vetor.connect(store_uri, **settings)  # stored indexes, read by ranges
    for query in QUERIES:
        assert_same_scores(text_scores(cold, address, query), reference(live, query))

    service.compact(**address, full=True)  # one segment, deletes purged
    for query in QUERIES[:3]:
        assert_same_scores(text_scores(service, address, query), reference(live, query))


def test_concurrent_text_queries_answer_as_sequential_ones(tmp_path: Any, settings: dict) -> None:
    # Scoring borrows index-sized scratch arrays, handed back zeroed: queries running at the
    # same time must neither see each other's sums nor leave any behind.
    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    put(service, address, {f"k{i}": text for i, text in enumerate(PASSAGES[:400])})

    def top(query: str) -> list[tuple[str, float]]:
        found = service.query_vectors(
            **address, topK=5, queryTexts=[{"metadataKey": "body", "text": query}],
            returnScores=True,
        )  # fmt: skip
        return [(v["key"], v["scores"]["bm25Scores"][0]["score"]) for v in found["vectors"]]

    expected = {query: top(query) for query in QUERIES}
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            answers = list(pool.map(top, QUERIES * 8))
            assert answers == [expected[q] for q in QUERIES * 8]
    assert {q: top(q) for q in QUERIES} == expected


def test_filters_apply_to_text_and_hybrid_search(tmp_path: Any, settings: dict) -> None:
    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    items = {f"k{i}": text for i, text in enumerate(PASSAGES[:300])}
    put(service, address, items)
    query = QUERIES[0]
    everything = text_scores(service, address, query)
    group_one = text_scores(service, address, query, filter={"group": 1})
    assert group_one and set(group_one) < set(everything)
    assert all(int(k[1:]) % 3 == 1 for k in group_one)
    for key, score in group_one.items():  # statistics stay global: a filter only selects
        assert score == pytest.approx(everything[key])
    hybrid = service.query_vectors(
        **address,
        topK=20,
        queryVector={"float32": vector_of(5)},
        queryTexts=[{"metadataKey": "body", "text": query}],
        filter={"group": {"$in": [1]}},
    )["vectors"]
    assert len(hybrid) == 20 and all(int(v["key"][1:]) % 3 == 1 for v in hybrid)


@pytest.mark.parametrize(
    ("constant", "weight"),
    [(vetor.Settings.hybrid_rrf_constant, vetor.Settings.hybrid_vector_weight), (60.0, 1.0)],
    ids=["default", "textbook"],
)
def test_hybrid_is_weighted_reciprocal_rank_fusion(
    tmp_path: Any, settings: dict, constant: float, weight: float
) -> None:
    service = vetor.connect(
        str(tmp_path),
        **settings,
        hybrid_candidates=50,
        hybrid_rrf_constant=constant,
        hybrid_vector_weight=weight,
    )
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    put(service, address, {f"k{i}": text for i, text in enumerate(PASSAGES[:400])})
    query, vector = QUERIES[1], {"float32": vector_of(3)}
    by_vector = service.query_vectors(**address, topK=50, queryVector=vector, returnDistance=True)
    by_text = service.query_vectors(
        **address, topK=50, queryTexts=[{"metadataKey": "body", "text": query}]
    )
    expected: dict[str, float] = {}
    for ranking, w in ((by_vector["vectors"], weight), (by_text["vectors"], 1.0)):
        for rank, item in enumerate(ranking, start=1):
            expected[item["key"]] = expected.get(item["key"], 0.0) + w / (constant + rank)
    distance = {v["key"]: v["distance"] for v in by_vector["vectors"]}
    hybrid = service.query_vectors(
        **address,
        topK=10,
        queryVector=vector,
        queryTexts=[{"metadataKey": "body", "text": query}],
        returnScores=True,
        returnDistance=True,
    )["vectors"]
    vector_rank = {v["key"]: rank for rank, v in enumerate(by_vector["vectors"])}
    best = sorted(expected, key=lambda k: (-expected[k], vector_rank.get(k, 99), k))[:10]
    assert [v["key"] for v in hybrid] == best  # ties go to the vector side, then the key
    for item in hybrid:
        scores = item["scores"]
        assert scores["fused"] == pytest.approx(expected[item["key"]])
        if item["key"] in distance:
            assert scores["vectorDistance"] == pytest.approx(distance[item["key"]], abs=1e-6)
        else:
            assert "vectorDistance" not in scores
        assert item["distance"] >= 0  # the exact distance, for every hybrid result
    vector_only = service.query_vectors(**address, topK=3, queryVector=vector, returnScores=True)
    assert all("scores" not in v for v in vector_only["vectors"])  # as in S3 Vectors


def test_text_results_page_beyond_100_stably(tmp_path: Any, settings: dict) -> None:
    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    items = {f"k{i}": text for i, text in enumerate(PASSAGES[:600])}
    put(service, address, items)
    query = "the return value of a function"
    expected = reference(items, query)
    assert len(expected) > 250
    keys, token, pages = [], None, 0
    while True:
        extra = {"nextToken": token} if token else {}
        page = service.query_vectors(
            **address, topK=250, queryTexts=[{"metadataKey": "body", "text": query}], **extra
        )
        keys += [v["key"] for v in page["vectors"]]
        pages += 1
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == 3 and len(keys) == 250 == len(set(keys))
    ranked = sorted(expected.items(), key=lambda kv: (-round(kv[1], 9), kv[0]))
    assert keys == [k for k, _ in ranked[:250]]


def test_hybrid_results_page_beyond_100_stably(tmp_path: Any, settings: dict) -> None:
    """Every page fuses the same candidates: one ranking, cut into pages."""
    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    put(service, address, {f"k{i}": text for i, text in enumerate(PASSAGES[:600])})
    query = {
        "topK": 250,
        "queryTexts": [{"metadataKey": "body", "text": "the return value of a function"}],
        "queryVector": {"float32": vector_of(7)},
        "returnScores": True,
    }
    hits, token = [], None
    while True:
        page = service.query_vectors(**address, **query, **({"nextToken": token} if token else {}))
        hits += page["vectors"]
        token = page.get("nextToken")
        if token is None:
            break
    keys = [hit["key"] for hit in hits]
    assert len(keys) == 250 == len(set(keys))
    fused = [hit["scores"]["fused"] for hit in hits]
    assert fused == sorted(fused, reverse=True)


def test_several_text_queries_add_up(tmp_path: Any, settings: dict) -> None:
    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(
        service,
        textSearchConfigurations=[
            {"metadataKey": "body", "language": "en"},
            {"metadataKey": "title", "language": "en"},
        ],
    )
    records = [
        {
            "key": "a",
            "data": {"float32": vector_of(1)},
            "metadata": {"title": "thread pool", "body": "workers run jobs"},
        },
        {
            "key": "b",
            "data": {"float32": vector_of(2)},
            "metadata": {"title": "process pool", "body": "a thread runs"},
        },
        {
            "key": "c",
            "data": {"float32": vector_of(3)},
            "metadata": {"title": "queues", "body": "nothing here"},
        },
    ]
    service.put_vectors(**address, vectors=records)
    found = service.query_vectors(
        **address,
        topK=5,
        queryTexts=[
            {"metadataKey": "title", "text": "thread"},
            {"metadataKey": "body", "text": "thread"},
        ],
        returnScores=True,
    )["vectors"]
    assert [v["key"] for v in found] == ["a", "b"] or [v["key"] for v in found] == ["b", "a"]
    for item in found:
        assert [s["metadataKey"] for s in item["scores"]["bm25Scores"]] in (["title"], ["body"])
    assert "fused" not in found[0]["scores"]


# --- configuration changes: backfill and status --------------------------------------------


def test_adding_a_configuration_backfills_segments(tmp_path: Any, settings: dict) -> None:
    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(service)  # no text search configuration yet
    items = {f"k{i}": text for i, text in enumerate(PASSAGES[:300])}
    put(service, address, items)
    service.compact(**address)
    service.update_metadata_configuration(
        **address,
        add={"textSearchConfigurations": [{"metadataKey": "body", "language": "en"}]},
    )
    configs = service.get_index(**address)["index"]["metadataConfiguration"]
    assert configs["textSearchConfigurations"] == [
        {"metadataKey": "body", "language": "en", "status": "ACTIVE"}
    ]
    runs = service.engine("docs", "text").latest_manifest().runs
    assert runs and all(r.text == ("en:body",) for r in runs if r.kind == "segment")
    assert_same_scores(text_scores(service, address, QUERIES[2]), reference(items, QUERIES[2]))


def test_building_status_serves_exact_results_meanwhile(tmp_path: Any, settings: dict) -> None:
    """A process that knows the field answers from in-memory indexes until the backfill ran."""
    old = vetor.connect(str(tmp_path), **settings)
    address = make_index(old)
    items = {f"k{i}": text for i, text in enumerate(PASSAGES[:200])}
    put(old, address, items)
    old.compact(**address)
    field = TextField("body", "en")
    fresh = vetor.connect(str(tmp_path), **settings)
    fresh_engine = fresh.engine("docs", "text")
    fresh_engine.update_config(  # the configuration, without the backfill it would start
        lambda c: {**c, "textSearchConfigurations": [{"metadataKey": "body", "language": "en"}]}
    )
    assert fresh_engine.text_status(field) == "BUILDING"
    assert_same_scores(text_scores(fresh, address, QUERIES[0]), reference(items, QUERIES[0]))
    # the process that opened the index before the change sees it at its next query
    assert_same_scores(text_scores(old, address, QUERIES[1]), reference(items, QUERIES[1]))
    while fresh_engine.index_text():
        pass
    assert fresh_engine.text_status(field) == "ACTIVE"
    assert_same_scores(text_scores(fresh, address, QUERIES[0]), reference(items, QUERIES[0]))


def test_garbage_collection_keeps_exactly_the_referenced_text_objects(
    tmp_path: Any, settings: dict
) -> None:
    service = vetor.connect(str(tmp_path), **settings, gc_grace_seconds=0)
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    put(service, address, {f"k{i}": t for i, t in enumerate(PASSAGES[:400])})
    service.compact(**address, full=True)
    engine = service.engine("docs", "text")
    (segment,) = engine.latest_manifest().runs
    directory = segment.path.rsplit("/", 1)[0]
    objects = {i.key[len(engine.prefix) :] for i in engine.store.list(engine.prefix + "segments/")}
    assert objects == {segment.path, *TextField("body", "en").paths(directory)}
    assert text_scores(service, address, QUERIES[0])


def test_text_query_errors(tmp_path: Any) -> None:
    service = vetor.connect(str(tmp_path))
    address = make_index(
        service, textSearchConfigurations=[{"metadataKey": "body", "language": "en"}]
    )
    with pytest.raises(ValidationException, match="'title' has no text search configuration"):
        service.query_vectors(**address, topK=1, queryTexts=[{"metadataKey": "title", "text": "x"}])
    with pytest.raises(ValidationException, match="CLASSIC query mode cannot be used"):
        service.query_vectors(
            **address, topK=1, queryVector={"float32": vector_of(1)}, queryMode="CLASSIC"
        )
    with pytest.raises(ValidationException, match="Must specify queryVector, queryTexts"):
        service.query_vectors(**address, topK=1)


def test_configuration_changes_are_commits_every_process_sees(
    tmp_path: Any, settings: dict
) -> None:
    """Index mode and text search configurations live in the manifests: concurrent changes
    from many processes all take effect, and a process that opened the index earlier sees
    each change at its next query."""
    import threading

    old = {**settings, "classic_buckets_before": "2100-01-01"}  # CLASSIC may be set again
    first = vetor.connect(str(tmp_path), **old)
    address = make_index(first)
    put(first, address, {"k1": "the quick brown fox", "k2": "a lazy dog"})
    second = vetor.connect(str(tmp_path), **old)
    query = {"topK": 5, "queryTexts": [{"metadataKey": "body", "text": "fox"}]}
    with pytest.raises(ValidationException, match="no text search configuration"):
        second.query_vectors(**address, **query)  # opens the index in this process

    def add(key: str) -> None:
        vetor.connect(str(tmp_path), **settings).update_metadata_configuration(
            **address, add={"textSearchConfigurations": [{"metadataKey": key, "language": "en"}]}
        )

    threads = [threading.Thread(target=add, args=(k,)) for k in ["body", *"abcdefg"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    configs = second.get_index(**address)["index"]["metadataConfiguration"]
    keys = sorted(c["metadataKey"] for c in configs["textSearchConfigurations"])
    assert keys == sorted([*"abcdefg", "body"])
    assert [v["key"] for v in second.query_vectors(**address, **query)["vectors"]] == ["k1"]
    first.update_index_mode(**address, indexMode="CLASSIC")
    with pytest.raises(ValidationException, match="require ENHANCED mode"):
        second.query_vectors(**address, **query)
    first.update_index_mode(**address, indexMode="ENHANCED")
    first.update_metadata_configuration(
        **address, delete={"textSearchConfigurations": [{"metadataKey": "body"}]}
    )
    with pytest.raises(ValidationException, match="no text search configuration"):
        second.query_vectors(**address, **query)


def test_an_index_changed_before_manifests_carried_the_configuration(
    tmp_path: Any, settings: dict
) -> None:
    """Manifests of format 1 have no config: the settings.json of that time still counts,
    and the first configuration commit carries it into the manifests."""
    import json
    from pathlib import Path

    service = vetor.connect(str(tmp_path), **settings)
    address = make_index(service)  # ENHANCED, set again: manifests 1 and 2
    put(service, address, {"k1": "as ações caíram", "k2": "the quick brown fox"})
    index_id = service.engine("docs", "text").index_id
    prefix = Path(tmp_path) / "docs" / "indexes" / "text" / index_id
    for path in (prefix / "manifests").glob("*.json"):  # as the older vetor wrote them
        manifest = json.loads(path.read_text())
        del manifest["config"]
        path.write_text(json.dumps({**manifest, "format": 1}))
    legacy = {"indexMode": "ENHANCED", "textSearchConfigurations": [
        {"metadataKey": "body", "language": "pt", "status": "ACTIVE"}]}  # fmt: skip
    (prefix / "settings.json").write_text(json.dumps(legacy))

    reopened = vetor.connect(str(tmp_path), **settings)
    index = reopened.get_index(**address)["index"]
    assert index["indexMode"] == "ENHANCED"
    configs = index["metadataConfiguration"]["textSearchConfigurations"]
    assert configs == [{"metadataKey": "body", "language": "pt", "status": "ACTIVE"}]
    query = {"topK": 5, "queryTexts": [{"metadataKey": "body", "text": "cair"}]}  # pt stems
    assert [v["key"] for v in reopened.query_vectors(**address, **query)["vectors"]] == ["k1"]
    reopened.update_metadata_configuration(
        **address, add={"textSearchConfigurations": [{"metadataKey": "title"}]}
    )
    newest = max((prefix / "manifests").glob("*.json"))
    committed = json.loads(newest.read_text())
    assert committed["format"] == 2
    assert committed["config"] == {"indexMode": "ENHANCED", "textSearchConfigurations": [
        {"metadataKey": "body", "language": "pt"}, {"metadataKey": "title"}]}  # fmt: skip


def test_pruned_sums_keep_the_whole_top_k() -> None:
    """Full-text top k skips summing common terms once no other row can reach the k-th best
    (MaxScore): the rows it keeps hold every row of the exhaustive top k, ties included, with
    the same sums to the bit; and it does skip work."""
    rng = np.random.default_rng(7)
    n, pruned = 50_000, 0
    for _ in range(200):
        postings = []
        for size in rng.choice([5, 50, 500, 20_000, 40_000], size=rng.integers(1, 6)):
            rows = np.sort(rng.choice(n, size=size, replace=False)).astype(np.int32)
            scores = np.round(np.log(1 + n / size) * rng.random(size), 1) + 0.1  # ties
            postings.append(TermPostings.of(rows, scores.astype(np.float32)))
        k = int(rng.choice([1, 10, 100]))
        every_row, every_sum = summed_scores(postings, n)
        rows, sums = summed_scores(postings, n, k=k)
        pruned += len(rows) < len(every_row)
        kth = np.sort(every_sum)[::-1][min(k, len(every_sum)) - 1]
        kept = dict(zip(rows.tolist(), sums.tolist()))
        for row, total in zip(every_row.tolist(), every_sum.tolist()):
            if total >= kth:
                assert kept.get(row) == total
    assert pruned > 20
