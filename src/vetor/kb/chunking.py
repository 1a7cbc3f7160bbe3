"""Bedrock's chunking strategies over parsed documents, in the embedding model's tokens.

``FIXED_SIZE`` (maxTokens, overlapPercentage), ``HIERARCHICAL`` (parent chunks of the first
level's size, each split into children of the second's; children are searched, parents are
returned), ``SEMANTIC`` (sentences grouped by meaning: a new chunk starts where the distance
between neighbouring sentence groups is above the breakpoint percentile) and ``NONE`` (a
document is one chunk). No configuration means Bedrock's default: FIXED_SIZE, 300 tokens, 20%
overlap. A chunk never exceeds the model's input limit, whatever maxTokens says: the limit of
all-MiniLM-L6-v2 is 256 tokens, so its chunks are at most that.

Chunks end at paragraph, sentence or word boundaries (``vetor.embed.chunking``); token counts
come from the model's own tokenizer, estimated at four characters a token where a remote
model has none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..embed.chunking import fit, split
from ..errors import ValidationException
from ..models import Embedder
from .parsing import Section

DEFAULT: dict[str, Any] = {
    "chunkingStrategy": "FIXED_SIZE",
    "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20},
}
CHARS_PER_TOKEN = 4.0  # the estimate where the model has no tokenizer
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n{2,}")


@dataclass(frozen=True)
class Chunk:
    text: str  # what is embedded and searched
    page: int | None = None
    parent: str | None = None  # HIERARCHICAL: the parent chunk returned in its place


class Chunker:
    def __init__(self, config: dict[str, Any] | None, embedder: Embedder) -> None:
        self.config = config or DEFAULT
        self.strategy = self.config["chunkingStrategy"]
        self.embedder = embedder
        check(self.config)

    def chunks(self, sections: list[Section]) -> list[Chunk]:
        if self.strategy == "NONE":
            text = "\n\n".join(s.text for s in sections)
            return [Chunk(text, sections[0].page if len(sections) == 1 else None)]
        found: list[Chunk] = []
        for section in sections:
            found += self._section(section)
        return [c for c in found if c.text.strip()]

    def _section(self, section: Section) -> list[Chunk]:
        text, page = section.text, section.page
        if self.strategy == "FIXED_SIZE":
            fixed = self.config["fixedSizeChunkingConfiguration"]
            tokens = int(fixed["maxTokens"])
            overlap = tokens * int(fixed["overlapPercentage"]) // 100
            return [Chunk(t, page) for t in self._fixed(text, tokens, overlap)]
        if self.strategy == "HIERARCHICAL":
            levels = self.config["hierarchicalChunkingConfiguration"]["levelConfigurations"]
            overlap = int(self.config["hierarchicalChunkingConfiguration"]["overlapTokens"])
            parent_tokens, child_tokens = (int(level["maxTokens"]) for level in levels)
            return [
                Chunk(child, page, parent)
                for parent in self._fixed(text, parent_tokens, overlap, model_limit=False)
                for child in self._fixed(parent, child_tokens, overlap)
            ]
        semantic = self.config["semanticChunkingConfiguration"]
        return [
            Chunk(piece, page)
            for group in self._semantic(text, semantic)
            for piece in self._fixed(group, int(semantic["maxTokens"]), 0)
        ]

    def _fixed(self, text: str, tokens: int, overlap: int, model_limit: bool = True) -> list[str]:
        """Pieces of at most ``tokens`` tokens (and of the model's limit, for what is
        embedded), consecutive ones sharing about ``overlap`` tokens."""
        limit = self.embedder.max_input_tokens
        if model_limit and limit:
            tokens = min(tokens, limit)
        ratio = self._chars_per_token(text)
        size = max(1, int(tokens * ratio))
        fits = self._fits(tokens)
        return [
            piece.text
            for chunk in split(text, size, int(overlap * ratio))
            for piece in fit(chunk, fits)
        ]

    def _semantic(self, text: str, config: dict[str, Any]) -> list[str]:
        """Sentences joined until the meaning shifts: each sentence is embedded with
        ``bufferSize`` neighbours on either side; a chunk ends after a sentence whose distance
        to the next is above the ``breakpointPercentileThreshold`` percentile."""
        sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
        if len(sentences) < 3:
            return [text]
        buffer = int(config["bufferSize"])
        windows = [
            " ".join(sentences[max(0, i - buffer) : i + buffer + 1]) for i in range(len(sentences))
        ]
        vectors = self.embedder.embed_documents(windows)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        distances = 1.0 - np.einsum("ij,ij->i", vectors[:-1], vectors[1:])
        threshold = np.percentile(distances, int(config["breakpointPercentileThreshold"]))
        groups, current = [], [sentences[0]]
        for sentence, distance in zip(sentences[1:], distances):
            if distance > threshold:
                groups.append(" ".join(current))
                current = []
            current.append(sentence)
        groups.append(" ".join(current))
        return groups

    def _chars_per_token(self, text: str) -> float:
        sample = text[:4000]
        counted = self.embedder.count_tokens(sample) if sample else None
        return len(sample) / counted if counted else CHARS_PER_TOKEN

    def _fits(self, tokens: int) -> Callable[[str], bool]:
        def fits(text: str) -> bool:
            counted = self.embedder.count_tokens(text)
            return (counted if counted is not None else len(text) / CHARS_PER_TOKEN) <= tokens

        return fits


def check(config: dict[str, Any]) -> None:
    """Bedrock's rules the model does not state: each strategy needs its configuration, and
    hierarchical chunking has exactly two levels, the children no bigger than the parents."""
    strategy = config.get("chunkingStrategy")
    needs = {
        "FIXED_SIZE": "fixedSizeChunkingConfiguration",
        "HIERARCHICAL": "hierarchicalChunkingConfiguration",
        "SEMANTIC": "semanticChunkingConfiguration",
    }
    member = needs.get(str(strategy))
    if member and not config.get(member):
        raise ValidationException(f"The {strategy} chunking strategy needs {member}")
    if strategy == "HIERARCHICAL":
        levels = config["hierarchicalChunkingConfiguration"]["levelConfigurations"]
        if len(levels) != 2 or levels[1]["maxTokens"] > levels[0]["maxTokens"]:
            raise ValidationException(
                "HIERARCHICAL chunking takes two levelConfigurations: the parent's maxTokens, "
                "then the child's (no larger)"
            )
