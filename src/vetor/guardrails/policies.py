"""Guardrails as Bedrock's control plane keeps them (``bedrock``: Create/Get/List/Update/
DeleteGuardrail, CreateGuardrailVersion), in the store.

The working copy (version ``DRAFT``) is a versioned document (``store.documents``) named by
its guardrail's name; ``CreateGuardrailVersion`` freezes it as version 1, 2, … (each created
with put-if-absent, so two concurrent calls cannot make the same number). A configuration is
checked when it is put: a policy vetor cannot evaluate offline is refused with the reason,
never stored to be silently ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import ConflictException, ResourceNotFoundException, ValidationException
from ..service import VectorService
from ..store.documents import Document, VersionedDocuments, new_lower_id, view
from .detectors import check_pii_types, find_regex

ROOT = "_vetor/guardrails"
DRAFT = "DRAFT"
EVALUATED_CONTENT = ("HATE", "INSULTS")  # what the offline offensive-language model judges
STRENGTHS = ("NONE", "LOW", "MEDIUM", "HIGH")
CONFIG_TO_POLICY = {  # request member → (stored member, its lists: request name → stored name)
    "topicPolicyConfig": ("topicPolicy", {"topicsConfig": "topics"}),
    "contentPolicyConfig": ("contentPolicy", {"filtersConfig": "filters"}),
    "wordPolicyConfig": (
        "wordPolicy",
        {"wordsConfig": "words", "managedWordListsConfig": "managedWordLists"},
    ),
    "sensitiveInformationPolicyConfig": (
        "sensitiveInformationPolicy",
        {"piiEntitiesConfig": "piiEntities", "regexesConfig": "regexes"},
    ),
    "contextualGroundingPolicyConfig": ("contextualGroundingPolicy", {"filtersConfig": "filters"}),
}


class Guardrails:
    def __init__(self, service: VectorService) -> None:
        self.store, self.settings = service.store, service.settings
        self.drafts = VersionedDocuments(
            self.store, f"{ROOT}/drafts", f"{ROOT}/names", "guardrailId"
        )

    # --- the operations ----------------------------------------------------------------------

    def create_guardrail(
        self, *, name: str, blockedInputMessaging: str, blockedOutputsMessaging: str, **config: Any
    ) -> dict[str, Any]:
        token = config.get("clientRequestToken")  # boto3 sends one; a retry sends it again
        guardrail_id = new_lower_id(token)
        now = _now()
        document = {
            "guardrailId": guardrail_id,
            "guardrailArn": self.arn(guardrail_id),
            "name": name,
            "version": DRAFT,
            "status": "READY",
            "createdAt": now,
            "updatedAt": now,
            "blockedInputMessaging": blockedInputMessaging,
            "blockedOutputsMessaging": blockedOutputsMessaging,
            **_policies(config),
        }
        if not self.drafts.create(document):
            raise ConflictException(f"A guardrail named {name} already exists")
        document = self.drafts.get(guardrail_id) or document  # a retry: the first one's
        return {
            "guardrailId": guardrail_id,
            "guardrailArn": document["guardrailArn"],
            "version": DRAFT,
            "createdAt": datetime.fromisoformat(now),
        }

    def get_guardrail(
        self, *, guardrailIdentifier: str, guardrailVersion: str | None = None
    ) -> dict[str, Any]:
        return view(self.find(guardrailIdentifier, guardrailVersion or DRAFT))

    def list_guardrails(
        self,
        *,
        guardrailIdentifier: str | None = None,
        maxResults: int | None = None,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        if guardrailIdentifier:  # the versions of one guardrail
            found = self.find(guardrailIdentifier)
            versions = [found] + [
                self.find(found["guardrailId"], v) for v in self._versions(found["guardrailId"])
            ]
        else:
            versions = [d for d in (self.drafts.get(i) for i in self.drafts.ids()) if d]
        start = int(nextToken) if nextToken and nextToken.isdigit() else 0
        limit = int(maxResults or 1000)
        fields = ("name", "description", "status", "version", "createdAt", "updatedAt")
        page = [
            {
                "id": d["guardrailId"],
                "arn": d["guardrailArn"],
                **{k: d[k] for k in fields if k in d},
            }
            for d in versions[start : start + limit]
        ]
        body: dict[str, Any] = {"guardrails": [view(p) for p in page]}
        if start + limit < len(versions):
            body["nextToken"] = str(start + limit)
        return body

    def update_guardrail(
        self,
        *,
        guardrailIdentifier: str,
        name: str,
        blockedInputMessaging: str,
        blockedOutputsMessaging: str,
        **config: Any,
    ) -> dict[str, Any]:
        old = self.find(guardrailIdentifier)
        keep = ("guardrailId", "guardrailArn", "version", "status", "createdAt")
        new = {
            **{k: old[k] for k in keep},
            "name": name,
            "updatedAt": _now(),
            "blockedInputMessaging": blockedInputMessaging,
            "blockedOutputsMessaging": blockedOutputsMessaging,
            **_policies(config),
        }
        self.drafts.replace(old, new)
        return {
            "guardrailId": old["guardrailId"],
            "guardrailArn": old["guardrailArn"],
            "version": DRAFT,
            "updatedAt": datetime.fromisoformat(new["updatedAt"]),
        }

    def create_guardrail_version(
        self,
        *,
        guardrailIdentifier: str,
        description: str | None = None,
        clientRequestToken: str | None = None,
    ) -> dict[str, Any]:
        draft = self.find(guardrailIdentifier)
        guardrail_id = draft["guardrailId"]
        while True:  # the next free number: put-if-absent decides between racing callers
            number = str(max(map(int, self._versions(guardrail_id)), default=0) + 1)
            frozen = {k: v for k, v in draft.items() if k != "_version"}
            frozen.update(version=number, description=description or draft.get("description"))
            frozen = {k: v for k, v in frozen.items() if v is not None}
            if self.store.put_if_absent(
                self._version_key(guardrail_id, number), orjson.dumps(frozen)
            ):
                return {"guardrailId": guardrail_id, "version": number}

    def delete_guardrail(
        self, *, guardrailIdentifier: str, guardrailVersion: str | None = None
    ) -> dict[str, Any]:
        draft = self.find(guardrailIdentifier)
        guardrail_id = draft["guardrailId"]
        if guardrailVersion:
            self.find(guardrail_id, guardrailVersion)
            self.store.delete(self._version_key(guardrail_id, guardrailVersion))
            return {}
        self.store.delete_prefix(f"{ROOT}/versions/{guardrail_id}/")
        self.drafts.delete(draft)
        return {}

    # --- lookups -------------------------------------------------------------------------------

    def find(self, identifier: str, version: str = DRAFT) -> Document:
        """A guardrail version (``DRAFT`` or a number) by id or ARN; ResourceNotFound else."""
        guardrail_id = identifier.rsplit("guardrail/", 1)[-1]
        draft = self.drafts.get(guardrail_id) if guardrail_id.isalnum() else None
        if draft is not None and version == DRAFT:
            return draft
        if draft is not None and version.isdigit():
            raw = self.store.get_many([self._version_key(guardrail_id, version)], missing_ok=True)
            if raw[0] is not None:
                return dict(orjson.loads(bytes(raw[0])))
        raise ResourceNotFoundException(
            f"The guardrail {identifier} (version {version}) does not exist"
        )

    def arn(self, guardrail_id: str) -> str:
        s = self.settings
        return f"arn:aws:bedrock:{s.region}:{s.account_id}:guardrail/{guardrail_id}"

    def _versions(self, guardrail_id: str) -> list[str]:
        prefix = f"{ROOT}/versions/{guardrail_id}/"
        names = [info.key[len(prefix) :].removesuffix(".json") for info in self.store.list(prefix)]
        return sorted((n for n in names if n.isdigit()), key=int)

    def _version_key(self, guardrail_id: str, version: str) -> str:
        return f"{ROOT}/versions/{guardrail_id}/{int(version):08d}.json"


def _policies(config: dict[str, Any]) -> dict[str, Any]:
    """The stored policies of a Create/UpdateGuardrail request, checked."""
    unknown = (
        set(config)
        - set(CONFIG_TO_POLICY)
        - {"description", "kmsKeyId", "tags", "clientRequestToken", "crossRegionConfig"}
    )
    if unknown:
        raise ValidationException(f"vetor does not evaluate {', '.join(sorted(unknown))}")
    stored: dict[str, Any] = {}
    if config.get("description"):
        stored["description"] = config["description"]
    for member, (policy, lists) in CONFIG_TO_POLICY.items():
        if member in config:
            stored[policy] = {
                name: config[member].get(request, []) for request, name in lists.items()
            }
    _check(stored)
    return stored


def _check(stored: dict[str, Any]) -> None:
    sensitive = stored.get("sensitiveInformationPolicy") or {}
    check_pii_types([e["type"] for e in sensitive.get("piiEntities", [])])
    for regex in sensitive.get("regexes", []):
        list(find_regex("", regex["name"], regex["pattern"]))  # compiles it, or says why not
    for word_list in (stored.get("wordPolicy") or {}).get("managedWordLists", []):
        if word_list["type"] != "PROFANITY":
            raise ValidationException(f"Unknown managed word list {word_list['type']}")
    for rule in (stored.get("contentPolicy") or {}).get("filters", []):
        strengths = (rule.get("inputStrength", "NONE"), rule.get("outputStrength", "NONE"))
        if rule["type"] not in EVALUATED_CONTENT and strengths != ("NONE", "NONE"):
            raise ValidationException(
                f"vetor has no offline classifier for {rule['type']} content; it filters "
                f"{' and '.join(EVALUATED_CONTENT)} (offensive language)"
            )


def _now() -> str:
    return datetime.now(UTC).isoformat()
