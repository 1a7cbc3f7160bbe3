"""The interface of re-ranking models: how relevant each passage is to a query.

A re-ranker reads the query and a passage together (a cross-encoder, a remote rerank API), so
it judges relevance better than the distance of two separately made vectors; it is applied to
the few best results of a search. Providers live in ``vetor.embed.providers`` and import only
this module; the registry finds them by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Reranker(ABC):
    provider: str = ""
    model: str = ""

    @abstractmethod
    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """Relevance of each passage to ``query``, higher is better, in [0, 1]."""
