"""Server-sent events over HTTP for the remote generation providers: one POST, the reply's
``data:`` events as JSON, every read bounded by the timeout, failures as GenerationError."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson

from vetor.models.generator import GenerationError

# A streamed answer must end within the timeout for each this many tokens asked for (a server
# trickling a token now and then cannot hold a request forever).
TOKENS_PER_TIMEOUT = 64


def answer_deadline(timeout: float, max_tokens: int) -> float:
    """When (monotonic) a streamed answer of up to ``max_tokens`` tokens must have ended."""
    return time.monotonic() + timeout * max(1.0, max_tokens / TOKENS_PER_TIMEOUT)


def post_events(
    url: str, body: Any, headers: dict[str, str], timeout: float, deadline: float
) -> Iterator[dict[str, Any]]:
    """The JSON events of a streamed reply (a plain JSON reply is one event); each read waits
    at most ``timeout`` seconds, and the whole reply must end by ``deadline`` (monotonic)."""
    request = urllib.request.Request(
        url, data=orjson.dumps(body), method="POST",
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            if "text/event-stream" not in reply.headers.get("Content-Type", ""):
                yield orjson.loads(reply.read())  # a server that does not stream
                return
            for raw in reply:
                if time.monotonic() > deadline:
                    raise GenerationError(f"{url}: no complete answer in time")
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                yield orjson.loads(data)
    except urllib.error.HTTPError as error:
        detail = error.read()[:500].decode("utf-8", "replace")
        raise GenerationError(f"{url}: HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        raise GenerationError(f"{url}: {getattr(error, 'reason', error)}") from None
    except orjson.JSONDecodeError:
        raise GenerationError(f"{url}: the reply is not JSON") from None
