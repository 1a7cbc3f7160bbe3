"""Bedrock's control plane (``bedrock``): ``ListFoundationModels`` and ``GetFoundationModel``
list the generation, embedding and re-ranking models this server can use (the offline
generation model first), from the one model registry and the configured OpenAI-compatible
server, so that a client discovers what a ``modelArn``, an ``embeddingModelArn`` and a
reranking ``modelArn`` may name; the guardrails (Create/Get/List/Update/DeleteGuardrail,
CreateGuardrailVersion) of ``GuardrailService``; and the prompt routers (Create/Get/List/
DeletePromptRouter) of ``PromptRouters``. The model's other operations answer 501."""

from __future__ import annotations

from typing import Any

from ...errors import ResourceNotFoundException
from ...generation.models import catalogue
from ...generation.routing import PromptRouters
from ...guardrails import GuardrailService
from ...models import EMBEDDING, GENERATION, RERANK, ModelEntry, models
from ...settings import Settings
from ..access import Caller
from . import NotImplementedOperation

# A prompt router's models may be vetor's own ("foundation-model/smollm2-135m-instruct"),
# whose ids have no "vendor." prefix that Bedrock's pattern asks for; and a router's ARN is a
# custom router's ("prompt-router/…"), which the model's pattern (default routers) leaves out.
BEDROCK_PATTERNS = {
    "PromptRouterTargetModelArn": r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{0,20}:(\d{12})?:"
    r"(foundation-model|inference-profile|application-inference-profile)/[\w.:-]{1,128}$",
    "PromptRouterArn": r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:\d{12}:"
    r"(default-)?prompt-router/[a-zA-Z0-9-:.]+$",
}
ROUTER_OPERATIONS = (
    "create_prompt_router",
    "get_prompt_router",
    "list_prompt_routers",
    "delete_prompt_router",
)
GUARDRAIL_OPERATIONS = (
    "create_guardrail",
    "get_guardrail",
    "list_guardrails",
    "update_guardrail",
    "delete_guardrail",
    "create_guardrail_version",
)


class BedrockHandler:
    def __init__(
        self, settings: Settings, guardrails: GuardrailService, routers: PromptRouters
    ) -> None:
        self.settings, self.guardrails, self.routers = settings, guardrails, routers

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        if function == "list_foundation_models":
            listed = [e for e in self._served() if _wanted(e, params)]
            return {"modelSummaries": [self._describe(e) for e in listed]}
        if function == "get_foundation_model":
            wanted = params["modelIdentifier"].rsplit("foundation-model/", 1)[-1]
            for entry in self._served():
                if entry.model_id == wanted:
                    return {"modelDetails": self._describe(entry)}
            raise ResourceNotFoundException(f"The model {params['modelIdentifier']} does not exist")
        if function in GUARDRAIL_OPERATIONS:
            return getattr(self.guardrails, function)(**params)
        if function in ROUTER_OPERATIONS:
            return getattr(self.routers, function)(**params)
        raise NotImplementedOperation(f"vetor does not serve bedrock {function} yet")

    def _describe(self, entry: ModelEntry) -> dict[str, Any]:
        return {
            "modelArn": f"arn:aws:bedrock:{self.settings.region}::foundation-model/"
            f"{entry.model_id}",
            "modelId": entry.model_id,
            "modelName": entry.model_id,
            "providerName": entry.vendor,
            "inputModalities": list(entry.input_modalities),
            "outputModalities": list(entry.output_modalities),
            "responseStreamingSupported": entry.kind == GENERATION,
            "customizationsSupported": [],
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        }

    def _served(self) -> list[ModelEntry]:
        return catalogue(self.settings) + models(EMBEDDING) + models(RERANK)


def _wanted(entry: ModelEntry, params: dict[str, Any]) -> bool:
    provider = params.get("byProvider")
    modality = params.get("byOutputModality")
    inference = params.get("byInferenceType")
    return (
        (provider is None or provider.lower() == entry.vendor.lower())
        and (modality is None or modality in entry.output_modalities)
        and (inference is None or inference == "ON_DEMAND")
        and params.get("byCustomizationType") is None  # none of them can be customized
    )
