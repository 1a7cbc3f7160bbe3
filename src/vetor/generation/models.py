"""Which generation model a request names: Bedrock's ``modelArn`` (or a bare model id) →
a loaded ``Generator``. The registry's catalogued models (the offline default first), then
the models an OpenAI-compatible server serves (settings ``llm_base_url``, ``llm_models``)."""

from __future__ import annotations

from typing import Any

from ..errors import DependencyFailedException, ValidationException
from ..models import (
    GENERATION,
    GenerationError,
    Generator,
    Inference,
    Message,
    ModelEntry,
    TextStream,
    Tracked,
    get_generator,
    models,
)
from ..settings import Settings
from .cache import ANSWERS

REMOTE = "openai-chat"
OFFLINE = "llama-cpp"


def catalogue(settings: Settings) -> list[ModelEntry]:
    """The generation models this server can answer with, the offline default first."""
    served = [ModelEntry(m, REMOTE, GENERATION, "vetor", output_modalities=("TEXT",))
              for m in configured(settings)]  # fmt: skip
    return [*models(GENERATION), *served]


def configured(settings: Settings) -> list[str]:
    if not settings.llm_base_url:
        return []
    return [m.strip() for m in settings.llm_models.split(",") if m.strip()]


def generator_for(model_arn: str, settings: Settings) -> Generator:
    model_id = model_arn.rsplit("/", 1)[-1]  # foundation-model/<id>, inference-profile/<id>
    try:
        for entry in models(GENERATION):
            if entry.model_id == model_id:
                if entry.provider == OFFLINE:
                    return get_generator(OFFLINE, model_id, threads=settings.llm_threads,
                                         timeout=settings.llm_timeout_seconds)  # fmt: skip
                return get_generator(entry.provider, model_id, timeout=settings.llm_timeout_seconds)
        if model_id in configured(settings):
            return get_generator(REMOTE, model_id, base_url=settings.llm_base_url,
                                 api_key=settings.llm_api_key,
                                 timeout=settings.llm_timeout_seconds)  # fmt: skip
    except GenerationError as error:
        raise DependencyFailedException(f"The model {model_id} cannot be used: {error}") from None
    known = ", ".join(e.model_id for e in catalogue(settings))
    raise ValidationException(f"The model {model_arn} is not available (vetor has: {known})")


def inference_of(config: dict[str, Any] | None) -> Inference:
    """Bedrock's inference configuration (Converse's ``inferenceConfig``, RetrieveAndGenerate's
    ``textInferenceConfig``: the same members) as the models take it."""
    config = config or {}
    return Inference(
        max_tokens=int(config.get("maxTokens") or 512),
        temperature=float(config.get("temperature") or 0.0),
        top_p=float(config.get("topP") or 1.0),
        stop=tuple(config.get("stopSequences") or ()),
    )


def generate(
    generator: Generator,
    messages: list[Message],
    system: str,
    inference: Inference,
    cache_seconds: float = 0.0,
) -> TextStream:
    """The model's answer as it streams (replayed from the answer cache when an identical
    greedy request was answered less than ``cache_seconds`` ago); a model that fails (down,
    too slow) fails the request with Bedrock's DependencyFailedException."""
    key = ANSWERS.key(generator, messages, system, inference) if cache_seconds > 0 else None
    cached = ANSWERS.get(key, cache_seconds) if key is not None else None
    if cached is not None:
        pieces, usage = cached
        yield from pieces
        return usage
    pieces = []
    stream = Tracked(generator.stream(messages, system, inference), generator.identity)
    try:
        for piece in stream:
            pieces.append(piece)
            yield piece
    except GenerationError as error:
        raise DependencyFailedException(f"The model {generator.model} failed: {error}") from None
    if key is not None:
        ANSWERS.put(key, pieces, stream.usage)
    return stream.usage
