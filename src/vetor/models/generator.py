"""The interface of text-generation (chat) models: messages in, text out, streamed.

Every generation provider (the offline llama.cpp model, an OpenAI-compatible server, Bedrock
Converse, Vertex Gemini) implements ``stream``: it yields the answer's text as it arrives and
returns how it ended. ``generate`` is the same, collected. Providers live in
``vetor.generation.providers`` and import only this module; the registry finds them by name.
A provider that cannot answer raises ``GenerationError`` (a remote one within its timeout).
"""

from __future__ import annotations

import collections.abc
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from .calls import MODEL_CALLS


class GenerationError(RuntimeError):
    """The model could not answer: not installed, unreachable, too slow, refused."""


@dataclass(frozen=True)
class Message:
    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class Inference:
    """How to sample, as Bedrock's ``inferenceConfig`` says it."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = "end_turn"  # end_turn | max_tokens | stop_sequence
    cached_input_tokens: int = 0  # the prompt's tokens an answer cache read instead


@dataclass
class Generation:
    text: str
    usage: Usage = field(default_factory=Usage)


TextStream = collections.abc.Generator[str, None, "Usage"]  # pieces of text, then the usage


class Generator(ABC):
    provider: str = ""
    model: str = ""
    # Whether the model can be asked to write the number of each source it uses ("[2]"); a
    # very small one answers worse when asked, and gets a plainer prompt.
    cites_sources: bool = True

    @abstractmethod
    def stream(
        self, messages: Sequence[Message], system: str = "", inference: Inference = Inference()
    ) -> TextStream:
        """Pieces of the answer as they are generated; the generator's return value (its
        ``StopIteration.value``) is the ``Usage``."""

    def generate(
        self, messages: Sequence[Message], system: str = "", inference: Inference = Inference()
    ) -> Generation:
        stream = Tracked(self.stream(messages, system, inference), self.identity)
        return Generation("".join(stream), stream.usage)

    @property
    def identity(self) -> str:
        return f"{self.provider}:{self.model}"


class Tracked:
    """A text stream read piece by piece (``for piece in tracked``); once it has ended,
    ``usage`` is what it returned. With ``model``, the stream is a call to that model,
    counted in ``MODEL_CALLS`` (tokens out as its items) when it ends."""

    def __init__(self, stream: TextStream, model: str | None = None) -> None:
        self._stream, self.usage, self.model = stream, Usage(), model

    def __iter__(self) -> collections.abc.Iterator[str]:
        started, failed = time.perf_counter(), True
        try:
            usage = yield from self._stream
            self.usage = usage if isinstance(usage, Usage) else Usage()
            failed = False
        except GeneratorExit:  # the reader stopped early: not the model's failure
            failed = False
            raise
        finally:
            if self.model is not None:
                seconds = time.perf_counter() - started
                tokens = self.usage.output_tokens
                MODEL_CALLS.record("generation", self.model, seconds, tokens, failed)
