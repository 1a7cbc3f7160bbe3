"""The per-index storage engine: format, commits, views, filters, compaction.

This module is the engine's front: layers above import from ``vetor.engine`` only, never
from its submodules.
"""

from .ann import limit_numpy_blas
from .filters import Filter, FilterLimits
from .format import Manifest, Rows, RunRef
from .index import Hit, IndexEngine, IndexGone, TextQuery
from .textindex import TextField, text_fields_of
from .view import IndexView

__all__ = [
    "Filter",
    "FilterLimits",
    "Hit",
    "IndexEngine",
    "IndexGone",
    "IndexView",
    "Manifest",
    "Rows",
    "RunRef",
    "TextField",
    "TextQuery",
    "limit_numpy_blas",
    "text_fields_of",
]
