"""Calls to models in this process — how many, how many failed, how long they took and how
much they handled (texts embedded or re-ranked, tokens generated) — by kind and model, for
``GET /metrics``. Counting costs a lock and four additions per call (a call is milliseconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class CallFigures:
    calls: int = 0
    failures: int = 0
    seconds: float = 0.0
    items: int = 0


class ModelCalls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: dict[tuple[str, str], CallFigures] = {}

    def record(self, kind: str, model: str, seconds: float, items: int, failed: bool) -> None:
        with self._lock:
            figures = self._figures.setdefault((kind, model), CallFigures())
            figures.calls += 1
            figures.failures += failed
            figures.seconds += seconds
            figures.items += items

    @contextmanager
    def timed(self, kind: str, model: str, items: int) -> Iterator[None]:
        """Count one call around the block; a block that raises is a failure."""
        started, failed = time.perf_counter(), True
        try:
            yield
            failed = False
        finally:
            self.record(kind, model, time.perf_counter() - started, items, failed)

    def snapshot(self) -> dict[tuple[str, str], CallFigures]:
        with self._lock:
            return {key: CallFigures(**vars(f)) for key, f in self._figures.items()}


MODEL_CALLS = ModelCalls()
