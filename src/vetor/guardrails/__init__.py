"""Guardrails: Bedrock's guardrail policies (denied topics, words, sensitive information,
content filters, contextual grounding), kept in the store and applied offline.

``policies`` is the control plane (Create/Get/List/Update/Delete, versions), ``detectors``
what is looked for, ``assess`` how a guardrail judges a text, ``service`` the operations.
"""

from .service import GuardrailService

__all__ = ["GuardrailService"]
