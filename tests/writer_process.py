"""A separate writer process for the concurrency and crash tests.

    python writer_process.py URI WRITER_ID BATCHES [--forever] [--tolerant]

Puts batches of 20 vectors with keys ``w<id>-b<batch>-<i>`` (plus an overwrite of the shared
key ``shared-<i>``), and after every acknowledged put prints ``ack <batch>`` and flushes, so
the parent knows exactly which writes were acknowledged. Every 5th batch also deletes the
first key of the previous batch, printing ``deleting <key>`` before and ``del <key>`` once
acknowledged. Each of those lines ends with the call's duration in seconds.

``--tolerant`` (for the fault tests) keeps going when a call fails: it prints ``fail <batch>
<error code> <seconds>`` for a typed vetor error, and ``raw <exception type> <seconds>`` for
anything else, which the tests count as a bug.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import vetor

DIMENSION = 8


def vector_for(writer: int, batch: int, i: int) -> list[float]:
    """Deterministic content, so the checker can verify what it reads back."""
    return [float(writer + 1), float(batch), float(i), 1.0, 0.0, 0.0, 0.0, 0.5]


def main() -> None:
    uri, writer, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    forever = "--forever" in sys.argv
    tolerant = "--tolerant" in sys.argv
    service = vetor.connect(uri, compact_wal_runs=4, max_segments=3, gc_grace_seconds=2.0)
    address = {"vectorBucketName": "shared", "indexName": "idx"}
    batch = 0
    while forever or batch < batches:
        records = [
            {
                "key": f"w{writer}-b{batch}-{i}",
                "data": {"float32": vector_for(writer, batch, i)},
                "metadata": {"writer": writer, "batch": batch},
            }
            for i in range(20)
        ]
        records.append({"key": f"shared-{batch % 7}", "data": {"float32": [1.0] * DIMENSION}})
        if call(service.put_vectors, {**address, "vectors": records}, batch, tolerant):
            print(f"ack {batch} {_last[0]:.2f}", flush=True)
        if batch % 5 == 4:
            doomed = f"w{writer}-b{batch - 1}-0"
            print(f"deleting {doomed}", flush=True)  # in flight: may or may not land if killed
            if call(service.delete_vectors, {**address, "keys": [doomed]}, batch, tolerant):
                print(f"del {doomed} {_last[0]:.2f}", flush=True)
        batch += 1
    service.close()
    np.random.default_rng()  # keep numpy imported for a realistic process footprint


_last = [0.0]  # the duration of the latest call


def call(method: Callable[..., Any], params: dict[str, Any], batch: int, tolerant: bool) -> bool:
    """Run one call; True if it was acknowledged."""
    started = time.monotonic()
    try:
        method(**params)
        return True
    except vetor.VetorError as error:
        if not tolerant:
            raise
        print(
            f"fail {batch} {error.code} {time.monotonic() - started:.2f} {_first_line(error)}",
            flush=True,
        )
    except Exception as error:
        if not tolerant:
            raise
        print(
            f"raw {type(error).__name__} {time.monotonic() - started:.2f} {_first_line(error)}",
            flush=True,
        )
    finally:
        _last[0] = time.monotonic() - started
    return False


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:300]


if __name__ == "__main__":
    main()
