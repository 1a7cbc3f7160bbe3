"""Guardrails through boto3 against ``vetor serve``: the ``bedrock`` control plane
(Create/Get/List/Update/DeleteGuardrail, versions) and bedrock-runtime's ApplyGuardrail, each
policy judged offline for real (MiniLM for topics and relevance, the offensive-language model,
the PII detectors)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

from vetor.guardrails.detectors import find_pii

BLOCKED_IN, BLOCKED_OUT = "Sorry, I cannot talk about that.", "Sorry, I cannot say that."
INVESTING = {
    "name": "investing",
    "definition": "Recommendations or advice about investing money in stocks, funds, bonds or "
    "cryptocurrencies.",
    "examples": ["Which stocks should I buy?", "Is bitcoin a good investment?"],
    "type": "DENY",
}


def policy(**extra: Any) -> dict[str, Any]:
    return {
        "blockedInputMessaging": BLOCKED_IN,
        "blockedOutputsMessaging": BLOCKED_OUT,
        "topicPolicyConfig": {"topicsConfig": [INVESTING]},
        "wordPolicyConfig": {"wordsConfig": [{"text": "project nightingale"}],
                             "managedWordListsConfig": [{"type": "PROFANITY"}]},
        "sensitiveInformationPolicyConfig": {
            "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"},
                                  {"type": "CREDIT_DEBIT_CARD_NUMBER", "action": "BLOCK"}],
            "regexesConfig": [{"name": "EMPLOYEE_ID", "pattern": r"EMP-\d{6}",
                               "action": "ANONYMIZE"}],
        },
        "contentPolicyConfig": {"filtersConfig": [
            {"type": "INSULTS", "inputStrength": "HIGH", "outputStrength": "HIGH"}]},
        "contextualGroundingPolicyConfig": {"filtersConfig": [
            {"type": "GROUNDING", "threshold": 0.5}, {"type": "RELEVANCE", "threshold": 0.3}]},
        **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def guard(server: Server) -> dict[str, Any]:
    bedrock = server.client("bedrock")
    created = bedrock.create_guardrail(name="handbook-guard", **policy())
    return {"id": created["guardrailId"], "arn": created["guardrailArn"]}


def apply(server: Server, guard: dict[str, Any], text: str, source: str = "INPUT",
          **context: str) -> dict[str, Any]:  # fmt: skip
    content = [{"text": {"text": text, "qualifiers": ["guard_content"]}}]
    content += [{"text": {"text": value, "qualifiers": [qualifier]}}
                for qualifier, value in context.items()]  # fmt: skip
    return server.client("bedrock-runtime").apply_guardrail(
        guardrailIdentifier=guard["id"], guardrailVersion="DRAFT", source=source, content=content
    )


def test_control_plane_life_cycle(server: Server, guard: dict[str, Any]) -> None:
    bedrock = server.client("bedrock")
    got = bedrock.get_guardrail(guardrailIdentifier=guard["arn"])
    assert (got["name"], got["version"], got["status"]) == ("handbook-guard", "DRAFT", "READY")
    assert got["topicPolicy"]["topics"][0]["name"] == "investing"
    assert got["sensitiveInformationPolicy"]["piiEntities"][0]["type"] == "EMAIL"
    version = bedrock.create_guardrail_version(guardrailIdentifier=guard["id"])["version"]
    assert version == "1"
    bedrock.update_guardrail(guardrailIdentifier=guard["id"], name="handbook-guard",
                             **policy(description="changed"))  # fmt: skip
    assert bedrock.get_guardrail(guardrailIdentifier=guard["id"])["description"] == "changed"
    frozen = bedrock.get_guardrail(guardrailIdentifier=guard["id"], guardrailVersion="1")
    assert frozen["version"] == "1" and "description" not in frozen
    listed = bedrock.list_guardrails(guardrailIdentifier=guard["id"])["guardrails"]
    assert [g["version"] for g in listed] == ["DRAFT", "1"]
    assert guard["id"] in [g["id"] for g in bedrock.list_guardrails()["guardrails"]]
    bedrock.delete_guardrail(guardrailIdentifier=guard["id"], guardrailVersion="1")
    with pytest.raises(ClientError) as error:
        bedrock.get_guardrail(guardrailIdentifier=guard["id"], guardrailVersion="1")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_wrong_configurations_are_refused(server: Server, guard: dict[str, Any]) -> None:
    bedrock = server.client("bedrock")
    cases = [
        ({"name": "handbook-guard", **policy()}, "ConflictException"),  # the name is taken
        ({"name": "names", **policy(sensitiveInformationPolicyConfig={
            "piiEntitiesConfig": [{"type": "NAME", "action": "BLOCK"}]})}, "ValidationException"),
        ({"name": "sexual", **policy(contentPolicyConfig={"filtersConfig": [
            {"type": "SEXUAL", "inputStrength": "HIGH", "outputStrength": "HIGH"}]})},
         "ValidationException"),
        ({"name": "regex", **policy(sensitiveInformationPolicyConfig={"regexesConfig": [
            {"name": "bad", "pattern": "(unclosed", "action": "BLOCK"}]})}, "ValidationException"),
    ]  # fmt: skip
    for request, code in cases:
        with pytest.raises(ClientError) as error:
            bedrock.create_guardrail(**request)
        assert error.value.response["Error"]["Code"] == code, request["name"]
    # nothing half-made: the refused ones left no guardrail behind
    assert [g["name"] for g in bedrock.list_guardrails()["guardrails"]] == ["handbook-guard"]


def test_a_denied_topic_is_blocked_and_others_pass(server: Server, guard: dict[str, Any]) -> None:
    blocked = apply(server, guard, "Should I put my savings into bitcoin?")
    assert blocked["action"] == "GUARDRAIL_INTERVENED"
    assert blocked["outputs"] == [{"text": BLOCKED_IN}]
    topics = blocked["assessments"][0]["topicPolicy"]["topics"]
    assert topics == [{"name": "investing", "type": "DENY", "action": "BLOCKED", "detected": True}]
    fine = apply(server, guard, "How many days of paid holiday do employees get?")
    assert (fine["action"], fine["outputs"], fine["assessments"]) == ("NONE", [], [])


def test_sensitive_information_is_anonymized_or_blocked(
    server: Server, guard: dict[str, Any]
) -> None:
    masked = apply(server, guard, "Write to ana.silva@example.com about EMP-123456.", "OUTPUT")
    assert masked["action"] == "GUARDRAIL_INTERVENED"
    assert masked["outputs"] == [{"text": "Write to {EMAIL} about {EMPLOYEE_ID}."}]
    found = masked["assessments"][0]["sensitiveInformationPolicy"]
    assert found["piiEntities"][0]["match"] == "ana.silva@example.com"
    assert found["regexes"][0]["action"] == "ANONYMIZED"
    card = apply(server, guard, "My card is 4111 1111 1111 1111.")
    assert card["outputs"] == [{"text": BLOCKED_IN}]
    not_a_card = apply(server, guard, "Order 1234 5678 9012 3456 shipped.")  # fails Luhn
    assert not_a_card["action"] == "NONE"


TOUCHING = [  # planted numbers next to other digits, as the PII benchmark plants them
    ("Changed in version +44 20 7946 0958 3.7: idempotent", "+44 20 7946 0958"),
    ("see PEP +1 415-555-0132 411 for details", "+1 415-555-0132"),
    ("update() +44 20 7946 0321 methods", "+44 20 7946 0321"),
    ("[if IE (11) 98824-9377 9]>IE9", "(11) 98824-9377"),
    ("partnum, (11) 98824-9377 4111 1111 1111 1111 record", "(11) 98824-9377"),
    ("on +1 415-555-6310 4319 9061 8364 0214 wasm32", "+1 415-555-6310"),
    ("call (415)555-0132 now", "(415)555-0132"),  # other ways to write one
    ("call +1(415)555-0132 now", "+1(415)555-0132"),
    ("ring 07911 123456 today", "07911 123456"),
    ("Berlin: +49 30 12345678.", "+49 30 12345678"),
    ("fax 415/555-0132", "415/555-0132"),
    ("desk 415-555-0132x123 ok", "415-555-0132x123"),
    ("London +44 (0)20 7946 0958 ok", "+44 (0)20 7946 0958"),
]
NOT_PHONES = [  # digits of the Python docs that are no phone numbers
    "'2002-12-25 00:00:00-06:39' >>> datetime",
    "Decimal('3.1415926535') + Decimal('2.7182818285')",
    "st_atime=1297230295, st_mtime=1297230027",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    "tarek/staff 609 2008-06-09 13:26:54 ./authorized_keys",
]


@pytest.mark.parametrize(("text", "phone"), TOUCHING)
def test_a_phone_number_touching_other_digits_is_found(text: str, phone: str) -> None:
    assert [f.text for f in find_pii(text, "PHONE")] == [phone]


@pytest.mark.parametrize("text", NOT_PHONES)
def test_dates_decimals_ids_and_counts_are_no_phone_numbers(text: str) -> None:
    assert list(find_pii(text, "PHONE")) == []


def test_the_phone_scan_is_linear() -> None:
    """Dates, decimals and times mark what is no phone number; a text of many of them is
    scanned in one pass (each checked against all the others took minutes at 200 KB)."""
    import time

    started = time.perf_counter()
    assert list(find_pii("3.14 12:30 2024-01-01 " * 10_000, "PHONE")) == []
    assert time.perf_counter() - started < 20  # about 1 s here; quadratic: over a minute


def test_a_card_followed_by_digits_is_found() -> None:
    text = "the 4677 3891 9953 0982 337-30-8902 return value"  # a card, then an SSN
    assert [f.text for f in find_pii(text, "CREDIT_DEBIT_CARD_NUMBER")] == ["4677 3891 9953 0982"]
    assert [f.text for f in find_pii(text, "US_SOCIAL_SECURITY_NUMBER")] == ["337-30-8902"]


def test_anonymize_leaves_no_touching_number_readable(server: Server) -> None:
    types = ["PHONE", "CREDIT_DEBIT_CARD_NUMBER", "US_SOCIAL_SECURITY_NUMBER"]
    created = server.client("bedrock").create_guardrail(
        name="numbers",
        blockedInputMessaging=BLOCKED_IN,
        blockedOutputsMessaging=BLOCKED_OUT,
        sensitiveInformationPolicyConfig={
            "piiEntitiesConfig": [{"type": t, "action": "ANONYMIZE"} for t in types]
        },
    )
    text = " ".join(t for t, _ in TOUCHING) + " the 4677 3891 9953 0982 337-30-8902 value"
    masked = apply(server, {"id": created["guardrailId"]}, text, "OUTPUT")["outputs"][0]["text"]
    for _, phone in TOUCHING:
        assert phone not in masked
    assert "{PHONE}" in masked and "{CREDIT_DEBIT_CARD_NUMBER}" in masked
    assert "4677 3891" not in masked and "337-30-8902" not in masked


def test_words_profanity_and_insults(server: Server, guard: dict[str, Any]) -> None:
    word = apply(server, guard, "Tell me about Project   Nightingale.")
    assert word["assessments"][0]["wordPolicy"]["customWords"][0]["action"] == "BLOCKED"
    insult = apply(server, guard, "You are a stupid worthless idiot.")
    assert insult["action"] == "GUARDRAIL_INTERVENED"
    filters = insult["assessments"][0]["contentPolicy"]["filters"]
    assert filters[0]["type"] == "INSULTS" and filters[0]["detected"]


def test_contextual_grounding_blocks_unsupported_answers(
    server: Server, guard: dict[str, Any]
) -> None:
    source = "Employees get 25 days of paid holiday per year, carried over until March."
    question = "How many days of paid holiday do employees get?"
    grounded = apply(server, guard, "Employees get 25 days of paid holiday per year.", "OUTPUT",
                     grounding_source=source, query=question)  # fmt: skip
    assert grounded["action"] == "NONE"
    invented = apply(server, guard, "Staff receive a company car and free lunches on Fridays.",
                     "OUTPUT", grounding_source=source, query=question)  # fmt: skip
    assert invented["outputs"] == [{"text": BLOCKED_OUT}]
    scores = {f["type"]: f for f in
              invented["assessments"][0]["contextualGroundingPolicy"]["filters"]}  # fmt: skip
    assert scores["GROUNDING"]["detected"] and scores["GROUNDING"]["score"] < 0.5
