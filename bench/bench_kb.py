#!/usr/bin/env python3
"""Knowledge bases: retrieval quality, ingestion throughput, re-sync cost, Retrieve latency.

``--quality``: the Python FAQ and the Perl FAQ (real documents nobody here wrote: Debian's
python3.11-doc and perl-doc; ``bench/corpus.py`` reads them), each answer a document of a
LOCAL data source, synced through an ingestion job (Bedrock's default chunking). Each
question is asked through ``retrieve`` in four ways: SEMANTIC, HYBRID, and each re-ranked by
the offline re-ranker (the 20 best re-ranked, 10 kept). Documents are ranked by their best
chunk; recall@5 and nDCG@10 against the question's own answer; the margin of re-ranked hybrid
over SEMANTIC with a 95 % paired bootstrap interval.

``--ingest``: the same documents, end to end (the job: listing, reading, chunking, embedding,
writing) against the raw model on exactly the chunk texts the job made (same batch size, model
already loaded); then a re-sync of ``--resync-docs`` unchanged documents (embeds nothing).

``--latency``: Retrieve over HTTP (boto3 against ``vetor serve``) on a knowledge base of
``--chunks`` chunks: the real passages of the Python and Perl docs embedded with
all-MiniLM-L6-v2, then noisy copies of them (vector + small noise, text marked) up to the
count, written as Bedrock writes chunks; p50/p99 of SEMANTIC and HYBRID, query embedding
included.

Results: tables on stdout, JSON in ``bench/results/kb.json``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import corpus
import numpy as np
from harness import log, machine_info, percentiles, print_table, write_json

import vetor

MINILM = "arn:aws:bedrock:us-east-1::foundation-model/all-MiniLM-L6-v2"
RERANKER = "arn:aws:bedrock:us-east-1::foundation-model/ms-marco-minilm-l-12-v2"
RESULTS = Path(__file__).resolve().parent / "results" / "kb.json"
MODES = {
    "SEMANTIC": {"overrideSearchType": "SEMANTIC"},
    "HYBRID": {"overrideSearchType": "HYBRID"},
    "SEMANTIC + rerank": {"overrideSearchType": "SEMANTIC", "rerank": True},
    "HYBRID + rerank": {"overrideSearchType": "HYBRID", "rerank": True},
}


def knowledge_base(kbs: Any, folder: Path | None, name: str) -> dict[str, str]:
    kb = kbs.create_knowledge_base(
        name=name,
        roleArn="arn:aws:iam::000000000000:role/bench",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": MINILM},
        },
        storageConfiguration={
            "type": "S3_VECTORS",
            "s3VectorsConfiguration": {
                "vectorBucketArn": f"arn:aws:s3vectors:us-east-1:000000000000:bucket/kb-{name}",
                "indexName": "chunks",
            },
        },
    )["knowledgeBase"]
    config = (
        {"type": "LOCAL", "localConfiguration": {"path": str(folder)}}
        if folder
        else {"type": "CUSTOM"}
    )
    source = kbs.create_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"], name="docs", dataSourceConfiguration=config
    )["dataSource"]
    return {"knowledgeBaseId": kb["knowledgeBaseId"], "dataSourceId": source["dataSourceId"]}


def write_documents(folder: Path, pairs: list[corpus.Pair]) -> dict[str, str]:
    """One file per answer; the URI each question's answer gets."""
    folder.mkdir(parents=True)
    relevant = {}
    for n, pair in enumerate(pairs):
        path = folder / f"{n:05d}.txt"
        path.write_text(pair.text, encoding="utf-8")
        relevant[pair.query] = path.as_uri()
    return relevant


def sync(kbs: Any, ids: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    job = kbs.start_ingestion_job(**ids)["ingestionJob"]
    done = kbs.jobs.wait(ids["knowledgeBaseId"], ids["dataSourceId"], job["ingestionJobId"])
    return time.perf_counter() - started, done


def ranking(kbs: Any, kb_id: str, question: str, mode: dict[str, Any]) -> list[str]:
    config: dict[str, Any] = {
        "numberOfResults": 20 if mode.get("rerank") else 10,
        "overrideSearchType": mode["overrideSearchType"],
    }
    if mode.get("rerank"):
        config["rerankingConfiguration"] = {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfRerankedResults": 20,
                "modelConfiguration": {"modelArn": RERANKER},
            },
        }
    results = kbs.retrieve(
        knowledgeBaseId=kb_id,
        retrievalQuery={"text": question},
        retrievalConfiguration={"vectorSearchConfiguration": config},
    )["retrievalResults"]
    seen: list[str] = []
    for result in results:  # documents by their best chunk
        uri = result["location"]["s3Location"]["uri"]
        if uri not in seen:
            seen.append(uri)
    return seen[:10]


def metrics(rankings: list[list[str]], relevant: list[str]) -> dict[str, Any]:
    ranks = np.array([(r.index(w) + 1) if w in r else 0 for r, w in zip(rankings, relevant)])
    ndcg = 1.0 / np.log2(np.maximum(ranks, 1) + 1.0) * (ranks > 0)
    return {
        "recall@5": float(np.mean((ranks > 0) & (ranks <= 5))),
        "ndcg@10": float(ndcg.mean()),
        "per_query_ndcg": ndcg,
    }


def margin(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    diff = a - b
    rng = np.random.default_rng(0)
    means = diff[rng.integers(len(diff), size=(2000, len(diff)))].mean(axis=1)
    return {
        "mean": float(diff.mean()),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
    }


def run_quality(root: Path) -> dict[str, Any]:
    sets = {"python-faq": corpus.faq_pairs(), "perl-faq": corpus.perlfaq_pairs()}
    kbs = vetor.knowledge_bases(str(root / "quality"))
    found: dict[str, Any] = {}
    per_query: dict[str, list[np.ndarray]] = {m: [] for m in MODES}
    for name, pairs in sets.items():
        relevant = write_documents(root / name, pairs)
        ids = knowledge_base(kbs, root / name, name)
        seconds, job = sync(kbs, ids)
        log(f"{name}: {len(pairs)} documents synced in {seconds:.1f} s ({job['statistics']})")
        wanted = [relevant[p.query] for p in pairs]
        found[name] = {}
        for mode_name, mode in MODES.items():
            runs = [ranking(kbs, ids["knowledgeBaseId"], p.query, mode) for p in pairs]
            scores = metrics(runs, wanted)
            per_query[mode_name].append(scores.pop("per_query_ndcg"))
            found[name][mode_name] = scores
            log(f"  {mode_name}: {scores}")
    pooled = {m: np.concatenate(v) for m, v in per_query.items()}
    found["pooled"] = {
        "queries": int(len(pooled["SEMANTIC"])),
        "ndcg@10": {m: float(v.mean()) for m, v in pooled.items()},
        "margin_hybrid_rerank_over_semantic": margin(pooled["HYBRID + rerank"], pooled["SEMANTIC"]),
        "margin_hybrid_over_semantic": margin(pooled["HYBRID"], pooled["SEMANTIC"]),
    }
    kbs.close()
    return found


class _Embedded(logging.Handler):
    """The job's own count of chunks sent to the model (its log line)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"(\d+) chunks embedded", record.getMessage())
        if found:
            self.counts.append(int(found[1]))


def run_ingest(root: Path, resync_docs: int) -> dict[str, Any]:
    from vetor.kb.knowledge_bases import embedder_for

    handler = _Embedded()
    logging.getLogger("vetor.kb").addHandler(handler)
    logging.getLogger("vetor.kb").setLevel(logging.INFO)
    pairs = corpus.faq_pairs() + corpus.perlfaq_pairs()
    kbs = vetor.knowledge_bases(str(root / "ingest"))
    folder = root / "ingest-docs"
    write_documents(folder, pairs)
    ids = knowledge_base(kbs, folder, "ingest")
    embedder = embedder_for(kbs.knowledge_bases.find(ids["knowledgeBaseId"]))
    embedder.load()
    embedder.embed_documents(["warm up"])
    job_seconds, job = sync(kbs, ids)
    address = {"vectorBucketName": "kb-ingest", "indexName": "chunks"}
    texts = chunk_texts(kbs.service, address)
    started = time.perf_counter()
    for start in range(0, len(texts), 32):
        embedder.embed_documents(texts[start : start + 32])
    raw_seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "documents": len(pairs),
        "chunks": len(texts),
        "job_seconds": job_seconds,
        "raw_model_seconds": raw_seconds,
        "job_chunks_per_second": len(texts) / job_seconds,
        "raw_chunks_per_second": len(texts) / raw_seconds,
        "ratio": raw_seconds / job_seconds,
        "statistics": job["statistics"],
    }
    log(f"ingest: {result}")
    result["resync"] = run_resync(kbs, root, resync_docs, handler)
    kbs.close()
    return result


def run_resync(kbs: Any, root: Path, count: int, handler: _Embedded) -> dict[str, Any]:
    folder = root / "resync-docs"
    folder.mkdir()
    for n in range(count):
        (folder / f"{n:05d}.md").write_text(f"Note {n}: item {n % 97} is kept on shelf {n % 13}.")
    ids = knowledge_base(kbs, folder, "resync")
    first, _ = sync(kbs, ids)
    seconds, job = sync(kbs, ids)
    result = {
        "documents": count,
        "first_sync_seconds": first,
        "resync_seconds": seconds,
        "statistics": job["statistics"],
        "embedded_chunks": handler.counts[-1],
    }
    log(f"resync: {result}")
    return result


def chunk_texts(service: Any, address: dict[str, str]) -> list[str]:
    texts, token = [], None
    while True:
        page = service.list_vectors(
            **address, returnMetadata=True, **({"nextToken": token} if token else {})
        )
        texts += [v["metadata"]["AMAZON_BEDROCK_TEXT"] for v in page["vectors"]]
        token = page.get("nextToken")
        if not token:
            return texts


def run_latency(root: Path, chunks: int, queries: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import Server

    texts = [p.text for p in corpus.faq_pairs() + corpus.perlfaq_pairs()]
    texts += [t for _, t in _doc_paragraphs()]
    texts = list(dict.fromkeys(t for t in texts if len(t) > 40))[:chunks]
    vectors = corpus.embeddings(texts, f"kb-latency-{len(texts)}")
    store = root / "latency"
    kbs = vetor.knowledge_bases(str(store))
    ids = knowledge_base(kbs, None, "latency")
    started = time.perf_counter()
    write_chunks(kbs.service, ids["dataSourceId"], texts, vectors, chunks)
    log(f"latency: {chunks} chunks written and indexed in {time.perf_counter() - started:.0f} s")
    kbs.close()
    server = Server(str(store))
    try:
        runtime = server.client("bedrock-agent-runtime")
        questions = [p.query for p in corpus.faq_pairs() + corpus.perlfaq_pairs()][:queries]
        found: dict[str, Any] = {"chunks": chunks, "real_passages": len(texts)}
        for mode in ("SEMANTIC", "HYBRID"):
            config = {
                "vectorSearchConfiguration": {"numberOfResults": 5, "overrideSearchType": mode}
            }

            def ask(question: str, config: dict[str, Any] = config) -> None:
                runtime.retrieve(
                    knowledgeBaseId=ids["knowledgeBaseId"],
                    retrievalQuery={"text": question},
                    retrievalConfiguration=config,
                )

            for q in questions[:10]:  # warm: caches, model
                ask(q)
            samples = []
            for q in questions:
                started = time.perf_counter()
                ask(q)
                samples.append(time.perf_counter() - started)
            found[mode] = percentiles(samples)
            log(f"latency {mode}: {found[mode]}")
        return found
    finally:
        server.stop()


def write_chunks(
    service: Any, source_id: str, texts: list[str], vectors: np.ndarray, chunks: int
) -> None:
    """``chunks`` chunks as Bedrock writes them: the real passages, then noisy copies of them
    (vector + small noise, text marked); then compaction until every row is indexed."""
    from vetor.kb.ingest import chunk_key

    address = {"vectorBucketName": "kb-latency", "indexName": "chunks"}
    rng = np.random.default_rng(0)
    for start in range(0, chunks, 500):
        batch = []
        for n in range(start, min(start + 500, chunks)):
            base, copy = n % len(texts), n // len(texts)
            vector = vectors[base] + (rng.normal(0, 0.02, vectors.shape[1]) if copy else 0)
            uri = f"doc-{n // 4}"
            batch.append(
                {
                    "key": chunk_key(source_id, uri, n % 4),
                    "data": {"float32": vector.astype(np.float32).tolist()},
                    "metadata": {
                        "AMAZON_BEDROCK_TEXT": f"{texts[base]} (copy {copy})"
                        if copy
                        else texts[base],
                        "AMAZON_BEDROCK_METADATA": f'{{"source": "{uri}", "type": "CUSTOM"}}',
                        "x-amz-bedrock-kb-source-uri": uri,
                        "x-amz-bedrock-kb-data-source-id": source_id,
                    },
                }
            )
        service.put_vectors(**address, vectors=batch)
    engine = service.engine(address["vectorBucketName"], address["indexName"])
    while True:  # until the background compaction has indexed everything
        engine.wait_for_background()
        stats = engine.stats()
        if stats["indexedRows"] == stats["rows"] or not engine.compact():
            log(f"latency: index {stats}")
            return


def _doc_paragraphs() -> list[tuple[str, str]]:
    blocks = []
    for path in sorted((corpus.PY_HTML / "library").glob("*.html")):
        blocks += [b for b in corpus.html_blocks(path) if b[0] == "p"]
    return blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--ingest", action="store_true")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--resync-docs", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    parts = [p for p in ("quality", "ingest", "latency") if getattr(args, p)] or [
        "quality",
        "ingest",
        "latency",
    ]
    previous = {}
    if args.json.exists():
        import json

        previous = json.loads(args.json.read_text())
    document: dict[str, Any] = {**previous, "machine": machine_info(("vetor", "torch"))}
    with tempfile.TemporaryDirectory(prefix="vetor-bench-kb-") as tmp:
        root = Path(tmp)
        if "quality" in parts:
            document["quality"] = run_quality(root)
            rows = []
            for name in ("python-faq", "perl-faq"):
                for mode, scores in document["quality"][name].items():
                    rows.append(
                        [name, mode, f"{scores['recall@5']:.3f}", f"{scores['ndcg@10']:.3f}"]
                    )
            print_table("Retrieval quality", ["set", "mode", "recall@5", "nDCG@10"], rows)
            pooled = document["quality"]["pooled"]
            for key in ("margin_hybrid_rerank_over_semantic", "margin_hybrid_over_semantic"):
                m = pooled[key]
                print(
                    f"{key}: {m['mean']:+.4f} nDCG@10, 95% CI [{m['ci95'][0]:+.4f}, "
                    f"{m['ci95'][1]:+.4f}], {m['better']} better / {m['worse']} worse "
                    f"of {pooled['queries']}"
                )
        if "ingest" in parts:
            document["ingest"] = run_ingest(root, args.resync_docs)
            i, r = document["ingest"], document["ingest"]["resync"]
            print_table(
                "Ingestion",
                ["figure", "value"],
                [
                    ["documents / chunks", f"{i['documents']} / {i['chunks']}"],
                    [
                        "job (end to end)",
                        f"{i['job_seconds']:.1f} s, {i['job_chunks_per_second']:.1f} chunks/s",
                    ],
                    [
                        "raw model, same texts",
                        f"{i['raw_model_seconds']:.1f} s, "
                        f"{i['raw_chunks_per_second']:.1f} chunks/s",
                    ],
                    ["job / raw throughput", f"{i['ratio']:.2f}"],
                    [
                        f"re-sync of {r['documents']} unchanged",
                        f"{r['resync_seconds']:.2f} s, {r['embedded_chunks']} chunks embedded",
                    ],
                ],
            )
        if "latency" in parts:
            document["latency"] = run_latency(root, args.chunks, args.queries)
            lat = document["latency"]
            print_table(
                f"Retrieve over HTTP, {lat['chunks']} chunks",
                ["mode", "p50 ms", "p99 ms"],
                [
                    [m, f"{lat[m]['p50_ms']:.1f}", f"{lat[m]['p99_ms']:.1f}"]
                    for m in ("SEMANTIC", "HYBRID")
                ],
            )
    write_json(args.json, document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
