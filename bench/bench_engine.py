#!/usr/bin/env python3
"""Engine benchmark: put throughput and exact query latency on the local store.

For each size N (default 10k, 100k and 1M vectors of dimension 384) this script

1. generates N random float32 vectors (``numpy.random.default_rng(seed)``) with small
   metadata ``{"category": f"c{i % 10}", "n": i}`` and ingests them through the public
   ``VectorService.put_vectors`` API in batches of 500 (keys ``v{i}``) into a fresh index on a
   local-directory store. The request bodies (lists of dicts with ``data: {"float32": [...]}``)
   are built *before* they are timed, chunk by chunk: building Python lists is the client's
   cost, not the engine's. Only the ``put_vectors`` calls are timed (sum of their durations);
2. waits for background compaction to drain (``service.close()``, reported separately) and
   runs one ``service.compact(...)``, timed on its own, so that queries run on segments;
3. measures ``query_vectors(topK=k, returnDistance=True)`` latency (p50/p95/mean) without a
   filter and with ``{"category": "c3"}`` (10 % selectivity), after 3 warm-up queries each;
4. measures the "cold open": a new ``vetor.connect()`` on the same directory and the time of
   its first query (which loads the segment and builds the in-memory view);
5. runs the same queries with numpy brute force on an in-memory array (normalised vectors,
   ``X @ q``, ``np.argpartition`` top-k; a precomputed boolean mask for the filtered case) as
   the lower bound, and checks that vetor returns the same top-k keys.

Results are printed as a table and written (with machine info) to ``--json``.
See bench/README.md. Run ``python bench/bench_engine.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from harness import (
    CProfiler,
    log,
    machine_info,
    percentiles,
    pin_blas_threads,
    print_table,
    write_json,
)

import vetor

BUCKET = "bench"
WARMUP = 3
FILTER = {"category": "c3"}  # rows with i % 10 == 3: 10 % selectivity
FILTER_MOD = 3
REPO = Path(__file__).resolve().parent.parent


# --- helpers ------------------------------------------------------------------------------


def build_batches(vectors: np.ndarray, start: int, stop: int, batch: int) -> list[list[dict]]:
    """PutVectors request bodies for rows [start, stop), ``batch`` records each."""
    out = []
    for s in range(start, stop, batch):
        e = min(s + batch, stop)
        rows = vectors[s:e].tolist()  # Python floats, as a JSON client would send them
        out.append(
            [
                {
                    "key": f"v{i}",
                    "data": {"float32": row},
                    "metadata": {"category": f"c{i % 10}", "n": i},
                }
                for i, row in zip(range(s, e), rows)
            ]
        )
    return out


# --- vetor --------------------------------------------------------------------------------


def bench_vetor(
    args: argparse.Namespace,
    size: int,
    vectors: np.ndarray,
    queries: np.ndarray,
    root: Path,
    profiler: CProfiler,
) -> tuple[dict[str, Any], list[list[str]], list[list[str]]]:
    settings = {"background_compaction": args.background_compaction}
    uri = str(root / f"n{size}-{uuid.uuid4().hex[:8]}")
    service = vetor.connect(uri, **settings)
    index = f"n{size}"
    address = {"vectorBucketName": BUCKET, "indexName": index}
    service.create_vector_bucket(vectorBucketName=BUCKET)
    service.create_index(
        vectorBucketName=BUCKET,
        indexName=index,
        dataType="float32",
        dimension=args.dim,
        distanceMetric=args.metric,
    )

    # --- ingest: only the put_vectors calls are timed -----------------------------------
    put_s, build_s, calls = 0.0, 0.0, 0
    wall_start = time.perf_counter()
    chunk = max(args.batch, (args.chunk // args.batch) * args.batch)
    for chunk_start in range(0, size, chunk):
        t = time.perf_counter()
        batches = build_batches(vectors, chunk_start, min(chunk_start + chunk, size), args.batch)
        build_s += time.perf_counter() - t
        for body in batches:
            t = time.perf_counter()
            profiler.run("put", lambda b=body, s=service: s.put_vectors(vectors=b, **address))
            put_s += time.perf_counter() - t
            calls += 1
        del batches
        done = min(chunk_start + chunk, size)
        log(f"N={size}: put {done:>9,} vectors, {done / put_s:,.0f} vec/s (put calls only)")
    ingest_wall_s = time.perf_counter() - wall_start

    t = time.perf_counter()
    service.close()  # waits for in-flight background compaction
    drain_s = time.perf_counter() - t

    t = time.perf_counter()
    compacted = profiler.run("compact", lambda s=service: s.compact(**address))
    compact_s = time.perf_counter() - t
    log(f"N={size}: background drain {drain_s:.2f} s, compact {compact_s:.2f} s: {compacted}")
    disk_bytes = sum(f.stat().st_size for f in Path(uri).rglob("*") if f.is_file())

    # --- query latency (warm service) ---------------------------------------------------
    bodies = [{"float32": q.tolist()} for q in queries]

    def query(svc: vetor.VectorService, body: dict, filtered: bool) -> tuple[float, list[str]]:
        extra = {"filter": FILTER} if filtered else {}
        t = time.perf_counter()
        response = profiler.run(
            "query_filtered" if filtered else "query",
            lambda: svc.query_vectors(
                topK=args.top_k, queryVector=body, returnDistance=True, **extra, **address
            ),
        )
        elapsed = time.perf_counter() - t
        return elapsed, [v["key"] for v in response["vectors"]]

    results: dict[str, Any] = {}
    keys: dict[bool, list[list[str]]] = {}
    for filtered in (False, True):
        for body in bodies[:WARMUP]:
            query(service, body, filtered)
        samples, found = [], []
        for body in bodies:
            elapsed, hit_keys = query(service, body, filtered)
            samples.append(elapsed)
            found.append(hit_keys)
        results["query_filtered" if filtered else "query"] = percentiles(samples)
        keys[filtered] = found
    del service
    gc.collect()

    # --- cold open: a new service on the same directory, first query builds the view ----
    cold_service = vetor.connect(uri, **settings)
    t = time.perf_counter()
    profiler.run(
        "cold_open",
        lambda s=cold_service: s.query_vectors(
            topK=args.top_k, queryVector=bodies[0], returnDistance=True, **address
        ),
    )
    cold_open_s = time.perf_counter() - t
    second_s, _ = query(cold_service, bodies[1 % len(bodies)], False)
    first_filtered_s, _ = query(cold_service, bodies[2 % len(bodies)], True)  # builds a column
    del cold_service
    gc.collect()
    log(
        f"N={size}: cold open (first query) {cold_open_s:.3f} s, "
        f"second query {second_s * 1e3:.2f} ms"
    )

    if not args.data:
        shutil.rmtree(uri, ignore_errors=True)

    report = {
        "put": {
            "vectors_per_s": size / put_s,
            "put_calls_s": put_s,
            "calls": calls,
            "batch": args.batch,
            "ms_per_call_mean": put_s / calls * 1000.0,
            "client_build_s": build_s,
            "ingest_wall_s": ingest_wall_s,
            "vectors_per_s_incl_background_drain": size / (put_s + drain_s),
            "note": "put_calls_s sums only the put_vectors calls; the request bodies (Python "
            "lists of floats, metadata dicts) were built beforehand in chunks of "
            f"{chunk} vectors (client_build_s), outside the timer",
        },
        "background_drain_s": drain_s,
        "compact_s": compact_s,
        "compact_result": compacted,
        "disk_bytes_after_compact": disk_bytes,
        "cold_open_s": cold_open_s,
        "cold_second_query_ms": second_s * 1000.0,
        "cold_first_filtered_query_ms": first_filtered_s * 1000.0,
        **results,
    }
    return report, keys[False], keys[True]


# --- numpy limit --------------------------------------------------------------------------


def bench_numpy(
    args: argparse.Namespace, vectors: np.ndarray, queries: np.ndarray
) -> tuple[dict[str, Any], list[list[str]], list[list[str]]]:
    """Brute-force exact top-k on an in-memory array; normalises ``vectors`` in place."""
    k = args.top_k
    t = time.perf_counter()
    if args.metric == "cosine":
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    mask = np.arange(len(vectors)) % 10 == FILTER_MOD
    rows_of_mask = np.flatnonzero(mask)
    prepare_s = time.perf_counter() - t

    if args.metric == "cosine":

        def search(x: np.ndarray, q: np.ndarray) -> np.ndarray:
            scores = x @ (q / np.linalg.norm(q))  # larger is closer
            top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(x))
            return top[np.argsort(-scores[top])]

    else:
        squared_norms = np.einsum("ij,ij->i", vectors, vectors)

        def search(x: np.ndarray, q: np.ndarray, norms: np.ndarray = squared_norms) -> np.ndarray:
            d = (norms if len(x) == len(norms) else norms[mask]) - 2.0 * (x @ q)
            top = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(x))
            return top[np.argsort(d[top])]

    def plain(q: np.ndarray) -> np.ndarray:
        return search(vectors, q)

    def filtered(q: np.ndarray) -> np.ndarray:
        return rows_of_mask[search(vectors[mask], q)]

    report: dict[str, Any] = {"prepare_s": prepare_s}
    keys = {}
    for name, fn in (("query", plain), ("query_filtered", filtered)):
        for q in queries[:WARMUP]:
            fn(q)
        samples, found = [], []
        for q in queries:
            t = time.perf_counter()
            rows = fn(q)
            samples.append(time.perf_counter() - t)
            found.append([f"v{r}" for r in rows])
        report[name] = percentiles(samples)
        keys[name] = found
    return report, keys["query"], keys["query_filtered"]


def agreement(a: list[list[str]], b: list[list[str]]) -> float:
    """Mean overlap of the top-k key sets (1.0: identical results)."""
    return float(np.mean([len(set(x) & set(y)) / max(len(y), 1) for x, y in zip(a, b)]))


# --- driver -------------------------------------------------------------------------------


def results_table(rows: list[dict[str, Any]]) -> None:
    headers = [
        "N",
        "put vec/s",
        "compact s",
        "cold open s",
        "query p50 ms",
        "query p95 ms",
        "filtered p50 ms",
        "numpy p50 ms",
        "numpy filt p50 ms",
        "ratio",
    ]
    cells = []
    for r in rows:
        v, n = r["vetor"], r["numpy"]
        cells.append(
            [
                f"{r['n']:,}",
                f"{v['put']['vectors_per_s']:,.0f}",
                f"{v['compact_s']:.2f}",
                f"{v['cold_open_s']:.2f}",
                f"{v['query']['p50_ms']:.2f}",
                f"{v['query']['p95_ms']:.2f}",
                f"{v['query_filtered']['p50_ms']:.2f}",
                f"{n['query']['p50_ms']:.2f}",
                f"{n['query_filtered']['p50_ms']:.2f}",
                f"{r['ratio_query_p50']:.1f}x",
            ]
        )
    print_table("vetor engine vs numpy brute force (exact search)", headers, cells)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated N values")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=50, help="measured queries per case")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--batch", type=int, default=500, help="vectors per put_vectors call")
    p.add_argument(
        "--chunk", type=int, default=20_000, help="vectors whose request bodies are pre-built"
    )
    p.add_argument("--metric", default="cosine", choices=["cosine", "euclidean"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="store directory (default: a temp dir, removed)")
    p.add_argument("--json", default=str(REPO / "bench" / "results" / "engine.json"))
    p.add_argument(
        "--background-compaction",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="vetor setting background_compaction (default on)",
    )
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads for numpy (vetor and the baseline alike); 0 leaves the BLAS "
        "default. Default 1: multi-threaded BLAS on a small, shared machine stalls for a "
        "scheduler tick whenever another process holds a core",
    )
    p.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="cProfile the put/compact/query phases (main thread) into DIR; inflates timings",
    )
    args = p.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_blas_threads(args.blas_threads, __file__)
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="vetor-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    output: dict[str, Any] = {
        "benchmark": "bench/bench_engine.py",
        "machine": machine_info(("vetor", "numpy", "pyarrow")),
        "config": {
            "sizes": args.sizes,
            "dim": args.dim,
            "queries": args.queries,
            "warmup_queries": WARMUP,
            "top_k": args.top_k,
            "batch": args.batch,
            "prebuilt_chunk": args.chunk,
            "metric": args.metric,
            "seed": args.seed,
            "store": "local directory",
            "background_compaction": args.background_compaction,
            "filter": FILTER,
            "filter_selectivity": 0.1,
            "profiled": args.profile is not None,
            "blas_threads": args.blas_threads or "default",
        },
        "notes": [
            "put vec/s = N / (sum of put_vectors call durations); request bodies are Python "
            "lists built before the timer (client cost), in pre-built chunks",
            "compact s = one service.compact() after background compaction was drained "
            "(background_drain_s, reported separately)",
            "cold open s = first query_vectors of a fresh vetor.connect() on the same "
            "directory: it loads the segment(s) and builds the in-memory view",
            "numpy = brute force on an in-memory normalised float32 array (X @ q, "
            "argpartition); filtered uses a precomputed boolean mask",
            "ratio = vetor query p50 / numpy query p50 (no filter)",
        ],
        "results": [],
    }
    try:
        for size in args.sizes:
            log(f"N={size}: generating {size:,} x {args.dim} float32 vectors")
            rng = np.random.default_rng(args.seed)
            vectors = rng.standard_normal((size, args.dim), dtype=np.float32)
            queries = np.random.default_rng(args.seed + 1).standard_normal(
                (args.queries, args.dim), dtype=np.float32
            )
            profiler = CProfiler(Path(args.profile) if args.profile else None, f"N={size}")
            v, v_keys, v_fkeys = bench_vetor(args, size, vectors, queries, root, profiler)
            n, n_keys, n_fkeys = bench_numpy(args, vectors, queries)
            del vectors
            gc.collect()
            row = {
                "n": size,
                "vetor": v,
                "numpy": n,
                "ratio_query_p50": v["query"]["p50_ms"] / n["query"]["p50_ms"],
                "ratio_filtered_p50": v["query_filtered"]["p50_ms"] / n["query_filtered"]["p50_ms"],
                "topk_agreement": agreement(v_keys, n_keys),
                "topk_agreement_filtered": agreement(v_fkeys, n_fkeys),
                "loadavg_after": os.getloadavg(),
            }
            if args.profile:
                row["profiles"] = profiler.dump()
            output["results"].append(row)
            write_json(json_path, output)
            log(
                f"N={size}: put {v['put']['vectors_per_s']:,.0f} vec/s, query p50 "
                f"{v['query']['p50_ms']:.2f} ms (numpy {n['query']['p50_ms']:.2f} ms), "
                f"top-k agreement {row['topk_agreement']:.3f}/{row['topk_agreement_filtered']:.3f}"
            )
    finally:
        if not args.data:
            shutil.rmtree(root, ignore_errors=True)
    results_table(output["results"])
    print(f"results written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
