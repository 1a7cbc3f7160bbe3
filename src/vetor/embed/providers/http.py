"""Plain JSON over HTTP for the remote providers (openai, vertex): one POST, with retries of
throttling and server errors, and errors worded for the person running the command."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from vetor.models import EmbeddingError

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def post_json(
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    retries: int = 4,
) -> Any:
    """POST a JSON body and decode the JSON reply; retries throttling and server errors."""
    data = orjson.dumps(body)
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return orjson.loads(reply.read())
        except urllib.error.HTTPError as error:
            if error.code in RETRY_STATUS and attempt < retries:
                time.sleep(0.2 * 2**attempt)
                continue
            raise EmbeddingError(f"{url}: HTTP {error.code}: {_error_text(error)}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt < retries:
                time.sleep(0.2 * 2**attempt)
                continue
            raise EmbeddingError(f"{url}: {getattr(error, 'reason', error)}") from None
        except orjson.JSONDecodeError:
            raise EmbeddingError(f"{url}: the reply is not JSON") from None
    raise AssertionError("unreachable")


def _error_text(error: urllib.error.HTTPError) -> str:
    raw = error.read()[:2000]
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip() or str(error.reason)
    detail = document.get("error", document) if isinstance(document, dict) else document
    if isinstance(detail, dict):
        return str(detail.get("message") or detail)
    return str(detail)


def google_access_token(error: type[Exception]) -> str:
    """A Google Cloud access token from Application Default Credentials (``google-auth``), for
    the Vertex AI providers; ``error`` is what to raise when google-auth is missing."""
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError:
        raise error(
            "Vertex AI needs an access token (VERTEX_ACCESS_TOKEN or access_token=) "
            "or google-auth: pip install 'vetor[vertex]'"
        ) from None
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    return str(credentials.token)
