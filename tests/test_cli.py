"""The ``vetor`` command line, run against a real local store under tmp_path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from vetor.cli import app

runner = CliRunner()


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def vetor(data: str, *args: str, code: int = 0, stdin: str | None = None) -> Any:
    """Run a command with ``--data``; check the exit code; return the parsed JSON output."""
    result = runner.invoke(app, [*args, "--data", data, "--output", "json"], input=stdin)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else result


def make_index(data: str, dimension: int = 3, *extra: str) -> None:
    vetor(data, "buckets", "create", "films")
    vetor(data, "indexes", "create", "films", "plots", "--dimension", str(dimension), *extra)


RECORDS = [
    {"key": "a", "data": [1.0, 0.0, 0.0], "metadata": {"genre": "drama", "year": 1990}},
    {"key": "b", "data": {"float32": [0.9, 0.1, 0.0]}, "metadata": {"genre": "comedy"}},
    {"key": "c", "data": [0.0, 1.0, 0.0], "metadata": {"genre": "drama", "year": 2010}},
    {"key": "d", "data": [0.0, 0.0, 1.0]},
]


def test_buckets_lifecycle(data: str) -> None:
    arn = vetor(data, "buckets", "create", "films")["vectorBucketArn"]
    assert arn.endswith(":bucket/films")
    vetor(data, "buckets", "create", "music")

    listed = vetor(data, "buckets", "list")["vectorBuckets"]
    assert [b["vectorBucketName"] for b in listed] == ["films", "music"]
    assert isinstance(listed[0]["creationTime"], str)  # datetimes become ISO strings
    filtered = vetor(data, "buckets", "list", "--prefix", "mu")["vectorBuckets"]
    assert [b["vectorBucketName"] for b in filtered] == ["music"]

    bucket = vetor(data, "buckets", "get", "films")["vectorBucket"]
    assert bucket["vectorBucketArn"] == arn

    assert vetor(data, "buckets", "delete", "music") == {}
    assert [b["vectorBucketName"] for b in vetor(data, "buckets", "list")["vectorBuckets"]] == [
        "films"
    ]
    missing = vetor(data, "buckets", "get", "music", code=1)
    assert "NotFoundException" in missing.output


def test_buckets_list_follows_pages(data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VETOR_MAX_LIST_BUCKETS", "2")  # three buckets need two pages
    for name in ("aaa", "bbb", "ccc"):
        vetor(data, "buckets", "create", name)
    names = [b["vectorBucketName"] for b in vetor(data, "buckets", "list")["vectorBuckets"]]
    assert names == ["aaa", "bbb", "ccc"]


def test_indexes_lifecycle(data: str) -> None:
    make_index(data, 4, "--metric", "euclidean", "--non-filterable", "text")
    vetor(data, "indexes", "create", "films", "posters", "--dimension", "8")

    names = [i["indexName"] for i in vetor(data, "indexes", "list", "films")["indexes"]]
    assert names == ["plots", "posters"]

    index = vetor(data, "indexes", "get", "films", "plots")["index"]
    assert index["dimension"] == 4
    assert index["distanceMetric"] == "euclidean"
    assert index["metadataConfiguration"]["nonFilterableMetadataKeys"] == ["text"]

    conflict = vetor(data, "indexes", "create", "films", "plots", "--dimension", "4", code=1)
    assert "ConflictException" in conflict.output
    not_empty = vetor(data, "buckets", "delete", "films", code=1)
    assert "ConflictException" in not_empty.output

    vetor(data, "indexes", "delete", "films", "plots")
    vetor(data, "indexes", "delete", "films", "posters")
    assert vetor(data, "indexes", "list", "films")["indexes"] == []


def test_bucket_delete_after_its_indexes_are_deleted(data: str) -> None:
    make_index(data)
    vetor(data, "indexes", "delete", "films", "plots")
    assert vetor(data, "buckets", "delete", "films") == {}


def test_table_output(data: str) -> None:
    make_index(data)
    result = runner.invoke(app, ["indexes", "list", "films", "--data", data])
    assert result.exit_code == 0, result.output
    assert "plots" in result.stdout


@pytest.mark.parametrize("layout", ["jsonl", "array"])
def test_vectors_put_get_list_query(data: str, tmp_path: Path, layout: str) -> None:
    make_index(data)
    path = tmp_path / f"vectors.{layout}"
    if layout == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    else:
        path.write_text("  \n" + json.dumps(RECORDS, indent=2))

    put = vetor(data, "vectors", "put", "films", "plots", str(path), "--batch-size", "3")
    assert put == {"vectorCount": 4}

    got = vetor(data, "vectors", "get", "films", "plots", "a", "b", "missing", "--values")
    assert [v["key"] for v in got["vectors"]] == ["a", "b"]
    assert got["vectors"][1]["data"]["float32"] == pytest.approx([0.9, 0.1, 0.0])
    assert got["vectors"][0]["metadata"] == {"genre": "drama", "year": 1990}
    bare = vetor(data, "vectors", "get", "films", "plots", "a", "--no-metadata")["vectors"]
    assert bare == [{"key": "a"}]

    listed = vetor(data, "vectors", "list", "films", "plots", "--metadata")["vectors"]
    assert [v["key"] for v in listed] == ["a", "b", "c", "d"]
    assert listed[0]["metadata"]["genre"] == "drama"

    hits = vetor(
        data,
        "vectors",
        "query",
        "films",
        "plots",
        "--vector",
        "[1, 0.2, 0]",
        "--filter",
        '{"genre": "drama"}',
        "--top-k",
        "5",
    )["vectors"]
    assert [h["key"] for h in hits] == ["a", "c"]
    assert hits[0]["distance"] < hits[1]["distance"]
    assert hits[0]["metadata"]["genre"] == "drama"


def test_vectors_put_from_stdin(data: str) -> None:
    make_index(data)
    lines = "\n".join(json.dumps(r) for r in RECORDS)
    assert vetor(data, "vectors", "put", "films", "plots", "-", stdin=lines)["vectorCount"] == 4


def test_vectors_list_pages_delete_and_query_file(data: str, tmp_path: Path) -> None:
    make_index(data)
    stdin = json.dumps(RECORDS)
    vetor(data, "vectors", "put", "films", "plots", "-", stdin=stdin)

    page = vetor(data, "vectors", "list", "films", "plots", "--max-results", "3")
    assert [v["key"] for v in page["vectors"]] == ["a", "b", "c"]
    rest = vetor(data, "vectors", "list", "films", "plots", "--next-token", page["nextToken"])
    assert [v["key"] for v in rest["vectors"]] == ["d"]
    every = vetor(data, "vectors", "list", "films", "plots", "--max-results", "1", "--all")
    assert [v["key"] for v in every["vectors"]] == ["a", "b", "c", "d"]
    assert "nextToken" not in every

    segments = [
        vetor(data, "vectors", "list", "films", "plots", "--segment-count", "2",
              "--segment-index", str(i))["vectors"]
        for i in range(2)
    ]  # fmt: skip
    assert sorted(v["key"] for s in segments for v in s) == ["a", "b", "c", "d"]

    vetor(data, "vectors", "delete", "films", "plots", "a", "b")
    query_file = tmp_path / "query.json"
    query_file.write_text('{"float32": [1, 0, 0]}')
    hits = vetor(
        data, "vectors", "query", "films", "plots", "--vector-file", str(query_file), "--top-k", "2"
    )["vectors"]
    assert [h["key"] for h in hits][0] not in {"a", "b"}
    assert len(hits) == 2

    compacted = vetor(data, "compact", "films", "plots")
    assert compacted["rows"] == 2 and compacted["writeBatches"] == 0


def test_service_error_exits_1_without_traceback(data: str) -> None:
    vetor(data, "buckets", "create", "films")
    result = vetor(data, "vectors", "query", "films", "nope", "--vector", "[1, 2, 3]", code=1)
    assert "NotFoundException: The specified index could not be found" in result.stderr
    assert "Traceback" not in result.output


def test_validation_error_message(data: str) -> None:
    make_index(data)
    result = vetor(data, "vectors", "query", "films", "plots", "--vector", "[1, 2]", code=1)
    assert result.stderr.startswith("ValidationException: ")


@pytest.mark.parametrize(
    "args",
    [
        ["--vector", "[1, 2"],
        ["--vector", "[1, 0, 0]", "--filter", "{genre: drama}"],
        ["--vector", "[1, 0, 0]", "--filter", "[1]"],
        ["--vector", '"text"'],
        [],  # neither --vector nor --vector-file
    ],
)
def test_bad_json_on_the_command_line_exits_2(data: str, args: list[str]) -> None:
    make_index(data)
    result = vetor(data, "vectors", "query", "films", "plots", *args, code=2)
    assert "Traceback" not in result.output


def test_bad_jsonl_file_names_the_line(data: str, tmp_path: Path) -> None:
    make_index(data)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n{not json}\n")
    result = vetor(data, "vectors", "put", "films", "plots", str(path), code=2)
    assert "line 2" in result.output


def test_doctor_passes_on_a_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert "conditional create" in result.output
    assert "FAIL" not in result.output


def test_doctor_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", str(tmp_path), "--output", "json"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)
    assert all(c["ok"] for c in checks)
    assert "conditional create" in [c["check"] for c in checks]


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("vetor ")


def test_quickstart_in_process_is_idempotent(data: str) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["quickstart", "--data", data])
        assert result.exit_code == 0, result.output
        assert "documentary" in result.stdout
        assert "vetor vectors query quickstart demo" in result.stdout
    listed = vetor(data, "vectors", "list", "quickstart", "demo", "--all")["vectors"]
    assert len(listed) == 200


def test_quickstart_console_script_twice(tmp_path: Path) -> None:
    script = shutil.which("vetor") or str(Path(sys.executable).parent / "vetor")
    for _ in range(2):
        done = subprocess.run(
            [script, "quickstart", "--data", str(tmp_path / "qs")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Next steps" in done.stdout


PASSAGES = {
    "pool": "A thread pool runs many small jobs on a fixed set of worker threads.",
    "quota": "Error E1234 means the disk quota of the account was exceeded.",
    "coffee": "Espresso is brewed by forcing hot water through finely ground coffee.",
}


def test_full_text_and_hybrid_query(data: str, tmp_path: Path) -> None:
    from vetor.embed import get_embedder

    model = get_embedder("local")
    vetor(data, "buckets", "create", "docs")
    args = ["--dimension", "384", "--searchable", "body:en", "--mode", "ENHANCED"]
    vetor(data, "indexes", "create", "docs", "notes", *args)
    vectors = model.embed_documents(list(PASSAGES.values()))
    records = [
        {"key": k, "data": v.tolist(), "metadata": {"body": t}}
        for (k, t), v in zip(PASSAGES.items(), vectors)
    ]
    path = tmp_path / "notes.json"
    path.write_text(json.dumps(records))
    vetor(data, "vectors", "put", "docs", "notes", str(path))
    index = vetor(data, "indexes", "get", "docs", "notes")["index"]
    assert index["metadataConfiguration"]["textSearchConfigurations"][0]["status"] == "ACTIVE"

    found = vetor(data, "vectors", "query", "docs", "notes", "--text", "E1234", "--key", "body")
    assert [v["key"] for v in found["vectors"]] == ["quota"]  # only that passage has the term
    assert found["vectors"][0]["scores"]["bm25Scores"][0]["metadataKey"] == "body"
    hybrid = vetor(
        data,
        "vectors",
        "query",
        "docs",
        "notes",
        "--text",
        "how is coffee made",
        "--key",
        "body",
        "--vector-from-text",
        "--top-k",
        "3",
    )["vectors"]
    assert hybrid[0]["key"] == "coffee" and "fused" in hybrid[0]["scores"]
    assert len(hybrid) == 3  # the vector side adds what the words alone miss
    table = runner.invoke(
        app,
        [
            "vectors",
            "query",
            "docs",
            "notes",
            "--text",
            "worker threads",
            "--key",
            "body",
            "--data",
            data,
        ],
    )
    assert table.exit_code == 0 and "score" in table.stdout and "pool" in table.stdout
    result = vetor(data, "vectors", "query", "docs", "notes", "--text", "x", code=2)
    assert "--key" in result.output
    for wrong in (["--key", "body"], ["--text", "x", "--key", "body", "--vector-from-text",
                                      "--vector", json.dumps([0.0] * 384)]):  # fmt: skip
        vetor(data, "vectors", "query", "docs", "notes", *wrong, code=2)


def test_query_fetches_every_page_of_top_k(data: str, tmp_path: Path) -> None:
    make_index(data, 3, "--mode", "enhanced")  # modes in any case
    assert vetor(data, "indexes", "get", "films", "plots")["index"]["indexMode"] == "ENHANCED"
    records = [{"key": f"k{i:03d}", "data": [1.0, i / 300, 0.0]} for i in range(250)]
    path = tmp_path / "many.json"
    path.write_text(json.dumps(records))
    vetor(data, "vectors", "put", "films", "plots", str(path))
    query = ["vectors", "query", "films", "plots", "--vector", "[1, 0, 0]"]
    found = vetor(data, *query, "--top-k", "150", "--mode", "enhanced")
    assert [v["key"] for v in found["vectors"]] == [f"k{i:03d}" for i in range(150)]
    assert "nextToken" not in found


def test_indexing_progress_and_warm(
    data: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`indexes get` counts indexed, exact and pending rows; `warm` loads the ANN index."""
    monkeypatch.setenv("VETOR_ANN_MIN_ROWS", "600")
    monkeypatch.setenv("VETOR_ANN_LIST_ROWS", "50")
    monkeypatch.setenv("VETOR_BACKGROUND_COMPACTION", "false")
    make_index(data, 8)
    rows = np.random.default_rng(0).normal(size=(1300, 8)).round(4).tolist()
    path = tmp_path / "vectors.jsonl"
    path.write_text("\n".join(json.dumps({"key": str(i), "data": r}) for i, r in enumerate(rows)))
    vetor(data, "vectors", "put", "films", "plots", str(path), "--batch-size", "100")
    progress = vetor(data, "indexes", "get", "films", "plots")["indexing"]
    assert progress["rows"] == 1300
    assert progress["pendingRows"] == 1300 - progress["indexedRows"] - progress["exactRows"]
    assert progress["pendingRows"] > 0  # the write-batch tail waits for the next fold
    vetor(data, "compact", "films", "plots", "--full")
    progress = vetor(data, "indexes", "get", "films", "plots")["indexing"]
    assert (progress["indexedRows"], progress["exactRows"], progress["pendingRows"]) == (1300, 0, 0)
    loaded = vetor(data, "warm", "films", "plots")
    assert loaded["rows"] == 1300 and loaded["annIndexes"] == 1
    assert loaded["residentAnnBytes"] >= 1300 * 8 and loaded["seconds"] >= 0


@pytest.mark.parametrize(
    "command", [["vectors", "query"], ["embed", "put"], ["embed", "query"], ["serve"], ["warm"]]
)
def test_help_reads_like_a_command_line_tool(command: list[str]) -> None:
    """Value names as click writes them (TEXT, INTEGER, [json|table]), not Python type tags;
    no type and no "[default: no-…]" on a flag that is off unless given."""
    shown = CliRunner().invoke(app, [*command, "--help"], terminal_width=200).stdout
    assert "<str>" not in shown and "<bool>" not in shown and "<int" not in shown
    assert "[default: no-" not in shown and "``" not in shown
    assert "TEXT" in shown or "PATH" in shown or "INTEGER" in shown
