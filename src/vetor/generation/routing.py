"""Prompt routers, as Bedrock's intelligent prompt routing shapes them (``bedrock``: Create/Get/
List/DeletePromptRouter; a router's ARN as the ``modelId`` of Converse and chat completions or
the ``modelArn`` of RetrieveAndGenerate).

A router names two generation models: the fallback (the stronger one) and the other, cheaper
one, and a ``responseQualityDifference`` in percent. A question goes to the cheaper model when
its answer is predicted to be at most that much worse than the fallback's, else to the
fallback. Bedrock predicts with a trained model; vetor predicts with a rule it documents
(``difficulty``), so a router's choice can be read and reproduced: the predicted difference
is ``100 × difficulty``. ``bench/bench_generation.py --quality --strong-url …`` measures
what the rule buys (quality and time of each threshold, against either model alone and
against the same share of questions routed at random).

Invoking a router is authorized on the router (``bedrock:InvokeModel`` on its ARN), not on the
models it picks: who may create routers decides which models they reach.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictException, ResourceNotFoundException, ValidationException
from ..service import VectorService
from ..store.documents import VersionedDocuments, new_lower_id, view
from .models import catalogue

ROOT = "_vetor/prompt-routers"
# A custom router's ARN, as this server makes them; anything else names a model.
ROUTER_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]{1,20}:\d{12}:prompt-router/([a-z0-9]{10,12})$"
)
# Words that ask for reasoning rather than a fact, in English and Portuguese.
REASONING = re.compile(
    r"\b(why|how|explain|compare|comparison|differen\w*|versus|vs|pros|cons|trade-?offs?|"
    r"should|best|design|implement|write|derive|prove|steps?|por ?que|como|expliqu\w*|"
    r"compar\w*|diferen\w*|melhor|deveria|implement\w*|escrev\w*)\b",
    re.IGNORECASE,
)
# More than one thing asked: two question marks, or "and" before a second question word.
SEVERAL = re.compile(
    r"\?.*\?|\b(and|e)\s+(what|how|why|when|which|where|who|can|does|do|is|are|o que|"
    r"qual|quais|quando|onde)\b",
    re.IGNORECASE | re.DOTALL,
)


def router_id(name: str) -> str | None:
    """The id of the router a model name is the ARN of; None when it names a model."""
    match = ROUTER_ARN.match(name)
    return match.group(1) if match else None


def difficulty(question: str, earlier_turns: int = 0) -> float:
    """How hard a question is for a small model, in [0, 1]: the sum of
    - its length: 0.02 a word beyond the sixth, at most 0.4;
    - 0.3 when it asks for reasoning (why, how, explain, compare, should, …);
    - 0.2 when it asks more than one thing (two question marks, "… and how …");
    - 0.1 when it follows earlier turns of a session (it leans on what was said)."""
    words = question.split()
    score = min(max(len(words) - 6, 0) * 0.02, 0.4)
    if REASONING.search(question):
        score += 0.3
    if SEVERAL.search(question):
        score += 0.2
    if earlier_turns:
        score += 0.1
    return min(score, 1.0)


class PromptRouters:
    def __init__(self, service: VectorService) -> None:
        self.settings = service.settings
        self.documents = VersionedDocuments(
            service.store, f"{ROOT}/routers", f"{ROOT}/names", "promptRouterId"
        )

    def resolve(self, model: str, question: str, earlier_turns: int = 0) -> str:
        """The model a request names, with a router's ARN replaced by the model it routes this
        question to."""
        if router_id(model) is None:
            return model
        router = self.find(model)
        predicted = round(100 * difficulty(question, earlier_turns), 6)  # 30, not 30.000…04
        criteria = router["routingCriteria"]["responseQualityDifference"]
        fallback = router["fallbackModel"]["modelArn"]
        if predicted > criteria:
            return str(fallback)
        cheaper = [m["modelArn"] for m in router["models"] if m["modelArn"] != fallback]
        return str(cheaper[0])

    # --- the operations ----------------------------------------------------------------------

    def create_prompt_router(
        self,
        *,
        promptRouterName: str,
        models: list[dict[str, str]],
        routingCriteria: dict[str, float],
        fallbackModel: dict[str, str],
        description: str | None = None,
        clientRequestToken: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        self._check(models, routingCriteria, fallbackModel)
        new = new_lower_id(clientRequestToken)
        now = datetime.now(UTC).isoformat()
        document = {
            "promptRouterId": new,
            "name": promptRouterName,
            "promptRouterName": promptRouterName,
            "promptRouterArn": self.arn(new),
            "models": models,
            "fallbackModel": fallbackModel,
            "routingCriteria": {
                "responseQualityDifference": float(routingCriteria["responseQualityDifference"])
            },
            "status": "AVAILABLE",
            "type": "custom",
            "createdAt": now,
            "updatedAt": now,
            **({"description": description} if description else {}),
        }
        if not self.documents.create(document):
            raise ConflictException(f"A prompt router named {promptRouterName} already exists")
        return {"promptRouterArn": document["promptRouterArn"]}

    def get_prompt_router(self, *, promptRouterArn: str) -> dict[str, Any]:
        return _shown(self.find(promptRouterArn))

    def list_prompt_routers(
        self, *, maxResults: int | None = None, nextToken: str | None = None, type: str = "custom"
    ) -> dict[str, Any]:
        routers = [] if type == "default" else [self.documents.get(i) for i in self.documents.ids()]
        shown = sorted((_shown(r) for r in routers if r), key=lambda r: r["promptRouterName"])
        if nextToken is not None and not nextToken.isdigit():
            raise ValidationException("The nextToken is not one this server gave")
        start = int(nextToken or 0)
        page = shown[start : start + (maxResults or 100)]
        more = start + len(page) < len(shown)
        return {"promptRouterSummaries": page, **({"nextToken": str(start + len(page))}
                                                   if more else {})}  # fmt: skip

    def delete_prompt_router(self, *, promptRouterArn: str) -> dict[str, Any]:
        self.documents.delete(self.find(promptRouterArn))
        return {}

    # --- helpers ------------------------------------------------------------------------------

    def find(self, arn: str) -> dict[str, Any]:
        """The router an ARN names (its id: any region and account name this server's)."""
        router_of = router_id(arn)
        router = self.documents.get(router_of) if router_of else None
        if router is None:
            raise ResourceNotFoundException(f"The prompt router {arn} does not exist")
        return router

    def arn(self, router: str) -> str:
        s = self.settings
        return f"arn:aws:bedrock:{s.region}:{s.account_id}:prompt-router/{router}"

    def _check(
        self, models: list[dict[str, str]], criteria: dict[str, float], fallback: dict[str, str]
    ) -> None:
        arns = [m.get("modelArn", "") for m in models]
        if len(arns) != 2 or arns[0] == arns[1]:
            raise ValidationException("A prompt router routes between two different models")
        if fallback.get("modelArn") not in arns:
            raise ValidationException("The fallback model must be one of the router's models")
        known = {e.model_id for e in catalogue(self.settings)}
        for arn in arns:
            if arn.rsplit("/", 1)[-1] not in known:
                raise ValidationException(
                    f"The model {arn} is not available (vetor has: {', '.join(sorted(known))})"
                )
        difference = criteria.get("responseQualityDifference")
        if difference is None or not 0 <= float(difference) <= 100:
            raise ValidationException("routingCriteria.responseQualityDifference is 0 to 100")


def _shown(router: dict[str, Any]) -> dict[str, Any]:
    return view(router, ("promptRouterId", "name"))
