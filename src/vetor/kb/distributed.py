"""Ingestion jobs with their read-parse-chunk-embed stages on a Ray cluster (the setting
``kb_ray_address``; ``vetor kb sync --ray ADDRESS``).

The job itself stays where it runs — listing, the sync state, checkpoints, writing through
vetor's API — and hands Ray only the documents to (re)ingest: a reading actor prepares them
(``Ingestor.prepare``), model actors embed their changed chunks (``Ingestor.embed``), and the
prepared documents stream back in order, in the groups the job records. The chunk hashes
already stored, which tell the model actors what not to embed again, are read by the job
before it starts (the workers may not reach the store), for the documents that have chunks.
Documents must be readable from the workers: S3 data sources, or folders on a shared disk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ..embed.distributed import cluster, model_actors
from ..embed.pipeline import groups
from .ingest import Incoming, Ingestor, Prepared, Stages, chunk_key

# One Ray job at a time per process: jobs share the process's one connection to the cluster.
_ONE_JOB = threading.Lock()


class _Prepare:
    def __init__(self, recipe: bytes) -> None:
        self.ingestor = _worker_ingestor(recipe)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        from ray import cloudpickle

        prepared = self.ingestor.prepare(cloudpickle.loads(row["document"]))
        return {"item": cloudpickle.dumps(prepared)}


class _Embed:
    def __init__(self, recipe: bytes, stored: dict[str, str]) -> None:
        self.ingestor, self.stored = _worker_ingestor(recipe), stored

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from ray import cloudpickle

        items = [cloudpickle.loads(item) for item in batch["item"]]
        self.ingestor.embed(items, self.stored)
        return {"item": [cloudpickle.dumps(item) for item in items]}


def _worker_ingestor(recipe: bytes) -> Ingestor:
    from ray import cloudpickle

    source_id, embedder, chunking, batch_size = cloudpickle.loads(recipe)
    return Ingestor(None, {}, source_id, embedder, chunking, 1, batch_size)  # type: ignore[arg-type]


def on_ray(address: str) -> Stages:
    """The stages for ``Ingestor.ingest`` that run on the Ray cluster at ``address``."""

    def stages(
        ingestor: Ingestor, documents: Iterable[Incoming], old_counts: dict[str, int], group: int
    ) -> Iterator[list[Prepared]]:
        return _embedded_on_ray(address, ingestor, list(documents), old_counts, group)

    return stages


def _embedded_on_ray(
    address: str,
    ingestor: Ingestor,
    documents: list[Incoming],
    old_counts: dict[str, int],
    group: int,
) -> Iterator[list[Prepared]]:
    """``documents`` prepared and embedded on the cluster, in order, ``group`` at a time."""
    from ray import cloudpickle  # documents read through closures: plain pickle refuses them

    if not documents:
        return
    keys = [chunk_key(ingestor.source_id, d.uri, n) for d in documents
            for n in range(old_counts.get(d.uri, 0))]  # fmt: skip
    stored = ingestor.stored_hashes(keys)
    recipe = cloudpickle.dumps(
        (ingestor.source_id, ingestor.embedder, ingestor.chunking, ingestor.batch_size)
    )
    with _ONE_JOB, cluster(address) as ray:
        actors = model_actors(ray)
        rows = ray.data.from_items(
            [{"document": cloudpickle.dumps(d)} for d in documents],
            override_num_blocks=max(1, min(len(documents), 4 * actors)),
        )
        embedded = rows.map(
            _Prepare, fn_constructor_args=(recipe,), concurrency=1, num_cpus=0
        ).map_batches(
            _Embed, fn_constructor_args=(recipe, stored), batch_size=group,
            concurrency=actors, num_cpus=1, batch_format="numpy",
        )  # fmt: skip
        yield from groups((cloudpickle.loads(row["item"]) for row in embedded.iter_rows()), group)
