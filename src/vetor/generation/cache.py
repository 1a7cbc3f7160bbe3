"""Repeated questions answered from memory: an answer to an identical request (the same
model, system prompt, messages and sampling) is replayed for ``answer_cache_seconds``, its
usage reporting the prompt's tokens as read from the cache. Only greedy requests (temperature
0) are cached: they are the ones whose answer would be the same again."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import asdict

import orjson

from ..models import Generator, Inference, Message, Usage

MAX_ENTRIES = 1024


class AnswerCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, list[str], Usage]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(generator: Generator, messages: list[Message], system: str,
            inference: Inference) -> str | None:  # fmt: skip
        if inference.temperature != 0:
            return None
        messages_ = [asdict(m) for m in messages]
        request = {"provider": generator.provider, "model": generator.model, "system": system,
                   "messages": messages_, "inference": asdict(inference)}  # fmt: skip
        return hashlib.sha256(orjson.dumps(request)).hexdigest()

    def get(self, key: str, ttl: float) -> tuple[list[str], Usage] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > ttl:
                self._entries.pop(key, None)
                return None
            self._entries.move_to_end(key)
            _, pieces, usage = found
        replayed = Usage(0, usage.output_tokens, usage.stop_reason, usage.input_tokens)
        return pieces, replayed

    def put(self, key: str, pieces: list[str], usage: Usage) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), pieces, usage)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)


ANSWERS = AnswerCache()  # one per process, shared by every caller of ``generate``
