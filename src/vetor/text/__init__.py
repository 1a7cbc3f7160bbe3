"""Language analysis for full-text search: text in, index terms out."""

from .analyzers import LANGUAGES, Analyzer, analyzer

__all__ = ["LANGUAGES", "Analyzer", "analyzer"]
