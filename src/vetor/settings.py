"""Every limit, default and tunable of vetor, in one place.

Limits default to Amazon S3 Vectors' documented values (see shared reference) where vetor
must match them, and are raised where vetor can do better. Each field can be overridden with
an environment variable ``VETOR_<FIELD_NAME_UPPERCASE>``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    # --- identity used to build ARNs --------------------------------------------------
    region: str = "us-east-1"
    account_id: str = "000000000000"

    # --- S3 Vectors request limits ------------------------------------------------------
    max_dimension: int = 4096
    max_put_vectors: int = 500
    max_delete_vectors: int = 500
    max_get_vectors: int = 100
    max_list_vectors: int = 1000
    default_list_vectors: int = 500
    list_page_bytes: int = 1 << 20  # a ListVectors page stops near 1 MB
    max_list_buckets: int = 500
    max_top_k: int = 10_000  # results of one query, over all its pages
    query_page_size: int = 100  # QueryVectors results per page (nextToken for the rest)
    max_key_length: int = 1024
    max_metadata_bytes: int = 40 * 1024
    max_filterable_metadata_bytes: int = 2 * 1024
    max_metadata_keys: int = 50
    max_non_filterable_keys: int = 10
    max_tags: int = 50
    # A filter's cost grows with its size: a million $in values cost seconds of CPU.
    max_filter_values: int = 1024  # operands and $in/$nin values, in total
    max_filter_depth: int = 8  # nested $and/$or levels
    max_indexes_per_bucket: int = 10_000
    # AWS's rule: vector buckets created before this day may hold CLASSIC indexes (and get
    # CLASSIC by default); later ones get ENHANCED indexes and cannot set CLASSIC. A later
    # date keeps CLASSIC for new buckets too.
    classic_buckets_before: str = "2026-09-30"

    # --- engine ---------------------------------------------------------------------------
    compact_wal_runs: int = 16  # fold the write-batch tail into a segment at this many batches
    max_segments: int = 8  # merge segments above this count (size-tiered)
    # Unreferenced objects older than this may be deleted. Keep it well above the longest a
    # store request may take (store_retry_timeout_seconds + store_request_timeout_seconds).
    gc_grace_seconds: float = 600.0
    background_compaction: bool = True
    view_backlog_rows: int = 200_000  # own writes kept for the in-memory view until a read
    commit_retries: int = 1000  # lost commit races before giving up (each one is progress)

    # --- approximate nearest-neighbour search (IVF partitions per segment) ----------------
    ann_min_rows: int = 20_000  # smaller segments stay exact (a scan is as fast as a probe)
    ann_list_rows: int = 400  # rows per partition: k-means makes rows / this many centroids
    # Partitions probed in the largest indexed segment, the same share of smaller ones (more
    # when a filter is selective). 200k real passages, real questions as queries: recall@10
    # 0.84 at 24, 0.92 at 64, 0.98 at 128 (p50 2.3 / 3.3 / 8.0 ms).
    ann_nprobe: int = 64
    # Candidates re-ranked exactly per result wanted (the first 10; 16 more at least). The
    # 8-bit codes rank well: 200k, recall@10 is the same with 2, 3, 4 or 8 (0.968 at 48 probes).
    ann_rerank: int = 2
    # numpy's BLAS threads in this process (0: leave them). Its idle threads spin ~0.1 s after
    # each call and stall the parallel partition scan: 1M on 2 cores, p90 54 -> 6 ms with 1.
    blas_threads: int = 1

    # --- caches -------------------------------------------------------------------------
    # A local directory keeping copies of an S3 store's immutable objects (segments, write
    # batches, their indexes), least recently used out; empty: none.
    cache_dir: str = ""
    cache_disk_bytes: int = 20 << 30
    # Memory for the parts of an index a process reads straight from the store (ANN heads and
    # probed partitions, small runs): before it has loaded the index, or instead (LRU).
    direct_cache_bytes: int = 1 << 30
    # An index whose vectors would take more than this many bytes of memory is not loaded:
    # its unfiltered vector queries read the store directly (filtered and text queries still
    # load it). 0: no limit.
    view_memory_bytes: int = 0

    # --- full-text and hybrid search ----------------------------------------------------
    # Postings fetched from segments (LRU), and again the scored postings of recent terms.
    text_cache_bytes: int = 256 << 20
    hybrid_candidates: int = 100  # best hits of each side fused by RRF (at least topK)
    # Hybrid score = weight / (constant + vector rank) + 1 / (constant + text rank). Chosen on
    # a development set (the Perl FAQ) by bench/bench_text.py, never on the test sets; the
    # textbook RRF (weight 1, constant 60) lets the weaker side drag the stronger one down.
    hybrid_vector_weight: float = 2.5
    hybrid_rrf_constant: float = 1.0

    # --- object store -------------------------------------------------------------------
    store_max_retries: int = 8
    store_retry_timeout_seconds: float = 120.0
    store_request_timeout_seconds: float = 60.0
    # Every S3 Vectors call (and every commit compaction makes) returns or fails within this
    # many seconds, whatever a remote store does: a request still unanswered at the deadline
    # is abandoned and the call fails with ServiceUnavailableException (503, retryable).
    # Directory and memory stores are local and not cut short.
    call_timeout_seconds: float = 60.0
    single_writer: bool = False  # allow a store that fails the conditional-create check
    # Encryption at rest: a key file of key-encryption keys (``vetor keys encryption-key``)
    # for AES256 buckets and vetor's own state, and a KMS-compatible endpoint (AWS KMS's API)
    # for buckets and indexes whose encryptionConfiguration is aws:kms. Objects are sealed
    # with AES-256-GCM; configuration documents stay plaintext.
    encryption_key_file: str = ""
    kms_endpoint_url: str = ""
    # With a KMS endpoint and no key file: the KMS key that seals AES256 buckets and vetor's
    # own state (S3's "AWS managed key"). Empty: those stay as the store keeps them.
    kms_default_key_arn: str = ""

    # --- embeddings (vetor embed, /v1/embeddings) ------------------------------------------
    embed_provider: str = "local"  # local, e5-multilingual, openai, vertex, bedrock
    embed_model: str = ""  # empty: the provider's default model
    embed_batch_size: int = 32  # texts per model call
    embed_max_workers: int = 4  # threads reading sources (and calling remote providers)
    embed_chunk_size: int = 1000  # characters per chunk of a long text; 0: one file, one vector
    embed_chunk_overlap: int = 100  # characters shared by consecutive chunks
    # Models `vetor serve` offers on /v1/embeddings: comma-separated provider[:model] specs.
    embed_serve_models: str = "local,e5-multilingual"
    embed_serve_max_batch: int = 64  # texts of concurrent requests folded into one model call
    embed_serve_batch_wait_ms: float = 2.0  # how long a model call waits for more requests

    # --- knowledge bases ---------------------------------------------------------------------
    # Where S3 data sources are read (empty: the standard AWS chain, AWS_ENDPOINT_URL_S3 …).
    source_endpoint_url: str = ""
    source_region: str = ""
    source_access_key_id: str = ""
    source_secret_access_key: str = ""
    kb_workers: int = 4  # threads reading and parsing documents during an ingestion job
    kb_checkpoint_seconds: float = 2.0  # how often a job records what it finished
    kb_ray_address: str = ""  # a Ray cluster: ingestion jobs read, parse, chunk, embed on it
    # A job whose runner has not been heard of for this long is taken over (a crashed server).
    kb_job_lease_seconds: float = 30.0

    # --- generation (RetrieveAndGenerate, /v1/chat/completions) -----------------------------
    # An OpenAI-compatible chat server (vLLM, Ollama, llama.cpp's server, TGI) and the models
    # it serves (comma-separated ids, as a modelArn names them); empty: the offline model only.
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_models: str = ""
    llm_timeout_seconds: float = 60.0  # a model that has not answered by then fails the call
    llm_threads: int = 0  # CPU threads of the offline model (0: every core)
    # An identical greedy (temperature 0) request to a generation model answered this many
    # seconds ago is answered again from memory (0: never).
    answer_cache_seconds: float = 300.0
    # RetrieveAndGenerate sessions: earlier turns are kept this long after the last one.
    session_ttl_seconds: float = 24 * 3600.0
    # The answer log (question, passages, model, answer, latency, guardrail action; ratings)
    # as Parquet files in the store, and how many days of it are kept.
    answer_log: bool = False
    answer_log_retention_days: float = 30.0

    # --- the server's defences (vetor serve) --------------------------------------------------
    otlp_endpoint: str = ""  # OpenTelemetry traces to this OTLP/HTTP endpoint (.../v1/traces)
    metrics: bool = True  # GET /metrics, and counting every request for it
    header_timeout_seconds: float = 10.0  # a connection's request line and headers, in full
    # The longest wait for the next piece of a body; a whole body must arrive within 6 times it.
    body_read_timeout_seconds: float = 20.0
    max_body_bytes_in_flight: int = 256 * 1024 * 1024  # bodies being read, per process
    drain_seconds: float = 0.0  # after SIGTERM, /ready says 503 this long before the shutdown
    max_connections: int = 1000  # open connections per process; more get a 503
    # Per access key: requests per second (a token bucket holding one second's worth; 0: no
    # limit) and requests at once (0: no limit). Over either: TooManyRequestsException (429).
    requests_per_second_per_key: float = 0.0
    concurrent_requests_per_key: int = 0

    def __post_init__(self) -> None:
        if self.hybrid_rrf_constant < 0 or self.hybrid_vector_weight <= 0:
            raise ValueError("hybrid_rrf_constant must be >= 0 and hybrid_vector_weight > 0")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then ``VETOR_*`` environment variables, then explicit overrides."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(f"VETOR_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(raw, type(f.default))
        values.update(overrides)
        return cls(**values)


def _parse(raw: str, kind: type) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)
