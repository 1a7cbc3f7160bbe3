"""Language analysis for full-text search: text in, index terms out."""

from .analyzers import LANGUAGES, STANDARD, Analyzer, analyzer

__all__ = ["LANGUAGES", "STANDARD", "Analyzer", "analyzer"]
