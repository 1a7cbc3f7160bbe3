"""Guardrails behind boto3's names: the ``bedrock`` operations (``Guardrails``), bedrock-runtime's
``ApplyGuardrail``, and ``check`` for the Retrieve / RetrieveAndGenerate checks."""

from __future__ import annotations

import math
from typing import Any

from ..errors import ValidationException
from ..service import VectorService
from .assess import Verdict, assess
from .policies import DRAFT, Guardrails

QUALIFIERS = ("grounding_source", "query", "guard_content")


class GuardrailService(Guardrails):
    def __init__(self, service: VectorService) -> None:
        super().__init__(service)

    def apply_guardrail(
        self,
        *,
        guardrailIdentifier: str,
        guardrailVersion: str,
        source: str,
        content: list[dict[str, Any]],
        outputScope: str | None = None,
    ) -> dict[str, Any]:
        guardrail = self.find(guardrailIdentifier, guardrailVersion)
        texts: dict[str, list[str]] = {q: [] for q in QUALIFIERS}
        for block in content:
            if "text" not in block:
                raise ValidationException("vetor's guardrails read text content blocks only")
            qualifiers = block["text"].get("qualifiers") or ["guard_content"]
            for qualifier in qualifiers:
                texts[qualifier].append(block["text"]["text"])
        guarded = "\n".join(texts["guard_content"])
        verdict = assess(
            guardrail,
            source,
            guarded,
            "\n".join(texts["grounding_source"]),
            "\n".join(texts["query"]),
        )
        return self.reply(guardrail, source, verdict, len(guarded))

    def check(
        self, config: dict[str, Any], source: str, text: str, grounding: str = "", query: str = ""
    ) -> tuple[Verdict, str]:
        """A request's ``guardrailConfiguration`` applied to ``text``: the verdict and what to
        show (the text, anonymized, or the guardrail's blocked message)."""
        guardrail = self.find(config["guardrailId"], config.get("guardrailVersion") or DRAFT)
        verdict = assess(guardrail, source, text, grounding, query)
        return verdict, self.shown(guardrail, source, verdict)

    @staticmethod
    def shown(guardrail: dict[str, Any], source: str, verdict: Verdict) -> str:
        if verdict.blocked:
            key = "blockedInputMessaging" if source == "INPUT" else "blockedOutputsMessaging"
            return str(guardrail[key])
        return verdict.text

    def reply(
        self, guardrail: dict[str, Any], source: str, verdict: Verdict, characters: int
    ) -> dict[str, Any]:
        units = math.ceil(characters / 1000) if characters else 0
        policies = (
            "topicPolicy",
            "contentPolicy",
            "wordPolicy",
            "sensitiveInformationPolicy",
            "contextualGroundingPolicy",
        )
        usage = {f"{p}Units": units if guardrail.get(p) else 0 for p in policies}
        usage["sensitiveInformationPolicyFreeUnits"] = 0
        return {
            "action": "GUARDRAIL_INTERVENED" if verdict.intervened else "NONE",
            "outputs": [{"text": self.shown(guardrail, source, verdict)}]
            if verdict.intervened
            else [],
            "assessments": [verdict.assessment] if verdict.assessment else [],
            "usage": usage,
        }
