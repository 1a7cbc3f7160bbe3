"""Approximate search (IVF partitions per segment): recall on real embeddings, correctness
across indexing and compaction, deletes and overwrites, filters, and a cold process on S3.

The fixture is real: ~3,000 paragraphs of Python standard-library docstrings embedded with
the packaged all-MiniLM-L6-v2 (``stdlib_embeddings`` in conftest.py: shared by the session,
cached in pytest's cache directory, its cost printed in the summary).
Segment thresholds are scaled down so that a few thousand rows make real IVF segments
(~100 partitions), with a probe count that scans a small fraction of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import vetor
from vetor.engine import ivf
from vetor.engine.index import IndexEngine

K = 10
ANN = {"ann_min_rows": 500, "ann_list_rows": 30, "ann_nprobe": 24, "ann_rerank": 8}


@pytest.fixture(scope="module")
def embeddings(stdlib_embeddings: np.ndarray) -> np.ndarray:
    return stdlib_embeddings


def split(vectors: np.ndarray, queries: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Held-out real passages as queries; the rest is the index."""
    order = np.random.default_rng(1).permutation(len(vectors))
    return vectors[np.sort(order[queries:])], vectors[order[:queries]]


def new_index(uri: str, **settings: Any) -> vetor.VectorService:
    service = vetor.connect(uri, **{**ANN, **settings})
    service.create_vector_bucket(vectorBucketName="docs")
    service.create_index(
        vectorBucketName="docs", indexName="ann", dataType="float32", dimension=384,
        distanceMetric="cosine",
    )  # fmt: skip
    return service


def put(
    service: vetor.VectorService, keys: list[str], vectors: np.ndarray, batch: int = 250
) -> None:
    for start in range(0, len(keys), batch):
        body = [
            {"key": key, "data": {"float32": row}, "metadata": {"g": int(key[1:]) % 100}}
            for key, row in zip(
                keys[start : start + batch], vectors[start : start + batch].tolist()
            )
        ]
        service.put_vectors(vectorBucketName="docs", indexName="ann", vectors=body)


def query(service: vetor.VectorService, vector: np.ndarray, where: Any = None) -> list[str]:
    request: dict[str, Any] = {"queryVector": {"float32": vector.tolist()}, "topK": K}
    if where is not None:
        request["filter"] = where
    hits = service.query_vectors(vectorBucketName="docs", indexName="ann", **request)["vectors"]
    return [h["key"] for h in hits]


def engine_of(service: vetor.VectorService) -> IndexEngine:
    return service.engine("docs", "ann")


def exact(live: dict[str, np.ndarray], vector: np.ndarray, where: Any = None) -> list[str]:
    keys = [k for k in live if where is None or where(k)]
    matrix = np.stack([live[k] for k in keys])
    scores = matrix @ vector / np.linalg.norm(matrix, axis=1)
    order = np.lexsort((np.arange(len(keys)), -scores))[:K]
    return [keys[i] for i in order]


def recall(found: list[list[str]], expected: list[list[str]]) -> float:
    return sum(len(set(f) & set(e)) for f, e in zip(found, expected)) / (K * len(expected))


def test_ann_recall_on_real_embeddings(tmp_path: Any, embeddings: np.ndarray) -> None:
    base, queries = split(embeddings)
    keys = [f"p{i}" for i in range(len(base))]
    service = new_index(str(tmp_path))
    put(service, keys, base)
    service.compact(vectorBucketName="docs", indexName="ann", full=True)
    engine = engine_of(service)
    stats = engine.stats()
    assert stats["indexedRows"] == len(base) and stats["pendingRows"] == 0
    warm = engine.warm()
    assert warm["annIndexes"] == 1 and warm["residentAnnBytes"] > len(base) * 384
    live = dict(zip(keys, base))
    expected = [exact(live, q) for q in queries]
    found = [query(service, q) for q in queries]
    assert recall(found, expected) >= 0.95
    # It is approximate for real: one probe per query misses neighbours an exact scan finds.
    engine.ann_settings = vetor.Settings(**{**ANN, "ann_nprobe": 1})
    assert recall([query(service, q) for q in queries], expected) < 0.9


def test_answers_stay_exact_across_indexing_compaction_deletes(
    tmp_path: Any, embeddings: np.ndarray
) -> None:
    """Probing every partition must give exactly the brute-force answer at every stage:
    while write batches wait, while indexes are built and loaded, after deletes and
    overwrites of indexed rows, and after a full compaction."""
    base, queries = split(embeddings, 30)
    keys = [f"p{i}" for i in range(len(base))]
    service = new_index(str(tmp_path), ann_nprobe=100_000, compact_wal_runs=4)
    live: dict[str, np.ndarray] = {}

    def check(stage: str) -> None:
        for q in queries:
            assert query(service, q) == exact(live, q), stage

    half = len(keys) // 2
    put(service, keys[:half], base[:half])  # background compaction builds indexes meanwhile
    live.update(zip(keys[:half], base[:half]))
    check("during indexing")
    engine = engine_of(service)
    engine.wait_for_background()
    engine.warm()
    check("indexed")
    put(service, keys[half:], base[half:])
    live.update(zip(keys[half:], base[half:]))
    check("indexed segments plus new writes")
    engine.wait_for_background()
    engine.warm()
    assert engine.stats()["indexedRows"] > 0
    gone = keys[::7]
    service.delete_vectors(vectorBucketName="docs", indexName="ann", keys=gone)
    for key in gone:
        live.pop(key)
    moved = keys[1::11]
    # Overwrite with new vectors: mixtures of two real ones (no exact ties with any row).
    replacement = base[::-1][: len(moved)] + base[: len(moved)]
    put(service, moved, replacement)
    live.update(zip(moved, replacement))
    check("after deletes and overwrites")
    service.compact(vectorBucketName="docs", indexName="ann", full=True)
    engine.warm()
    assert engine.stats()["indexedRows"] == len(live)
    check("after a full compaction")


def stored_index(engine: IndexEngine) -> dict[str, tuple[int, int, bytes]]:
    """The one indexed segment's rows: key -> (seq, partition, code)."""
    (run,) = [r for r in engine.latest_manifest().runs if r.ann]
    directory = run.path.rsplit("/", 1)[0]
    head = ivf.read_head(engine.store, engine.prefix, directory)
    rows = {}
    for partition, block in enumerate(
        ivf.read_all_blocks(engine.store, engine.prefix, directory, head)
    ):
        for key, seq, code in zip(block.keys(), block.seqs.tolist(), block.codes):
            rows[key] = (seq, partition, code.tobytes())
    return rows


def test_a_merge_keeps_the_larger_index_partitions_and_codes(
    tmp_path: Any, embeddings: np.ndarray
) -> None:
    """Merging new writes into an indexed segment reuses its centroids, and the rows it held
    keep their partitions and codes; only new, overwritten rows are assigned and coded."""
    base, _ = split(embeddings)
    keys = [f"p{i}" for i in range(len(base))]
    service = new_index(str(tmp_path), background_compaction=False)
    address = {"vectorBucketName": "docs", "indexName": "ann"}
    put(service, keys[:2000], base[:2000])
    service.compact(**address, full=True)
    engine = engine_of(service)
    before = stored_index(engine)
    put(service, keys[2000:2400], base[2000:2400])  # new rows
    moved = keys[:2000:13]
    put(service, moved, base[2400 : 2400 + len(moved)])  # overwritten rows: new vectors
    gone = keys[5:2000:17]
    service.delete_vectors(**address, keys=gone)
    service.compact(**address, full=True)
    after = stored_index(engine)

    live = set(keys[:2400]) - set(gone)  # (a deleted row may have been overwritten first)
    assert after.keys() == live
    kept = set(keys[:2000]) - set(moved) - set(gone)
    assert all(after[k] == before[k] for k in kept)  # same seq, partition and code
    assert all(after[k][0] > before[k][0] for k in set(moved) - set(gone))
    counts = np.bincount([after[k][1] for k in live])
    assert len(counts) <= len({p for _, p, _ in before.values()}) + 1  # the same centroids
    live_vectors = dict(zip(keys[:2400], base[:2400])) | dict(zip(moved, base[2400:]))
    engine.ann_settings = vetor.Settings(**{**ANN, "ann_nprobe": 100_000})
    for q in base[-20:]:  # every partition probed: exactly the brute-force answer
        expected = exact({k: live_vectors[k] for k in live}, q)
        assert query(service, q) == expected


def test_filtered_search_returns_k_with_high_recall(tmp_path: Any, embeddings: np.ndarray) -> None:
    base, queries = split(embeddings, 50)
    keys = [f"p{i}" for i in range(len(base))]
    service = new_index(str(tmp_path))
    put(service, keys, base)
    service.compact(vectorBucketName="docs", indexName="ann", full=True)
    engine_of(service).warm()
    live = dict(zip(keys, base))
    for below in (50, 10, 1):  # 50 %, 10 %, 1 % of the rows match
        where = {"g": {"$lt": below}}
        found = [query(service, q, where) for q in queries]
        expected = [exact(live, q, lambda k, b=below: int(k[1:]) % 100 < b) for q in queries]
        assert all(len(f) == K for f in found), below
        assert all(int(k[1:]) % 100 < below for f in found for k in f)
        assert recall(found, expected) >= 0.95, below
    # Fewer matches than k: all of them, none missing.
    only = keys[:3]
    where = {"$or": [{"g": {"$eq": int(k[1:]) % 100}} for k in only]}
    assert len(query(service, queries[0], where)) == K  # 3 groups of ~27 rows
    assert query(service, queries[0], {"g": {"$gt": 1000}}) == []


def indexed_on_s3(
    endpoint: str, embeddings: np.ndarray, held_out: int
) -> tuple[str, vetor.VectorService, np.ndarray, np.ndarray]:
    """A fresh S3 store holding the fixture as one IVF-indexed segment: (uri, service,
    indexed vectors, held-out queries)."""
    from conftest import new_s3_uri

    uri = new_s3_uri(endpoint)
    base, queries = split(embeddings, held_out)
    service = new_index(uri)
    put(service, [f"p{i}" for i in range(len(base))], base, batch=500)
    service.compact(vectorBucketName="docs", indexName="ann", full=True)
    return uri, service, base, queries


def test_cold_process_on_s3_answers_like_the_warm_one(
    s3_env: dict[str, str], s3_endpoint: str, embeddings: np.ndarray
) -> None:
    uri, warm_service, _, queries = indexed_on_s3(s3_endpoint, embeddings, 40)
    engine_of(warm_service).warm()
    warm = [query(warm_service, q) for q in queries]

    never_loads = vetor.connect(uri, **ANN, view_memory_bytes=1)  # reads S3 for every query
    assert [query(never_loads, q) for q in queries] == warm
    assert not engine_of(never_loads).loaded
    cold_service = vetor.connect(uri, **ANN)
    first = query(cold_service, queries[0])  # read from the store directly, while it loads
    assert first == warm[0]
    loaded = engine_of(cold_service).warm()
    assert loaded["annIndexes"] == 1
    assert [query(cold_service, q) for q in queries] == warm


def test_a_process_reading_the_store_directly_honours_every_later_write(
    tmp_path: Any, embeddings: np.ndarray
) -> None:
    """Without the index in memory (``view_memory_bytes`` below its size), a vector query
    reads heads, probed partitions and candidate vectors from the store. Rows overwritten or
    deleted by later runs — indexed segments (found by key fingerprint), a small unindexed
    segment and write batches — must never surface, and metadata must be the live row's:
    probing everything it equals brute force; at the default probes, the loaded index."""
    base, queries = split(embeddings, 30)
    keys = [f"p{i}" for i in range(len(base))]
    service = new_index(str(tmp_path), background_compaction=False)
    live: dict[str, tuple[np.ndarray, int]] = {}
    rng = np.random.default_rng(7)

    def write(chosen: list[str], vectors: np.ndarray, stage: int) -> None:
        body = [
            {"key": k, "data": {"float32": v}, "metadata": {"stage": stage}}
            for k, v in zip(chosen, vectors.tolist())
        ]
        for start in range(0, len(body), 250):
            service.put_vectors(
                vectorBucketName="docs", indexName="ann", vectors=body[start : start + 250]
            )
        live.update((k, (v, stage)) for k, v in zip(chosen, vectors))

    def delete(chosen: list[str]) -> None:
        service.delete_vectors(vectorBucketName="docs", indexName="ann", keys=chosen)
        for k in chosen:
            live.pop(k)

    def mixed(n: int) -> np.ndarray:  # new vectors: mixtures of two real ones, no exact ties
        return base[rng.choice(len(base), n)] + base[rng.choice(len(base), n)]

    def fold() -> None:
        service.compact(vectorBucketName="docs", indexName="ann")  # the write tail: a segment

    write(keys[:1200], base[:1200], 1)
    fold()  # segment A: indexed
    write(keys[1200:1500], base[1200:1500], 2)
    write(keys[:50], mixed(50), 2)
    fold()  # segment B: 350 rows, too small for an index
    write(keys[1500:2400], base[1500:2400], 3)
    write(keys[50:90] + keys[1200:1230], mixed(70), 3)
    delete(keys[100:120] + keys[1300:1310])
    fold()  # segment C: indexed, with tombstones
    write(keys[1500:1520] + keys[120:130], mixed(30), 4)  # write batches, not folded
    delete(keys[1600:1615] + keys[130:135])
    runs = engine_of(service).latest_manifest().runs
    assert [bool(r.ann) for r in runs if r.kind == "segment"] == [True, False, True]

    def answers(reader: vetor.VectorService, q: np.ndarray) -> list[tuple[str, int]]:
        hits = reader.query_vectors(
            vectorBucketName="docs", indexName="ann", queryVector={"float32": q.tolist()},
            topK=K, returnMetadata=True,
        )["vectors"]  # fmt: skip
        return [(h["key"], h["metadata"]["stage"]) for h in hits]

    # A tiny parts cache: heads and partitions are evicted and read again all along.
    everything = vetor.connect(
        str(tmp_path), **{**ANN, "ann_nprobe": 100_000}, view_memory_bytes=1,
        direct_cache_bytes=1 << 16,
    )  # fmt: skip
    vectors = {k: v for k, (v, _) in live.items()}
    for q in queries:
        assert answers(everything, q) == [(k, live[k][1]) for k in exact(vectors, q)]
    assert not engine_of(everything).loaded  # never loaded: every query was direct
    assert engine_of(everything).resident()["residentDirectBytes"] <= 1 << 16

    direct = vetor.connect(str(tmp_path), **ANN, view_memory_bytes=1, query_page_size=2000)
    loaded = vetor.connect(str(tmp_path), **ANN)
    engine_of(loaded).warm()
    assert [answers(direct, q) for q in queries] == [answers(loaded, q) for q in queries]

    # More results than the probes reach: answered exactly (from the view) — never fewer.
    hits = direct.query_vectors(
        vectorBucketName="docs", indexName="ann", queryVector={"float32": queries[0].tolist()},
        topK=2000,
    )["vectors"]  # fmt: skip
    matrix = np.stack([vectors[k] for k in vectors])
    scores = matrix @ queries[0] / np.linalg.norm(matrix, axis=1)
    # The exact ranking, up to near-ties: the score at every rank is numpy's at that rank
    # (float sums of near-equal scores may order differently with BLAS threading and load).
    keys = [h["key"] for h in hits]
    assert len(set(keys)) == len(keys) == 2000
    score_of = dict(zip(vectors, scores))
    got = np.array([score_of[k] for k in keys])
    np.testing.assert_allclose(got, np.sort(scores)[::-1][:2000], rtol=0, atol=1e-5)


def test_garbage_collection_keeps_exactly_the_index_objects(
    tmp_path: Any, embeddings: np.ndarray
) -> None:
    base, _ = split(embeddings, 10)
    keys = [f"p{i}" for i in range(1200)]
    service = new_index(str(tmp_path), background_compaction=False)
    put(service, keys, base[:1200])
    engine = engine_of(service)
    service.compact(vectorBucketName="docs", indexName="ann", full=True)
    engine.collect_garbage(grace_seconds=0)
    files = sorted(p.name for p in (tmp_path / "docs").rglob("ivf.*"))
    assert files == ["ivf.head", "ivf.keys", "ivf.lists"]
    runs = engine.latest_manifest().runs
    assert [r.ann for r in runs] == ["ivf-sq8"]


def test_disk_cache_serves_a_new_process_without_the_segments_in_s3(
    s3_env: dict[str, str], s3_endpoint: str, embeddings: np.ndarray, tmp_path: Any
) -> None:
    """``cache_dir``: segment parts fetched once from S3 stay on local disk, so a later
    process answers from them (here: even with the segment objects gone from the bucket);
    manifests always come from the store. The LRU keeps the directory within its budget."""
    import boto3
    from conftest import S3_CREDENTIALS

    uri, writer, _, queries = indexed_on_s3(s3_endpoint, embeddings, 10)
    writer.close()
    engine_of(writer).collect_garbage(grace_seconds=0)
    cache = tmp_path / "cache"
    first = vetor.connect(uri, **ANN, cache_dir=str(cache))
    assert engine_of(first).warm()["annIndexes"] == 1
    answers = [query(first, q) for q in queries]
    cached = list(cache.glob("*.obj"))
    assert len(cached) == 3  # data.arrow, ivf.head, ivf.lists

    bucket, prefix = uri.removeprefix("s3://").split("/", 1)
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    segments = [o["Key"] for o in listed if "/segments/" in o["Key"]]
    assert len(segments) == 4  # and ivf.keys, which a warm process does not read
    for key in segments:
        s3.delete_object(Bucket=bucket, Key=key)

    second = vetor.connect(uri, **ANN, cache_dir=str(cache))
    assert engine_of(second).warm()["annIndexes"] == 1
    assert [query(second, q) for q in queries] == answers
    without = vetor.connect(uri, **ANN)  # no cache: the segments are really gone
    with pytest.raises(Exception):  # noqa: B017 - whichever error the store reports
        query(without, queries[0])

    small = max(f.stat().st_size for f in cached) + 1
    third = vetor.connect(uri, **ANN, cache_dir=str(tmp_path / "small"), cache_disk_bytes=small)
    third_store = third.store
    third_store.get_many([k.removeprefix(prefix + "/") for k in segments], missing_ok=True)
    assert sum(f.stat().st_size for f in (tmp_path / "small").glob("*.obj")) <= small


def test_compact_merges_small_segments_into_an_indexed_one(tmp_path: Any) -> None:
    """20,003 rows in segments each below ann_min_rows: a plain compact merges them into one
    segment with an ANN index, as the README says segments that size carry one."""
    service = vetor.connect(str(tmp_path), background_compaction=False)
    service.create_vector_bucket(vectorBucketName="bkt")
    address = {"vectorBucketName": "bkt", "indexName": "idx"}
    service.create_index(**address, dataType="float32", dimension=8, distanceMetric="euclidean")
    rng = np.random.default_rng(5)
    for part, count in enumerate((7000, 7000, 6003)):
        for start in range(0, count, 500):
            rows = rng.random((min(500, count - start), 8), dtype=np.float32)
            vectors = [
                {"key": f"p{part}-{start + i}", "data": {"float32": row.tolist()}}
                for i, row in enumerate(rows)
            ]
            service.put_vectors(**address, vectors=vectors)
        service.engine("bkt", "idx").compact("eager")  # the part's batches: a small segment
    before = service.index_stats(**address)
    assert before["segments"] >= 2 and (before["indexedRows"], before["exactRows"]) == (0, 20_003)
    after = service.compact(**address)
    assert (after["segments"], after["indexedRows"], after["rows"]) == (1, 20_003, 20_003)
