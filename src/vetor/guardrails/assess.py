"""Applying a guardrail to text (ApplyGuardrail, and the checks of Retrieve and
RetrieveAndGenerate): what each policy finds, Bedrock's assessment of it, and the verdict.

- **Denied topics**: each sentence of the text, and the whole text, against the topic's
  definition and examples, by the cosine of their all-MiniLM-L6-v2 embeddings; at or above
  ``TOPIC_SIMILARITY`` the topic is detected.
- **Words**: the custom words and phrases (whole words, any case); the managed PROFANITY list
  is the offensive-language model's verdict per sentence.
- **Sensitive information**: the PII types and regexes of ``detectors``; BLOCK blocks,
  ANONYMIZE replaces each match by ``{TYPE}`` (a regex: ``{name}``), NONE only reports.
- **Content filters** (HATE, INSULTS): the offensive-language probability of each sentence,
  against the strength's threshold.
- **Contextual grounding**: GROUNDING is the share of the answer's indexed terms that the
  grounding sources contain; RELEVANCE the cosine of the answer's and the query's embeddings
  (0 when negative). Below its threshold, the answer is blocked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models import get_embedder
from ..store.documents import Document
from ..text.analyzers import analyzer
from .detectors import Found, find_pii, find_regex, find_words, offensive

TOPIC_SIMILARITY = 0.55  # a sentence this close to a topic's definition or example is on it
STRENGTH_THRESHOLDS = {"LOW": 0.95, "MEDIUM": 0.8, "HIGH": 0.6}  # offensive probability
SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass
class Verdict:
    blocked: bool = False
    changed: bool = False  # anonymized
    text: str = ""  # the text after anonymization
    assessment: dict[str, Any] = field(default_factory=dict)

    @property
    def intervened(self) -> bool:
        return self.blocked or self.changed


def assess(
    guardrail: Document, source: str, text: str, grounding: str = "", query: str = ""
) -> Verdict:
    """The guardrail's verdict on ``text`` as input (``INPUT``) or model output (``OUTPUT``);
    ``grounding`` and ``query`` feed the contextual grounding check."""
    direction = "input" if source == "INPUT" else "output"
    verdict = Verdict(text=text)
    sentences = [m.group(0).strip() for m in SENTENCE.finditer(text) if m.group(0).strip()]
    _topics(guardrail, direction, [text, *sentences], verdict)
    _words(guardrail, direction, text, sentences, verdict)
    _content(guardrail, direction, sentences, verdict)
    _sensitive(guardrail, direction, verdict)
    if grounding or query:
        _grounding(guardrail, verdict.text, grounding, query, verdict)
    return verdict


def _enabled(rule: dict[str, Any], direction: str) -> bool:
    return rule.get(f"{direction}Enabled", True) is not False


def _action(rule: dict[str, Any], direction: str, default: str = "BLOCK") -> str:
    return rule.get(f"{direction}Action") or rule.get("action") or default


def _topics(guardrail: Document, direction: str, texts: list[str], verdict: Verdict) -> None:
    topics = [
        t for t in (guardrail.get("topicPolicy") or {}).get("topics", []) if _enabled(t, direction)
    ]
    if not topics or not texts:
        return
    embedder = get_embedder("local")
    asked = embedder.embed_queries(texts)
    found = []
    for topic in topics:
        about = embedder.embed_documents([topic["definition"], *topic.get("examples", [])])
        if float(np.max(np.asarray(asked) @ np.asarray(about).T)) >= TOPIC_SIMILARITY:
            blocks = _action(topic, direction) == "BLOCK"
            verdict.blocked |= blocks
            found.append(
                {
                    "name": topic["name"],
                    "type": "DENY",
                    "detected": True,
                    "action": "BLOCKED" if blocks else "NONE",
                }
            )
    if found:
        verdict.assessment["topicPolicy"] = {"topics": found}


def _words(
    guardrail: Document, direction: str, text: str, sentences: list[str], verdict: Verdict
) -> None:
    policy = guardrail.get("wordPolicy") or {}
    words = [w for w in policy.get("words", []) if _enabled(w, direction)]
    custom = []
    for rule in words:
        for hit in find_words(text, [rule["text"]]):
            blocks = _action(rule, direction) == "BLOCK"
            verdict.blocked |= blocks
            custom.append(
                {"match": hit.text, "detected": True, "action": "BLOCKED" if blocks else "NONE"}
            )
    managed = []
    for rule in policy.get("managedWordLists", []):
        if not _enabled(rule, direction) or not sentences:
            continue
        blocks = _action(rule, direction) == "BLOCK"
        for sentence, probability in zip(sentences, offensive(sentences), strict=True):
            if probability >= STRENGTH_THRESHOLDS["MEDIUM"]:
                verdict.blocked |= blocks
                managed.append(
                    {
                        "match": sentence,
                        "type": "PROFANITY",
                        "detected": True,
                        "action": "BLOCKED" if blocks else "NONE",
                    }
                )
    if custom or managed:
        verdict.assessment["wordPolicy"] = {"customWords": custom, "managedWordLists": managed}


def _content(guardrail: Document, direction: str, sentences: list[str], verdict: Verdict) -> None:
    rules = [
        r
        for r in (guardrail.get("contentPolicy") or {}).get("filters", [])
        if _enabled(r, direction) and r.get(f"{direction}Strength", "NONE") != "NONE"
    ]
    if not rules or not sentences:
        return
    worst = max(offensive(sentences))
    confidence = (
        "HIGH"
        if worst >= 0.95
        else "MEDIUM"
        if worst >= 0.8
        else ("LOW" if worst >= 0.6 else "NONE")
    )
    filters = []
    for rule in rules:
        strength = rule[f"{direction}Strength"]
        if worst < STRENGTH_THRESHOLDS[strength]:
            continue  # reported only when found, as Bedrock does
        detected = True
        blocks = _action(rule, direction) == "BLOCK"
        verdict.blocked |= blocks
        filters.append(
            {
                "type": rule["type"],
                "confidence": confidence,
                "filterStrength": strength,
                "detected": detected,
                "action": "BLOCKED" if blocks else "NONE",
            }
        )
    if filters:
        verdict.assessment["contentPolicy"] = {"filters": filters}


def _sensitive(guardrail: Document, direction: str, verdict: Verdict) -> None:
    policy = guardrail.get("sensitiveInformationPolicy") or {}
    text = verdict.text
    replacements: list[tuple[Found, str]] = []
    entities, regexes = [], []
    for rule in policy.get("piiEntities", []):
        if not _enabled(rule, direction):
            continue
        for hit in find_pii(text, rule["type"]):
            action = _action(rule, direction, "ANONYMIZE")
            entities.append(
                {"match": hit.text, "type": hit.kind, "detected": True, "action": _done(action)}
            )
            replacements.append((hit, action))
    for rule in policy.get("regexes", []):
        if not _enabled(rule, direction):
            continue
        for hit in find_regex(text, rule["name"], rule["pattern"]):
            action = _action(rule, direction, "ANONYMIZE")
            regexes.append(
                {
                    "name": rule["name"],
                    "match": hit.text,
                    "regex": rule["pattern"],
                    "detected": True,
                    "action": _done(action),
                }
            )
            replacements.append((hit, action))
    if not entities and not regexes:
        return
    verdict.assessment["sensitiveInformationPolicy"] = {"piiEntities": entities, "regexes": regexes}
    verdict.blocked |= any(action == "BLOCK" for _, action in replacements)
    masked = sorted((hit for hit, action in replacements if action == "ANONYMIZE"),
                    key=lambda hit: (hit.start, -hit.end))  # fmt: skip
    merged: list[Found] = []  # overlapping matches (a phone inside a card) masked as one
    for hit in masked:
        if merged and hit.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Found(last.kind, last.start, max(last.end, hit.end), "")
        else:
            merged.append(hit)
    for hit in reversed(merged):  # right to left: earlier offsets stay right
        text = text[: hit.start] + "{" + hit.kind + "}" + text[hit.end :]
    verdict.changed |= bool(masked)
    verdict.text = text


def _done(action: str) -> str:
    return {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED"}.get(action, "NONE")


def _grounding(
    guardrail: Document, text: str, grounding: str, query: str, verdict: Verdict
) -> None:
    rules = [
        r
        for r in (guardrail.get("contextualGroundingPolicy") or {}).get("filters", [])
        if r.get("enabled", True) is not False
    ]
    filters = []
    for rule in rules:
        if rule["type"] == "GROUNDING" and grounding:
            terms = set(analyzer("en")(text))
            score = len(terms & set(analyzer("en")(grounding))) / len(terms) if terms else 1.0
        elif rule["type"] == "RELEVANCE" and query:
            vectors = get_embedder("local").embed_documents([text, query])
            score = max(0.0, float(np.dot(vectors[0], vectors[1])))
        else:
            continue
        score = math.floor(score * 100) / 100
        detected = score < float(rule["threshold"])
        blocks = detected and rule.get("action", "BLOCK") == "BLOCK"
        verdict.blocked |= blocks
        filters.append(
            {
                "type": rule["type"],
                "threshold": float(rule["threshold"]),
                "score": score,
                "detected": detected,
                "action": "BLOCKED" if blocks else "NONE",
            }
        )
    if filters:
        verdict.assessment["contextualGroundingPolicy"] = {"filters": filters}
