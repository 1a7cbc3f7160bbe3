"""What a browser finds on ``vetor serve``: ``GET /`` (what is running, where, and links) and
``GET /docs`` (the S3 Vectors operations, rendered from the same OpenAPI document that
``/openapi.json`` serves). Plain HTML with no external assets: the server may be offline.
"""

from __future__ import annotations

from html import escape
from typing import Any

LINKS = (
    ("/docs", "the S3 Vectors operations, with their request members"),
    ("/openapi.json", "the OpenAPI 3.1 document (generated from botocore's model)"),
    ("/health", "liveness"),
    ("/ready", "readiness: the store answers"),
    ("/metrics", "Prometheus metrics (Bearer accessKeyId:secret)"),
    ("/v1/models", "OpenAI-compatible embedding models (Bearer accessKeyId:secret)"),
)


def home(version: str, store: str) -> dict[str, Any]:
    """The landing document (JSON for programs; ``home_html`` renders it). ``store`` is the
    store's kind, never its path or bucket: the page is open to anyone who can connect."""
    return {
        "service": "vetor",
        "version": version,
        "store": store,
        "apis": ["s3vectors (rest-json, SigV4)", "sts (query, SigV4)", "OpenAI /v1/embeddings"],
        "links": {path: text for path, text in LINKS},
    }


def home_html(document: dict[str, Any]) -> str:
    links = "".join(
        f'<li><a href="{escape(p)}">{escape(p)}</a>: {escape(t)}</li>'
        for p, t in document["links"].items()
    )
    apis = "".join(f"<li>{escape(a)}</li>" for a in document["apis"])
    body = (
        f"<h1>vetor {escape(document['version'])}</h1>"
        f"<p>Serving a store of kind <code>{escape(document['store'])}</code>.</p>"
        f"<h2>APIs</h2><ul>{apis}</ul><h2>Links</h2><ul>{links}</ul>"
        "<p>Point a client here: <code>export AWS_ENDPOINT_URL_S3VECTORS=…</code></p>"
    )
    return _page(f"vetor {document['version']}", body)


def docs_html(spec: dict[str, Any]) -> str:
    """Every operation of the OpenAPI document: method, path, summary, request members."""
    schemas = spec.get("components", {}).get("schemas", {})
    sections = []
    for path, methods in sorted(spec["paths"].items()):
        for method, op in methods.items():
            members = _members(op, schemas)
            sections.append(
                f'<h2 id="{escape(op["operationId"])}">{escape(op["operationId"])}</h2>'
                f"<p><code>{escape(method.upper())} {escape(path)}</code></p>"
                f"<p>{escape(op.get('summary', ''))}</p>{members}"
            )
    index = "".join(
        f'<a href="#{escape(op["operationId"])}">{escape(op["operationId"])}</a> '
        for methods in spec["paths"].values()
        for op in methods.values()
    )
    title = spec["info"]["title"]
    body = f"<h1>{escape(title)}</h1><p>{index}</p>{''.join(sections)}"
    return _page(title, body)


def _members(op: dict[str, Any], schemas: dict[str, Any]) -> str:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    required = set(schema.get("required", []))
    rows = [
        f"<li><code>{escape(name)}</code>{' (required)' if name in required else ''}</li>"
        for name in schema.get("properties", {})
    ]
    rows += [
        f"<li><code>{escape(p['name'])}</code> ({escape(p['in'])})</li>"
        for p in op.get("parameters", [])
    ]
    return f"<ul>{''.join(rows)}</ul>" if rows else ""


def _page(title: str, body: str) -> str:
    style = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>"
    )
