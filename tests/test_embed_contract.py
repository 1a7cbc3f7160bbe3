"""Contract tests for the ``vertex`` and ``bedrock`` providers.

Vertex AI and Amazon Bedrock cannot be reached from here, so these tests run the providers
against a local HTTP server that speaks the services' documented request and response
formats, and checks every request against them:

- Vertex AI ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predict``
  (text embeddings API and multimodal embeddings API reference);
- Bedrock Runtime ``POST /model/{modelId}/invoke`` (Titan Text Embeddings V2, Titan
  Multimodal Embeddings G1, Cohere Embed v3 and v4 request/response bodies), signed with
  SigV4 by boto3.

Its "model" is a hashed bag of words (so retrieval still works end to end); what is under
test is the wire contract, not embedding quality.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_embed_cli import CORPUS, runner, vetor_cli

from vetor.cli import app
from vetor.embed import LOCATION_KEY, EmbeddingError
from vetor.embed.providers.bedrock import BedrockEmbedder
from vetor.embed.providers.vertex import VertexEmbedder

TOKEN = "vertex-test-token"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def bag_of_words(text: str, dimension: int) -> list[float]:
    vector = np.zeros(dimension)
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dimension] += 1.0
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else vector).tolist()


class ContractError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(400, message)


# --- Vertex AI -----------------------------------------------------------------------------

VERTEX_PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/google/models/(?P<model>[^/:]+):predict$"
)
VERTEX_TEXT = {"text-embedding-005": (768, 250), "gemini-embedding-001": (3072, 1)}
TASK_TYPES = {
    "RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY", "SEMANTIC_SIMILARITY", "CLASSIFICATION",
    "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY",
}  # fmt: skip


def vertex_predict(model: str, headers: Any, body: dict[str, Any]) -> dict[str, Any]:
    if headers.get("Authorization") != f"Bearer {TOKEN}":
        raise ContractError(401, "Request had invalid authentication credentials.")
    instances, parameters = body.get("instances"), body.get("parameters", {})
    require(isinstance(instances, list) and instances, "instances must be a non-empty list")
    if model == "multimodalembedding@001":
        return {"predictions": [vertex_multimodal(i, parameters) for i in instances]}
    dimension, limit = VERTEX_TEXT[model]
    require(len(instances) <= limit, f"{model} accepts at most {limit} instances per request")
    require(set(parameters) <= {"autoTruncate", "outputDimensionality"}, "unknown parameter")
    dimension = parameters.get("outputDimensionality", dimension)
    predictions = []
    for instance in instances:
        require(set(instance) <= {"content", "task_type", "title"}, "unknown instance field")
        require(instance.get("task_type", "RETRIEVAL_QUERY") in TASK_TYPES, "bad task_type")
        tokens = len(instance["content"].split())
        if tokens > 2048 and parameters.get("autoTruncate") is False:
            raise ContractError(400, f"Input has {tokens} tokens, more than 2048 tokens.")
        stats = {"token_count": tokens, "truncated": False}
        values = bag_of_words(instance["content"], dimension)
        predictions.append({"embeddings": {"values": values, "statistics": stats}})
    return {"predictions": predictions, "metadata": {"billableCharacterCount": 1}}


def vertex_multimodal(instance: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    dimension = parameters.get("dimension", 1408)
    require(dimension in (128, 256, 512, 1408), "dimension must be 128, 256, 512 or 1408")
    prediction: dict[str, Any] = {}
    if "text" in instance:
        prediction["textEmbedding"] = bag_of_words(instance["text"], dimension)
    if "image" in instance:
        data = base64.b64decode(instance["image"]["bytesBase64Encoded"])
        prediction["imageEmbedding"] = bag_of_words(f"image {len(data)}", dimension)
    require(bool(prediction), "an instance needs text, image or video")
    return prediction


# --- Bedrock -----------------------------------------------------------------------------------


def bedrock_invoke(model: str, headers: Any, body: dict[str, Any]) -> dict[str, Any]:
    require(headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "), "unsigned")
    require(headers.get("Content-Type") == "application/json", "contentType must be JSON")
    if model.startswith("amazon.titan-embed-text"):
        require(set(body) <= {"inputText", "dimensions", "normalize", "embeddingTypes"}, "field")
        require(body.get("dimensions", 1024) in (256, 512, 1024), "dimensions: 256, 512, 1024")
        text = body["inputText"]
        require(0 < len(text) <= 50_000, "inputText must have 1 to 50000 characters")
        vector = bag_of_words(text, body.get("dimensions", 1024))
        return {"embedding": vector, "inputTextTokenCount": len(text.split())}
    if model == "amazon.titan-embed-image-v1":
        require(set(body) <= {"inputText", "inputImage", "embeddingConfig"}, "unknown field")
        length = body.get("embeddingConfig", {}).get("outputEmbeddingLength", 1024)
        require(length in (256, 384, 1024), "outputEmbeddingLength: 256, 384 or 1024")
        seed = body.get("inputText") or f"image {len(base64.b64decode(body['inputImage']))}"
        return {"embedding": bag_of_words(seed, length), "inputTextTokenCount": 1}
    if model.startswith("cohere.embed"):
        return cohere(model, body)
    raise ContractError(404, f"Model {model} not found")


def cohere(model: str, body: dict[str, Any]) -> dict[str, Any]:
    allowed = {"texts", "images", "input_type", "truncate", "embedding_types", "output_dimension"}
    require(set(body) <= allowed, "unknown field")
    require(body["input_type"] in ("search_document", "search_query", "classification",
                                   "clustering", "image"), "bad input_type")  # fmt: skip
    texts = body.get("texts") or [f"image {len(i)}" for i in body.get("images", [])]
    require(1 <= len(texts) <= 96, "texts must hold 1 to 96 items")
    if body.get("truncate") == "NONE" and model.endswith("v3"):
        require(all(len(t) <= 2048 for t in texts), "text is longer than 2048 characters")
    if model.startswith("cohere.embed-v4"):
        vectors = [bag_of_words(t, body.get("output_dimension", 1536)) for t in texts]
        return {"embeddings": {"float": vectors}, "id": "x", "response_type": "embeddings_by_type"}
    vectors = [bag_of_words(t, 1024) for t in texts]
    return {"embeddings": vectors, "id": "x", "response_type": "embeddings_floats", "texts": texts}


# --- the server ----------------------------------------------------------------------------------


class ContractServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                path = urllib.parse.unquote(self.path)
                try:
                    reply = server.route(path, self.headers, body)
                    self.send(200, reply)
                except ContractError as error:
                    self.send_error_body(path, error)

            def send_error_body(self, path: str, error: ContractError) -> None:
                if path.startswith("/model/"):  # Bedrock: x-amzn-ErrorType + {"message"}
                    kind = "ValidationException" if error.status == 400 else "ResourceNotFound"
                    self.send(error.status, {"message": str(error)}, {"x-amzn-ErrorType": kind})
                else:  # Google: {"error": {"code", "message", "status"}}
                    status = "INVALID_ARGUMENT" if error.status == 400 else "UNAUTHENTICATED"
                    payload = {"code": error.status, "message": str(error), "status": status}
                    self.send(error.status, {"error": payload})

            def send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def route(self, path: str, headers: Any, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((path, body))
        if path.startswith("/model/") and path.endswith("/invoke"):
            return bedrock_invoke(path[len("/model/") : -len("/invoke")], headers, body)
        match = VERTEX_PATH.match(path)
        if match:
            return vertex_predict(match["model"], headers, body)
        raise ContractError(404, f"no route {path}")


@pytest.fixture(scope="module")
def contract() -> Iterator[ContractServer]:
    server = ContractServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}.items():
        monkeypatch.setenv(name, value)


def vertex(contract: ContractServer, model: str, **options: Any) -> VertexEmbedder:
    return VertexEmbedder(model=model, project="proj", location="us-central1",
                          endpoint_url=contract.url, access_token=TOKEN, **options)  # fmt: skip


def bedrock(contract: ContractServer, model: str, **options: Any) -> BedrockEmbedder:
    return BedrockEmbedder(model=model, region="us-east-1", endpoint_url=contract.url, **options)


def test_vertex_text_embedding_contract(contract: ContractServer) -> None:
    embedder = vertex(contract, "text-embedding-005")
    contract.requests.clear()
    texts = [f"document number {i}" for i in range(300)]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (300, 768)
    assert np.allclose(vectors[7], bag_of_words(texts[7], 768))
    assert [len(body["instances"]) for _, body in contract.requests] == [250, 50]
    path, body = contract.requests[0]
    model_path = "/publishers/google/models/text-embedding-005:predict"
    assert path == "/v1/projects/proj/locations/us-central1" + model_path
    assert body["instances"][0] == {
        "content": "document number 0",
        "task_type": "RETRIEVAL_DOCUMENT",
    }
    assert body["parameters"] == {"autoTruncate": False}
    embedder.embed_queries(["a question"])
    assert contract.requests[-1][1]["instances"][0]["task_type"] == "RETRIEVAL_QUERY"


def test_vertex_gemini_contract(contract: ContractServer) -> None:
    embedder = vertex(contract, "gemini-embedding-001", dimensions=768)
    contract.requests.clear()
    assert embedder.embed_documents(["one", "two", "three"]).shape == (3, 768)
    assert [len(b["instances"]) for _, b in contract.requests] == [1, 1, 1]  # one per request
    assert contract.requests[0][1]["parameters"]["outputDimensionality"] == 768
    assert embedder.dimension == 768


def test_vertex_multimodal_contract(contract: ContractServer) -> None:
    embedder = vertex(contract, "multimodalembedding@001")
    contract.requests.clear()
    images = embedder.embed_images([PNG, PNG[:20]])
    assert images.shape == (2, 1408) and embedder.supports_images
    instance = contract.requests[0][1]["instances"][0]
    assert base64.b64decode(instance["image"]["bytesBase64Encoded"]) == PNG
    assert embedder.embed_queries(["a red car"]).shape == (1, 1408)
    assert contract.requests[-1][1]["instances"] == [{"text": "a red car"}]


def test_vertex_error_contract(contract: ContractServer) -> None:
    with pytest.raises(EmbeddingError, match="more than 2048 tokens"):
        vertex(contract, "text-embedding-005").embed_documents(["word " * 3000])
    bad_token = VertexEmbedder(project="proj", endpoint_url=contract.url, access_token="wrong")
    with pytest.raises(EmbeddingError, match="HTTP 401: Request had invalid authentication"):
        bad_token.embed_documents(["x"])


def test_bedrock_titan_text_contract(contract: ContractServer, aws: None) -> None:
    embedder = bedrock(contract, "amazon.titan-embed-text-v2:0", dimensions=512)
    contract.requests.clear()
    vectors = embedder.embed_documents(["first text", "second text"])
    assert vectors.shape == (2, 512) and np.allclose(vectors[1], bag_of_words("second text", 512))
    assert contract.requests[0] == (
        "/model/amazon.titan-embed-text-v2:0/invoke",
        {"inputText": "first text", "dimensions": 512, "normalize": True},
    )
    assert embedder.input_problem("x" * 50_001) is not None  # Titan's documented char limit


def test_bedrock_titan_multimodal_contract(contract: ContractServer, aws: None) -> None:
    embedder = bedrock(contract, "amazon.titan-embed-image-v1", dimensions=384)
    contract.requests.clear()
    assert embedder.embed_images([PNG]).shape == (1, 384)
    body = contract.requests[0][1]
    assert base64.b64decode(body["inputImage"]) == PNG
    assert body["embeddingConfig"] == {"outputEmbeddingLength": 384}
    assert embedder.embed_queries(["a red car"]).shape == (1, 384)
    assert contract.requests[-1][1]["inputText"] == "a red car"


def test_bedrock_cohere_contract(contract: ContractServer, aws: None) -> None:
    embedder = bedrock(contract, "cohere.embed-multilingual-v3")
    contract.requests.clear()
    vectors = embedder.embed_documents([f"texto {i}" for i in range(100)])
    assert vectors.shape == (100, 1024)
    assert [len(b["texts"]) for _, b in contract.requests] == [96, 4]
    assert contract.requests[0][1]["input_type"] == "search_document"
    assert contract.requests[0][1]["truncate"] == "NONE"
    embedder.embed_queries(["pergunta"])
    assert contract.requests[-1][1]["input_type"] == "search_query"
    embedder.embed_images([PNG])
    image_body = contract.requests[-1][1]
    assert image_body["input_type"] == "image"
    assert image_body["images"][0].startswith("data:image/png;base64,")
    v4 = bedrock(contract, "cohere.embed-v4:0", dimensions=256)
    assert v4.embed_documents(["a", "b"]).shape == (2, 256)
    assert contract.requests[-1][1]["embedding_types"] == ["float"]


def test_bedrock_error_contract(contract: ContractServer, aws: None) -> None:
    embedder = bedrock(contract, "cohere.embed-english-v3")
    assert "2048" in (embedder.input_problem("x" * 3000) or "")
    with pytest.raises(EmbeddingError, match="ValidationException: text is longer than 2048"):
        embedder.embed_documents(["x" * 3000])
    with pytest.raises(EmbeddingError, match="unknown Bedrock embedding model"):
        bedrock(contract, "amazon.nova-embed-v9")


def test_embed_put_and_query_with_bedrock_contract(
    contract: ContractServer, aws: None, tmp_path: Path
) -> None:
    provider = ["--provider", "bedrock", "--model", "amazon.titan-embed-text-v2:0",
                "--provider-option", f"endpoint_url={contract.url}"]  # fmt: skip
    data = ["--data", str(tmp_path / "store")]
    report = vetor_cli("put", "bedrock", "docs", "--text", str(CORPUS), *provider, *data)
    assert (report["failed"], report["dimension"], report["inputs"]) == (0, 1024, 9)
    reply = vetor_cli("query", "bedrock", "docs", "magma lava ash", *provider[4:], *data)
    assert reply["results"][0]["metadata"][LOCATION_KEY].endswith("volcanoes.txt")


def test_embed_images_with_vertex_contract(contract: ContractServer, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(PNG)
    (folder / "b.jpg").write_bytes(PNG[:40])
    (folder / "notes.txt").write_text("not an image")
    provider = ["--provider", "vertex", "--model", "multimodalembedding@001",
                "--provider-option", f"endpoint_url={contract.url}",
                "--provider-option", "project=proj",
                "--provider-option", f"access_token={TOKEN}"]  # fmt: skip
    data = ["--data", str(tmp_path / "store")]
    result = runner.invoke(app, ["embed", "put", "pics", "images", "--image", str(folder),
                                 "--filename-as-key", *provider, *data, "-o", "json"])  # fmt: skip
    assert result.exit_code == 1  # notes.txt is no image
    report = json.loads(result.stdout)
    assert sorted(report["keys"]) == ["a.png", "b.jpg"] and report["dimension"] == 1408
    assert report["failures"][0]["input"].endswith("notes.txt")
    assert "unsupported image type .txt" in report["failures"][0]["error"]
    reply = vetor_cli("query", "pics", "images", "--image", str(folder / "a.png"),
                      *provider[4:], *data)  # fmt: skip
    assert reply["results"][0]["key"] == "a.png" and reply["summary"]["queryType"] == "image"
