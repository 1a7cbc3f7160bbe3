"""OpenTelemetry traces, when an OTLP endpoint is configured (``otlp_endpoint``).

Each request becomes a span tree: the server's span (``s3vectors.QueryVectors``, continuing
the caller's trace when it sent a ``traceparent`` header), the service operation, the index
engine's work and every object-store request. Spans go to the endpoint over OTLP/HTTP in
batches, off the request path. Without an endpoint — or without the ``tracing`` extra — every
``span()`` is one shared no-op and costs a function call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

_NOOP = contextlib.nullcontext()
_tracer: Any = None  # an OpenTelemetry Tracer once configured


def configure(endpoint: str, service: str = "vetor") -> None:
    """Send spans to ``endpoint`` (OTLP/HTTP, e.g. ``http://collector:4318/v1/traces``)."""
    global _tracer
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("vetor")


def shutdown() -> None:
    """Send the spans still waiting in the batch (at the server's shutdown)."""
    if _tracer is not None:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        if hasattr(provider, "shutdown"):
            provider.shutdown()


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span around a block, a child of the current one; a no-op while tracing is off."""
    if _tracer is None:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes or None)


def child_span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span only inside a trace: work for a request, not a background compaction's (whose
    store requests would each make a trace of their own)."""
    if _tracer is None:
        return _NOOP
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes or None)


class RequestSpan:
    """A server span opened when a request arrives and ended when it is answered (the two
    happen in different places of the adapters, so this is not a ``with`` block)."""

    def __init__(self, name: str, headers: Mapping[str, str]) -> None:
        from opentelemetry import context, propagate, trace

        parent = propagate.extract(dict(headers))
        self.span = _tracer.start_span(name, context=parent, kind=trace.SpanKind.SERVER)
        self.token = context.attach(trace.set_span_in_context(self.span))

    def end(self, name: str, status: int) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self.span.update_name(name)
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()
        with contextlib.suppress(ValueError):  # ended from another context: nothing to undo
            context.detach(self.token)


def request_span(name: str, headers: Mapping[str, str]) -> RequestSpan | None:
    return RequestSpan(name, headers) if _tracer is not None else None
