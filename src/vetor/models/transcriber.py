"""The interface every speech-to-text provider implements.

Audio reaches a vector index as text: a recording is transcribed, then its transcript is
chunked and embedded like any text, with the model the index uses. Providers live in
``vetor.embed.providers`` and import only this module; the registry finds them by name.
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
    def transcribe(self, audio: bytes) -> Transcript:
        """The speech in ``audio`` (any container and codec FFmpeg reads: WAV, MP3, FLAC...)."""
