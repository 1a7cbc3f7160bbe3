#!/usr/bin/env python3
"""What ``GET /metrics`` and tracing cost: QueryVectors p50 and PutVectors throughput through
boto3 with the metrics off (``VETOR_METRICS=false``), on (every request counted, a scrape every
second), and on with OpenTelemetry traces sent to an OTLP/HTTP collector (a sink on loopback
that accepts every batch): every request traced (``traced``), or one in ten (``sampled``,
``OTEL_TRACES_SAMPLER=parentbased_traceidratio``), side by side.

Four servers over the same data (20,000 random 384-d vectors by default), each given a
quarter of the calls, interleaved call by call; two rounds in opposite start orders (the one started
later measured slower by itself once). While the servers with metrics are measured a thread
scrapes their ``/metrics`` every second, as Prometheus would. Goal: at most 3 % slower.

    python3 bench/bench_metrics.py [--vectors 20000] [--queries 1500] [--puts 100]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


NAMES = ("off", "on", "traced", "sampled")


def sink() -> str:
    """An OTLP/HTTP endpoint on loopback that accepts every batch of spans."""

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1/traces"


def run(args: argparse.Namespace, vectors: np.ndarray, forward: bool) -> tuple[Any, Any]:
    rng = np.random.default_rng(11)
    order = NAMES if forward else NAMES[::-1]
    environments = {
        "off": {"VETOR_METRICS": "false"},
        "on": {"VETOR_METRICS": "true"},
        "traced": {"VETOR_METRICS": "true", "VETOR_OTLP_ENDPOINT": sink()},
        "sampled": {  # one trace in ten, as production tracing usually runs
            "VETOR_METRICS": "true",
            "VETOR_OTLP_ENDPOINT": sink(),
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
    }
    with tempfile.TemporaryDirectory() as scratch:
        servers = {name: start(Path(scratch) / name, False, environments[name]) for name in order}
        stop = threading.Event()
        try:
            for _, endpoint in servers.values():
                load(client(endpoint, ADMIN), "open", vectors)
            for process, _ in servers.values():
                log(f"settled in {wait_idle(process.pid, 120):.1f} s")
            scraper(servers["on"][1], stop)
            scraper(servers["traced"][1], stop)
            scraper(servers["sampled"][1], stop)
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
    rounds = [run(args, vectors.astype(np.float32), forward) for forward in (True, False)]
    latency, _, throughput = averaged(rounds)
    p50 = {n: latency[n]["p50_ms"] for n in NAMES}
    ratios = {
        "query p50 on/off": p50["on"] / p50["off"],
        "put throughput on/off": throughput["on"] / throughput["off"],
        "query p50 traced/off": p50["traced"] / p50["off"],
        "put throughput traced/off": throughput["traced"] / throughput["off"],
        "query p50 sampled/off": p50["sampled"] / p50["off"],
        "put throughput sampled/off": throughput["sampled"] / throughput["off"],
    }
    print_table(
        f"Metrics and traces ({args.vectors} x {DIMENSION}, filtered top-10, boto3/HTTP)",
        ["server", "query p50 ms", "put vectors/s"],
        [[n, f"{p50[n]:.2f}", f"{throughput[n]:,.0f}"] for n in NAMES],
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
