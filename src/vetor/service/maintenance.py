"""vetor's own operations on an index (not in the S3 Vectors API): compact, stats, warm."""

from __future__ import annotations

from typing import Any

from ..engine import IndexEngine
from .core import Config, ServiceCore


class Maintenance:
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def compact(self, *, full: bool = False, **address: Any) -> dict[str, Any]:
        """Fold pending write batches into segments, merge segments, collect garbage.

        ``full=True`` rewrites the whole index as one segment with deletes applied. The
        response counts what is left and what was deleted.
        """
        bucket, index = self.core.index_of(**address)

        def run(config: Config, engine: IndexEngine) -> dict[str, Any]:
            engine.wait_for_background()
            engine.compact("full" if full else "eager")
            while engine.compact():
                pass
            return {"deletedObjects": engine.collect_garbage(), **engine.stats()}

        return self.core.with_engine(bucket, index, run)

    def index_stats(self, **address: Any) -> dict[str, Any]:
        """Layout and indexing progress of an index: rows in segments with an ANN index, in
        segments small enough to stay exact, and in write batches pending."""
        bucket, index = self.core.index_of(**address)
        return self.core.with_engine(bucket, index, lambda config, engine: engine.stats())

    def warm(self, **address: Any) -> dict[str, Any]:
        """Load an index into this process now: its rows and every segment's ANN index, so
        the first query does not pay for it."""
        bucket, index = self.core.index_of(**address)
        return self.core.with_engine(bucket, index, lambda config, engine: engine.warm())
