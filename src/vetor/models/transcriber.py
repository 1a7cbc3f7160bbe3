"""The interface of providers that turn media into text: speech (Whisper) and the text in
images (OCR).

A recording, or a picture given to a text model, reaches a vector index as text: it is
transcribed, then chunked and embedded like any text, with the model the index uses.
Providers live in ``vetor.embed.providers`` and import only this module; the registry finds
them by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None = None  # ISO 639-1, as the model detected it


class Transcriber(ABC):
    provider: str = ""
    model: str = ""

    @abstractmethod
    def transcribe(self, data: bytes) -> Transcript:
        """The words in ``data``: speech in a recording (any container and codec FFmpeg
        reads), text in an image (PNG, JPEG...)."""
