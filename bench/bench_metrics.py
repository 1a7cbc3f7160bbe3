#!/usr/bin/env python3
"""What ``GET /metrics`` costs: QueryVectors p50 and PutVectors throughput through boto3 with
the metrics on (every request counted, a scrape every second) and off (``VETOR_METRICS=false``),
side by side.

Two servers over the same data (20,000 random 384-d vectors by default), each given half of
the calls, interleaved call by call; two rounds alternating which server starts first (the one
started second measured slower by itself once). While the "on" server is measured a thread
scrapes its ``/metrics`` every second, as Prometheus would. Goal: at most 3 % slower.

    python3 bench/bench_metrics.py [--vectors 20000] [--queries 1500] [--puts 100]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from bench_security import ADMIN, DIMENSION, arguments, averaged, client, load, start
from harness import interleaved, log, machine_info, print_table, write_json
from loadgen import wait_idle

RESULTS = Path(__file__).parent / "results" / "metrics.json"


def scraper(endpoint: str, stop: threading.Event) -> threading.Thread:
    def scrape() -> None:
        request = urllib.request.Request(
            f"{endpoint}/metrics", headers={"Authorization": f"Bearer {ADMIN[0]}:{ADMIN[1]}"}
        )
        while not stop.wait(1.0):
            with urllib.request.urlopen(request, timeout=10) as reply:
                reply.read()

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    return thread


def run(args: argparse.Namespace, vectors: np.ndarray, on_first: bool) -> tuple[Any, Any]:
    rng = np.random.default_rng(11)
    order = ("on", "off") if on_first else ("off", "on")
    with tempfile.TemporaryDirectory() as scratch:
        servers = {
            name: start(Path(scratch) / name, False, {"VETOR_METRICS": str(name == "on")})
            for name in order
        }
        stop = threading.Event()
        try:
            for _, endpoint in servers.values():
                load(client(endpoint, ADMIN), "open", vectors)
            for process, _ in servers.values():
                log(f"settled in {wait_idle(process.pid, 120):.1f} s")
            scraper(servers["on"][1], stop)
            apis = {name: client(endpoint, ADMIN) for name, (_, endpoint) in servers.items()}
            queries = list(rng.standard_normal((args.queries + 20, DIMENSION)).astype(np.float32))

            def query(name: str) -> Any:
                return lambda q: apis[name].query_vectors(
                    vectorBucketName="open", indexName="main", topK=10,
                    queryVector={"float32": q.tolist()}, filter={"group": 3},
                )  # fmt: skip

            latency, _ = interleaved({n: query(n) for n in apis}, queries, warmup=20)
            batches = [
                [{"key": f"n{i}-{n}", "data": {"float32": row.tolist()}}
                 for n, row in enumerate(rng.standard_normal((100, DIMENSION)))]
                for i in range(args.puts + 5)
            ]  # fmt: skip

            def put(name: str) -> Any:
                return lambda batch: apis[name].put_vectors(
                    vectorBucketName="open", indexName="main", vectors=batch
                )

            puts, _ = interleaved({n: put(n) for n in apis}, batches, warmup=5)
        finally:
            stop.set()
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=60)
    return latency, puts


def main() -> None:
    args = arguments(__doc__, queries=1500, puts=100)
    vectors = np.random.default_rng(7).standard_normal((args.vectors, DIMENSION))
    rounds = [run(args, vectors.astype(np.float32), on_first) for on_first in (False, True)]
    latency, _, throughput = averaged(rounds)
    names = ("off", "on")
    p50 = {n: latency[n]["p50_ms"] for n in names}
    ratios = {
        "query p50 on/off": p50["on"] / p50["off"],
        "put throughput on/off": throughput["on"] / throughput["off"],
    }
    print_table(
        f"Metrics on and off ({args.vectors} x {DIMENSION}, filtered top-10, boto3/HTTP)",
        ["metrics", "query p50 ms", "put vectors/s"],
        [[n, f"{p50[n]:.2f}", f"{throughput[n]:,.0f}"] for n in names],
    )
    for name, ratio in ratios.items():
        print(f"{name} = {ratio:.3f}")
    document = {
        "machine": machine_info(("boto3", "numpy", "prometheus-client")),
        "arguments": vars(args),
        "rounds": [{"query": r[0], "put": r[1]} for r in rounds],
        "query_p50_ms": p50,
        "put_vectors_per_s": throughput,
        "ratios": ratios,
    }
    log(f"wrote {write_json(RESULTS, document)}")


if __name__ == "__main__":
    main()
