"""The per-index storage engine: format, commits, views, filters, compaction."""

from .filters import filter_keys
from .format import Manifest, Rows, RunRef
from .index import Hit, IndexEngine, IndexGone
from .view import IndexView

__all__ = [
    "Hit",
    "IndexEngine",
    "IndexGone",
    "IndexView",
    "Manifest",
    "Rows",
    "RunRef",
    "filter_keys",
]
