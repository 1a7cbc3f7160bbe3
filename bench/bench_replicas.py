#!/usr/bin/env python3
"""Replicas behind HAProxy: put throughput and query QPS with 1, 2 and 3 ``vetor serve``
replicas over one S3 store (moto on loopback, conditional puts atomic as in the tests), and
the share of requests that failed while one replica was killed (SIGKILL) and brought back.

Client processes send boto3 requests through Debian's HAProxy (``tests/loadbalancer.py``'s
configuration) for a fixed time per phase. Everything runs on this 2-core machine — moto,
HAProxy, the replicas and the clients share two cores — so more replicas cannot add CPU here;
the figures say what the balancing costs and that failover works under load, not how far
replicas scale on a cluster.

    python3 bench/bench_replicas.py [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import log, machine_info, print_table, write_json

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import (  # noqa: E402
    S3_CREDENTIALS,
    SERVER_KEYS,
    Server,
    _atomic_conditional_puts,
    free_port,
    new_s3_uri,
)  # fmt: skip
from loadbalancer import HAProxy  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "replicas.json"
DIMENSION, BATCH = 384, 50


def client(endpoint: str, attempts: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3vectors", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
        aws_secret_access_key=SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}),
    )  # fmt: skip


def worker(endpoint: str, kind: str, index: str, seed: int, seconds: float, queue: Any) -> None:
    """One client process: ``kind`` requests for ``seconds``; counts what succeeded."""
    api = client(endpoint, attempts=1)  # every failure counted
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((20, BATCH, DIMENSION), dtype=np.float32)
    queries = rng.standard_normal((50, DIMENSION), dtype=np.float32).tolist()
    done = failed = n = 0
    kinds: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if kind == "put":
                api.put_vectors(
                    vectorBucketName="fleet", indexName=index,
                    vectors=[{"key": f"c{seed}-{n}-{i}", "data": {"float32": v.tolist()}}
                             for i, v in enumerate(vectors[n % 20])],
                )  # fmt: skip
                done += BATCH
            else:
                api.query_vectors(
                    vectorBucketName="fleet", indexName=index, topK=10,
                    queryVector={"float32": queries[n % 50]},
                )  # fmt: skip
                done += 1
        except Exception as error:
            failed += 1
            kinds[_kind(error)] = kinds.get(_kind(error), 0) + 1
        n += 1
    queue.put({"done": done, "failed": failed, "requests": n, "errors": kinds})


def _kind(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):  # an HTTP answer: its status and code
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{status} {response.get('Error', {}).get('Code')}"
    return type(error).__name__


def phase(endpoint: str, kind: str, index: str, clients: int, seconds: float,
          during: Any = None) -> dict[str, Any]:  # fmt: skip
    context = mp.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=worker, args=(endpoint, kind, index, 100 + c, seconds, queue))
        for c in range(clients)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    if during is not None:
        during()
    results = [queue.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(30)
    elapsed = time.monotonic() - started
    done = sum(r["done"] for r in results)
    requests = sum(r["requests"] for r in results)
    failed = sum(r["failed"] for r in results)
    errors: dict[str, int] = {}
    for result in results:
        for kind, count in result["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {"per_s": done / elapsed, "requests": requests, "failed": failed,
            "failed_share": failed / max(1, requests), "errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    _atomic_conditional_puts()
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    os.environ.update({**S3_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    data = new_s3_uri(f"http://127.0.0.1:{port}")
    env = {"VETOR_DRAIN_SECONDS": "1"}
    replicas = [Server(data, env, "--no-access-log") for _ in range(3)]
    admin = client(replicas[0].endpoint, attempts=5)
    admin.create_vector_bucket(vectorBucketName="fleet")
    rows, balancers = [], []
    try:
        for count in (1, 2, 3):
            index = f"replicas-{count}"
            admin.create_index(vectorBucketName="fleet", indexName=index, dataType="float32",
                               dimension=DIMENSION, distanceMetric="cosine")  # fmt: skip
            balancer = HAProxy(free_port(), [r.port for r in replicas[:count]])
            balancers.append(balancer)
            puts = phase(balancer.endpoint, "put", index, args.clients, args.seconds)
            queries = phase(balancer.endpoint, "query", index, args.clients, args.seconds)
            log(f"{count} replicas: {puts['per_s']:,.0f} vectors/s, {queries['per_s']:,.0f} q/s")
            rows.append({"replicas": count, "put": puts, "query": queries})

        def kill_and_restart() -> None:
            victim = replicas[1]
            time.sleep(args.seconds / 3)
            victim.process.kill()
            time.sleep(args.seconds / 3)
            replicas[1] = Server(data, env, "--no-access-log", port=victim.port)

        failover = {
            kind: phase(
                balancers[-1].endpoint,
                kind,
                "replicas-3",
                args.clients,
                args.seconds,
                kill_and_restart,
            )  # fmt: skip
            for kind in ("put", "query")
        }
        seen = balancers[-1].servers()
        retried = sum(int(seen[f"r{i}"]["wretr"] or 0) + int(seen[f"r{i}"]["wredis"] or 0)
                      for i in range(3))  # fmt: skip
    finally:
        for balancer in balancers:
            balancer.stop()
        for replica in replicas:
            if replica.process.poll() is None:
                replica.process.kill()
        moto.stop()
    print_table(
        f"vetor serve replicas behind HAProxy ({args.clients} boto3 clients, {DIMENSION}-d)",
        ["replicas", "put vectors/s", "query q/s"],
        [[str(r["replicas"]), f"{r['put']['per_s']:,.0f}", f"{r['query']['per_s']:,.0f}"]
         for r in rows],
    )  # fmt: skip
    print_table(
        "One of three replicas killed (SIGKILL) and restarted mid-phase",
        ["requests", "sent", "failed", "failed share", "errors"],
        [[k, f"{v['requests']:,}", str(v["failed"]), f"{v['failed_share']:.2%}",
          ", ".join(f"{n} × {e}" for e, n in v["errors"].items()) or "-"]
         for k, v in failover.items()],
    )  # fmt: skip
    print(f"HAProxy retried or re-sent {retried} requests")
    document = {"machine": machine_info(("boto3", "numpy")), "arguments": vars(args),
                "scaling": rows, "failover": failover, "haproxy_retried": retried}  # fmt: skip
    log(f"wrote {write_json(RESULTS, document)}")


if __name__ == "__main__":
    main()
