"""Ingestion jobs: a data source synced into its knowledge base's index, in the background.

A sync is incremental. The source is listed; a document whose signature (ETag, plus its
sidecar's) is the one its sync-state entry recorded is not read at all; new and changed ones
are parsed, chunked, embedded and written, a changed one's surplus chunks deleted; documents
gone from the source have their chunks deleted. Statistics are Bedrock's.

One job per data source at a time: starting one claims the data source (its ``_activeJob``,
set with a conditional write of the data source's next version). The runner records what it
finished every ``kb_checkpoint_seconds`` and renews its lease with it; a job whose runner went
silent for ``kb_job_lease_seconds`` (a killed server) is taken over by the next process that
looks (each server looks at start and then regularly). The new runner lists and compares again:
what the old one committed is unchanged now, and what it wrote after its last checkpoint has
the same chunk hashes, so nothing is embedded twice and no chunk is left twice or missing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictException, ResourceNotFoundException, ValidationException
from .data_sources import DataSources
from .distributed import on_ray
from .ingest import Incoming, Ingestor, Outcome, remove_documents
from .knowledge_bases import KnowledgeBases
from .records import Document, data_source_records, job_records, new_id
from .records import view as _view
from .sources import list_documents, s3_bucket
from .state import DELETED, STATISTICS, SyncState, entry, statistics

log = logging.getLogger("vetor.kb")
ACTIVE = ("STARTING", "IN_PROGRESS", "STOPPING")
MAX_FAILURE_REASONS = 100
Progress = Callable[[dict[str, Any]], None]


class IngestionJobs:
    def __init__(self, knowledge_bases: KnowledgeBases, data_sources: DataSources) -> None:
        self.knowledge_bases, self.data_sources = knowledge_bases, data_sources
        self.service = knowledge_bases.service
        self.store, self.settings = self.service.store, self.service.settings
        self.owner = uuid.uuid4().hex  # this process, as a job's runner
        self._pool = ThreadPoolExecutor(2, "vetor-kb-job")
        self._running: set[str] = set()
        self._runs: dict[str, _Run] = {}  # the jobs this process is running now
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- the API -------------------------------------------------------------------------------

    def start_ingestion_job(
        self,
        *,
        knowledgeBaseId: str,
        dataSourceId: str,
        clientToken: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        source = self.data_sources.find(knowledgeBaseId, dataSourceId)
        if source["dataSourceConfiguration"]["type"] == "CUSTOM":
            raise ValidationException(
                "A CUSTOM data source is not synced: add its documents with "
                "IngestKnowledgeBaseDocuments"
            )
        records = job_records(self.store, knowledgeBaseId, dataSourceId)
        job_id = new_id(clientToken)
        retried = records.get(job_id)
        if retried is not None:  # the same clientToken: the job it started
            return {"ingestionJob": _view(retried)}
        stamp = datetime.now(UTC).isoformat()
        job: Document = {
            "knowledgeBaseId": knowledgeBaseId,
            "dataSourceId": dataSourceId,
            "ingestionJobId": job_id,
            "status": "STARTING",
            "statistics": {},
            "startedAt": stamp,
            "updatedAt": stamp,
            "_heartbeat": self.store.now(),
            "_owner": self.owner,
            **({"description": description} if description else {}),
        }
        records.create(job)
        try:
            self._claim(source, job_id)
        except ConflictException:
            records.delete(job)
            raise
        self._submit(knowledgeBaseId, dataSourceId, job_id)
        return {"ingestionJob": _view(job)}

    def get_ingestion_job(
        self, *, knowledgeBaseId: str, dataSourceId: str, ingestionJobId: str
    ) -> dict[str, Any]:
        return {"ingestionJob": _view(self._find(knowledgeBaseId, dataSourceId, ingestionJobId))}

    def list_ingestion_jobs(
        self,
        *,
        knowledgeBaseId: str,
        dataSourceId: str,
        filters: list[dict[str, Any]] | None = None,
        sortBy: dict[str, str] | None = None,
        maxResults: int | None = None,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self.data_sources.find(knowledgeBaseId, dataSourceId)
        records = job_records(self.store, knowledgeBaseId, dataSourceId)
        jobs = [j for j in (records.get(i) for i in records.ids()) if j is not None]
        for rule in filters or []:
            jobs = [j for j in jobs if j["status"] in rule["values"]]
        sort = sortBy or {"attribute": "STARTED_AT", "order": "DESCENDING"}
        field = "status" if sort["attribute"] == "STATUS" else "startedAt"
        jobs.sort(key=lambda j: (j[field], j["ingestionJobId"]))
        if sort["order"] == "DESCENDING":
            jobs.reverse()
        start = int(nextToken) if nextToken and nextToken.isdigit() else 0
        limit = int(maxResults or 1000)
        page = jobs[start : start + limit]
        summary = ("knowledgeBaseId", "dataSourceId", "ingestionJobId", "description", "status",
                   "startedAt", "updatedAt", "statistics")  # fmt: skip
        body: dict[str, Any] = {
            "ingestionJobSummaries": [
                {k: v for k, v in _view(j).items() if k in summary} for j in page
            ]
        }
        if start + limit < len(jobs):
            body["nextToken"] = str(start + limit)
        return body

    def stop_ingestion_job(
        self, *, knowledgeBaseId: str, dataSourceId: str, ingestionJobId: str
    ) -> dict[str, Any]:
        records = job_records(self.store, knowledgeBaseId, dataSourceId)
        while True:
            job = self._find(knowledgeBaseId, dataSourceId, ingestionJobId)
            if job["status"] not in ACTIVE:
                raise ConflictException(
                    f"The ingestion job {ingestionJobId} is {job['status']}, not running"
                )
            stopping = {**job, "status": "STOPPING", "updatedAt": datetime.now(UTC).isoformat()}
            try:
                records.replace(job, stopping)
                return {"ingestionJob": _view(stopping)}
            except ConflictException:
                continue  # its runner checkpointed meanwhile: ask again on the new version

    # --- running -------------------------------------------------------------------------------

    def wait(
        self, kb_id: str, source_id: str, job_id: str, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Block until the job has finished (here or in another process); its last state."""
        while True:
            job = _view(self._find(kb_id, source_id, job_id))
            if progress is not None:
                progress(job)
            if job["status"] not in ACTIVE:
                return job
            self._closed.wait(0.2)

    def start_background(self) -> None:
        """Look for abandoned jobs now and then regularly, taking over those whose runner
        went silent (a server process that died mid-job)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="vetor-kb-jobs", daemon=True)
            self._watcher.start()

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def resume_abandoned(self) -> list[str]:
        """Take over every job whose lease ran out; the ids of those resumed here."""
        resumed = []
        for kb_id in self.knowledge_bases.records.ids():
            sources = data_source_records(self.store, kb_id)
            for source_id in sources.ids():
                source = sources.get(source_id)
                job_id = (source or {}).get("_activeJob")
                if not job_id or job_id in self._running:
                    continue
                job = job_records(self.store, kb_id, source_id).get(job_id)
                if job is None or job["status"] not in ACTIVE:
                    self._release(kb_id, source_id, job_id)  # a runner died as it finished
                elif self.store.now() - job["_heartbeat"] > self.settings.kb_job_lease_seconds:
                    self._submit(kb_id, source_id, job_id)
                    resumed.append(job_id)
        return resumed

    def _watch(self) -> None:
        interval = max(0.5, self.settings.kb_job_lease_seconds / 3)
        while not self._closed.is_set():
            with contextlib.suppress(Exception):  # the store is unreachable: look again later
                self.resume_abandoned()
            self._closed.wait(interval)

    def _submit(self, kb_id: str, source_id: str, job_id: str) -> None:
        with self._lock:
            if job_id in self._running:
                return
            self._running.add(job_id)
        self._pool.submit(self._run, kb_id, source_id, job_id)

    def _run(self, kb_id: str, source_id: str, job_id: str) -> None:
        try:
            run = _Run(self, kb_id, source_id, job_id)
            with self._lock:
                self._runs[job_id] = run
            if run.take_over():
                run.execute()
        finally:
            with self._lock:
                self._running.discard(job_id)
                self._runs.pop(job_id, None)

    def progress(self) -> list[tuple[str, str, dict[str, int]]]:
        """The jobs this process runs now: (knowledge base, data source, statistics so far,
        Bedrock's ``numberOfDocuments…`` counts), for ``GET /metrics``."""
        with self._lock:
            runs = list(self._runs.values())
        return [
            (run.kb["knowledgeBaseId"], run.source["dataSourceId"], dict(run.counts))
            for run in runs
        ]

    # --- the data source's claim --------------------------------------------------------------

    def _claim(self, source: Document, job_id: str) -> None:
        records = data_source_records(self.store, source["knowledgeBaseId"])
        while True:
            active = source.get("_activeJob")
            if active:
                job = job_records(self.store, source["knowledgeBaseId"], source["dataSourceId"])
                running = job.get(active)
                if running is not None and running["status"] in ACTIVE:
                    raise ConflictException(
                        f"The data source {source['dataSourceId']} has an ingestion job in "
                        f"progress ({active}); wait for it or stop it"
                    )
            try:
                records.replace(source, {**source, "_activeJob": job_id})
                return
            except ConflictException:
                source = self.data_sources.find(source["knowledgeBaseId"], source["dataSourceId"])

    def _release(self, kb_id: str, source_id: str, job_id: str) -> None:
        records = data_source_records(self.store, kb_id)
        while True:
            source = records.get(source_id)
            if source is None or source.get("_activeJob") != job_id:
                return
            try:
                records.replace(source, {k: v for k, v in source.items() if k != "_activeJob"})
                return
            except ConflictException:
                continue

    def _find(self, kb_id: str, source_id: str, job_id: str) -> Document:
        self.data_sources.find(kb_id, source_id)
        job = job_records(self.store, kb_id, source_id).get(job_id)
        if job is None:
            raise ResourceNotFoundException(
                f"Ingestion job {job_id} does not exist in data source {source_id}"
            )
        return job


class _Run:
    """One runner's turn at a job."""

    def __init__(self, jobs: IngestionJobs, kb_id: str, source_id: str, job_id: str) -> None:
        self.jobs, self.job_id = jobs, job_id
        self.store, self.settings = jobs.store, jobs.settings
        self.records = job_records(self.store, kb_id, source_id)
        self.kb = jobs.knowledge_bases.find(kb_id)
        self.source = jobs.data_sources.find(kb_id, source_id)
        self.state = SyncState(self.store, kb_id, source_id)
        self.job: Document = {}
        self.counts: dict[str, int] = {}
        self.pending: dict[str, Any] = {}
        self.last_checkpoint = 0.0
        self.stopping = False
        self.embedded = self.stored = 0  # chunks this runner sent to the model / found stored

    def take_over(self) -> bool:
        job = self.records.get(self.job_id)
        if job is None or job["status"] not in ACTIVE:
            self.jobs._release(self.kb["knowledgeBaseId"], self.source["dataSourceId"], self.job_id)
            return False
        status = "STOPPING" if job["status"] == "STOPPING" else "IN_PROGRESS"
        return self._write_job(job, {"status": status, "_owner": self.jobs.owner})

    def execute(self) -> None:
        try:
            finished = self._sync()
            self._finish("COMPLETE" if finished else "STOPPED")
        except _LostLease:
            return  # another process runs it now
        except Exception as error:
            self._flush()
            self._finish("FAILED", [f"{type(error).__name__}: {error}"])
        finally:
            self.jobs._release(self.kb["knowledgeBaseId"], self.source["dataSourceId"], self.job_id)

    def _sync(self) -> bool:
        entries = self.state.entries()
        # tombstones of earlier jobs are forgotten; this job's own count again after a restart
        old = [u for u, e in entries.items() if e["status"] == DELETED and e["job"] != self.job_id]
        self.state.commit(dict.fromkeys(old))
        self.counts = statistics(entries, self.job_id)
        config = self.source["dataSourceConfiguration"]
        listing = list(list_documents(config, s3_bucket(self.settings)))
        self.counts["numberOfDocumentsScanned"] = len(listing)
        sidecars = sum(d.read_sidecar is not None for d in listing)
        self.counts["numberOfMetadataDocumentsScanned"] = sidecars
        if self._checkpoint(force=True):
            return False
        todo = [d for d in listing if _needs_sync(entries.get(d.uri), d.signature, self.job_id)]
        live = {u: e for u, e in entries.items() if e["status"] != DELETED}
        ingestor = Ingestor.for_source(self.jobs.service, self.kb, self.source)
        documents = (Incoming(d.uri, d.uri, d.signature, d.read, d.read_sidecar) for d in todo)
        old_counts = {u: e["chunks"] for u, e in live.items()}
        ray = self.settings.kb_ray_address
        for outcomes in ingestor.ingest(documents, old_counts, stages=on_ray(ray) if ray else None):
            for outcome in outcomes:
                self._record(outcome, live.get(outcome.uri))
            if self._checkpoint():
                return False
        listed = {d.uri for d in listing}
        gone = {u: e for u, e in live.items() if u not in listed and e.get("type") != "CUSTOM"}
        remove_documents(
            self.jobs.service, ingestor.address, self.source["dataSourceId"],
            {u: e["chunks"] for u, e in gone.items()},
        )  # fmt: skip
        for uri, before in gone.items():
            self.pending[uri] = entry(before["signature"], DELETED, 0, self.job_id, "deleted")
            self.counts[STATISTICS["deleted"]] += 1
        return not self._checkpoint(force=True)

    def _record(self, outcome: Outcome, before: dict[str, Any] | None) -> None:
        self.embedded += outcome.embedded
        self.stored += max(0, outcome.chunks - outcome.embedded)
        if outcome.reason:
            found = entry(outcome.signature, "FAILED", 0, self.job_id, "failed", outcome.reason)
            self.counts[STATISTICS["failed"]] += 1
        else:
            kind = "modified" if before and before["status"] == "INDEXED" else "new"
            found = entry(outcome.signature, "INDEXED", outcome.chunks, self.job_id, kind)
            self.counts[STATISTICS[kind]] += 1
        self.pending[outcome.uri] = found

    def _checkpoint(self, force: bool = False) -> bool:
        """Record what is finished and renew the lease, when due; True if asked to stop."""
        now = self.store.now()
        if not force and now - self.last_checkpoint < self.settings.kb_checkpoint_seconds:
            return self.stopping
        self._flush()
        self.last_checkpoint = now
        self._write_job(self.job, {"statistics": dict(self.counts)})
        return self.stopping

    def _flush(self) -> None:
        self.state.commit(self.pending)
        self.pending = {}

    def _finish(self, status: str, reasons: list[str] | None = None) -> None:
        failed = [
            f"{uri}: {e.get('reason', 'failed')}"
            for uri, e in self.state.entries().items()
            if e.get("job") == self.job_id and e["status"] == "FAILED"
        ]
        reasons = (reasons or []) + failed[:MAX_FAILURE_REASONS]
        changes: dict[str, Any] = {"status": status, "statistics": dict(self.counts)}
        if reasons:
            changes["failureReasons"] = reasons
        log.info(
            "ingestion job %s %s: %d chunks embedded, %d found stored with the same content",
            self.job_id, status, self.embedded, self.stored,
        )  # fmt: skip
        self._write_job(self.job or self.records.get(self.job_id) or {}, changes)

    def _write_job(self, job: Document, changes: dict[str, Any]) -> bool:
        """The job's next version with ``changes``, the lease renewed; a conflict with a
        stop request is taken in, one with another runner ends this one."""
        while True:
            if job.get("_owner") not in (self.jobs.owner, None) and "_owner" not in changes:
                raise _LostLease
            if job.get("status") == "STOPPING":  # asked to stop: stopping, then stopped
                self.stopping = True
                status = {"IN_PROGRESS": "STOPPING", "COMPLETE": "STOPPED"}
                if changes.get("status") in status:
                    changes = {**changes, "status": status[changes["status"]]}
            new = {**job, **changes, "_heartbeat": self.store.now(),
                   "updatedAt": datetime.now(UTC).isoformat()}  # fmt: skip
            try:
                self.records.replace(job, new)
                self.job = new
                return True
            except ConflictException:
                latest = self.records.get(self.job_id)
                if latest is None:
                    raise _LostLease from None
                if "_owner" in changes:  # taking over: someone else was quicker
                    return False
                job = latest


class _LostLease(Exception):
    """Another process took the job over (this runner was silent too long)."""


def _needs_sync(found: dict[str, Any] | None, signature: str, job_id: str) -> bool:
    if found is None or found["status"] == DELETED:
        return True
    if found["status"] == "FAILED":
        return found.get("job") != job_id  # failed in an earlier job: try again
    return found["signature"] != signature
