"""``vetor serve``'s OpenAI-compatible embeddings, through the official ``openai`` client, and
``vetor embed`` against a remote vetor server."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openai
import pytest
from conftest import SERVER_KEYS, Server
from test_embed_cli import CORPUS, assert_finds_every_file, runner, vetor_cli

from vetor.cli import app
from vetor.embed import get_embedder

API_KEY = f"{SERVER_KEYS['VETOR_ACCESS_KEY_ID']}:{SERVER_KEYS['VETOR_SECRET_ACCESS_KEY']}"


@pytest.fixture(scope="module")
def embed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "VETOR_EMBED_SERVE_MODELS": "local,e5-multilingual",
        "VETOR_EMBED_SERVE_BATCH_WAIT_MS": "20",
    }
    running = Server(str(tmp_path_factory.mktemp("embed-served")), env)
    yield running
    running.stop()


@pytest.fixture
def client(embed_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{embed_server.endpoint}/v1", api_key=API_KEY)


TEXTS = ["The cat purrs on the sofa.", "Rockets burn fuel to reach orbit."]


def test_openai_client_gets_the_models_vectors(client: openai.OpenAI) -> None:
    listed = {m.id for m in client.models.list()}  # the embedding models, then the chat ones
    assert {"all-MiniLM-L6-v2", "multilingual-e5-small", "smollm2-135m-instruct"} <= listed
    local = get_embedder("local").embed_documents(TEXTS)
    reply = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)  # base64 on the wire
    assert reply.model == "all-MiniLM-L6-v2" and reply.usage.prompt_tokens > 0
    assert np.allclose([d.embedding for d in reply.data], local, atol=1e-5)
    floats = client.embeddings.create(model="local", input=TEXTS[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, local[0], atol=1e-5)


def test_queries_and_documents_differ_for_e5(client: openai.OpenAI) -> None:
    e5 = get_embedder("e5-multilingual")
    question = "Qual é a capital do Brasil?"
    query = client.embeddings.create(
        model="multilingual-e5-small", input=[question], extra_body={"input_type": "query"}
    )
    passage = client.embeddings.create(model="e5-multilingual", input=[question])
    assert np.allclose(query.data[0].embedding, e5.embed_queries([question])[0], atol=1e-5)
    assert np.allclose(passage.data[0].embedding, e5.embed_documents([question])[0], atol=1e-5)
    assert not np.allclose(query.data[0].embedding, passage.data[0].embedding, atol=1e-3)


def test_errors_in_openai_shape(embed_server: Server, client: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{embed_server.endpoint}/v1", api_key="nope").models.list()
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.embeddings.create(model="gpt-embedding-9", input="x")
    with pytest.raises(openai.BadRequestError, match=r"input\[1\]: empty text"):
        client.embeddings.create(model="local", input=["fine", "   "])
    with pytest.raises(openai.BadRequestError, match="over the limit of 256"):
        client.embeddings.create(model="local", input=["word " * 600])


def test_concurrent_requests_share_model_calls(embed_server: Server) -> None:
    texts = [f"Sentence number {i} about topic {i % 7}." for i in range(48)]
    expected = get_embedder("local").embed_documents(texts)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def ask(i: int) -> tuple[int, list[list[float]], int]:
        body = {"model": "local", "input": texts[2 * i : 2 * i + 2], "encoding_format": "float"}
        request = urllib.request.Request(
            f"{embed_server.endpoint}/v1/embeddings", json.dumps(body).encode(), headers
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            vectors = [d["embedding"] for d in json.load(reply)["data"]]
            return i, vectors, int(reply.headers["x-vetor-batch-texts"])

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(ask, range(24)))
    for i, vectors, _ in results:
        assert np.allclose(vectors, expected[2 * i : 2 * i + 2], atol=1e-4)
    assert max(batch for _, _, batch in results) > 2  # requests were folded together


def test_embed_put_and_query_through_a_remote_server(
    embed_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SERVER_KEYS["VETOR_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    remote = embed_server.endpoint
    report = vetor_cli("put", "remote", "docs", "--text", str(CORPUS), remote=remote)
    assert (report["inputs"], report["failed"], report["indexCreated"]) == (9, 0, True)
    assert_finds_every_file([], remote=remote, bucket="remote")
    again = vetor_cli("put", "remote", "docs", "--text", str(CORPUS), remote=remote)
    assert again["skipped"] == report["vectors"]
    described = embed_server.client().get_index(vectorBucketName="remote", indexName="docs")
    assert described["index"]["dimension"] == 384


def test_openai_provider_against_vetor_itself(embed_server: Server, tmp_path: Path) -> None:
    """The ``openai`` provider, pointed at a real OpenAI-compatible server: vetor's own."""
    provider = ["--provider", "openai", "--model", "all-MiniLM-L6-v2",
                "--provider-option", f"base_url={embed_server.endpoint}/v1",
                "--provider-option", f"api_key={API_KEY}"]  # fmt: skip
    data = ["--data", str(tmp_path / "store")]
    report = vetor_cli("put", "viaopenai", "docs", "--text", str(CORPUS), *provider, *data)
    assert (report["failed"], report["dimension"], report["provider"]) == (0, 384, "openai")
    # No --provider: the index says openai/all-MiniLM-L6-v2; the server address is given again.
    question = "which beans have more caffeine"
    reply = vetor_cli("query", "viaopenai", "docs", question, *provider[4:], *data)
    assert reply["results"][0]["metadata"]["S3VECTORS-EMBED-SRC-LOCATION"].endswith("coffee.txt")
    assert reply["summary"]["provider"] == "openai"  # recorded on the index by the put
    bad = runner.invoke(app, ["embed", "put", "viaopenai", "other", "--text-value", "x",
                              "--provider", "openai", "--provider-option",
                              "base_url=http://127.0.0.1:9/v1", *data])  # fmt: skip
    assert bad.exit_code == 1 and "127.0.0.1:9" in bad.output
