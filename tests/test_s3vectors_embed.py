"""A script written for awslabs' ``s3vectors-embed`` runs unchanged against ``vetor serve``.

The script below is what an AWS user writes: create the bucket and index with the AWS CLI,
put a folder of text files with ``s3vectors-embed put``, ask with ``s3vectors-embed query``.
Only the environment changes (``AWS_ENDPOINT_URL`` names the vetor server); the model is
vetor's offline MiniLM, named by its id. The same options work on ``vetor embed``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SERVER_KEYS, Server
from test_embed_cli import CORPUS, runner

from vetor.cli import app

SCRIPT = """
set -euo pipefail
aws s3vectors create-vector-bucket --vector-bucket-name library
aws s3vectors create-index --vector-bucket-name library --index-name docs \\
    --data-type float32 --dimension 384 --distance-metric cosine
s3vectors-embed put --vector-bucket-name library --index-name docs \\
    --model-id all-MiniLM-L6-v2 --text "$CORPUS/*.txt" --metadata '{"collection": "demo"}' \\
    > put.json
s3vectors-embed put --vector-bucket-name library --index-name docs \\
    --model-id all-MiniLM-L6-v2 --text-value "Espresso is brewed under pressure." \\
    --key espresso > put-one.json
s3vectors-embed query --vector-bucket-name library --index-name docs \\
    --model-id all-MiniLM-L6-v2 --text-value "Which kind of bean has more caffeine?" \\
    --k 3 --return-distance --filter '{"collection": "demo"}' > query.json
"""


def _command(name: str) -> str:
    """A console script of this environment (the venv's bin, where pip put it)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed"
    return found


@pytest.mark.slow
def test_an_aws_embed_script_runs_unchanged(server: Server, tmp_path: Path) -> None:
    bin_dir = str(Path(_command("s3vectors-embed")).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(_command('aws')).parent}:{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "CORPUS": str(CORPUS),
    }
    env.pop("VETOR_DATA", None)
    done = subprocess.run(
        ["bash", "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    put = json.loads((tmp_path / "put.json").read_text())
    texts = sorted(CORPUS.glob("*.txt"))
    assert put["type"] == "streaming_batch" and put["contentType"] == "text"
    counts = (put["totalFiles"], put["processedFiles"], put["failedFiles"])
    assert counts == (len(texts), len(texts), 0)
    assert put["totalVectors"] >= len(texts)  # long files are chunked: several vectors
    assert len(put["vectorKeys"]) == min(10, put["totalVectors"])
    one = json.loads((tmp_path / "put-one.json").read_text())
    assert one["key"] == "espresso" and one["embeddingDimensions"] == 384
    assert one["metadata"] == {"S3VECTORS-EMBED-SRC-CONTENT": "Espresso is brewed under pressure."}
    reply = json.loads((tmp_path / "query.json").read_text())
    top = reply["results"][0]
    assert top["metadata"]["S3VECTORS-EMBED-SRC-LOCATION"].endswith("/coffee.txt")
    assert top["metadata"]["collection"] == "demo"  # the filter kept the batch, not "espresso"
    assert set(top) == {"Key", "distance", "metadata"} and top["Key"] in put["vectorKeys"]
    assert reply["summary"] == {
        "queryType": "text",
        "model": "all-MiniLM-L6-v2",
        "index": "docs",
        "resultsFound": 3,
        "queryDimensions": 384,
    }


def test_vetor_embed_takes_the_aws_options(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data")]
    target = ["--vector-bucket-name", "notes", "--index-name", "ideas"]
    model = ["--model-id", "all-MiniLM-L6-v2"]
    put = runner.invoke(app, ["embed", "put", *target, *model, "--text-value", "a cat", *data])
    assert put.exit_code == 0, put.output
    assert json.loads(put.stdout)["contentType"] == "text"  # JSON by default in this form
    query = runner.invoke(app, ["embed", "query", *target, *model, "--text-value", "cat", *data])
    results = json.loads(query.stdout)["results"]
    assert [set(r) for r in results] == [{"Key", "metadata"}]  # no distance unless asked
    unknown = runner.invoke(
        app, ["embed", "put", *target, "--model-id", "nope", "--text-value", "x", *data]
    )
    assert unknown.exit_code == 1 and "Unsupported model: nope" in unknown.stderr
    video = runner.invoke(app, ["embed", "put", *target, *model, "--video", "clip.mp4", *data])
    assert video.exit_code == 1 and "does not support video input" in video.stderr
    both = runner.invoke(
        app, ["embed", "put", "notes", "ideas", *target, "--text-value", "x", *data]
    )
    assert both.exit_code == 2
