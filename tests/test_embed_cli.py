"""``vetor embed put`` / ``query`` with the real packaged MiniLM, on real text files.

The corpus in tests/data/embed is plain text and Markdown on distinct topics; each question
below is worded differently from its file, so only a working embedding finds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import vetor
from vetor.cli import app
from vetor.embed import Embedder, get_embedder
from vetor.embed.index import (
    CHUNK_END_KEY,
    CHUNK_KEY,
    CHUNK_START_KEY,
    CONTENT_KEY,
    HASH_KEY,
    LOCATION_KEY,
    PutOptions,
)
from vetor.embed.pipeline import put
from vetor.embed.sources import TEXT, expand

CORPUS = Path(__file__).parent / "data" / "embed"
QUESTIONS = {
    "Why do some mountains explode and throw ash into the sky?": "volcanoes.txt",
    "How often should I feed the starter for my bread?": "sourdough.md",
    "How do leaves make sugar out of sunlight?": "photosynthesis.txt",
    "Which pieces should I move first at the start of a game?": "chess.md",
    "How does the network protocol resend data that got lost?": "tcp.txt",
    "How long should my weekend runs be before race day?": "marathon.md",
    "Which kind of bean has more caffeine?": "coffee.txt",
    "How did the ancient city get its water?": "romans.md",
    "How do bees tell each other where the flowers are?": "honeybees.txt",
}
runner = CliRunner()


def vetor_cli(*args: str, code: int = 0, remote: str | None = None) -> Any:
    """Run ``vetor [--endpoint-url E] embed ARGS -o json``; check the exit code."""
    prefix = ["--endpoint-url", remote] if remote else []
    result = runner.invoke(app, [*prefix, "embed", *args, "-o", "json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if result.stdout.strip() else None


def assert_finds_every_file(
    data: list[str], remote: str | None = None, bucket: str = "library"
) -> None:
    for question, expected in QUESTIONS.items():
        reply = vetor_cli("query", bucket, "docs", question, "--k", "3", *data, remote=remote)
        top = reply["results"][0]["metadata"][LOCATION_KEY]
        assert top.endswith("/" + expected), (question, [r["key"] for r in reply["results"]])
        assert reply["summary"]["model"] == "all-MiniLM-L6-v2"


def test_put_a_folder_then_query_finds_the_right_file(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "store")]
    report = vetor_cli("put", "library", "docs", "--text", str(CORPUS), *data)
    assert (report["inputs"], report["failed"], report["indexCreated"]) == (9, 0, True)
    assert report["vectors"] == report["embedded"] > 9  # honeybees.txt is chunked
    assert_finds_every_file(data)

    again = vetor_cli("put", "library", "docs", "--text", str(CORPUS), *data)
    assert (again["embedded"], again["skipped"]) == (0, report["vectors"])


def test_chunks_keys_and_metadata(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "store")]
    user = {"team": "docs", LOCATION_KEY: "user value wins"}
    vetor_cli(
        "put", "library", "docs", "--text", str(CORPUS / "*.txt"), "--filename-as-key",
        "--key-prefix", "kb/", "--metadata", json.dumps(user), "--chunk-size", "600",
        "--chunk-overlap", "80", *data,
    )  # fmt: skip
    s3v = vetor.connect(tmp_path / "store")
    listed = s3v.list_vectors(vectorBucketName="library", indexName="docs", returnMetadata=True)
    by_key = {v["key"]: v["metadata"] for v in listed["vectors"]}
    assert "kb/coffee.txt" in by_key and "kb/chess.md" not in by_key
    source = (CORPUS / "honeybees.txt").read_text()
    chunks = sorted((k for k in by_key if k.startswith("kb/honeybees.txt#")), key=len)
    assert len(chunks) >= 3
    for key in chunks:
        meta = by_key[key]
        assert meta[CONTENT_KEY] == source[meta[CHUNK_START_KEY] : meta[CHUNK_END_KEY]]
        assert len(meta[CONTENT_KEY]) <= 600 and key.endswith(f"#{meta[CHUNK_KEY]}")
    starts = sorted(by_key[k][CHUNK_START_KEY] for k in chunks)
    ends = sorted(by_key[k][CHUNK_END_KEY] for k in chunks)
    assert starts[0] == 0 and all(s < e for s, e in zip(starts[1:], ends[:-1]))  # overlap
    coffee = by_key["kb/coffee.txt"]
    assert (coffee["team"], coffee[LOCATION_KEY]) == ("docs", "user value wins")
    assert len(coffee[HASH_KEY]) == 64
    config = s3v.get_index(vectorBucketName="library", indexName="docs")["index"]
    assert set(config["metadataConfiguration"]["nonFilterableMetadataKeys"]) == {
        CONTENT_KEY,
        HASH_KEY,
    }


def test_text_value_with_a_key(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "store")]
    text = "The Amazon river carries more water than any other river on Earth."
    report = vetor_cli("put", "library", "notes", "--text-value", text, "--key", "amazon", *data)
    assert report["keys"] == ["amazon"]
    s3v = vetor.connect(tmp_path / "store")
    got = s3v.get_vectors(vectorBucketName="library", indexName="notes", keys=["amazon"],
                          returnMetadata=True, returnData=True)["vectors"][0]  # fmt: skip
    assert got["metadata"][CONTENT_KEY] == text and LOCATION_KEY not in got["metadata"]
    expected = get_embedder("local").embed_documents([text])[0]
    assert np.allclose(got["data"]["float32"], expected, atol=1e-5)
    several = runner.invoke(app, ["embed", "put", "library", "notes", "--text-value", "a",
                                  "--text-value", "b", "--key", "k", *data])  # fmt: skip
    assert several.exit_code == 2 and "--key names one input" in several.output


def test_text_search_option_creates_or_adds_the_configuration(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "store")]
    expected = [{"metadataKey": CONTENT_KEY, "language": "pt"}]
    s3v = vetor.connect(tmp_path / "store")

    vetor_cli("put", "library", "fresh", "--text-value", "olá mundo", "--text-search", "pt", *data)
    config = s3v.get_index(vectorBucketName="library", indexName="fresh")["index"]
    texts = config["metadataConfiguration"]["textSearchConfigurations"]
    assert [{k: c[k] for k in ("metadataKey", "language")} for c in texts] == expected
    assert config["indexMode"] == "ENHANCED"  # full-text search needs it

    vetor_cli("put", "library", "later", "--text-value", "bom dia", *data)
    vetor_cli("put", "library", "later", "--text-value", "boa noite", "--text-search", "pt", *data)
    s3v = vetor.connect(tmp_path / "store")
    config = s3v.get_index(vectorBucketName="library", indexName="later")["index"]
    texts = config["metadataConfiguration"]["textSearchConfigurations"]
    assert [{k: c[k] for k in ("metadataKey", "language")} for c in texts] == expected
    assert config["indexMode"] == "ENHANCED"
    other = runner.invoke(app, ["embed", "put", "library", "later", "--text-value", "x",
                                "--text-search", "en", *data])  # fmt: skip
    assert other.exit_code != 0 and "searchable in pt already" in other.output


class Interrupting(Embedder):
    """The real MiniLM, interrupted like Ctrl-C after ``calls`` model calls; counts texts."""

    def __init__(self, real: Embedder, calls: int | None) -> None:
        self.real, self.calls, self.texts = real, calls, 0
        self.provider, self.model, self._dimension = real.provider, real.model, real.dimension
        self.max_input_tokens = real.max_input_tokens

    def _embed(self, texts: list[str], query: bool) -> Any:
        if self.calls is not None:
            if self.calls == 0:
                raise KeyboardInterrupt
            self.calls -= 1
        self.texts += len(texts)
        return self.real.embed_documents(texts)

    def count_tokens(self, text: str) -> int | None:
        return self.real.count_tokens(text)


def test_an_interrupted_run_resumes_without_embedding_again(tmp_path: Path) -> None:
    s3v = vetor.connect(str(tmp_path / "store"))
    options = PutOptions("library", "docs", embed_batch_size=2, batch_size=2, max_workers=2)
    first = Interrupting(get_embedder("local"), calls=3)
    with pytest.raises(KeyboardInterrupt):
        put(s3v, first, expand([str(CORPUS)], TEXT), options)
    listing = s3v.list_vectors(vectorBucketName="library", indexName="docs")["vectors"]
    stored = len(listing)
    assert 0 < stored <= first.texts  # what was embedded before the interrupt and written

    second = Interrupting(get_embedder("local"), calls=None)
    report = put(s3v, second, expand([str(CORPUS)], TEXT), options)
    total = stored + report.embedded
    assert (report.skipped, second.texts, report.failures) == (stored, total - stored, [])
    assert len(s3v.list_vectors(vectorBucketName="library", indexName="docs")["vectors"]) == total


def test_bad_inputs_are_named_and_the_rest_lands(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text((CORPUS / "coffee.txt").read_text())
    (folder / "empty.txt").write_text("  \n")
    (folder / "binary.txt").write_bytes(b"\xff\xfe\x00\x01garbage")
    (folder / "report.pdf").write_bytes(b"%PDF-1.7 ...")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")  # unreadable
    long_text = " ".join(["honeybees dance to share where the flowers are"] * 80)
    data = ["--data", str(tmp_path / "store")]
    result = runner.invoke(app, [
        "embed", "put", "library", "docs", "--text", str(folder),
        "--text", str(tmp_path / "no.txt"),
        "--text-value", long_text, "--chunk-size", "0", "-o", "json", *data,
    ])  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    errors = {f["input"].rsplit("/", 1)[-1]: f["error"] for f in report["failures"]}
    assert errors["empty.txt"] == "empty text"
    assert errors["binary.txt"].startswith("not UTF-8 text")
    assert errors["report.pdf"].startswith("unsupported file type .pdf")
    assert errors["gone.txt"].startswith("cannot read")
    assert errors["no.txt"] == "no such file or folder"
    too_long = next(e for i, e in errors.items() if i.startswith("--text-value"))
    assert "over the limit of 256 of local:all-MiniLM-L6-v2" in too_long
    assert report["vectors"] == 1 and report["failed"] == 6
    assert "report.pdf: unsupported file type" in result.stderr  # the summary at the end
    s3v = vetor.connect(tmp_path / "store")
    landed = s3v.list_vectors(vectorBucketName="library", indexName="docs", returnMetadata=True)
    assert [v["metadata"][LOCATION_KEY].rsplit("/", 1)[-1] for v in landed["vectors"]] == [
        "good.md"
    ]


def test_an_unreadable_image_is_named_and_the_rest_lands(tmp_path: Path) -> None:
    """A text model reads an image's words (OCR, tests/test_ocr.py); a broken one fails."""
    image = tmp_path / "pixel.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    data = ["--data", str(tmp_path / "store")]
    result = runner.invoke(app, ["embed", "put", "library", "pics", "--image", str(image),
                                 "--text-value", "still lands", "-o", "json", *data])  # fmt: skip
    assert result.exit_code == 1
    failure = json.loads(result.stdout)["failures"][0]
    assert failure["input"].endswith("pixel.png")
    assert "cannot read the image" in failure["error"]
    assert json.loads(result.stdout)["vectors"] == 1


def test_unknown_provider_and_dimension_mismatch(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "store")]
    result = runner.invoke(app, ["embed", "put", "library", "docs", "--text-value", "x",
                                 "--provider", "word2vec", *data])  # fmt: skip
    assert result.exit_code == 1
    assert "unknown embedding provider 'word2vec'" in result.stderr

    runner.invoke(app, ["buckets", "create", "library", *data])
    runner.invoke(app, ["indexes", "create", "library", "small", "--dimension", "8", *data])
    result = runner.invoke(app, ["embed", "put", "library", "small", "--text-value", "x", *data])
    assert result.exit_code == 1
    assert "index library/small has dimension 8" in result.stderr
    assert "local:all-MiniLM-L6-v2 makes 384-dimensional vectors" in result.stderr


def test_another_model_is_refused_on_a_filled_index(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "store")]
    vetor_cli("put", "library", "docs", "--text-value", "first", *data)
    result = runner.invoke(app, ["embed", "put", "library", "docs", "--text-value", "second",
                                 "--provider", "e5-multilingual", *data])  # fmt: skip
    assert result.exit_code == 1 and "holds vectors of local:all-MiniLM-L6-v2" in result.stderr
    # A query without --provider uses the model recorded on the index.
    reply = vetor_cli("query", "library", "docs", "--text-value", "first", *data)
    assert reply["summary"]["provider"] == "local"


def test_s3_source_prefix_on_another_endpoint(
    tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    import boto3

    monkeypatch.setenv("VETOR_SOURCE_ACCESS_KEY_ID", "source-key")
    monkeypatch.setenv("VETOR_SOURCE_SECRET_ACCESS_KEY", "source-secret")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    bucket = f"docs-{uuid.uuid4().hex[:8]}"
    keys = {"aws_access_key_id": "source-key", "aws_secret_access_key": "source-secret"}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **keys)
    s3.create_bucket(Bucket=bucket)
    for path in CORPUS.iterdir():
        s3.put_object(Bucket=bucket, Key=f"corpus/{path.name}", Body=path.read_bytes())
    data = ["--data", str(tmp_path / "store")]
    source = ["--source-endpoint-url", s3_endpoint]
    report = vetor_cli("put", "library", "docs", "--text", f"s3://{bucket}/corpus/", *source, *data)
    assert (report["inputs"], report["failed"]) == (9, 0)
    assert_finds_every_file(data)
    reply = vetor_cli("query", "library", "docs", "--text-value", "lava and magma", *data)
    assert reply["results"][0]["metadata"][LOCATION_KEY] == f"s3://{bucket}/corpus/volcanoes.txt"
    again = vetor_cli("put", "library", "docs", "--text", f"s3://{bucket}/corpus/*", *source, *data)
    assert again["skipped"] == report["vectors"] and again["embedded"] == 0
    one = vetor_cli(
        "put", "library", "one", "--text", f"s3://{bucket}/corpus/tcp.txt", *source, *data
    )
    assert one["inputs"] == 1
    assert os.environ["VETOR_SOURCE_ACCESS_KEY_ID"] == "source-key"


def test_a_rerun_that_embeds_nothing_never_loads_the_model(tmp_path: Path) -> None:
    """MiniLM's weights load with the first input that needs them, announced; a re-run over
    unchanged files skips them all and leaves the model on disk."""
    from vetor.embed.providers.local import LocalEmbedder

    service = vetor.connect(str(tmp_path / "store"))
    options = PutOptions(bucket="library", index="docs")
    heard: list[str] = []
    first = LocalEmbedder()
    assert not first.loaded and first.dimension == 384  # known without loading
    report = put(service, first, expand([str(CORPUS)], TEXT), options, announce=heard.append)
    assert first.loaded and report.embedded > 0
    assert heard == [f"loading {first.identity}", "embedding"]
    again = LocalEmbedder()
    report = put(service, again, expand([str(CORPUS)], TEXT), options, announce=heard.append)
    assert report.embedded == 0 and report.skipped >= len(list(CORPUS.iterdir()))
    assert not again.loaded and len(heard) == 2
