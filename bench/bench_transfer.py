#!/usr/bin/env python3
"""``vetor export`` / ``vetor import`` throughput with every peer, 384-d vectors.

A vetor index (local folder) of random 384-d vectors with small metadata is copied out to each
peer and back into a new vetor index, through ``vetor.transfer.copy`` — what the CLI runs —
with the peers this machine can run: pgvector in a real PostgreSQL server (pgserver's), Qdrant
in qdrant-client's local mode, Chroma and LanceDB in folders, and S3 Vectors as another vetor
behind ``vetor serve`` (over HTTP, SigV4). Goal: at least 20,000 vectors/s between vetor and
pgvector / Qdrant.

Qdrant's local mode is qdrant-client's Python stand-in for the server (each point pickled
into SQLite), and Chroma writes through its own HNSW; they get fewer rows (``--slow-rows``).

    python3 bench/bench_transfer.py [--rows 100000] [--slow-rows 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import log, machine_info, print_table, write_json

import vetor
from vetor.transfer import LocalIndex, copy, open_peer

RESULTS = Path(__file__).parent / "results" / "transfer.json"
DIMENSION = 384


def fill(service: Any, index: str, rows: int) -> None:
    service.create_index(
        vectorBucketName="bench", indexName=index, dataType="float32", dimension=DIMENSION,
        distanceMetric="euclidean",
    )  # fmt: skip
    rng = np.random.default_rng(3)
    for start in range(0, rows, 500):
        vectors = rng.standard_normal((min(500, rows - start), DIMENSION), dtype=np.float32)
        service.put_vectors(
            vectorBucketName="bench",
            indexName=index,
            vectors=[
                {"key": f"v{start + i:08d}", "data": {"float32": v},
                 "metadata": {"genre": ["a", "b", "c"][i % 3], "n": start + i}}
                for i, v in enumerate(vectors)
            ],
        )  # fmt: skip


def s3vectors_server(scratch: Path) -> tuple[Any, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import SERVER_KEYS, Server

    os.environ.update(
        AWS_ACCESS_KEY_ID=SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
    )
    server = Server(str(scratch / "served"), {}, "--no-access-log")
    return server, f"s3vectors://remote/bench?endpoint={server.endpoint}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--slow-rows", type=int, default=10_000)
    args = parser.parse_args()
    import pgserver

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        service = vetor.connect(str(scratch / "store"))
        service.create_vector_bucket(vectorBucketName="bench")
        postgres = pgserver.get_server(scratch / "postgres", cleanup_mode="stop")
        pg = postgres.get_uri()
        server, s3vectors = s3vectors_server(scratch)
        peers = {
            "pgvector": (pg + ("&" if "?" in pg else "?") + "table=bench&index=none", args.rows),
            "qdrant (local mode)": (f"qdrant+local:{scratch}/qdrant/bench", args.slow_rows),
            "chroma": (f"chroma:{scratch}/chroma/bench", args.slow_rows),
            "lancedb": (f"lancedb:{scratch}/lance/bench", args.rows),
            "s3vectors (vetor serve)": (s3vectors, args.rows),
        }
        results = []
        try:
            for rows in sorted({r for _, r in peers.values()}):
                log(f"filling an index of {rows:,} vectors")
                fill(service, f"source-{rows}", rows)
            for name, (uri, rows) in peers.items():
                results.append(measure(service, name, uri, rows))
        finally:
            server.stop()
            postgres.cleanup()
            service.close()
    print_table(
        f"vetor import / export, {DIMENSION}-d float32 vectors",
        ["peer", "vectors", "export vec/s", "import vec/s", "equal"],
        [
            [r["peer"], f"{r['rows']:,}", f"{r['export_per_s']:,.0f}",
             f"{r['import_per_s']:,.0f}", str(r["equal"])]
            for r in results
        ],
    )  # fmt: skip
    path = write_json(
        RESULTS,
        {"machine": machine_info(("numpy", "psycopg", "qdrant-client", "chromadb", "lancedb")),
         "dimension": DIMENSION, "results": results},
    )  # fmt: skip
    log(f"wrote {path}")


def measure(service: Any, name: str, uri: str, rows: int) -> dict[str, Any]:
    source = LocalIndex(service, "bench", f"source-{rows}")
    slug = "".join(c if c.isalnum() else "-" for c in name.split()[0])
    peer = open_peer(uri)
    started = time.perf_counter()
    out = copy(source, peer)
    export_s = time.perf_counter() - started
    peer.close()
    peer = open_peer(uri)
    back = LocalIndex(service, "bench", f"back-{slug}")
    started = time.perf_counter()
    copy(peer, back)
    import_s = time.perf_counter() - started
    peer.close()
    first = service.scan_vectors(vectorBucketName="bench", indexName=f"source-{rows}", limit=rows)
    again = service.scan_vectors(vectorBucketName="bench", indexName=f"back-{slug}", limit=rows)
    equal = (
        first["keys"] == again["keys"]
        and first["vectors"].tobytes() == again["vectors"].tobytes()
        and first["metadata"] == again["metadata"]
    )
    log(f"{name}: export {rows / export_s:,.0f}/s, import {rows / import_s:,.0f}/s, equal {equal}")
    return {
        "peer": name, "rows": rows, "export_s": export_s, "import_s": import_s,
        "export_per_s": rows / export_s, "import_per_s": rows / import_s,
        "equal": equal, "target_count": out.target_count,
    }  # fmt: skip


if __name__ == "__main__":
    main()
