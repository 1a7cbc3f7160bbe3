"""Splitting long texts into overlapping chunks that each fit the model.

Chunks are measured in characters (every provider can count those) and end at a paragraph,
line, sentence or word boundary when one is near, so a chunk rarely cuts a word in half.
Offsets are character offsets into the source text, kept in each vector's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Boundaries, best first: a chunk ends after the last of these in its second half.
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # character offset of the chunk in the source text
    end: int


def split(text: str, size: int, overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``size`` characters, consecutive ones sharing about ``overlap``.

    ``size <= 0`` means no chunking: the whole text is one chunk.
    """
    if size <= 0 or len(text) <= size:
        return [Chunk(text, 0, len(text))]
    overlap = max(0, min(overlap, size // 2))  # always make progress
    chunks: list[Chunk] = []
    start = 0
    while start < len(text):
        end = _boundary(text, start, min(start + size, len(text)))
        chunks.append(Chunk(text[start:end], start, end))
        if end >= len(text):
            break
        start = _next_start(text, start, end, overlap)
    return [c for c in chunks if c.text.strip()] or chunks[:1]


def _boundary(text: str, start: int, end: int) -> int:
    if end >= len(text):
        return len(text)
    window = text[start:end]
    half = len(window) // 2
    for mark in _BREAKS:
        at = window.rfind(mark, half)
        if at != -1:
            return start + at + len(mark)
    return end


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """Back up ``overlap`` characters from ``end``, to the start of a word."""
    if overlap == 0:
        return end
    candidate = max(end - overlap, start + 1)
    space = text.find(" ", candidate, end)
    return space + 1 if space != -1 else candidate


def fit(chunk: Chunk, fits: Callable[[str], bool]) -> list[Chunk]:
    """Halve ``chunk`` (at boundaries) until every piece satisfies ``fits``.

    Character sizes are a guess at the model's token limit; dense text (numbers, code, a
    language the tokenizer knows badly) can need smaller pieces.
    """
    if fits(chunk.text) or len(chunk.text) < 2:
        return [chunk]
    pieces = split(chunk.text, (len(chunk.text) + 1) // 2)
    if len(pieces) == 1:  # no boundary helped: cut in the middle
        middle = len(chunk.text) // 2
        pieces = [
            Chunk(chunk.text[:middle], 0, middle),
            Chunk(chunk.text[middle:], middle, len(chunk.text)),
        ]
    result: list[Chunk] = []
    for piece in pieces:
        moved = Chunk(piece.text, chunk.start + piece.start, chunk.start + piece.end)
        result.extend(fit(moved, fits))
    return result
