"""``GET /metrics`` after a mixed workload through boto3: every family, plausible values."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import SERVER_KEYS, Server

from vetor.server.metrics import parse

TOKEN = f"{SERVER_KEYS['VETOR_ACCESS_KEY_ID']}:{SERVER_KEYS['VETOR_SECRET_ACCESS_KEY']}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(str(tmp_path_factory.mktemp("metrics")))
    yield running
    running.stop()


def scrape(server: Server, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{server.endpoint}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(families: dict[str, Any], name: str, sample: str, **labels: str) -> list[float]:
    def matches(found: Any) -> bool:
        return found.name == sample and all(found.labels.get(k) == v for k, v in labels.items())

    return [found.value for found in families[name].samples if matches(found)]


def test_metrics_after_a_mixed_workload(server: Server) -> None:
    client = server.client()
    client.create_vector_bucket(vectorBucketName="measured")
    client.create_index(
        vectorBucketName="measured", indexName="docs", dataType="float32", dimension=2,
        distanceMetric="cosine",
    )  # fmt: skip
    for batch in range(3):
        client.put_vectors(
            vectorBucketName="measured", indexName="docs",
            vectors=[{"key": f"{batch}-{n}", "data": {"float32": [1.0, n + 1.0]}}
                     for n in range(10)],
        )  # fmt: skip
    for _ in range(4):
        client.query_vectors(
            vectorBucketName="measured", indexName="docs", topK=3,
            queryVector={"float32": [1.0, 2.0]},
        )  # fmt: skip
    with pytest.raises(ClientError):
        client.get_index(vectorBucketName="measured", indexName="absent")
    status, text = scrape(server)
    assert status == 200, text
    families = parse(text)
    puts = samples(families, "vetor_requests", "vetor_requests_total", operation="PutVectors",
                   status="200", service="s3vectors")  # fmt: skip
    assert puts == [3.0]
    assert samples(families, "vetor_requests", "vetor_requests_total", operation="GetIndex",
                   status="404") == [1.0]  # fmt: skip
    counts = samples(families, "vetor_request_seconds", "vetor_request_seconds_count",
                     operation="QueryVectors")  # fmt: skip
    total = samples(families, "vetor_request_seconds", "vetor_request_seconds_sum",
                    operation="QueryVectors")  # fmt: skip
    assert counts == [4.0] and 0 < total[0] < 10
    assert sum(samples(families, "vetor_store_requests", "vetor_store_requests_total")) > 5
    written = samples(families, "vetor_store_bytes", "vetor_store_bytes_total", direction="written")
    assert written[0] > 30 * 2 * 4  # at least the vectors themselves
    assert "vetor_store_errors" in families and "vetor_store_request_seconds" in families
    assert {s.labels["cache"] for s in families["vetor_cache_resident_bytes"].samples} >= {
        "ann-partitions",
        "text-postings",
    }
    assert samples(families, "vetor_index_rows", "vetor_index_rows", bucket="measured",
                   index="docs") == [30.0]  # fmt: skip
    pending = samples(families, "vetor_index_pending_rows", "vetor_index_pending_rows")
    assert 0 <= pending[0] <= 30
    assert samples(families, "vetor_index_version", "vetor_index_version")[0] >= 3
    compacted = samples(families, "vetor_index_compactions", "vetor_index_compactions_total")
    assert compacted and compacted[0] >= 0
    assert samples(families, "vetor_index_compacting", "vetor_index_compacting")[0] in (0, 1)
    assert samples(families, "vetor_ingestion_jobs_running", "vetor_ingestion_jobs_running") == [
        0.0
    ]


def test_model_calls_are_counted(server: Server) -> None:
    import openai

    embedder = openai.OpenAI(base_url=f"{server.endpoint}/v1", api_key=TOKEN)
    for texts in (["a cat on the sofa", "rockets reach orbit"], ["one more"]):
        embedder.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    families = parse(scrape(server)[1])
    calls = samples(families, "vetor_model_calls", "vetor_model_calls_total", kind="embedding")
    texts = samples(families, "vetor_model_items", "vetor_model_items_total", kind="embedding")
    seconds = samples(families, "vetor_model_seconds", "vetor_model_seconds_total")
    assert sum(calls) >= 1 and sum(texts) == 3  # concurrent requests may share one call
    assert 0 < sum(seconds) < 120
    assert sum(samples(families, "vetor_model_failures", "vetor_model_failures_total")) == 0


def test_the_grafana_dashboard_asks_for_what_the_server_exposes(server: Server) -> None:
    import json
    import re
    from pathlib import Path

    import openai

    embedder = openai.OpenAI(base_url=f"{server.endpoint}/v1", api_key=TOKEN)
    embedder.embeddings.create(model="all-MiniLM-L6-v2", input=["a model call to show"])
    dashboard = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "vetor.json"
    panels = json.loads(dashboard.read_text())["panels"]
    asked = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\bvetor_[a-z_]+", target["expr"])
    }
    families = parse(scrape(server)[1])  # a family shows even with no samples yet
    exposed = {found.name for family in families.values() for found in family.samples}
    suffix = re.compile(r"_(total|bucket|count|sum)$")
    missing = {
        name for name in asked if name not in exposed and suffix.sub("", name) not in families
    }
    assert asked and not missing, missing


def test_metrics_need_credentials(server: Server) -> None:
    assert scrape(server, None)[0] == 401
    assert scrape(server, "AKVETORTEST:wrong")[0] == 401
