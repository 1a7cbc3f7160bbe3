"""``vetor embed put --ray ADDRESS``: the read-parse-chunk-embed stages as a Ray Data job.

The driver (the ``vetor`` process) lists the inputs and, for an incremental run, the hashes
already stored in the index; Ray reads and chunks the inputs on its workers (``flat_map``),
then embeds the chunks on actors that each load the model once (``map_batches``), in order.
The embedded batches stream back to the driver, which writes them through vetor's API in
full PutVectors batches, as the single-process pipeline does — same keys, same vectors, same
report. Inputs must be readable from the workers: S3 prefixes, or paths on a shared disk.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .index import HASH_KEY
from .pipeline import Failure, PutReport, Stages, _Run, _Skipped, groups
from .sources import Source, SourceError

LIST_PAGE = 1000


def stored_hashes(client: Any, bucket: str, index: str) -> dict[str, Any]:
    """Every stored vector's input hash, in one pass over the index (the workers cannot ask
    the store themselves: they may not reach it)."""
    found: dict[str, Any] = {}
    token: str | None = None
    while True:
        page = client.list_vectors(
            vectorBucketName=bucket, indexName=index, maxResults=LIST_PAGE,
            returnMetadata=True, **({"nextToken": token} if token else {}),
        )  # fmt: skip
        for vector in page.get("vectors", []):
            found[vector["key"]] = (vector.get("metadata") or {}).get(HASH_KEY)
        token = page.get("nextToken")
        if not token:
            return found


class _Prepare:
    """Ray's first stage: one input read and chunked into its records (or its failure),
    those already stored unchanged marked as skipped."""

    def __init__(self, recipe: bytes, stored: dict[str, Any]) -> None:
        self.run = _worker_run(recipe)
        self.stored = stored

    def __call__(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        prepared = self.run._prepare(pickle.loads(row["source"]))
        items: list[Any] = [prepared] if isinstance(prepared, Failure) else prepared
        items = [
            _Skipped(item)
            if not isinstance(item, Failure)
            and self.stored.get(item.key) == item.metadata[HASH_KEY]
            else item
            for item in items
        ]
        return [{"item": pickle.dumps(item)} for item in items]


class _Embed:
    """Ray's second stage, on actors: a batch of records embedded, each paired with its
    vector (or turned into the failure that names it)."""

    def __init__(self, recipe: bytes) -> None:
        self.run = _worker_run(recipe)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        items = [pickle.loads(item) for item in batch["item"]]
        return {"item": [pickle.dumps(item) for item in self.run._embed(items)]}


def _worker_run(recipe: bytes) -> _Run:
    embedder, options = pickle.loads(recipe)
    report = PutReport(options.bucket, options.index, embedder.provider, embedder.model, 0)
    return _Run(None, embedder, options, report, lambda inputs, vectors: None)


def on_ray(address: str) -> Stages:
    """The stages for ``pipeline.put`` that run on the Ray cluster at ``address``."""

    def stages(run: _Run, sources: list[Source | SourceError]) -> Iterator[list[Any]]:
        stored = {}
        if run.check_existing:
            stored = stored_hashes(run.client, run.options.bucket, run.options.index)
        return embedded_batches(address, run, sources, stored)

    return stages


def embedded_batches(
    address: str, run: _Run, sources: list[Source | SourceError], stored: dict[str, Any]
) -> Iterator[list[Any]]:
    """The inputs' embedded items in order, in batches of the run's ``embed_batch_size``,
    computed on the Ray cluster at ``address``."""
    from ray import cloudpickle  # sources read through closures: plain pickle refuses them

    with cluster(address) as ray:
        yield from _run_job(ray, cloudpickle, run, sources, stored)


@contextmanager
def cluster(address: str) -> Iterator[Any]:
    """``ray``, connected to the cluster at ``address`` (unless the caller already is: then
    the connection is theirs to keep), its Data jobs set to keep their inputs' order."""
    import ray

    connected = ray.is_initialized()
    if not connected:
        ray.init(address=address, log_to_driver=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # reports and progress follow inputs
        context.enable_progress_bars = False
        yield ray
    finally:
        if not connected:  # a driver stays tied to the cluster, and dies with it, until then
            ray.shutdown()


def model_actors(ray: Any) -> int:
    """One model actor per whole CPU of the cluster, each on one thread; the reading actor
    takes no CPU of its own (a fraction would leave it no room beside the models on one-CPU
    nodes)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _run_job(
    ray: Any, cloudpickle: Any, run: _Run, sources: list[Source | SourceError],
    stored: dict[str, Any],
) -> Iterator[list[Any]]:  # fmt: skip
    options = run.options
    recipe = cloudpickle.dumps((run.embedder, options))
    actors = model_actors(ray)
    rows = ray.data.from_items(
        [{"source": cloudpickle.dumps(s)} for s in sources], override_num_blocks=4 * actors
    )
    embedded = rows.flat_map(
        _Prepare, fn_constructor_args=(recipe, stored), concurrency=1, num_cpus=0
    ).map_batches(
        _Embed, fn_constructor_args=(recipe,), batch_size=options.embed_batch_size,
        concurrency=actors, num_cpus=1, batch_format="numpy",
    )  # fmt: skip
    items = (pickle.loads(row["item"]) for row in embedded.iter_rows())
    yield from groups(items, options.embed_batch_size)
