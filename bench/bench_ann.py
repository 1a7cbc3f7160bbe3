#!/usr/bin/env python3
"""Approximate nearest-neighbour search: vetor against the engines people would otherwise pick.

Dataset: real embeddings — the >= 200k passages of ``bench/corpus.py`` (Debian's Python docs,
manual pages and kernel docs) embedded with the packaged all-MiniLM-L6-v2 (384-d, cached in
``bench/.cache``). 1,000 passages chosen at random are held out as the queries. Larger scales
(``--scale 1m``) are topped up with perturbed copies of the real vectors (each copy: a real
vector plus Gaussian noise of 0.03 per dimension, renormalised: cosine ~0.86 to its original).
Recall@10 is always against exact brute force over the same set (numpy, cached).

Engines, each built as its documentation recommends for high recall, then swept over its
search-time knob (cheapest first) until recall@10 >= ``--target`` on 200 queries; the chosen
setting is then measured on all queries, the engines interleaved query by query so the
machine's other load falls on all alike: recall@10, p50/p99 latency (one query at a time,
warm), QPS with 1 and 2 client threads, build time, resident memory (RSS growth of this
process, after a collection) and bytes on store (files written; in-memory libraries: their
serialized size).

- vetor: ``vetor.connect(dir)`` (embedded API, local directory store), ``put_vectors`` in
  batches of 500 (numpy rows as ``data.float32``) while a client thread sends 20 queries/s;
  the build time runs until the background compaction has folded every write into segments
  (IVF-indexed where big enough). Knob: ``ann_nprobe``.
- numpy: exact brute force (the baseline). faiss HNSW (M=32, efConstruction 80; knob efSearch)
  and IVF-Flat (nlist 4·sqrt(n); knob nprobe). LanceDB IVF_PQ (num_sub_vectors d/8,
  refine_factor 10; knob nprobes) and IVF_HNSW_SQ (knob ef). Chroma (HNSW, cosine; knob
  search ef). Milvus Lite (HNSW; knob ef). A peer that is not installed is skipped, and said.

Filtered search (vetor): a filter on a random integer ``g`` in [0, 1000) at 50 %, 10 %, 1 %
and 0.1 % selectivity: recall@10 against exact search over the matching rows, and the number
of results (k whenever k match).

Cold (vetor): the index is uploaded to a moto S3 server in another process whose second port
adds ``--cold-ms`` (20) per request (``bench/slow_s3.py``); five fresh ``vetor.connect`` on it
answer three queries each (empty caches; the first one's parts cached; with metadata) straight
from the store: latency, the object-store requests each made, recall@10.

Run: ``python3 bench/bench_ann.py --scale 200k`` (then ``--scale 1m``); results: a table on
stdout and ``bench/results/ann.json`` (one entry per scale; other scales' entries are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import corpus
import numpy as np
from harness import free_port, log, machine_info, rss, write_json

import vetor

os.environ.setdefault("LANCE_LOG", "error")  # lance warns on stderr once per query otherwise

REPO = Path(__file__).resolve().parent.parent
BUCKET, INDEX = "bench", "ann"
BATCH = 500
K = 10
SCALES = {"20k": 20_000, "200k": 0, "1m": 1_000_000, "2m": 2_000_000}
NOISE = 0.03
SELECTIVITY = {"50%": 500, "10%": 100, "1%": 10, "0.1%": 1}  # g < value, g in [0, 1000)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- dataset ------------------------------------------------------------------------------


def dataset(size: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(base vectors, held-out query vectors), float32, unit length."""
    passages = corpus.passages()
    vectors = corpus.embeddings([p.text for p in passages], "passages", corpus.PASSAGE_PRECISION)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(vectors))
    held, base = vectors[order[:queries]], vectors[np.sort(order[queries:])]
    if 0 < size < len(base):  # a quick run on a slice
        base = base[:size]
    if size > len(base):
        extra = size - len(base)
        copies = base[rng.integers(0, len(base), extra)]
        for start in range(0, extra, 100_000):  # in blocks: bounded temporary memory
            block = copies[start : start + 100_000]
            block += rng.normal(0, NOISE, block.shape).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        base = np.concatenate([base, copies])
    return np.ascontiguousarray(base, np.float32), np.ascontiguousarray(held, np.float32)


def exact(
    base: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Brute-force top-k ids by cosine (unit vectors: inner product)."""
    out = np.empty((len(queries), k), np.int64)
    ids = np.arange(len(base)) if mask is None else np.flatnonzero(mask)
    sub = base if mask is None else base[ids]
    for start in range(0, len(queries), 100):
        scores = queries[start : start + 100] @ sub.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(scores, top, 1)
        out[start : start + 100] = ids[np.take_along_axis(top, np.argsort(-part, 1), 1)]
    return out


def truth(base: np.ndarray, queries: np.ndarray, name: str) -> np.ndarray:
    path = corpus.CACHE / f"ann-truth-{name}-{len(base)}-{len(queries)}.npy"
    if path.exists():
        return np.load(path)
    t = time.perf_counter()
    result = exact(base, queries, K)
    log(f"ground truth {len(base):,} x {len(queries)}: {time.perf_counter() - t:.1f} s")
    np.save(path, result)
    return result


def recall(found: list[np.ndarray], expected: np.ndarray) -> float:
    hits = [len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, expected)]
    return sum(hits) / (len(expected) * expected.shape[1])


# --- engines --------------------------------------------------------------------------------


class Engine:
    """Build once, then ``tune`` a search-time knob; ``query`` returns ids in rank order."""

    name = ""
    knob = ""
    values: tuple[int, ...] = ()

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        raise NotImplementedError

    def tune(self, value: int) -> None:
        pass

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError

    def store_bytes(self) -> int | None:
        return None


class Numpy(Engine):
    name, knob, values = "numpy (exact)", "", (0,)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        self.base = base
        return {}

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        scores = self.base @ q
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top])]


class Vetor(Engine):
    name, knob, values = "vetor", "nprobe", (8, 12, 16, 24, 32, 48, 64, 96, 128)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        self.dir = work / "vetor"
        service = vetor.connect(str(self.dir))
        service.create_vector_bucket(vectorBucketName=BUCKET)
        service.create_index(
            vectorBucketName=BUCKET, indexName=INDEX, dataType="float32", dimension=base.shape[1],
            distanceMetric="cosine",
        )  # fmt: skip
        self.service = service
        groups = np.random.default_rng(3).integers(0, 1000, len(base))
        self.groups = groups
        served, stop = [0], threading.Event()

        def client() -> None:  # 20 queries/s while ingest and indexing run
            rng = np.random.default_rng(5)
            while not stop.wait(0.05):
                self.query(base[rng.integers(0, len(base))], K)
                served[0] += 1

        t0 = time.perf_counter()
        threading.Thread(target=client, daemon=True).start()
        for start in range(0, len(base), BATCH):
            end = min(start + BATCH, len(base))
            body = [  # numpy rows, as the embedded API takes them (like the peers)
                {"key": str(i), "data": {"float32": base[i]}, "metadata": {"g": int(groups[i])}}
                for i in range(start, end)
            ]
            service.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=body)
            if (end // BATCH) % 200 == 0:
                log(f"vetor: put {end:,} ({end / (time.perf_counter() - t0):,.0f}/s)")
        put_s = time.perf_counter() - t0
        engine = service.engine(BUCKET, INDEX)
        while True:  # until the background compaction has indexed everything
            engine.wait_for_background()
            stats = engine.stats()
            if stats["indexedRows"] == stats["rows"] or not engine.compact():
                break
        indexed_s = time.perf_counter() - t0
        stop.set()
        warm = engine.warm()
        self.engine = engine
        log(f"vetor: indexed in {indexed_s:.1f} s; {stats}")
        return {
            "ingest_per_s": len(base) / put_s,
            "indexed_per_s": len(base) / indexed_s,
            "queries_served_meanwhile": served[0],
            "segments": stats["segments"],
            "indexed_rows": stats["indexedRows"],
            "resident_vector_bytes": warm["residentVectorBytes"],
            "resident_ann_bytes": warm["residentAnnBytes"],
        }

    def tune(self, value: int) -> None:
        # Bench-only: the knob is a per-process setting; swap it in place for the sweep.
        self.engine.tune_ann(ann_nprobe=value)

    def query(self, q: np.ndarray, k: int, where: dict | None = None) -> np.ndarray:
        request: dict[str, Any] = {"queryVector": {"float32": q.tolist()}, "topK": k}
        if where is not None:
            request["filter"] = where
        hits = self.service.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, **request)
        return np.array([int(h["key"]) for h in hits["vectors"]], np.int64)

    def store_bytes(self) -> int:
        return tree_bytes(self.dir)


class FaissHnsw(Engine):
    name, knob, values = "faiss HNSW32", "efSearch", (16, 24, 32, 48, 64, 96, 128, 192, 256)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        import faiss

        self.index = faiss.IndexHNSWFlat(base.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 80
        self.index.add(base)
        return {}

    def tune(self, value: int) -> None:
        self.index.hnsw.efSearch = value

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q.reshape(1, -1), k)[1][0]

    def store_bytes(self) -> int:
        import faiss

        return len(faiss.serialize_index(self.index))


class FaissIvf(Engine):
    name, knob, values = "faiss IVF-Flat", "nprobe", (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        import faiss

        nlist = int(4 * np.sqrt(len(base)))
        quantizer = faiss.IndexFlatIP(base.shape[1])
        self.index = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        self.index.train(base[:: max(1, len(base) // (64 * nlist))])
        self.index.add(base)
        self.index.parallel_mode = 1  # a lone query's probes over the cores, as vetor does
        self.quantizer = quantizer
        return {"nlist": nlist}

    def tune(self, value: int) -> None:
        self.index.nprobe = value

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q.reshape(1, -1), k)[1][0]

    def store_bytes(self) -> int:
        import faiss

        return len(faiss.serialize_index(self.index))


class Lance(Engine):
    """LanceDB; ``kind`` IVF_PQ (with refine) or IVF_HNSW_SQ, as its docs recommend."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"LanceDB {kind}"
        self.knob = "nprobes" if kind == "IVF_PQ" else "ef"
        self.values = (8, 16, 24, 32, 48, 64, 96) if kind == "IVF_PQ" else (16, 32, 64, 128, 256)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        import lancedb
        import pyarrow as pa

        self.dir = work / f"lance-{self.kind}"
        db = lancedb.connect(str(self.dir))
        flat = pa.array(base.reshape(-1))
        table = pa.table(
            {
                "id": pa.array(np.arange(len(base))),
                "vector": pa.FixedSizeListArray.from_arrays(flat, base.shape[1]),
            }
        )
        self.table = db.create_table("t", table)
        partitions = max(1, int(np.sqrt(len(base))))
        if self.kind == "IVF_PQ":
            self.table.create_index(
                metric="cosine", index_type="IVF_PQ", num_partitions=partitions,
                num_sub_vectors=base.shape[1] // 8,
            )  # fmt: skip
        else:
            self.table.create_index(
                metric="cosine",
                index_type="IVF_HNSW_SQ",
                num_partitions=max(1, len(base) // 100_000),
            )
        self.setting = self.values[0]
        return {"num_partitions": partitions}

    def tune(self, value: int) -> None:
        self.setting = value

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        search = self.table.search(q).distance_type("cosine").limit(k).select(["id"])
        if self.kind == "IVF_PQ":
            search = search.nprobes(self.setting).refine_factor(10)
        else:
            search = search.ef(self.setting)
        return search.to_arrow().column("id").to_numpy()

    def store_bytes(self) -> int:
        return tree_bytes(self.dir)


class Chroma(Engine):
    name, knob, values = "Chroma (HNSW)", "ef_search", (16, 32, 64, 128, 256)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        import chromadb

        self.dir = work / "chroma"
        client = chromadb.PersistentClient(path=str(self.dir))
        self.collection = client.create_collection(
            "bench",
            configuration={
                "hnsw": {"space": "cosine", "ef_construction": 100, "max_neighbors": 16}
            },
        )
        step = 5000
        for start in range(0, len(base), step):
            end = min(start + step, len(base))
            self.collection.add(ids=[str(i) for i in range(start, end)], embeddings=base[start:end])
        return {}

    def tune(self, value: int) -> None:
        self.collection.modify(configuration={"hnsw": {"ef_search": value}})

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        found = self.collection.query(query_embeddings=q.reshape(1, -1), n_results=k, include=[])
        return np.array([int(i) for i in found["ids"][0]], np.int64)

    def store_bytes(self) -> int:
        return tree_bytes(self.dir)


class Milvus(Engine):
    name, knob, values = "Milvus Lite (HNSW)", "ef", (16, 32, 64, 128, 256)

    def build(self, base: np.ndarray, work: Path) -> dict[str, Any]:
        from pymilvus import DataType, MilvusClient

        self.dir = work / "milvus"
        self.dir.mkdir()
        client = MilvusClient(str(self.dir / "milvus.db"))
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=base.shape[1])
        client.create_collection("t", schema=schema)
        for start in range(0, len(base), 5000):
            end = min(start + 5000, len(base))
            rows = [
                {"id": i, "vector": v} for i, v in zip(range(start, end), base[start:end].tolist())
            ]
            client.insert("t", rows)
        client.flush("t")  # then index the sealed data, as Milvus' docs do for bulk loads
        params = client.prepare_index_params()
        params.add_index(
            "vector", index_type="HNSW", metric_type="COSINE",
            params={"M": 16, "efConstruction": 100},
        )  # fmt: skip
        client.create_index("t", params)
        client.load_collection("t")
        self.client, self.ef = client, 64
        return {}

    def tune(self, value: int) -> None:
        self.ef = value

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        found = self.client.search(
            "t", [q.tolist()], limit=k, search_params={"params": {"ef": max(self.ef, k)}}
        )
        return np.array([h["id"] for h in found[0]], np.int64)

    def store_bytes(self) -> int:
        return tree_bytes(self.dir)


def engines(names: list[str]) -> list[Engine]:
    made: dict[str, Callable[[], Engine]] = {
        "vetor": Vetor, "numpy": Numpy, "faiss-hnsw": FaissHnsw, "faiss-ivf": FaissIvf,
        "lance-ivfpq": lambda: Lance("IVF_PQ"), "lance-hnswsq": lambda: Lance("IVF_HNSW_SQ"),
        "chroma": Chroma, "milvus": Milvus,
    }  # fmt: skip
    modules = {
        "faiss-hnsw": "faiss", "faiss-ivf": "faiss", "lance-ivfpq": "lancedb",
        "lance-hnswsq": "lancedb", "chroma": "chromadb", "milvus": "milvus_lite",
    }  # fmt: skip
    out = []
    for name in names:
        module = modules.get(name)
        if module is not None:
            try:
                __import__(module)
            except ImportError:
                log(f"{name}: skipped, {module} is not installed (pip install -e '.[bench]')")
                continue
        out.append(made[name]())
    return out


# --- measuring ------------------------------------------------------------------------------


def tune(
    engine: Engine, queries: np.ndarray, expected: np.ndarray, target: float
) -> dict[str, Any]:
    """The cheapest knob value reaching ``target`` recall on a sample (else the best seen)."""
    tried = []
    for value in engine.values:
        engine.tune(value)
        r = recall([engine.query(q, K) for q in queries], expected)
        tried.append({"value": value, "recall": round(r, 4)})
        if r >= target:
            break
    best = next((t for t in tried if t["recall"] >= target), max(tried, key=lambda t: t["recall"]))
    engine.tune(best["value"])
    return {"knob": engine.knob, "value": best["value"], "sweep": tried}


def latencies(engines_: list[Engine], queries: np.ndarray) -> dict[str, tuple[list[float], list]]:
    """Each query on every engine in turn (interleaved): per engine, times (s) and results."""
    out: dict[str, tuple[list[float], list]] = {e.name: ([], []) for e in engines_}
    for q in queries:
        for engine in engines_:
            t = time.perf_counter()
            found = engine.query(q, K)
            out[engine.name][0].append(time.perf_counter() - t)
            out[engine.name][1].append(found)
    return out


def qps(engine: Engine, queries: np.ndarray, threads: int) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda q: engine.query(q, K), queries))
    return len(queries) / (time.perf_counter() - t)


def filtered(engine: Vetor, base: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    out = {}
    for label, below in SELECTIVITY.items():
        mask = engine.groups < below
        expected = exact(base, queries, K, mask)
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            found.append(engine.query(q, K, {"g": {"$lt": below}}))
            times.append(time.perf_counter() - t)
        out[label] = {
            "matching_rows": int(mask.sum()),
            "recall": round(recall(found, expected), 4),
            "min_results": min(len(f) for f in found),
            "p50_ms": round(1000 * float(np.percentile(times, 50)), 2),
            "p99_ms": round(1000 * float(np.percentile(times, 99)), 2),
        }
        log(f"vetor filter {label}: {out[label]}")
    return out


def cold(
    engine: Vetor, queries: np.ndarray, expected: np.ndarray, delay_ms: float, trials: int = 5
) -> dict[str, Any]:
    """Queries of a fresh ``vetor.connect`` on an S3 server with ``delay_ms`` per request.

    The index written on the local directory is uploaded (garbage collected first) to a moto
    S3 server in another process (bench/slow_s3.py); its second port delays every request.
    Each trial is a new service (empty caches) asking three queries: the first cold, the
    second with the parts the first read cached, the third with metadata. The index is not
    loaded meanwhile (``view_memory_bytes``=1), so no trial's background load overlaps the next.
    """
    import subprocess
    import urllib.request

    import boto3

    engine.engine.wait_for_background()
    engine.engine.collect_garbage(grace_seconds=0)
    nprobe = engine.engine.ann_settings.ann_nprobe  # as tuned for the warm figures
    fast, slow = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, str(REPO / "bench/slow_s3.py"), str(fast), str(slow), str(delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
        os.environ.update(credentials)
        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{fast}", region_name="us-east-1",
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        )  # fmt: skip
        s3.create_bucket(Bucket="cold")
        files = [p for p in engine.dir.rglob("*") if p.is_file()]
        for path in files:
            key = f"data/{path.relative_to(engine.dir)}"
            s3.upload_file(str(path), "cold", key)
            s3.get_object(Bucket="cold", Key=key, Range="bytes=0-0")  # the server keeps it
        uri = f"s3://cold/data?endpoint=http://127.0.0.1:{slow}&region=us-east-1&allow_http=true"
        counter = f"http://127.0.0.1:{slow}/__requests"
        runs, found = [], []
        for trial in range(trials):
            service = vetor.connect(uri, ann_nprobe=nprobe, view_memory_bytes=1)
            urllib.request.urlopen(counter).read()
            run = {}
            for label, i, metadata in (("first", 0, False), ("second", 1, False),
                                       ("metadata", 2, True)):  # fmt: skip
                q = queries[3 * trial + i]
                t = time.perf_counter()
                hits = service.query_vectors(
                    vectorBucketName=BUCKET, indexName=INDEX, queryVector={"float32": q.tolist()},
                    topK=K, returnMetadata=metadata,
                )["vectors"]  # fmt: skip
                run[f"{label}_ms"] = round(1000 * (time.perf_counter() - t), 1)
                run[f"{label}_requests"] = int(urllib.request.urlopen(counter).read())
                found.append([int(h["key"]) for h in hits])
            runs.append(run)
            log(f"vetor cold trial {trial + 1}: {run}")
        return {
            "delay_ms_per_request": delay_ms,
            "objects": len(files),
            "store_bytes": engine.store_bytes(),
            "nprobe": nprobe,
            "first_query_ms_p50": float(np.median([r["first_ms"] for r in runs])),
            "second_query_ms_p50": float(np.median([r["second_ms"] for r in runs])),
            "metadata_query_ms_p50": float(np.median([r["metadata_ms"] for r in runs])),
            "recall": round(recall([np.array(f) for f in found], expected[: len(found)]), 4),
            "trials": runs,
        }
    finally:
        server.kill()


def run_scale(
    scale: str, names: list[str], queries_n: int, target: float, cold_ms: float
) -> dict[str, Any]:
    base, queries = dataset(SCALES[scale], queries_n)
    expected = truth(base, queries, "v1")
    log(f"{scale}: {len(base):,} x {base.shape[1]} base vectors, {len(queries)} queries")
    sample = slice(0, min(200, len(queries)))
    work = Path(tempfile.mkdtemp(prefix="bench-ann-", dir=str(corpus.CACHE)))
    results: dict[str, Any] = {
        "rows": len(base),
        "dimension": base.shape[1],
        "queries": len(queries),
    }
    built: list[Engine] = []
    try:
        for engine in engines(names):
            before = rss()
            t = time.perf_counter()
            try:
                info = engine.build(base, work)
            except Exception as error:  # a peer that breaks is reported, not fatal
                log(f"{engine.name}: build failed: {error!r}")
                results[engine.name] = {"error": repr(error)}
                continue
            build_s = time.perf_counter() - t
            tuned = tune(engine, queries[sample], expected[sample], target)
            results[engine.name] = {
                "build_s": round(build_s, 1), "resident_bytes": rss() - before,
                "store_bytes": engine.store_bytes(), **info, "tuning": tuned,
            }  # fmt: skip
            log(f"{engine.name}: built in {build_s:.1f} s, {tuned['knob']}={tuned['value']}")
            built.append(engine)
        os.sync()  # the builds' gigabytes written back before timing, not during it
        time.sleep(5)
        measured = latencies(built, queries)
        for engine in built:
            times, found = measured[engine.name]
            entry = results[engine.name]
            entry["recall"] = round(recall(found, expected), 4)
            entry["p50_ms"] = round(1000 * float(np.percentile(times, 50)), 3)
            entry["p99_ms"] = round(1000 * float(np.percentile(times, 99)), 3)
            entry["qps_1"] = round(qps(engine, queries[:300], 1), 1)
            entry["qps_2"] = round(qps(engine, queries[:300], 2), 1)
        for engine in built:
            if isinstance(engine, Vetor):
                results[engine.name]["filtered"] = filtered(engine, base, queries[:200])
                if cold_ms >= 0:
                    results[engine.name]["cold"] = cold(engine, queries, expected, cold_ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def table(scale: str, results: dict[str, Any]) -> str:
    lines = [
        f"\n{scale}: {results['rows']:,} x {results['dimension']} (real MiniLM passages"
        f"{' + perturbed copies' if results['rows'] > 210_000 else ''}),"
        f" {results['queries']} queries",
        f"{'engine':<22}{'knob':>14}{'recall@10':>10}{'p50 ms':>9}{'p99 ms':>9}{'QPS1':>8}"
        f"{'QPS2':>8}{'build s':>9}{'RSS MB':>9}{'store MB':>10}",
    ]
    for name, entry in results.items():
        if not isinstance(entry, dict) or "recall" not in entry:
            continue
        knob = (
            f"{entry['tuning']['knob']}={entry['tuning']['value']}"
            if entry["tuning"]["knob"]
            else ""
        )
        store = entry["store_bytes"]
        store_mb = "" if store is None else f"{store / 1e6:.0f}"
        lines.append(
            f"{name:<22}{knob:>14}{entry['recall']:>10.3f}{entry['p50_ms']:>9.2f}"
            f"{entry['p99_ms']:>9.2f}{entry['qps_1']:>8.0f}{entry['qps_2']:>8.0f}"
            f"{entry['build_s']:>9.1f}{entry['resident_bytes'] / 1e6:>9.0f}{store_mb:>10}"
        )
    filt = results.get("vetor", {}).get("filtered")
    if filt:
        parts = [
            f"{label}: recall {f['recall']:.3f}, min results {f['min_results']},"
            f" p50 {f['p50_ms']} ms"
            for label, f in filt.items()
        ]
        lines.append("vetor filtered: " + "; ".join(parts))
    v = results.get("vetor")
    if v and "cold" in v:
        c = v["cold"]
        first = c["trials"][0]
        lines.append(
            f"vetor cold (new process, S3 on loopback +{c['delay_ms_per_request']:.0f} ms per"
            f" request, nprobe {c['nprobe']}): first query p50 {c['first_query_ms_p50']:.0f} ms"
            f" ({first['first_requests']} requests), second {c['second_query_ms_p50']:.0f} ms"
            f" ({first['second_requests']}), with metadata {c['metadata_query_ms_p50']:.0f} ms"
            f" ({first['metadata_requests']}); recall@10 {c['recall']:.3f}"
        )
    if v:
        lines.append(
            f"vetor ingest {v['ingest_per_s']:,.0f} vec/s; indexed (all rows in IVF segments) at "
            f"{v['indexed_per_s']:,.0f} vec/s while serving {v['queries_served_meanwhile']} queries"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="200k")
    parser.add_argument(
        "--engines",
        default="vetor,numpy,faiss-hnsw,faiss-ivf,lance-ivfpq,lance-hnswsq,chroma,milvus",
    )
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 to tune for")
    parser.add_argument(
        "--cold-ms", type=float, default=20, help="S3 latency of the cold test (-1: skip it)"
    )
    parser.add_argument("--json", default=str(REPO / "bench/results/ann.json"))
    args = parser.parse_args(argv)
    engine_names = args.engines.split(",")
    results = run_scale(args.scale, engine_names, args.queries, args.target, args.cold_ms)
    print(table(args.scale, results))
    path = Path(args.json)
    report = json.loads(path.read_text()) if path.exists() else {}
    report.setdefault("scales", {})[args.scale] = results
    report["machine"] = machine_info(
        ("vetor", "numpy", "faiss-cpu", "lancedb", "chromadb", "milvus-lite", "pymilvus")
    )
    write_json(path, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
