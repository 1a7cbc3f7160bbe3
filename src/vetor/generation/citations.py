"""Citations: which retrieved passages support which part of an answer, as Bedrock shows them.

The prompt numbers the passages and asks the model to write the number of each one it uses,
``[2]``, after the sentence. The answer the user gets has those markers removed; each of its
sentences that names a passage becomes a citation: its exact span in the answer's text and the
references it named (only numbers that were in the prompt count). A sentence that names none
(small models forget to) is attributed to the passage that contains most of its content words,
if that is at least half of them, so a citation is never a guess from nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..text.analyzers import analyzer

MARKER = re.compile(r"\s*\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]")
HELD = re.compile(r"\s*(?:\[[\d,\s]*)?\Z")  # blanks, or a marker not yet complete
ENDS = ".!?\n"
SUPPORT = 0.5  # share of a sentence's content words a passage must hold to be cited for it


@dataclass(frozen=True)
class Part:
    start: int
    end: int  # exclusive: text[start:end]
    references: tuple[int, ...]  # indices into the prompt's passages


def content_words(text: str) -> set[str]:
    """The terms full-text search would index (stemmed, no stop words)."""
    return set(analyzer("en")(text))


class Citations:
    """Reads an answer as it is generated: ``feed`` returns the text that can be shown now
    (markers removed; a blank or a marker still being written is held back) and the parts
    completed so far. A sentence is complete when the next one starts (markers written after
    its full stop still belong to it) or at ``finish``."""

    def __init__(self, passages: list[str]) -> None:
        self.words = [content_words(p) for p in passages]
        self.text = ""  # what has been shown
        self._pending = ""
        self._start = 0  # where the open sentence starts in ``text``
        self._end: int | None = None  # where it ended (its full stop), if it has
        self._stop: int | None = None  # a full stop just shown: an end if a blank follows
        self._named: list[int] = []

    def feed(self, piece: str) -> tuple[str, list[Part]]:
        self._pending += piece
        held = HELD.search(self._pending)
        cut = held.start() if held else len(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._take(ready)

    def finish(self) -> tuple[str, list[Part]]:
        shown, parts = self._take(MARKER.sub("", self._pending).rstrip())
        self._pending = ""
        end = next((e for e in (self._end, self._stop) if e is not None), len(self.text.rstrip()))
        return shown, parts + self._close(end)

    def _take(self, ready: str) -> tuple[str, list[Part]]:
        shown: list[str] = []
        parts: list[Part] = []
        at = 0
        for marker in MARKER.finditer(ready):
            parts += self._show(ready[at : marker.start()], shown)
            self._named += [int(n) - 1 for n in marker.group(1).split(",")]
            at = marker.end()
        parts += self._show(ready[at:], shown)
        return "".join(shown), parts

    def _show(self, text: str, shown: list[str]) -> list[Part]:
        parts = []
        for char in text:
            if not self.text and char.isspace():
                continue  # the answer starts at its first word
            if self._stop is not None:  # "3.14", "vetor.io", "e.g." do not end a sentence
                self._end = self._stop if char.isspace() else self._end
                self._stop = None
            if self._end is not None and not char.isspace():
                parts += self._close(self._end)
                self._start, self._end = len(self.text), None
            self.text += char
            shown.append(char)
            if char == "\n":
                self._end = len(self.text.rstrip())
            elif char in ENDS:
                self._stop = len(self.text)
        return parts

    def _close(self, end: int) -> list[Part]:
        named, self._named = self._named, []
        if end <= self._start:
            return []
        refs = tuple(dict.fromkeys(n for n in named if 0 <= n < len(self.words)))
        refs = refs or _supporting(content_words(self.text[self._start : end]), self.words)
        return [Part(self._start, end, refs)] if refs else []


def cite(answer: str, passages: list[str]) -> tuple[str, list[Part]]:
    """A whole answer without its ``[n]`` markers, and the parts each passage supports."""
    citations = Citations(passages)
    _, parts = citations.feed(answer)
    _, last = citations.finish()
    return citations.text.rstrip(), parts + last


def _supporting(sentence: set[str], passages: list[set[str]]) -> tuple[int, ...]:
    if not sentence or not passages:
        return ()
    shares = [len(sentence & p) / len(sentence) for p in passages]
    best = max(range(len(shares)), key=shares.__getitem__)
    return (best,) if shares[best] >= SUPPORT else ()


def bedrock_citations(
    text: str, parts: list[Part], references: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Bedrock's ``citations``: each part's text and span with its retrieved references."""
    return [
        {
            "generatedResponsePart": {
                "textResponsePart": {
                    "text": text[p.start : p.end],
                    "span": {"start": p.start, "end": p.end},  # text[start:end]
                }
            },
            "retrievedReferences": [references[i] for i in p.references],
        }
        for p in parts
    ]


def location_of(reference: dict[str, Any]) -> str:
    """Where a retrieved reference comes from: its S3 URI or its custom document's id."""
    location = reference.get("location") or {}
    found = (location.get("s3Location") or {}).get("uri")
    return str(found or (location.get("customDocumentLocation") or {}).get("id", "?"))
