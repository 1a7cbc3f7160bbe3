#!/usr/bin/env python3
"""Full-text (BM25) and hybrid (weighted RRF) search: retrieval quality and latency, with peers.

Two parts (both by default):

``--quality``: on three real question -> answer sets from ``bench/corpus.py`` (the Perl FAQ,
the development set: question -> answer passage; the Python FAQ, likewise; the man pages: NAME
description -> page text without NAME), each set's documents go into a fresh vetor index
(all-MiniLM-L6-v2 vectors + the text), and every query is asked three ways through
``query_vectors``: BM25 only (``queryTexts``), vector only (``queryVector``) and hybrid (both,
fused by weighted RRF). nDCG@10, recall@10 and MRR@10 against the one relevant document.
bm25s on the same documents is the reference for BM25. A grid of fusion settings (RRF
constant, vector weight) over bm25s + exact cosine picks the best on the development set only;
vetor's defaults (``hybrid_rrf_constant``, ``hybrid_vector_weight``) are that choice, and the
other two sets test it.

``--latency``: >= 200k real passages (``corpus.passages()``) in vetor (local directory store,
written with ``put_vectors`` and compacted), in bm25s (k1=1.5, b=0.75, its tokenizer with
English stop words and PyStemmer), in tantivy and in LanceDB (their own inverted indexes with
the same stop words and Snowball stemmer). Real queries (FAQ questions and man page
descriptions), one at a time, the engines interleaved query by query so that the machine's
other load falls on all of them alike: p50/p99 of full-text and hybrid queries, and vetor's
cold first query (a fresh ``vetor.connect()`` on the directory).

Results: a table on stdout, every figure plus machine info in ``--json``
(``bench/results/text.json``; running one part keeps the other part's last results).
Build the corpus and its embeddings first: ``python -m bench.corpus build``. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import corpus
import numpy as np
from harness import interleaved, log, pin_blas_threads, print_table, timed, write_json
from harness import machine_info as _machine_info

import vetor

REPO = Path(__file__).resolve().parent.parent
BUCKET, INDEX = "bench", "docs"
BATCH = 500  # vectors per put_vectors call: the S3 Vectors maximum
K1, B = 1.5, 0.75  # vetor's BM25 parameters, given to bm25s too (tantivy's are fixed 1.2/0.75)
HYBRID_DEPTH = vetor.Settings.hybrid_candidates  # candidates per side, as vetor
FUSION = (vetor.Settings.hybrid_rrf_constant, vetor.Settings.hybrid_vector_weight)  # vetor's
TEXTBOOK_RRF = 60  # the usual RRF constant (Cormack et al. 2009), LanceDB's default too
PEERS = ("bm25s", "tantivy", "lancedb")


# --- vetor --------------------------------------------------------------------------------


def vetor_index(uri: str) -> vetor.VectorService:
    """A fresh ENHANCED index with a searchable, non-filterable ``text`` key."""
    service = vetor.connect(uri)
    service.create_vector_bucket(vectorBucketName=BUCKET)
    service.create_index(
        vectorBucketName=BUCKET,
        indexName=INDEX,
        dataType="float32",
        dimension=384,
        distanceMetric="cosine",
        metadataConfiguration={
            "nonFilterableMetadataKeys": ["text"],
            "textSearchConfigurations": [{"metadataKey": "text", "language": "en"}],
        },
    )
    service.update_index_mode(vectorBucketName=BUCKET, indexName=INDEX, indexMode="ENHANCED")
    return service


def vetor_load(
    service: vetor.VectorService,
    keys: Sequence[str],
    texts: Sequence[str],
    sources: Sequence[str],
    vectors: np.ndarray,
) -> dict[str, float]:
    """put_vectors in batches of 500 (only the calls timed), then one timed compact()."""
    put_s = 0.0
    for start in range(0, len(keys), BATCH):
        end = min(start + BATCH, len(keys))
        body = [
            {"key": keys[i], "data": {"float32": row}, "metadata": {"text": texts[i], "source": s}}
            for i, row, s in zip(range(start, end), vectors[start:end].tolist(), sources[start:end])
        ]
        t = time.perf_counter()
        service.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=body)
        put_s += time.perf_counter() - t
        if (end // BATCH) % 100 == 0:
            log(f"vetor: put {end:,} of {len(keys):,} ({end / put_s:,.0f}/s)")
    t = time.perf_counter()
    service.close()  # waits for background compaction, timed with compact
    service.compact(vectorBucketName=BUCKET, indexName=INDEX)
    return {"put_s": put_s, "puts_per_s": len(keys) / put_s, "compact_s": time.perf_counter() - t}


@dataclass
class Checks:
    """What vetor's responses should satisfy; violations are counted, not fixed."""

    unsorted: int = 0  # responses whose scores are not in ranking order
    missing_scores: int = 0  # hits without the scores asked for
    examples: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(problem)


def vetor_search(
    service: vetor.VectorService,
    k: int,
    text: str | None = None,
    vector: dict | None = None,
    checks: Checks | None = None,
) -> list[str]:
    """One query_vectors call: BM25 (text), vector, or hybrid (both); the keys in order."""
    request: dict[str, Any] = {"vectorBucketName": BUCKET, "indexName": INDEX, "topK": k}
    if text is not None:
        request["queryTexts"] = [{"metadataKey": "text", "text": text[:1024]}]
        request["returnScores"] = True
    if vector is not None:
        request["queryVector"] = vector
        request["returnDistance"] = text is None
    hits = service.query_vectors(**request)["vectors"]
    if checks is not None:
        check_order(hits, text, vector, checks)
    return [h["key"] for h in hits]


def check_order(hits: list[dict], text: str | None, vector: dict | None, checks: Checks) -> None:
    if text is None:
        values = [-h["distance"] for h in hits]
    else:
        try:
            scores = [h["scores"] for h in hits]
            values = (
                [s["fused"] for s in scores]
                if vector is not None
                else [s["bm25Scores"][0]["score"] for s in scores]
            )
        except (KeyError, IndexError, TypeError):
            checks.missing_scores += 1
            checks.note(f"scores missing for {text!r}: {hits[:2]}")
            return
    if any(a < b - 1e-9 for a, b in zip(values, values[1:])):
        checks.unsorted += 1
        checks.note(f"not in score order for {text!r}: {values}")


# --- peers --------------------------------------------------------------------------------


class Bm25sPeer:
    """bm25s with vetor's k1/b, English stop words and the PyStemmer English stemmer."""

    name = "bm25s"

    def __init__(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.keys = np.asarray(keys, dtype=object)
        tokens = bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        self.retriever = bm25s.BM25(k1=K1, b=B)  # method "lucene", as vetor
        self.retriever.index(tokens, show_progress=False)

    def ranked(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k document numbers and scores (documents with score 0 dropped)."""
        tokens = self._bm25s.tokenize(
            [text],
            stopwords="en",
            stemmer=self.stemmer,
            show_progress=False,
            return_ids=False,
        )
        k = min(k, len(self.keys))
        docs, scores = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        keep = scores[0] > 0
        return docs[0][keep], scores[0][keep]

    def search(self, text: str, k: int) -> list[str]:
        return self.keys[self.ranked(text, k)[0]].tolist()


_NOT_WORD = re.compile(r"[^\w]+")


class TantivyPeer:
    """tantivy on disk: simple tokenizer, lower case, ASCII folding, bm25s's English stop
    words, Snowball English stemmer; its BM25 is fixed at k1=1.2, b=0.75."""

    name = "tantivy"

    def __init__(self, keys: Sequence[str], texts: Sequence[str], directory: Path) -> None:
        import tantivy
        from bm25s.stopwords import STOPWORDS_EN

        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.custom_stopword(list(STOPWORDS_EN)))
            .filter(tantivy.Filter.stemmer("english"))
            .build()
        )
        schema = tantivy.SchemaBuilder()
        schema.add_text_field("key", stored=True, tokenizer_name="raw")
        schema.add_text_field("text", stored=False, tokenizer_name="en_bench")
        directory.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(schema.build(), path=str(directory))
        self.index.register_tokenizer("en_bench", analyzer)
        writer = self.index.writer(heap_size=512_000_000, num_threads=1)
        for key, text in zip(keys, texts):
            writer.add_document(tantivy.Document(key=key, text=text))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def search(self, text: str, k: int) -> list[str]:
        # The query parser's syntax (+ - : " ( ) ...) is not wanted: words only, OR-ed.
        words = _NOT_WORD.sub(" ", text).strip() or "_"
        query = self.index.parse_query(words, ["text"])
        hits = self.searcher.search(query, k).hits
        return [self.searcher.doc(address)["key"][0] for _, address in hits]


class LancePeer:
    """LanceDB on disk: its native inverted index (simple tokenizer, lower case, ASCII
    folding, bm25s's English stop words, English stemmer), flat (exact) vector search, and
    its RRF reranker for hybrid."""

    name = "lancedb"

    def __init__(
        self, keys: Sequence[str], texts: Sequence[str], vectors: np.ndarray, directory: Path
    ) -> None:
        os.environ.setdefault("LANCEDB_LOG", "error")  # scoring-column deprecation warnings
        import lancedb
        import pyarrow as pa
        from bm25s.stopwords import STOPWORDS_EN
        from lancedb.index import FTS
        from lancedb.query import MatchQuery
        from lancedb.rerankers import RRFReranker

        db = lancedb.connect(str(directory))
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        data = pa.table(
            {
                "key": list(keys),
                "text": list(texts),
                "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )
        self.table = db.create_table("docs", data=data)
        fts = FTS(
            with_position=False,
            language="English",
            stem=True,
            remove_stop_words=True,
            custom_stop_words=list(STOPWORDS_EN),  # the same list as vetor's and bm25s's
            lower_case=True,
            ascii_folding=True,
        )
        self.table.create_index("text", config=fts)
        self.reranker = RRFReranker(K=TEXTBOOK_RRF)
        self._match = MatchQuery

    def search(self, text: str, k: int) -> list[str]:
        query = self._match(text, "text")  # a plain OR of the words: no query syntax
        found = self.table.search(query, query_type="fts").limit(k).select(["key"]).to_list()
        return [row["key"] for row in found]

    def hybrid(self, text: str, vector: np.ndarray, k: int) -> list[str]:
        query = (
            self.table.search(query_type="hybrid").vector(vector).text(self._match(text, "text"))
        )
        found = query.rerank(self.reranker).limit(k).select(["key"]).to_list()
        return [row["key"] for row in found]


class NumpyHybrid:
    """The hybrid baseline: bm25s top 100 + numpy exact cosine top 100, fused by vetor's
    weighted RRF: what vetor computes, in a few lines of numpy."""

    name = "bm25s+numpy"

    def __init__(self, bm25: Bm25sPeer, vectors: np.ndarray) -> None:
        self.bm25 = bm25
        self.vectors = vectors  # unit length

    def nearest(self, vector: np.ndarray, k: int) -> np.ndarray:
        scores = self.vectors @ vector
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        return top[np.argsort(-scores[top])]

    def hybrid(self, text: str, vector: np.ndarray, k: int) -> list[str]:
        depth = max(k, HYBRID_DEPTH)
        near, docs = self.nearest(vector, depth), self.bm25.ranked(text, depth)[0]
        return self.bm25.keys[weighted_rrf(near, docs, *FUSION)[:k]].tolist()


# --- quality ------------------------------------------------------------------------------


def ranks(rankings: list[list[str]], relevant: list[str], k: int) -> np.ndarray:
    """Per query, the rank (from 1) of its relevant document in the top k; 0: not there."""
    return np.array([(r[:k].index(w) + 1) if w in r[:k] else 0 for r, w in zip(rankings, relevant)])


def ndcg_per_query(found: np.ndarray) -> np.ndarray:
    return np.where(found > 0, 1.0 / np.log2(found + 1.0), 0.0)


def rank_metrics(rankings: list[list[str]], relevant: list[str], k: int) -> dict[str, float]:
    """nDCG@k, recall@k and MRR@k with one relevant document per query."""
    found = ranks(rankings, relevant, k)
    return {
        f"ndcg@{k}": float(ndcg_per_query(found).mean()),
        f"recall@{k}": float(np.mean(found > 0)),
        f"mrr@{k}": float(np.mean(np.where(found > 0, 1.0 / np.maximum(found, 1), 0.0))),
        "queries": len(relevant),
    }


def hybrid_margin(runs: dict[str, list[list[str]]], relevant: list[str], k: int) -> dict[str, Any]:
    """nDCG@k of vetor's hybrid minus the better of its BM25 and vector runs, per query: the
    mean, a 95 % paired bootstrap interval (2,000 resamples of the queries) and how many
    queries hybrid ranks better or worse. Small sets have wide intervals: read them."""
    gains = {run: ndcg_per_query(ranks(runs[run], relevant, k)) for run in ("bm25", "vector")}
    better = max(gains, key=lambda run: gains[run].mean())
    diff = ndcg_per_query(ranks(runs["hybrid"], relevant, k)) - gains[better]
    rng = np.random.default_rng(0)
    means = diff[rng.integers(len(diff), size=(2000, len(diff)))].mean(axis=1)
    return {
        "against": better,
        "mean": float(diff.mean()),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "queries_better": int((diff > 0).sum()),
        "queries_worse": int((diff < 0).sum()),
    }


def quality_set(name: str, pairs: list[corpus.Pair], root: Path, k: int) -> dict[str, Any]:
    """One question set through vetor (BM25, vector, hybrid) and bm25s (BM25 reference)."""
    keys = [p.key for p in pairs]
    texts = [p.text for p in pairs]
    queries = [p.query for p in pairs]
    doc_vectors = corpus.embeddings(texts, f"{name}-docs")
    query_vectors = corpus.embeddings(queries, f"{name}-queries")
    # the documents are keyed by their pair: one relevant document per query
    log(f"{name}: {len(pairs):,} documents and queries into vetor")
    service = vetor_index(str(root / f"quality-{name}"))
    loaded = vetor_load(service, keys, texts, [p.source for p in pairs], doc_vectors)
    checks = Checks()
    runs: dict[str, list[list[str]]] = {"bm25": [], "vector": [], "hybrid": []}
    t = time.perf_counter()
    for query, vector in zip(queries, query_vectors):
        body = {"float32": vector.tolist()}
        runs["bm25"].append(vetor_search(service, k, text=query, checks=checks))
        runs["vector"].append(vetor_search(service, k, vector=body, checks=checks))
        runs["hybrid"].append(vetor_search(service, k, text=query, vector=body, checks=checks))
    query_s = time.perf_counter() - t
    reference = Bm25sPeer(keys, texts)
    runs["bm25s (reference)"] = [reference.search(q, k) for q in queries]
    numpy_hybrid = NumpyHybrid(reference, doc_vectors)
    runs["vector: numpy exact (reference)"] = [
        [keys[i] for i in numpy_hybrid.nearest(v, k)] for v in query_vectors
    ]
    fusions, rrf_grid = reference_fusions(reference, numpy_hybrid, queries, query_vectors, k)
    runs |= fusions
    result = {
        "documents": len(pairs),
        "rrf_grid_ndcg": rrf_grid,  # "constant vector_weight" -> nDCG@k (bm25s + exact)
        "development_set": name == corpus.DEVELOPMENT_SET,
        "vetor_load": loaded,
        "vetor_query_s_all": query_s,
        "metrics": {run: rank_metrics(found, keys, k) for run, found in runs.items()},
        "hybrid_margin": hybrid_margin(runs, keys, k),
        "checks": checks.__dict__,
    }
    if name == "man":  # gcloud's generated pages are 64 % of the set: both halves apart
        for part, chosen in (("gcloud", True), ("other", False)):
            idx = [i for i, key in enumerate(keys) if key.startswith("man:man1/gcloud") == chosen]
            result[f"metrics_{part}"] = {
                run: rank_metrics([found[i] for i in idx], [keys[i] for i in idx], k)
                for run, found in runs.items()
            }
    return result


# (RRF constant, vector weight): the settings tried on every set; vetor's is the best on the
# development set.
RRF_GRID = [(c, w) for c in (0.5, 1, 2, 3, 5, 10, 20, 60) for w in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)]


def grid_key(constant: float, weight: float) -> str:
    return f"{constant:g} {weight:g}"


def weighted_rrf(
    near: np.ndarray, docs: np.ndarray, constant: float, vector_weight: float
) -> list[int]:
    """Documents by ``vector_weight / (constant + vector rank) + 1 / (constant + text rank)``."""
    fused: dict[int, float] = {}
    for weight, ranking in ((vector_weight, near), (1.0, docs)):
        for rank, doc in enumerate(ranking.tolist(), start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (constant + rank)
    return sorted(fused, key=fused.__getitem__, reverse=True)


def reference_fusions(
    bm25: Bm25sPeer, exact: NumpyHybrid, queries: list[str], vectors: np.ndarray, k: int
) -> tuple[dict[str, list[list[str]]], dict[str, float]]:
    """Hybrid rankings computed outside vetor from bm25s and exact cosine, 100 per side:
    vetor's weighted RRF (does vetor compute it?), the textbook RRF (k=60, weights 1) and a
    convex combination, alpha * cosine + (1 - alpha) * bm25 / max bm25. Also nDCG@k of
    weighted RRF over RRF_GRID (constant, vector weight), to choose on the development set."""
    fusions = {
        "hybrid: bm25s+numpy, vetor's fusion (reference)": FUSION,
        f"hybrid: textbook RRF k={TEXTBOOK_RRF} (reference)": (TEXTBOOK_RRF, 1.0),
    }
    out: dict[str, list[list[str]]] = {name: [] for name in fusions}
    out["hybrid: convex alpha 0.7 (reference)"] = []
    grid: dict[tuple[float, float], list[list[str]]] = {g: [] for g in RRF_GRID}
    for text, vector in zip(queries, vectors):
        docs, scores = bm25.ranked(text, HYBRID_DEPTH)
        near = exact.nearest(vector, HYBRID_DEPTH)
        for name, fusion in fusions.items():
            out[name].append(bm25.keys[weighted_rrf(near, docs, *fusion)[:k]].tolist())
        for (constant, weight), runs in grid.items():
            runs.append(bm25.keys[weighted_rrf(near, docs, constant, weight)[:k]].tolist())
        candidates = np.union1d(near, docs).astype(np.int64)
        text_score = dict(zip(docs.tolist(), (scores / scores.max()).tolist())) if len(docs) else {}
        convex = 0.7 * (exact.vectors[candidates] @ vector) + 0.3 * np.array(
            [text_score.get(c, 0.0) for c in candidates.tolist()]
        )
        best = candidates[np.argsort(-convex)[:k]]
        out["hybrid: convex alpha 0.7 (reference)"].append(bm25.keys[best].tolist())
    keys = bm25.keys.tolist()
    ndcg = {
        grid_key(*setting): rank_metrics(runs, keys, k)[f"ndcg@{k}"]
        for setting, runs in grid.items()
    }
    return out, ndcg


def run_quality(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    machine = machine_info()  # before the run: its load average is the one at the start
    sets = {name: corpus.QUESTION_SETS[name]() for name in args.sets}
    return {
        "machine": machine,
        "top_k": args.top_k,
        "sets": {name: quality_set(name, pairs, root, args.top_k) for name, pairs in sets.items()},
    }


# --- latency ------------------------------------------------------------------------------


@dataclass
class Query:
    text: str
    vector: np.ndarray
    body: dict  # the queryVector request field, built before the timer


def latency_queries(count: int, seed: int) -> list[Query]:
    """``count`` real queries, FAQ questions and man page descriptions, drawn at random."""
    texts, vectors = [], []
    for name, pairs in (("faq", corpus.faq_pairs()), ("man", corpus.manpage_pairs())):
        texts += [p.query for p in pairs]
        vectors.append(corpus.embeddings([p.query for p in pairs], f"{name}-queries"))
    matrix = np.concatenate(vectors)
    chosen = np.random.default_rng(seed).permutation(len(texts))[:count]
    return [Query(texts[i], matrix[i], {"float32": matrix[i].tolist()}) for i in chosen]


def overlap(a: list[list[str]], b: list[list[str]]) -> float:
    """Mean share of b's top-k keys that a also returns (1.0: the same sets), over the
    queries both answered."""
    return float(np.mean([len(set(x) & set(y)) / max(len(y), 1) for x, y in zip(a, b)]))


def vetor_cold(uri: str, q: Query, k: int) -> dict[str, float]:
    """First full-text and first hybrid query of fresh services on the directory."""
    out = {}
    for kind in ("text", "hybrid"):
        service = vetor.connect(uri)
        vector = q.body if kind == "hybrid" else None
        first, _ = timed(lambda s=service, v=vector: vetor_search(s, k, text=q.text, vector=v))
        second, _ = timed(lambda s=service, v=vector: vetor_search(s, k, text=q.text, vector=v))
        out[f"first_{kind}_query_s"], out[f"second_{kind}_query_ms"] = first, second * 1e3
        del service
        gc.collect()
    return out


def build_peers(
    names: Sequence[str], keys: list[str], texts: list[str], vectors: np.ndarray, root: Path
) -> tuple[dict[str, Any], dict[str, float]]:
    peers: dict[str, Any] = {}
    build_s: dict[str, float] = {}
    for name in names:
        log(f"{name}: indexing {len(keys):,} passages")
        t = time.perf_counter()
        if name == "bm25s":
            peers[name] = Bm25sPeer(keys, texts)
        elif name == "tantivy":
            peers[name] = TantivyPeer(keys, texts, root / "tantivy")
        elif name == "lancedb":
            peers[name] = LancePeer(keys, texts, vectors, root / "lancedb")
        build_s[name] = time.perf_counter() - t
        log(f"{name}: indexed in {build_s[name]:.1f} s")
    return peers, build_s


def run_latency(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    machine = machine_info()  # before the run: its load average is the one at the start
    everything = corpus.passages(min_count=args.passages)
    chosen = everything[: args.passages]
    vectors = corpus.embeddings([p.text for p in everything], "passages", corpus.PASSAGE_PRECISION)[
        : args.passages
    ]
    keys, texts = [p.key for p in chosen], [p.text for p in chosen]
    queries = latency_queries(args.queries + args.warmup, args.seed)
    k = args.top_k
    rate_sample = [p.text for p in everything[:: max(1, len(everything) // 256)]][:256]

    uri = str(root / "latency-vetor")
    log(f"vetor: {len(chosen):,} passages")
    loaded = vetor_load(vetor_index(uri), keys, texts, [p.source for p in chosen], vectors)
    log(f"vetor: put {loaded['puts_per_s']:,.0f}/s, compact {loaded['compact_s']:.1f} s")
    cold = vetor_cold(uri, queries[0], k)
    service = vetor.connect(uri)
    peers, build_s = build_peers(args.peers, keys, texts, vectors, root)

    text_systems: dict[str, Callable[[Query], list[str]]] = {
        "vetor": lambda q: vetor_search(service, k, text=q.text)
    }
    text_systems |= {n: (lambda q, p=p: p.search(q.text, k)) for n, p in peers.items()}
    hybrid_systems: dict[str, Callable[[Query], list[str]]] = {
        "vetor": lambda q: vetor_search(service, k, text=q.text, vector=q.body),
        "vetor vector only": lambda q: vetor_search(service, k, vector=q.body),
    }
    if "bm25s" in peers:
        numpy_hybrid = NumpyHybrid(peers["bm25s"], vectors)
        hybrid_systems["bm25s+numpy"] = lambda q: numpy_hybrid.hybrid(q.text, q.vector, k)
        hybrid_systems["numpy vector only"] = lambda q: numpy_hybrid.bm25.keys[
            numpy_hybrid.nearest(q.vector, k)
        ].tolist()
    if "lancedb" in peers:
        hybrid_systems["lancedb"] = lambda q: peers["lancedb"].hybrid(q.text, q.vector, k)

    # The layout compaction left (segments, rows with an ANN index) decides vetor's vector
    # side: recorded before and after the queries, which must not change it.
    address = {"vectorBucketName": BUCKET, "indexName": INDEX}
    layout = {"before": service.index_stats(**address)}
    log(f"full-text: {args.queries:,} queries on {list(text_systems)}")
    text_latency, text_found = interleaved(text_systems, queries, args.warmup, {})
    log(f"hybrid: {args.queries:,} queries on {list(hybrid_systems)}")
    limits = {"lancedb": args.slow_queries}  # its hybrid search takes ~1 s here
    hybrid_latency, hybrid_found = interleaved(hybrid_systems, queries, args.warmup, limits)
    extra = {}
    if "numpy vector only" in hybrid_found:  # vetor's ANN against exact, questions as queries
        recall = overlap(hybrid_found["vetor vector only"], hybrid_found["numpy vector only"])
        extra["vector_recall_at_k"] = recall
    return {
        "machine": machine,
        "passages": len(chosen),
        "passage_words_mean": float(np.mean([len(t.split()) for t in texts])),
        "queries": args.queries,
        "warmup": args.warmup,
        "lancedb_hybrid_queries": min(args.slow_queries, args.queries),
        "top_k": k,
        "vetor_load": loaded,
        "vetor_layout": layout | {"after": service.index_stats(**address)},
        "vetor_cold": cold,
        "peer_build_s": build_s,
        "fulltext": text_latency,
        "hybrid": hybrid_latency,
        "agreement_with_vetor": {
            "fulltext": {n: overlap(f, text_found["vetor"]) for n, f in text_found.items()},
            "hybrid": {n: overlap(f, hybrid_found["vetor"]) for n, f in hybrid_found.items()},
        },
        "embedding_rate_texts_per_s": {  # on 256 passages spread over the corpus
            precision: corpus.embedding_rate(rate_sample, precision)
            for precision in ("float32", "bfloat16")
        },
        "loadavg_after": os.getloadavg(),
        **extra,
    }


# --- output -------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    packages = ("vetor", "numpy", "pyarrow", "bm25s", "PyStemmer", "tantivy", "lancedb")
    return _machine_info((*packages, "sentence-transformers", "torch"))


def print_quality(result: dict[str, Any]) -> None:
    k = result["top_k"]
    rows = []
    for name, data in result["sets"].items():
        for part in ("metrics", "metrics_gcloud", "metrics_other"):
            if part not in data:
                continue
            label = name if part == "metrics" else f"{name} ({part.split('_')[1]})"
            for run, m in data[part].items():
                rows.append(
                    [label, str(m["queries"]), run]
                    + [f"{m[f'{x}@{k}']:.3f}" for x in ("ndcg", "recall", "mrr")]
                )
    headers = ["set", "queries", "search", f"nDCG@{k}", f"recall@{k}", f"MRR@{k}"]
    print_table("retrieval quality (one relevant document per query)", headers, rows)
    print_rrf_grid(result)


def print_rrf_grid(result: dict[str, Any]) -> None:
    """Weighted RRF over the grid, per set; the development set's best; the goal per set."""
    k = result["top_k"]
    grids = {name: data["rrf_grid_ndcg"] for name, data in result["sets"].items()}
    names = list(grids)
    rows = [
        [*setting.split(), *(f"{grids[n][setting]:.3f}" for n in names)]
        for setting in grids[names[0]]
    ]
    print_table(
        f"weighted RRF (bm25s + exact cosine), nDCG@{k}",
        ["constant", "vector weight", *names],
        rows,
    )
    vetors = grid_key(*FUSION)
    for name, data in result["sets"].items():
        if data["development_set"]:
            best = max(grids[name], key=grids[name].__getitem__)
            print(
                f"best on the development set {name}: constant {best.split()[0]}, vector "
                f"weight {best.split()[1]} (nDCG@{k} {grids[name][best]:.3f}); vetor's "
                f"settings: {vetors}" + (" (the same)" if best == vetors else " (DIFFERENT)")
            )
    rows = []
    for name, data in result["sets"].items():
        m = {run: data["metrics"][run][f"ndcg@{k}"] for run in ("bm25", "vector", "hybrid")}
        margin = data["hybrid_margin"]
        low, high = margin["ci95"]
        rows.append(
            [name, "development" if data["development_set"] else "test"]
            + [f"{v:.3f}" for v in m.values()]
            + [f"{margin['mean']:+.3f} [{low:+.3f}, {high:+.3f}]"]
            + [f"{margin['queries_better']} / {margin['queries_worse']}"]
            + ["met" if margin["mean"] >= 0 else "missed"]
        )
    headers = ["set", "role", "BM25", "vector", "hybrid", "hybrid - better [95 % CI]"]
    headers += ["queries better / worse", "goal"]
    print_table(f"vetor nDCG@{k}: hybrid >= the better of BM25 and vector?", headers, rows)


def print_latency(result: dict[str, Any]) -> None:
    rows = []
    for mode in ("fulltext", "hybrid"):
        figures = result[mode]
        peers = [n for n in figures if n != "vetor" and "vector only" not in n]
        fastest = min((figures[n]["p50_ms"] for n in peers), default=None)
        for name, f in figures.items():
            ratio = f"{f['p50_ms'] / fastest:.2f}x" if name == "vetor" and fastest else ""
            rows.append(
                [mode, name, f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}", f"{f['mean_ms']:.2f}"]
                + [f"{result['agreement_with_vetor'][mode][name]:.2f}", ratio]
            )
    title = f"search latency, {result['passages']:,} passages, one query at a time (warm)"
    headers = ["mode", "system", "p50 ms", "p99 ms", "mean ms", "top-k overlap", "vs fastest"]
    print_table(title, headers, rows)
    cold = result["vetor_cold"]
    print(
        f"vetor cold (fresh connect): first full-text query {cold['first_text_query_s']:.2f} s, "
        f"first hybrid query {cold['first_hybrid_query_s']:.2f} s; put "
        f"{result['vetor_load']['puts_per_s']:,.0f} passages/s, compact "
        f"{result['vetor_load']['compact_s']:.1f} s; peers' build: "
        + ", ".join(f"{n} {s:.1f} s" for n, s in result["peer_build_s"].items())
    )
    if "vector_recall_at_k" in result:
        print(f"vetor vector only: recall@{result['top_k']} {result['vector_recall_at_k']:.3f}")
    for when, layout in result.get("vetor_layout", {}).items():
        print(
            f"vetor layout {when} the queries: {layout['segments']} segments, "
            f"{layout['indexedRows']:,} rows ANN-indexed, {layout['exactRows']:,} exact, "
            f"{layout['pendingRows']:,} in write batches"
        )
    rates = result["embedding_rate_texts_per_s"]
    print("all-MiniLM-L6-v2: " + ", ".join(f"{p} {r:.0f} passages/s" for p, r in rates.items()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quality", action="store_true", help="retrieval quality (FAQ, man pages)")
    p.add_argument("--latency", action="store_true", help="latency on --passages passages")
    p.add_argument(
        "--sets",
        default=",".join(corpus.QUESTION_SETS),
        help="quality sets, of " + ", ".join(corpus.QUESTION_SETS),
    )
    p.add_argument("--passages", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=1000, help="measured latency queries")
    p.add_argument("--warmup", type=int, default=20, help="latency warm-up queries")
    p.add_argument(
        "--slow-queries",
        type=int,
        default=100,
        help="timed queries for LanceDB's hybrid search (about 1 s each on 2 cores)",
    )
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--peers", default=",".join(PEERS), help=f"subset of {','.join(PEERS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="work directory (default: a temp dir, removed)")
    p.add_argument("--json", default=str(REPO / "bench" / "results" / "text.json"))
    p.add_argument("--blas-threads", type=int, default=1, help="as in bench_engine.py")
    args = p.parse_args(argv)
    if not args.quality and not args.latency:
        args.quality = args.latency = True
    args.peers = [n for n in args.peers.split(",") if n]
    args.sets = [n for n in args.sets.split(",") if n]
    if unknown := set(args.peers) - set(PEERS):
        p.error(f"unknown peers: {sorted(unknown)}")
    if unknown := set(args.sets) - set(corpus.QUESTION_SETS):
        p.error(f"unknown sets: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_blas_threads(args.blas_threads, __file__)
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="vetor-text-"))
    root.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json)
    output = json.loads(json_path.read_text()) if json_path.exists() else {}
    output["benchmark"] = "bench/bench_text.py"
    try:
        for part, run, show in (
            ("quality", run_quality, print_quality),
            ("latency", run_latency, print_latency),
        ):
            if getattr(args, part):
                output[part] = run(args, root)
                json_path.parent.mkdir(parents=True, exist_ok=True)
                write_json(json_path, output)
                show(output[part])
    finally:
        if not args.data:
            shutil.rmtree(root, ignore_errors=True)
    print(f"results written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
