#!/usr/bin/env python3
"""What authorization and encryption at rest cost: QueryVectors p50 and PutVectors throughput
through boto3 against ``vetor serve``, on and off, side by side.

Two servers on this machine, the same keys file, calls interleaved peer by peer (so this
machine's noise hits all alike):

- **off**: the plain server, the admin key (the account's root) on a bucket without a policy:
  no statement to evaluate, nothing sealed;
- **policies**: the same server, a principal (``user/bench``) whose identity policy has an
  Allow, a Deny with a condition and a wildcard resource, on a bucket whose policy has three
  statements with ``IpAddress`` and ``StringEquals`` conditions: every call evaluates both
  (the bucket policy read from the store at most once a second, as in production);
- **AES256** and **policies+AES256**: the admin and the principal, as above, on a second
  server whose store is encrypted at rest (``VETOR_ENCRYPTION_KEY_FILE``: every object sealed
  with AES-256-GCM). Each server gets half of the calls: one called less often answers slower
  for that alone (its threads go idle between calls).

Every index holds the same ``--vectors`` random 384-d vectors. Goal: "policies+AES256" at most
10 % slower than "off" (query p50, put throughput).

    python3 bench/bench_security.py [--vectors 20000] [--queries 400] [--puts 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from harness import free_port, interleaved, log, machine_info, print_table, write_json
from loadgen import wait_idle

from vetor.store import KeyFile

ACCOUNT = "000000000000"
DIMENSION = 384
ADMIN = ("AKBENCHADMIN", "admin-secret")
USER = ("AKBENCHUSER", "user-secret")
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/bench"
RESULTS = Path(__file__).parent / "results" / "security.json"


def arn(bucket: str) -> str:
    return f"arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/{bucket}"


IDENTITY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3vectors:*", "Resource": arn("guarded") + "/*"},
        {
            "Sid": "NoDeletesFromOutside",
            "Effect": "Deny",
            "Action": "s3vectors:Delete*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
        },
    ],
}
BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Readers",
            "Effect": "Allow",
            "Principal": {"AWS": USER_ARN},
            "Action": ["s3vectors:QueryVectors", "s3vectors:GetVectors"],
            "Resource": arn("guarded") + "/index/*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "10.0.0.0/8"]}},
        },
        {
            "Sid": "Writers",
            "Effect": "Allow",
            "Principal": {"AWS": USER_ARN},
            "Action": "s3vectors:PutVectors",
            "Resource": arn("guarded") + "/index/*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
        },
        {
            "Sid": "NoPolicyChanges",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3vectors:*BucketPolicy",
            "Resource": arn("guarded"),
            "Condition": {"StringNotEquals": {"aws:PrincipalType": "Account"}},
        },
    ],
}


def start(
    folder: Path, encrypted: bool, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A ``vetor serve`` on ``folder`` with this file's keys (and a key file, ``encrypted``)."""
    folder.mkdir()
    keys = folder / "keys.json"
    entries = [
        {"accessKeyId": ADMIN[0], "secretAccessKey": ADMIN[1]},
        {"accessKeyId": USER[0], "secretAccessKey": USER[1], "principalArn": USER_ARN,
         "policies": [IDENTITY_POLICY]},
    ]  # fmt: skip
    keys.write_text(json.dumps({"keys": entries}))
    keys.chmod(0o600)
    port = free_port()
    env = {**os.environ, "VETOR_ACCESS_KEY_ID": "", "VETOR_SECRET_ACCESS_KEY": ""}
    env.update(env_extra or {})
    if encrypted:
        KeyFile.create(folder / "kek.json")
        env["VETOR_ENCRYPTION_KEY_FILE"] = str(folder / "kek.json")
    command = [sys.executable, "-m", "vetor", "serve", "--data", str(folder / "data")]
    command += ["--port", str(port), "--keys-file", str(keys), "--no-access-log"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{endpoint}/health", timeout=1):
                return process, endpoint
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("vetor serve did not start")


def client(endpoint: str, key: tuple[str, str]) -> Any:
    return boto3.client(
        "s3vectors", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
    )  # fmt: skip


def load(admin: Any, bucket: str, vectors: np.ndarray) -> None:
    admin.create_vector_bucket(vectorBucketName=bucket)
    admin.create_index(
        vectorBucketName=bucket, indexName="main", dataType="float32", dimension=DIMENSION,
        distanceMetric="cosine",
    )  # fmt: skip
    for start_at in range(0, len(vectors), 500):
        batch = vectors[start_at : start_at + 500]
        admin.put_vectors(
            vectorBucketName=bucket, indexName="main",
            vectors=[{"key": f"k{start_at + n}", "data": {"float32": row.tolist()},
                      "metadata": {"group": n % 10}} for n, row in enumerate(batch)],
        )  # fmt: skip


def run(
    args: argparse.Namespace, vectors: np.ndarray, rng: np.random.Generator, sealed_first: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One round: both servers, every peer's queries and puts interleaved. The server started
    second measured some percent slower here even with nothing sealed, so rounds alternate
    which one starts first and the figures are their means."""
    with tempfile.TemporaryDirectory() as scratch:
        order = ("sealed", "plain") if sealed_first else ("plain", "sealed")
        servers = {name: start(Path(scratch) / name, name == "sealed") for name in order}
        try:
            plain, sealed = servers["plain"][1], servers["sealed"][1]
            log(f"loading {args.vectors} vectors into four indexes")
            for endpoint in (plain, sealed):
                for bucket in ("open", "guarded"):
                    load(client(endpoint, ADMIN), bucket, vectors)
            for endpoint in (plain, sealed):
                client(endpoint, ADMIN).put_vector_bucket_policy(
                    vectorBucketName="guarded", policy=json.dumps(BUCKET_POLICY)
                )
            for process, _ in servers.values():
                log(f"settled in {wait_idle(process.pid, 120):.1f} s (background indexing)")
            callers = {
                "off": (client(plain, ADMIN), "open"),
                "policies": (client(plain, USER), "guarded"),
                "AES256": (client(sealed, ADMIN), "open"),
                "policies+AES256": (client(sealed, USER), "guarded"),
            }
            queries = rng.standard_normal((args.queries + 20, DIMENSION)).astype(np.float32)

            def query(name: str) -> Any:
                api, bucket = callers[name]
                return lambda q: api.query_vectors(
                    vectorBucketName=bucket, indexName="main", topK=10,
                    queryVector={"float32": q.tolist()}, filter={"group": 3},
                    returnMetadata=True,
                )["vectors"]  # fmt: skip

            log("queries, interleaved")
            latency, _ = interleaved({n: query(n) for n in callers}, list(queries), warmup=20)
            batches = [
                [{"key": f"new{i}-{n}", "data": {"float32": row.tolist()}}
                 for n, row in enumerate(rng.standard_normal((100, DIMENSION)))]
                for i in range(args.puts + 5)
            ]  # fmt: skip

            def put(name: str) -> Any:
                api, bucket = callers[name]
                return lambda batch: api.put_vectors(
                    vectorBucketName=bucket, indexName="main", vectors=batch
                )

            log("puts, interleaved")
            puts, _ = interleaved({n: put(n) for n in callers}, batches, warmup=5)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=60)
    return latency, puts


def arguments(doc: str, queries: int, puts: int) -> argparse.Namespace:
    """The options this file and bench_metrics.py share."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=queries)
    parser.add_argument("--puts", type=int, default=puts, help="PutVectors calls of 100 vectors")
    return parser.parse_args()


def averaged(rounds: list[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[dict[str, Any], ...]:
    """Each peer's query p50/p99 and put time over the rounds, and its put throughput."""
    callers = list(rounds[0][0])
    latency = {n: {"p50_ms": float(np.mean([r[0][n]["p50_ms"] for r in rounds])),
                   "p99_ms": float(np.mean([r[0][n]["p99_ms"] for r in rounds])),
                   "rounds": [r[0][n] for r in rounds]} for n in callers}  # fmt: skip
    puts = {n: {"mean_ms": float(np.mean([r[1][n]["mean_ms"] for r in rounds])),
                "rounds": [r[1][n] for r in rounds]} for n in callers}  # fmt: skip
    throughput = {n: 100 / (puts[n]["mean_ms"] / 1000) for n in callers}
    return latency, puts, throughput


def main() -> None:
    args = arguments(__doc__, queries=400, puts=60)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((args.vectors, DIMENSION)).astype(np.float32)
    rounds = [run(args, vectors, rng, sealed_first) for sealed_first in (False, True)]
    latency, puts, throughput = averaged(rounds)
    callers = list(latency)
    ratios = {
        f"{name}: query p50 / off": latency[name]["p50_ms"] / latency["off"]["p50_ms"]
        for name in ("policies", "AES256", "policies+AES256")
    } | {
        f"{name}: put throughput / off": throughput[name] / throughput["off"]
        for name in ("policies", "AES256", "policies+AES256")
    }
    rows = [
        [name, f"{latency[name]['p50_ms']:.2f}", f"{latency[name]['p99_ms']:.2f}",
         f"{throughput[name]:,.0f}"]
        for name in callers
    ]  # fmt: skip
    print_table(
        f"Policies and encryption ({args.vectors} x {DIMENSION}, filtered top-10, boto3/HTTP)",
        ["checks", "query p50 ms", "query p99 ms", "put vectors/s"],
        rows,
    )
    for name, ratio in ratios.items():
        print(f"{name} = {ratio:.3f}")
    document = {
        "machine": machine_info(("boto3", "numpy")),
        "arguments": vars(args),
        "query": latency,
        "put": {n: {**puts[n], "vectors_per_s": throughput[n]} for n in callers},
        "ratios": ratios,
    }
    log(f"wrote {write_json(RESULTS, document)}")


if __name__ == "__main__":
    main()
