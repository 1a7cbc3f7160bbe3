"""Text in images, offline: RapidOCR (PP-OCRv4 detection and recognition, ONNX) reads it.

No image-text (CLIP-style) model ships inside a registry package, so a text model indexes an
image by the words it shows — screenshots, slides, scans, signs. The models come inside
``rapidocr-onnxruntime`` (Apache-2.0, 15 MB); install with ``pip install 'vetor[ocr]'``. A
CLIP model (a local directory for the ``local`` provider) or an image model on Bedrock or
Vertex embeds the picture itself instead.
"""

from __future__ import annotations

import threading

from vetor.models import EmbeddingError, Transcriber, Transcript

NEEDS_EXTRA = "reading images needs the ocr extra: pip install 'vetor[ocr]'"


class OcrTranscriber(Transcriber):
    provider = "ocr"

    def __init__(self, model: str | None = None) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as error:
            raise EmbeddingError(NEEDS_EXTRA) from error
        self.model = model or "pp-ocrv4"
        self._engine = RapidOCR()
        self._lock = threading.Lock()

    def transcribe(self, data: bytes) -> Transcript:
        try:
            with self._lock:
                found, _ = self._engine(data)
        except Exception as error:  # not an image OpenCV can decode
            raise EmbeddingError(f"cannot read the image: {error}") from None
        lines = [text for _, text, _ in found or []]  # boxes come top to bottom
        return Transcript("\n".join(lines))
