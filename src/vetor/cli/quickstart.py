"""``vetor quickstart``: a demo index with 200 vectors and a filtered query, in one command."""

from __future__ import annotations

import shlex
from contextlib import suppress
from typing import Any

import numpy as np

from ..errors import ConflictException
from .base import (
    DEFAULT_DATA,
    DataOpt,
    app,
    dumps,
    open_client,
    out,
    results_table,
)

GENRES = ("documentary", "drama", "comedy", "thriller", "animation")
DEMO_FILTER = {"genre": "documentary", "year": {"$gte": 2000}}


@app.command()
def quickstart(data: DataOpt = DEFAULT_DATA) -> None:
    """Create a demo index, fill it with 200 vectors and run a filtered query."""
    vectors, query = _demo_vectors()
    with open_client(data) as s3v:
        # Idempotent: a second run finds the bucket and index and overwrites the same keys.
        with suppress(ConflictException):
            s3v.create_vector_bucket(vectorBucketName="quickstart")
        with suppress(ConflictException):
            s3v.create_index(
                vectorBucketName="quickstart",
                indexName="demo",
                dataType="float32",
                dimension=8,
                distanceMetric="cosine",
            )
        s3v.put_vectors(vectorBucketName="quickstart", indexName="demo", vectors=vectors)
        response = s3v.query_vectors(
            vectorBucketName="quickstart",
            indexName="demo",
            topK=5,
            queryVector={"float32": query},
            filter=DEMO_FILTER,
            returnMetadata=True,
            returnDistance=True,
        )
    out.print(f"Wrote {len(vectors)} vectors to quickstart/demo in {data}", markup=False)
    out.print(f"Query, filter {dumps(DEMO_FILTER, indent=False)}:", soft_wrap=True)
    out.print(results_table(response["vectors"], metadata=True))
    _next_steps(data, query)


def _demo_vectors() -> tuple[list[dict[str, Any]], list[float]]:
    """200 reproducible 8-d vectors (seed 0) with genre/year metadata, and a query vector."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((200, 8)).astype(np.float32)
    genres = rng.integers(0, len(GENRES), 200)
    years = rng.integers(1970, 2025, 200)
    vectors = [
        {
            "key": f"movie-{i:03d}",
            "data": {"float32": matrix[i].tolist()},
            "metadata": {"genre": GENRES[genres[i]], "year": int(years[i])},
        }
        for i in range(200)
    ]
    query = [round(float(x), 3) for x in rng.standard_normal(8)]
    return vectors, query


def _next_steps(data: str, query: list[float]) -> None:
    where = "" if data == DEFAULT_DATA else f" --data {shlex.quote(data)}"
    vector = shlex.quote(dumps(query, indent=False))
    out.print("\nNext steps:")
    for command in (
        f"vetor indexes get quickstart demo{where}",
        f"vetor vectors query quickstart demo{where} --top-k 3 --vector {vector}",
    ):
        out.print(f"  {command}", markup=False, soft_wrap=True)
