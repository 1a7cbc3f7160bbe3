"""docs/FORMAT.md is enough to read the data: an independent reader agrees with vetor.

The reader below is written from docs/FORMAT.md alone, with only the standard library,
pyarrow and numpy. vetor is used only through its public API, to create the data and to
get the reference answers.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

import vetor

# --------------------------------------------------------------------------------------------
# The independent reader (docs/FORMAT.md)
# --------------------------------------------------------------------------------------------

FORMAT_VERSION = 2  # §4: readers refuse a manifest whose `format` is higher than they know
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # §2
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # §2
MANIFEST_KEY = re.compile(r"^(\d{20})\.json$")  # §4: version zero-padded to 20 digits
WAL_PATH = re.compile(r"^wal/[0-9a-f]{32}\.arrow$")  # §2, §5: wal/<uuid4 hex>.arrow
SEGMENT_PATH = re.compile(r"^segments/[^/]+/data\.arrow$")  # §2: segments/<uuid>/data.arrow


class FormatError(Exception):
    """The data does not follow docs/FORMAT.md."""


class IndexMissing(Exception):
    """§4 Reading, step 1: no index.json, or an empty manifest listing."""


class StaleIncarnation(Exception):
    """§4: the current manifest's extra.index_id is not the index's indexId."""


STAGED_UPLOAD = re.compile(r"#\d+$")


class LocalStore:
    """§1: a local directory is a flat key → bytes namespace; keys are relative paths.

    Not in docs/FORMAT.md: the directory store stages each put as ``<name>#<digits>`` in the
    same folder before renaming it into place; such files are not objects (and would sort
    after the object they become), so a reader must skip them.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def size(self, key: str) -> int:
        return (self.root / key).stat().st_size

    def list(self, prefix: str, start_after: str | None = None) -> list[str]:
        """Every key starting with ``prefix``, in lexicographic order (optionally > start)."""
        keys = []
        for dirpath, _dirs, files in os.walk(self.root):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if STAGED_UPLOAD.search(name):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    keys.append(key)
        return sorted(keys)


def manifest_name(version: int) -> str:
    return f"{version:020d}.json"


def _json_object(blob: bytes, what: str) -> dict[str, Any]:
    value = json.loads(blob)
    if not isinstance(value, dict):
        raise FormatError(f"{what} is not a JSON object")
    return value


def list_buckets(root: str | Path) -> list[str]:
    """§2: a bucket is a top-level name holding `<bucket>/bucket.json`."""
    store = LocalStore(root)
    names = []
    for key in store.list(""):
        parts = key.split("/")
        if len(parts) == 2 and parts[1] == "bucket.json" and BUCKET_NAME.match(parts[0]):
            names.append(parts[0])
    return names


def read_bucket(root: str | Path, bucket: str) -> dict[str, Any] | None:
    blob = LocalStore(root).get(f"{bucket}/bucket.json")
    return None if blob is None else _json_object(blob, "bucket.json")


def list_indexes(root: str | Path, bucket: str) -> list[str]:
    """§2: an index is `<bucket>/indexes/<index>/index.json` (deleting removes it first)."""
    store = LocalStore(root)
    prefix = f"{bucket}/indexes/"
    names = []
    for key in store.list(prefix):
        parts = key[len(prefix) :].split("/")
        if len(parts) == 2 and parts[1] == "index.json" and INDEX_NAME.match(parts[0]):
            names.append(parts[0])
    return names


def index_prefix(bucket: str, index: str) -> str:
    return f"{bucket}/indexes/{index}/"


def data_prefix(root: str | Path, bucket: str, index: str) -> str:
    """§2: the engine's objects of the current incarnation live under `<indexId>/`."""
    config = read_index_config(root, bucket, index)
    if config is None:
        raise IndexMissing(f"{bucket}/{index}: no index.json")
    return f"{index_prefix(bucket, index)}{config['indexId']}/"


def read_index_config(root: str | Path, bucket: str, index: str) -> dict[str, Any] | None:
    blob = LocalStore(root).get(f"{index_prefix(bucket, index)}index.json")
    return None if blob is None else _json_object(blob, "index.json")


def list_manifests(
    root: str | Path, bucket: str, index: str, known: int | None = None
) -> list[tuple[int, str]]:
    """§4: (version, key) of the manifest objects, oldest first.

    A reader that knows version ``known`` lists starting after version ``known - 1``.
    """
    store = LocalStore(root)
    prefix = f"{data_prefix(root, bucket, index)}manifests/"
    start = None if known is None or known <= 1 else prefix + manifest_name(known - 1)
    out = []
    for key in store.list(prefix, start_after=start):
        match = MANIFEST_KEY.match(key[len(prefix) :])
        if match is None:
            raise FormatError(f"unexpected object under manifests/: {key}")
        out.append((int(match.group(1)), key))
    return out


def read_manifest(root: str | Path, key: str) -> dict[str, Any]:
    blob = LocalStore(root).get(key)
    if blob is None:
        raise FileNotFoundError(key)
    manifest = _json_object(blob, key)
    if manifest.get("format", 0) > FORMAT_VERSION:
        raise FormatError(f"manifest format {manifest['format']} is newer than this reader")
    return manifest


def current_manifest(
    root: str | Path, bucket: str, index: str, known: int | None = None
) -> dict[str, Any]:
    """§4 Reading, step 1, plus the incarnation check of §2/§4."""
    config = read_index_config(root, bucket, index)
    if config is None:
        raise IndexMissing(f"{bucket}/{index}: no index.json")
    listing = list_manifests(root, bucket, index, known)
    if not listing:
        raise IndexMissing(f"{bucket}/{index}: no manifest")
    version, key = listing[-1]
    manifest = read_manifest(root, key)
    if manifest["version"] != version:
        raise FormatError(f"{key} holds version {manifest['version']}")
    if manifest.get("deleted"):
        raise IndexMissing(f"{bucket}/{index}: deleted at version {version}")
    if manifest.get("extra", {}).get("index_id") != config["indexId"]:
        raise StaleIncarnation(f"{key} belongs to another incarnation of {bucket}/{index}")
    return manifest


@dataclass
class Run:
    """One run object, decoded (§3)."""

    keys: list[str]
    seqs: np.ndarray  # uint64, as stored
    deleted: np.ndarray  # bool
    vectors: np.ndarray  # float32, (rows, D)
    metadata: list[Any]  # decoded JSON objects or None
    nbytes: int = 0


def expected_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("key", pa.utf8(), nullable=False),
            pa.field("seq", pa.uint64(), nullable=False),
            pa.field("deleted", pa.bool_(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
            pa.field("metadata", pa.binary(), nullable=True),
        ]
    )


def _schema_matches(actual: pa.Schema, expected: pa.Schema) -> bool:
    """Names, order, types and nullability; the list's child field name is not specified."""
    if actual.names != expected.names:
        return False
    for got, want in zip(actual, expected):
        if got.nullable != want.nullable:
            return False
        if pa.types.is_fixed_size_list(want.type):
            if not (
                pa.types.is_fixed_size_list(got.type)
                and got.type.list_size == want.type.list_size
                and got.type.value_type == want.type.value_type
            ):
                return False
        elif got.type != want.type:
            return False
    return True


def read_run(root: str | Path, bucket: str, index: str, path: str, dimension: int) -> Run:
    """§3: an Arrow IPC file with exactly the documented schema (compression not checked)."""
    store = LocalStore(root)
    key = data_prefix(root, bucket, index) + path
    blob = store.get(key)
    if blob is None:
        raise FileNotFoundError(key)
    with ipc.open_file(pa.BufferReader(blob)) as reader:
        table = reader.read_all()
    schema = expected_schema(dimension)
    if not _schema_matches(table.schema, schema):
        raise FormatError(f"{key}: schema {table.schema} is not {schema}")
    table = table.combine_chunks()
    columns = {
        name: table.column(name).chunk(0) if table.num_rows else None for name in schema.names
    }
    n = table.num_rows
    if n == 0:
        return Run(
            [],
            np.zeros(0, np.uint64),
            np.zeros(0, bool),
            np.zeros((0, dimension), np.float32),
            [],
            len(blob),
        )
    for name in ("key", "seq", "deleted", "vector"):
        if columns[name].null_count:
            raise FormatError(f"{key}: nulls in non-nullable column {name}")
    keys = columns["key"].to_pylist()
    if len(set(keys)) != len(keys):
        raise FormatError(f"{key}: a key appears twice in one run")
    seqs = columns["seq"].to_numpy(zero_copy_only=False).astype(np.uint64)
    deleted = columns["deleted"].to_numpy(zero_copy_only=False).astype(bool)
    flat = columns["vector"].flatten().to_numpy(zero_copy_only=False)
    vectors = np.asarray(flat, dtype=np.float32).reshape(n, dimension)
    metadata = []
    for blob_value in columns["metadata"].to_pylist():
        if blob_value is None:
            metadata.append(None)
        else:
            metadata.append(_json_object(blob_value.decode("utf-8"), f"{key} metadata"))
    return Run(keys, seqs, deleted, vectors, metadata, len(blob))


def row_seqs(run: Run, entry: dict[str, Any]) -> np.ndarray:
    """§3: a write batch's rows all carry the manifest's min_seq; segment rows their own."""
    if entry["kind"] == "wal":
        return np.full(len(run.keys), entry["min_seq"], dtype=np.uint64)
    if entry["kind"] == "segment":
        return run.seqs
    raise FormatError(f"unknown run kind {entry['kind']!r}")


Content = dict[str, tuple[list[float], dict[str, Any] | None]]


def apply_run(
    content: Content, run: Run, entry: dict[str, Any], after_seq: int | None = None
) -> None:
    """§4 Reading, step 2: a tombstone removes the key; any other row sets it."""
    seqs = row_seqs(run, entry)
    for i, key in enumerate(run.keys):
        if after_seq is not None and int(seqs[i]) <= after_seq:
            continue
        if run.deleted[i]:
            content.pop(key, None)
        else:
            content[key] = (run.vectors[i].tolist(), run.metadata[i])


def fold(
    root: str | Path, bucket: str, index: str, manifest: dict[str, Any], dimension: int
) -> Content:
    content: Content = {}
    for entry in manifest["runs"]:
        apply_run(content, read_run(root, bucket, index, entry["path"], dimension), entry)
    return content


def catch_up(
    root: str | Path,
    bucket: str,
    index: str,
    cached: Content,
    cached_seq: int,
    manifest: dict[str, Any],
    dimension: int,
) -> Content | None:
    """§4: bring a fold at sequence S up to ``manifest``; None where a full fold is needed."""
    if cached_seq < manifest["purged_seq"]:
        return None
    content = dict(cached)
    for entry in manifest["runs"]:
        if entry["max_seq"] > cached_seq:
            run = read_run(root, bucket, index, entry["path"], dimension)
            apply_run(content, run, entry, after_seq=cached_seq)
    return content


def read_index(root: str | Path, bucket: str, index: str) -> Content:
    """The content of ``bucket/index``: {key: (float32 vector as list, metadata or None)}."""
    config = read_index_config(root, bucket, index)
    if config is None:
        raise IndexMissing(f"{bucket}/{index}")
    manifest = current_manifest(root, bucket, index)
    return fold(root, bucket, index, manifest, config["dimension"])


# --------------------------------------------------------------------------------------------
# Invariants docs/FORMAT.md states about manifests and runs
# --------------------------------------------------------------------------------------------


def check_manifest(root: str | Path, bucket: str, index: str, manifest: dict[str, Any]) -> None:
    config = read_index_config(root, bucket, index)
    assert config is not None
    dimension = config["dimension"]
    assert manifest["format"] == FORMAT_VERSION
    assert isinstance(manifest["version"], int) and manifest["version"] >= 1
    assert manifest["extra"]["index_id"] == config["indexId"]
    assert isinstance(manifest["commit_id"], str) and manifest["commit_id"]
    if manifest["version"] > 1:
        # Not documented: the empty version 1 has commit_id "create" and created_at "".
        datetime.fromisoformat(manifest["created_at"])
    next_seq, purged_seq = manifest["next_seq"], manifest["purged_seq"]
    assert next_seq >= 1 and 0 <= purged_seq < next_seq

    runs = manifest["runs"]
    assert len({r["path"] for r in runs}) == len(runs), "a run is listed twice"
    previous_max = 0
    for entry in runs:
        # ordered by sequence; [min_seq, max_seq] disjoint and increasing
        assert 1 <= entry["min_seq"] <= entry["max_seq"] < next_seq, entry
        assert entry["min_seq"] > previous_max, runs
        previous_max = entry["max_seq"]
        if entry["kind"] == "wal":
            assert WAL_PATH.match(entry["path"]), entry
            assert entry["min_seq"] == entry["max_seq"], "a write batch is one write"
        else:
            assert entry["kind"] == "segment", entry
            assert SEGMENT_PATH.match(entry["path"]), entry

        run = read_run(root, bucket, index, entry["path"], dimension)
        assert entry["rows"] == len(run.keys)
        assert entry["tombstones"] == int(run.deleted.sum())
        assert (
            entry["size"]
            == run.nbytes
            == LocalStore(root).size(data_prefix(root, bucket, index) + entry["path"])
        )
        assert not run.vectors[run.deleted].any(), "tombstone vectors are all zeros"
        assert all(m is None for m, d in zip(run.metadata, run.deleted) if d)
        if entry["kind"] == "wal":
            assert not run.seqs.any(), "write batches store seq 0"
            assert run.deleted.all() or not run.deleted.any(), "a batch is puts or deletes"
        else:
            assert len(run.keys) > 0
            assert ((run.seqs >= entry["min_seq"]) & (run.seqs <= entry["max_seq"])).all()
        # purged_seq: no tombstone at or below it is left
        seqs = row_seqs(run, entry)
        assert not (run.deleted & (seqs <= purged_seq)).any(), (entry, purged_seq)


@dataclass
class History:
    """What the test has seen of one index across checkpoints."""

    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_ids: dict[str, int] = field(default_factory=dict)
    cached: Content | None = None
    cached_seq: int = 0
    catch_ups: int = 0
    caught_up_pairs: set[int] = field(default_factory=set)
    refolds: int = 0


def check_all_manifests(root: Path, bucket: str, index: str, history: History) -> None:
    """Every manifest still stored: invariants, and agreement between consecutive versions."""
    listing = list_manifests(root, bucket, index)
    versions = [v for v, _ in listing]
    assert versions == list(range(versions[0], versions[-1] + 1)), "GC deletes a prefix"
    manifests = {v: read_manifest(root, key) for v, key in listing}
    for v, manifest in manifests.items():
        assert manifest["version"] == v
        if v in history.versions:
            assert history.versions[v] == manifest, "manifests are immutable"
        history.versions[v] = manifest
        owner = history.commit_ids.setdefault(manifest["commit_id"], v)
        assert owner == v, "commit_id is unique to one commit"
    for v in sorted(history.versions):
        if v + 1 in history.versions:
            old, new = history.versions[v], history.versions[v + 1]
            assert new["next_seq"] >= old["next_seq"]
            assert new["purged_seq"] >= old["purged_seq"]
            assert new["extra"]["index_id"] == old["extra"]["index_id"]
            if v > 1:
                assert datetime.fromisoformat(new["created_at"]) >= datetime.fromisoformat(
                    old["created_at"]
                )
    for manifest in manifests.values():
        check_manifest(root, bucket, index, manifest)
    # §4 catch-up between every pair of consecutive stored versions not yet checked
    dimension = read_index_config(root, bucket, index)["dimension"]  # type: ignore[index]
    for v in versions:
        if v + 1 in manifests and v not in history.caught_up_pairs:
            old, new = manifests[v], manifests[v + 1]
            full = fold(root, bucket, index, new, dimension)
            cached = fold(root, bucket, index, old, dimension)
            caught = catch_up(root, bucket, index, cached, old["next_seq"] - 1, new, dimension)
            if caught is None:
                assert old["next_seq"] - 1 < new["purged_seq"]
                history.refolds += 1
            else:
                assert_same(caught, full)
                history.catch_ups += 1
            history.caught_up_pairs.add(v)
    # Reading with a known version lists from version k - 1 on and finds the same current one.
    latest = current_manifest(root, bucket, index)
    assert current_manifest(root, bucket, index, known=versions[0]) == latest
    assert current_manifest(root, bucket, index, known=latest["version"]) == latest


# --------------------------------------------------------------------------------------------
# The reference answers, through the public API only
# --------------------------------------------------------------------------------------------


def api_content(s3v: vetor.VectorService, bucket: str, index: str) -> Content:
    out: Content = {}
    token = None
    while True:
        kwargs: dict[str, Any] = {"nextToken": token} if token else {}
        page = s3v.list_vectors(
            vectorBucketName=bucket,
            indexName=index,
            returnData=True,
            returnMetadata=True,
            maxResults=37,
            **kwargs,
        )
        for record in page["vectors"]:
            assert record["key"] not in out
            out[record["key"]] = (record["data"]["float32"], record.get("metadata"))
        token = page.get("nextToken")
        if not token:
            return out


def assert_same(actual: Content, expected: Content) -> None:
    assert sorted(actual) == sorted(expected)
    for key, (vector, metadata) in expected.items():
        got_vector, got_metadata = actual[key]
        a = np.asarray(got_vector, dtype=np.float32)
        b = np.asarray(vector, dtype=np.float32)
        assert a.shape == b.shape and np.array_equal(a, b), key
        assert a.tobytes() == b.tobytes(), key
        # Not in docs/FORMAT.md: a null metadata cell and "{}" both mean "no metadata", and
        # the API reports both as {}.
        assert (got_metadata or {}) == (metadata or {}), key


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

BUCKET = "fmt-bucket"
INDEXES = {"cos-idx": ("cosine", 5), "euc.idx": ("euclidean", 3)}


def random_metadata(rng: random.Random) -> dict[str, Any] | None:
    choice = rng.random()
    if choice < 0.15:
        return None
    if choice < 0.2:
        return {}
    out: dict[str, Any] = {}
    for i in range(rng.randint(1, 5)):
        kind = rng.randrange(6)
        if kind == 0:
            value: Any = rng.choice(["a", "b", "hé", "日本", "", "x" * rng.randint(1, 30)])
        elif kind == 1:
            value = rng.randint(-(10**6), 10**6)
        elif kind == 2:
            value = rng.uniform(-1e3, 1e3)
        elif kind == 3:
            value = rng.random() < 0.5
        elif kind == 4:
            value = [rng.choice(["p", "q", "r"]) for _ in range(rng.randint(0, 4))]
        else:
            value = [rng.choice([1, 2.5, -3, 0.1]) for _ in range(rng.randint(1, 3))]
        out[f"m{i}_{rng.choice('abc')}"] = value
    return out


def random_vector(rng: random.Random, dimension: int) -> list[float]:
    while True:
        vector = [rng.uniform(-1.0, 1.0) for _ in range(dimension)]
        if any(vector):
            return vector


def check_checkpoint(
    s3v: vetor.VectorService, root: Path, models: dict[str, Content], histories: dict[str, History]
) -> None:
    assert list_buckets(root) == [BUCKET]
    assert list_indexes(root, BUCKET) == sorted(INDEXES)
    for index, (_metric, dimension) in INDEXES.items():
        history = histories[index]
        check_all_manifests(root, BUCKET, index, history)
        manifest = current_manifest(root, BUCKET, index)
        mine = read_index(root, BUCKET, index)
        assert_same(mine, api_content(s3v, BUCKET, index))
        assert_same(mine, models[index])
        # the catch-up rule of §4, from the fold cached at the previous checkpoint
        if history.cached is not None:
            caught = catch_up(
                root, BUCKET, index, history.cached, history.cached_seq, manifest, dimension
            )
            if caught is None:
                history.refolds += 1
            else:
                history.catch_ups += 1
                assert_same(caught, mine)
        history.cached, history.cached_seq = mine, manifest["next_seq"] - 1


def test_independent_reader_agrees_with_vetor(tmp_path: Path) -> None:
    root = tmp_path
    s3v = vetor.connect(
        str(root),
        compact_wal_runs=3,
        max_segments=2,
        gc_grace_seconds=0.0,
        background_compaction=False,
        classic_buckets_before="2100-01-01",  # a bucket of CLASSIC indexes, then ENHANCED
    )
    s3v.create_vector_bucket(vectorBucketName=BUCKET)
    for index, (metric, dimension) in INDEXES.items():
        s3v.create_index(
            vectorBucketName=BUCKET,
            indexName=index,
            dataType="float32",
            dimension=dimension,
            distanceMetric=metric,
        )

    # bucket.json and index.json as the layout section describes them
    assert list_buckets(root) == [BUCKET]
    bucket_config = read_bucket(root, BUCKET)
    assert bucket_config is not None
    api_bucket = s3v.get_vector_bucket(vectorBucketName=BUCKET)["vectorBucket"]
    assert bucket_config["vectorBucketName"] == api_bucket["vectorBucketName"] == BUCKET
    assert bucket_config["encryptionConfiguration"] == {"sseType": "AES256"}
    assert bucket_config["defaultIndexMode"] == "CLASSIC"
    assert re.fullmatch(r"[0-9a-f]+", bucket_config["bucketId"])
    assert datetime.fromisoformat(bucket_config["creationTime"]).utcoffset() is not None
    assert [b["vectorBucketName"] for b in s3v.list_vector_buckets()["vectorBuckets"]] == [BUCKET]
    api_indexes = s3v.list_indexes(vectorBucketName=BUCKET)["indexes"]
    assert [i["indexName"] for i in api_indexes] == list_indexes(root, BUCKET)
    for index, (metric, dimension) in INDEXES.items():
        config = read_index_config(root, BUCKET, index)
        assert config is not None
        assert config["vectorBucketName"] == BUCKET and config["indexName"] == index
        assert (config["dataType"], config["dimension"], config["distanceMetric"]) == (
            "float32",
            dimension,
            metric,
        )
        assert re.fullmatch(r"[0-9a-f]+", config["indexId"])
        assert config["metadataConfiguration"]["nonFilterableMetadataKeys"] == []
        assert config["indexMode"] == "CLASSIC"
        api_index = s3v.get_index(vectorBucketName=BUCKET, indexName=index)["index"]
        assert api_index["dimension"] == dimension
        assert api_index["distanceMetric"] == metric
        # version 1 is written, empty, when the index is created
        assert list_manifests(root, BUCKET, index) == [
            (1, f"{data_prefix(root, BUCKET, index)}manifests/{manifest_name(1)}")
        ]
        first = current_manifest(root, BUCKET, index)
        assert (first["version"], first["runs"], first["purged_seq"]) == (1, [], 0)
        assert read_index(root, BUCKET, index) == {}
        # §4 config: the current mode is the manifests', committed by UpdateIndexMode
        assert first["config"] == {"indexMode": "CLASSIC", "textSearchConfigurations": []}
        s3v.update_index_mode(vectorBucketName=BUCKET, indexName=index, indexMode="ENHANCED")
        changed = current_manifest(root, BUCKET, index)
        assert (changed["version"], changed["runs"]) == (2, [])
        assert changed["config"]["indexMode"] == "ENHANCED"
        assert read_index_config(root, BUCKET, index)["indexMode"] == "CLASSIC"  # type: ignore[index]

    rng = random.Random(20261121)
    models: dict[str, Content] = {index: {} for index in INDEXES}
    histories = {index: History() for index in INDEXES}
    pools = {index: [f"k{i:03d}-{index}" for i in range(70)] for index in INDEXES}
    compactions = {True: 0, False: 0}
    check_checkpoint(s3v, root, models, histories)

    for step in range(480):
        index = rng.choice(sorted(INDEXES))
        metric, dimension = INDEXES[index]
        model, pool = models[index], pools[index]
        roll = rng.random()
        if roll < 0.6:
            batch = []
            for _ in range(rng.randint(1, 12)):
                key = rng.choice(list(model)) if model and rng.random() < 0.4 else rng.choice(pool)
                record: dict[str, Any] = {
                    "key": key,
                    "data": {"float32": random_vector(rng, dimension)},
                }
                metadata = random_metadata(rng)
                if metadata is not None:
                    record["metadata"] = metadata
                batch.append(record)
            s3v.put_vectors(vectorBucketName=BUCKET, indexName=index, vectors=batch)
            for record in batch:  # the last put of a key in a batch wins
                vector = np.asarray(record["data"]["float32"], dtype=np.float32).tolist()
                model[record["key"]] = (vector, record.get("metadata"))
        elif roll < 0.9:
            keys = [
                rng.choice(list(model)) if model and rng.random() < 0.6 else rng.choice(pool)
                for _ in range(rng.randint(1, 8))
            ]
            keys.append(f"missing-{step}")
            s3v.delete_vectors(vectorBucketName=BUCKET, indexName=index, keys=keys)
            for key in keys:
                model.pop(key, None)
        else:
            full = rng.random() < 0.4
            s3v.compact(vectorBucketName=BUCKET, indexName=index, full=full)
            compactions[full] += 1
            check_checkpoint(s3v, root, models, histories)
            if full:
                manifest = current_manifest(root, BUCKET, index)
                assert len(manifest["runs"]) <= 1
                assert all(r["tombstones"] == 0 for r in manifest["runs"])
                if manifest["runs"]:
                    assert manifest["purged_seq"] == manifest["runs"][0]["max_seq"]
        if step % 37 == 0:
            check_checkpoint(s3v, root, models, histories)

    for index in INDEXES:
        s3v.compact(vectorBucketName=BUCKET, indexName=index, full=False)
    check_checkpoint(s3v, root, models, histories)
    for index in INDEXES:
        s3v.compact(vectorBucketName=BUCKET, indexName=index, full=True)
    check_checkpoint(s3v, root, models, histories)

    # the workload exercised what it is meant to
    assert compactions[True] >= 3 and compactions[False] >= 3
    for index in INDEXES:
        history = histories[index]
        kinds = {r["kind"] for m in history.versions.values() for r in m["runs"]}
        assert kinds == {"wal", "segment"}
        assert any(m["purged_seq"] > 0 for m in history.versions.values())
        assert any(
            r["kind"] == "segment" and r["tombstones"] > 0
            for m in history.versions.values()
            for r in m["runs"]
        ), "a segment that keeps tombstones (compaction not from the first run)"
        assert history.catch_ups > 0 and history.refolds > 0
        assert len(models[index]) > 10


def test_reader_sees_only_the_new_incarnation(tmp_path: Path) -> None:
    root = tmp_path / "data"
    s3v = vetor.connect(
        str(root),
        compact_wal_runs=3,
        max_segments=2,
        gc_grace_seconds=0.0,
        background_compaction=False,
    )
    s3v.create_vector_bucket(vectorBucketName=BUCKET)
    address = {"vectorBucketName": BUCKET, "indexName": "again"}
    s3v.create_index(**address, dataType="float32", dimension=4, distanceMetric="euclidean")
    rng = random.Random(7)
    for n in range(8):
        s3v.put_vectors(
            **address,
            vectors=[
                {"key": f"old-{n}-{i}", "data": {"float32": random_vector(rng, 4)}}
                for i in range(5)
            ],
        )
    s3v.delete_vectors(**address, keys=["old-0-0", "old-1-1"])
    old_config = read_index_config(root, BUCKET, "again")
    assert old_config is not None
    old_manifest = current_manifest(root, BUCKET, "again")
    old_prefix = data_prefix(root, BUCKET, "again")
    old_key = f"{old_prefix}manifests/{manifest_name(old_manifest['version'])}"
    old_manifest_blob = (root / old_key).read_bytes()
    old_content = read_index(root, BUCKET, "again")
    assert len(old_content) == 38
    assert_same(old_content, api_content(s3v, BUCKET, "again"))

    s3v.delete_index(**address)
    assert list_indexes(root, BUCKET) == []
    with pytest.raises(IndexMissing):
        read_index(root, BUCKET, "again")
    # Only the old incarnation's manifests stay, ending with the "deleted" marker (§2, §5).
    marker = f"{old_prefix}manifests/{manifest_name(old_manifest['version'] + 1)}"
    left = LocalStore(root).list(index_prefix(BUCKET, "again"))
    assert left[-1] == marker and all(k.startswith(f"{old_prefix}manifests/") for k in left)
    tombstone = read_manifest(root, marker)
    assert tombstone["deleted"] is True and tombstone["runs"] == []

    s3v.create_index(**address, dataType="float32", dimension=3, distanceMetric="cosine")
    new_config = read_index_config(root, BUCKET, "again")
    assert new_config is not None and new_config["indexId"] != old_config["indexId"]
    assert list_indexes(root, BUCKET) == ["again"]
    manifest = current_manifest(root, BUCKET, "again")
    assert manifest["extra"]["index_id"] == new_config["indexId"]
    assert (manifest["version"], manifest["runs"]) == (1, [])
    assert read_index(root, BUCKET, "again") == {} == api_content(s3v, BUCKET, "again")

    s3v.put_vectors(
        **address, vectors=[{"key": "new", "data": {"float32": [1.0, 2.0, 3.0]}, "metadata": {}}]
    )
    assert_same(read_index(root, BUCKET, "again"), api_content(s3v, BUCKET, "again"))
    assert list(read_index(root, BUCKET, "again")) == ["new"]
    check_all_manifests(root, BUCKET, "again", History())

    # A manifest of the old incarnation left behind (an interrupted delete) is not read as
    # this index's content: the reader notices the index_id mismatch.
    stale = tmp_path / "stale"
    shutil.copytree(root, stale)
    planted = stale / f"{data_prefix(root, BUCKET, 'again')}manifests/{manifest_name(99)}"
    old = json.loads(old_manifest_blob)
    old["version"] = 99
    planted.write_text(json.dumps(old))
    with pytest.raises(StaleIncarnation):
        read_index(stale, BUCKET, "again")
