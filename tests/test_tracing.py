"""OpenTelemetry traces from ``vetor serve`` to a loopback OTLP/HTTP collector.

The collector here is a small HTTP server that speaks OTLP/HTTP as the OpenTelemetry
Collector does (protobuf ``ExportTraceServiceRequest`` on ``POST /v1/traces``, decoded with
``opentelemetry-proto``), so the spans checked are the ones vetor really sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import Server


class Collector:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                    ExportTraceServiceResponse,
                )

                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans.extend(_span(s) for s in scope.spans)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, name: str, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [s for s in self.spans if s["name"] == name]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no span {name!r}; got {sorted({s['name'] for s in self.spans})}")


def _span(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "trace": span.trace_id.hex(),
        "id": span.span_id.hex(),
        "parent": span.parent_span_id.hex(),
    }


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Collector]]:
    collector = Collector()
    env = {"VETOR_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    running = Server(str(tmp_path_factory.mktemp("traced")), env)
    yield running, collector
    running.stop()
    collector.server.shutdown()


def _children(spans: list[dict[str, Any]], parent: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in spans if s["parent"] == parent["id"] and s["name"] == name]
    assert found, f"{parent['name']} has no child {name}: {spans}"
    return found[0]


def test_a_write_is_traced_from_the_server_to_the_store(traced: Any) -> None:
    server, collector = traced
    client = server.client()
    client.create_vector_bucket(vectorBucketName="traced")
    client.create_index(
        vectorBucketName="traced", indexName="docs", dataType="float32", dimension=2,
        distanceMetric="cosine",
    )  # fmt: skip
    client.put_vectors(
        vectorBucketName="traced", indexName="docs",
        vectors=[{"key": "a", "data": {"float32": [1.0, 0.5]}}],
    )  # fmt: skip
    (request,) = collector.wait_for("s3vectors.PutVectors")
    assert request["parent"] == ""  # a new trace: the client sent none
    collector.wait_for("store.put")
    spans = [s for s in collector.spans if s["trace"] == request["trace"]]
    operation = _children(spans, request, "service.PutVectors")
    engine = _children(spans, operation, "engine.upsert")
    below = {s["id"]: s for s in spans}

    def under(span: dict[str, Any], ancestor: dict[str, Any]) -> bool:
        while span["parent"]:
            if span["parent"] == ancestor["id"]:
                return True
            span = below.get(span["parent"], {"parent": ""})
        return False

    assert any(s["name"] == "store.put" and under(s, engine) for s in spans), spans


def test_a_query_continues_the_callers_trace(traced: Any) -> None:
    server, collector = traced
    client = server.client()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    def add_traceparent(request: Any, **_: Any) -> None:
        request.headers["traceparent"] = f"00-{trace_id}-{parent_id}-01"

    client.meta.events.register("before-send.s3vectors.QueryVectors", add_traceparent)
    client.query_vectors(
        vectorBucketName="traced", indexName="docs", topK=1, queryVector={"float32": [1.0, 0.5]}
    )
    (request,) = collector.wait_for("s3vectors.QueryVectors")
    assert (request["trace"], request["parent"]) == (trace_id, parent_id)
    collector.wait_for("engine.search")
    spans = [s for s in collector.spans if s["trace"] == trace_id]
    _children(spans, _children(spans, request, "service.QueryVectors"), "engine.search")
