"""The ASGI app: every wire service ``vetor serve`` offers, on one port.

The app only composes. Protocol adapters (``adapters/``) turn HTTP into decoded, checked
requests; service handlers (``handlers/``) turn those into calls on the layer below; the
:class:`~vetor.server.access.Gate` that every adapter passes through authenticates the caller.
An AWS request goes to the adapter of the service its SigV4 credential scope names (or, when
unsigned, to the first adapter whose routes it matches; S3 Vectors answers the rest).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__, tracing
from ..errors import AccessDeniedException, VetorError
from ..generation import knowledge_bases as answering_knowledge_bases
from ..generation.chat import Chat
from ..service import VectorService
from . import codec, pages
from .access import BEARER, Gate, ResourceFacts, signing_service
from .adapters.openai import OpenAIAdapter
from .adapters.query import QueryAdapter
from .adapters.restjson import RestJsonAdapter
from .exchange import Exchange, error_log
from .handlers.bedrock import BEDROCK_PATTERNS, BedrockHandler
from .handlers.bedrock_agent import KnowledgeBaseHandler
from .handlers.bedrock_runtime import BedrockRuntimeHandler
from .handlers.embeddings import EmbeddingService
from .handlers.s3vectors import S3VectorsHandler
from .handlers.sts import StsHandler
from .keys import Keyring
from .lifecycle import DRAINING, drain_on_sigterm
from .metrics import CONTENT_TYPE, Metrics


class Adapter(Protocol):
    signing_name: str

    def resolve(self, request: Request) -> Any: ...

    async def handle(self, request: Request, match: Any) -> Response: ...


class Dispatcher:
    """Picks the adapter of each AWS-protocol request; the default one answers the unknown."""

    def __init__(self, adapters: list[Adapter]) -> None:
        self.adapters = adapters
        # Several services may sign with one name (Bedrock's all sign as "bedrock").
        self.by_signing_name: dict[str, list[Adapter]] = {}
        for adapter in adapters:
            self.by_signing_name.setdefault(adapter.signing_name, []).append(adapter)

    async def handle(self, request: Request) -> Response:
        named = self.by_signing_name.get(signing_service(request) or "", [])
        for adapter in named:
            match = adapter.resolve(request)
            if match is not None or adapter is named[-1]:
                return await adapter.handle(request, match)
        for adapter in self.adapters:
            match = adapter.resolve(request)
            if match is not None:
                return await adapter.handle(request, match)
        default = self.adapters[0]
        return await default.handle(request, None)


def create_app(
    service: VectorService, keyring: Keyring | None, warm: tuple[str, ...] = ()
) -> Starlette:
    """The endpoint; ``keyring=None`` turns authentication off. ``warm`` names indexes
    (``bucket/index``) loaded before the server accepts requests."""
    if service.settings.otlp_endpoint:
        tracing.configure(service.settings.otlp_endpoint)
    knowledge_bases = answering_knowledge_bases(service)
    metrics = Metrics(service, knowledge_bases.jobs) if service.settings.metrics else None
    gate = Gate(keyring, service.settings, ResourceFacts(service), metrics)
    store_kind = _store_kind(service.store.uri)
    s3vectors = RestJsonAdapter(
        "s3vectors",
        S3VectorsHandler(service),
        gate,
        body_decoders={"PutVectors": codec.decode_put_vectors},
        checks=False,  # VectorService checks each call against the same model
    )
    sts = QueryAdapter("sts", StsHandler(), gate)
    bedrock_agent = RestJsonAdapter(
        "bedrock-agent", KnowledgeBaseHandler(knowledge_bases, "bedrock-agent"), gate
    )
    runtime = RestJsonAdapter(
        "bedrock-agent-runtime",
        KnowledgeBaseHandler(knowledge_bases, "bedrock-agent-runtime"),
        gate,
    )
    bedrock = RestJsonAdapter(
        "bedrock",
        BedrockHandler(service.settings, knowledge_bases.guardrails, knowledge_bases.routers),
        gate,
        patterns=BEDROCK_PATTERNS,
    )
    chat = Chat(service.settings, knowledge_bases.routers)
    bedrock_runtime = RestJsonAdapter(
        "bedrock-runtime", BedrockRuntimeHandler(chat, knowledge_bases.guardrails), gate
    )
    openai = OpenAIAdapter(
        EmbeddingService(service.settings), chat, knowledge_bases.answers.log, gate
    )
    dispatcher = Dispatcher([s3vectors, sts, runtime, bedrock_agent, bedrock_runtime, bedrock])
    spec = s3vectors.openapi("vetor — Amazon S3 Vectors API")  # fixed for the process
    docs_page = pages.docs_html(spec)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        if DRAINING.is_set():  # SIGTERM came: the load balancer should send no more
            return JSONResponse({"status": "draining", "store": store_kind}, 503)
        try:
            await run_in_threadpool(service.check_ready)
        except Exception as error:  # the store is the one dependency that can be down
            error_log.warning(f"not ready: {error}")  # the reason may name store paths
            return JSONResponse({"status": "unavailable", "store": store_kind}, 503)
        return JSONResponse({"status": "ready", "store": store_kind})

    async def metrics_page(request: Request) -> Response:
        """Prometheus's text format; Bearer <accessKeyId>:<secret> and vetor:GetMetrics."""
        if metrics is None:
            return JSONResponse({"message": "metrics are off (VETOR_METRICS=false)"}, 404)
        exchange = Exchange(request)
        try:
            async with gate.admit(request, exchange, BEARER) as (caller, _):
                no_params: dict[str, Any] = {}
                await run_in_threadpool(
                    gate.authorize, caller, "vetor", "GetMetrics", no_params, exchange
                )
                page = await run_in_threadpool(metrics.exposition)
        except AccessDeniedException as error:
            status = 403 if error.message.startswith("User: ") else 401
            return JSONResponse({"message": error.message}, status)
        except VetorError as error:
            return JSONResponse({"message": error.message}, error.http_status)
        return Response(page, 200, media_type=CONTENT_TYPE)

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec)

    async def home(request: Request) -> Response:
        if "Action" in request.query_params:  # STS's query protocol may GET / too
            return await dispatcher.handle(request)
        document = pages.home(__version__, store_kind)
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(pages.home_html(document))
        return JSONResponse(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        drain_on_sigterm(service.settings.drain_seconds)
        for name in warm:
            bucket, _, index = name.partition("/")
            loaded = await run_in_threadpool(service.warm, vectorBucketName=bucket, indexName=index)
            error_log.info(f"warm {name}: {orjson.dumps(loaded).decode()}")
        knowledge_bases.jobs.start_background()  # and resume jobs a stopped server left
        yield
        await run_in_threadpool(knowledge_bases.close)  # let running ingestion jobs finish
        await run_in_threadpool(service.close)  # let background compaction finish
        tracing.shutdown()  # send the spans still batched

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/", home, methods=["GET"]),  # POST / (STS) goes on to the catch-all
        Route("/docs", docs, methods=["GET"]),
        *openai.routes(),  # OpenAI-compatible, ahead of the catch-all
        Route("/{path:path}", dispatcher.handle, methods=methods),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(WellFormedHost)])


def _store_kind(uri: str) -> str:
    """What ``/`` and ``/ready`` may tell anyone: the store's kind, not where it is."""
    scheme = uri.partition("://")[0] if "://" in uri else "file"
    return {"s3": "s3", "memory": "memory"}.get(scheme, "local directory")


class WellFormedHost:
    """A request whose ``Host`` is not a host[:port] gets a 400 before any route sees it
    (Starlette would fail building its URL: ``Host: [`` is an unterminated IPv6 literal)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _well_formed_host(scope):
            response = JSONResponse({"message": "Malformed Host header"}, 400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _well_formed_host(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            try:
                host = value.decode("ascii")
                urlsplit(f"http://{host}/").port  # noqa: B018 (parsing is the check)
            except ValueError:  # not ASCII, a bad IPv6 literal, a port out of range
                return False
            return not any(c in host for c in " \t/?#@")
    return True
