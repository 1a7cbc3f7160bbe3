"""``GET /metrics``: the process's figures in Prometheus's text format (``prometheus-client``).

Requests are counted as they are answered (by operation and status, with a latency
histogram); everything else is read when Prometheus scrapes, from counters the lower layers
keep anyway: the store's requests, failures, time and bytes (``store.stats``), every cache's
hits, misses and resident bytes (``vetor.cache.CACHES``), and each loaded index's rows, rows
not yet indexed (write batches), segments, manifest version and compaction progress; calls
to models (``vetor.models.MODEL_CALLS``); and the knowledge-base ingestion jobs running here.
One registry per app, so that several apps in one process (tests) do not share figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..cache import CACHES
from ..kb.jobs import IngestionJobs
from ..models import MODEL_CALLS
from ..service import VectorService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, service: VectorService, jobs: IngestionJobs | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "vetor_requests",
            "Requests answered, by service, operation and HTTP status",
            ["service", "operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vetor_request_seconds",
            "Time from a request's arrival to its answer (streams: to their first byte)",
            ["service", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(service, jobs))

    def observe(self, service: str, operation: str | None, status: int, seconds: float) -> None:
        name = operation or "unknown"
        self.requests.labels(service, name, str(status)).inc()
        self.latency.labels(service, name).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector:
    """Figures read at scrape time from the store, the caches and the loaded indexes."""

    def __init__(self, service: VectorService, jobs: IngestionJobs | None) -> None:
        self.service, self.jobs = service, jobs

    def collect(self) -> Iterator[Metric]:
        yield from self._store()
        yield from self._caches()
        yield from self._indexes()
        yield from self._models()
        yield from self._ingestion()

    @staticmethod
    def _models() -> Iterator[Metric]:
        labels = ["kind", "model"]
        families = {
            "calls": CounterMetricFamily("vetor_model_calls", "Calls to models", labels=labels),
            "failures": CounterMetricFamily(
                "vetor_model_failures", "Calls to models that failed", labels=labels
            ),
            "seconds": CounterMetricFamily(
                "vetor_model_seconds", "Time spent in calls to models", labels=labels
            ),
            "items": CounterMetricFamily(
                "vetor_model_items",
                "What the calls handled: texts embedded or re-ranked, tokens generated",
                labels=labels,
            ),
        }
        for key, figures in sorted(MODEL_CALLS.snapshot().items()):
            for name, family in families.items():
                family.add_metric(list(key), getattr(figures, name))
        yield from families.values()

    def _ingestion(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "vetor_ingestion_jobs_running", "Ingestion jobs this process runs now"
        )
        documents = GaugeMetricFamily(
            "vetor_ingestion_documents",
            "The running jobs' statistics so far (Bedrock's numberOfDocuments... counts)",
            labels=["knowledge_base", "data_source", "statistic"],
        )
        progress = self.jobs.progress() if self.jobs is not None else []
        running.add_metric([], len(progress))
        for kb_id, source_id, counts in progress:
            for name, value in sorted(counts.items()):
                documents.add_metric([kb_id, source_id, name], value)
        yield from (running, documents)

    def _store(self) -> Iterator[Metric]:
        stats = self.service.store.stats
        requests = CounterMetricFamily(
            "vetor_store_requests", "Object-store requests, by operation", labels=["operation"]
        )
        errors = CounterMetricFamily(
            "vetor_store_errors", "Object-store requests that failed", labels=["operation"]
        )
        seconds = CounterMetricFamily(
            "vetor_store_request_seconds", "Time spent in object-store requests",
            labels=["operation"],
        )  # fmt: skip
        for operation in sorted(stats.requests):
            requests.add_metric([operation], stats.requests[operation])
            errors.add_metric([operation], stats.errors[operation])
            seconds.add_metric([operation], stats.seconds[operation])
        moved = CounterMetricFamily(
            "vetor_store_bytes", "Bytes read from and written to the store", labels=["direction"]
        )
        moved.add_metric(["read"], stats.bytes_read)
        moved.add_metric(["written"], stats.bytes_written)
        yield from (requests, errors, seconds, moved)

    @staticmethod
    def _caches() -> Iterator[Metric]:
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for cache in list(CACHES):
            figures = totals[cache.kind]
            figures[0] += cache.hits
            figures[1] += cache.misses
            figures[2] += cache.resident_bytes
        lookups = CounterMetricFamily(
            "vetor_cache_lookups", "Cache lookups, by cache and result", labels=["cache", "result"]
        )
        resident = GaugeMetricFamily(
            "vetor_cache_resident_bytes", "Bytes each cache holds", labels=["cache"]
        )
        for kind, (hits, misses, held) in sorted(totals.items()):
            lookups.add_metric([kind, "hit"], hits)
            lookups.add_metric([kind, "miss"], misses)
            resident.add_metric([kind], held)
        yield from (lookups, resident)

    def _indexes(self) -> Iterator[Metric]:
        names = ("rows", "pendingRows", "segments", "writeBatches", "version")
        help_texts = {
            "rows": "Vectors in the index",
            "pendingRows": "Vectors in write batches, not yet folded into indexed segments",
            "segments": "Immutable segments",
            "writeBatches": "Write batches not yet compacted",
            "version": "The latest manifest version (commits so far)",
        }
        families = {
            name: GaugeMetricFamily(
                f"vetor_index_{_snake(name)}", help_texts[name], labels=["bucket", "index"]
            )
            for name in names
        }
        families["compacting"] = GaugeMetricFamily(
            "vetor_index_compacting",
            "1 while a background compaction runs",
            labels=["bucket", "index"],
        )
        work = {
            "compactions": CounterMetricFamily(
                "vetor_index_compactions", "Compactions this process committed",
                labels=["bucket", "index"]),
            "compactedRows": CounterMetricFamily(
                "vetor_index_compacted_rows", "Rows those compactions rewrote",
                labels=["bucket", "index"]),
            "compactionSeconds": CounterMetricFamily(
                "vetor_index_compaction_seconds", "Time those compactions took",
                labels=["bucket", "index"]),
        }  # fmt: skip
        for (bucket, index), stats in self.service.loaded_index_stats().items():
            for name in names:
                families[name].add_metric([bucket, index], stats[name])
            families["compacting"].add_metric([bucket, index], float(stats["compacting"]))
            for name, family in work.items():
                family.add_metric([bucket, index], stats[name])
        yield from families.values()
        yield from work.values()


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def parse(text: str) -> dict[str, Any]:
    """Families by name, for tests and tools (prometheus-client's own parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}
