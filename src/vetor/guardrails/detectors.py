"""What a guardrail looks for in a text: sensitive information (PII types and the user's
regexes), words and phrases, offensive language.

Each PII detector finds candidates with a pattern and keeps only those that pass the type's
own check (card numbers their Luhn digit, IBANs their mod-97, IP addresses the ``ipaddress``
parser, phone numbers Google's ``phonenumbers``), so "order 1234 5678" is not a card. Types
that need a named-entity model (NAME, ADDRESS, AGE, …) have none offline here and are refused
when a guardrail is made, rather than silently never found. Offensive language is judged by
``alt-profanity-check`` (a linear model trained on offensive-language data, MIT; English).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from ..errors import ValidationException


@dataclass(frozen=True)
class Found:
    kind: str  # the PII type, regex name, word, or managed list
    start: int
    end: int
    text: str


def _luhn(digits: str) -> bool:
    total = 0
    for n, char in enumerate(reversed(digits)):
        value = int(char) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ssn(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


PATTERNS: dict[str, tuple[str, Callable[[str], bool] | None]] = {
    "EMAIL": (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", None),
    "CREDIT_DEBIT_CARD_NUMBER": (
        r"\b(?:\d{4}(?P<s>[ -]?)\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{3})?"
        r"|\d{4}(?P<t>[ -]?)\d{6}(?P=t)\d{5}|\d{13,19})\b",
        _card,
    ),
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": (
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        _iban,
    ),
    "IP_ADDRESS": (
        r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}\b",
        _ip,
    ),  # fmt: skip
    "US_SOCIAL_SECURITY_NUMBER": (r"\b\d{3}-\d{2}-\d{4}\b", _ssn),
    "AWS_ACCESS_KEY": (r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b", None),
    "AWS_SECRET_KEY": (
        r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[0-9])(?=[A-Za-z0-9/+]*[a-z])"
        r"(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        None,
    ),
    "MAC_ADDRESS": (r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b", None),
    "URL": (r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", None),
}
SUPPORTED_PII = (*PATTERNS, "PHONE")


def check_pii_types(types: list[str]) -> None:
    unsupported = sorted(set(types) - set(SUPPORTED_PII))
    if unsupported:
        raise ValidationException(
            f"vetor cannot detect {', '.join(unsupported)} offline (they need a named-entity "
            f"model); it detects {', '.join(sorted(SUPPORTED_PII))}"
        )


# A match inside a stronger type's match is that type's: the digits of an IBAN are no card,
# those of a card no phone number.
STRONGER = {"CREDIT_DEBIT_CARD_NUMBER": ("INTERNATIONAL_BANK_ACCOUNT_NUMBER",),
            "PHONE": ("INTERNATIONAL_BANK_ACCOUNT_NUMBER", "CREDIT_DEBIT_CARD_NUMBER",
                      "US_SOCIAL_SECURITY_NUMBER", "IP_ADDRESS")}  # fmt: skip


def find_pii(text: str, kind: str) -> Iterator[Found]:
    taken = [(f.start, f.end) for other in STRONGER.get(kind, ()) for f in find_pii(text, other)]
    for found in _phones(text) if kind == "PHONE" else _matches(text, kind):
        if not any(found.start < end and start < found.end for start, end in taken):
            yield found


def _matches(text: str, kind: str) -> Iterator[Found]:
    pattern, valid = PATTERNS[kind]
    if valid is None:
        for match in _compiled(pattern).finditer(text):
            yield Found(kind, match.start(), match.end(), match.group(0))
        return
    # Candidates at every position, not only after the last one: "2023 4111 1111 1111 1111"
    # holds a card that a scan consuming the failed "2023 4111 1111 1111" would miss.
    end = 0
    for match in _compiled(f"(?=({pattern}))").finditer(text):
        start, value = match.start(), match.group(1)
        if start >= end and valid(value):
            end = start + len(value)
            yield Found(kind, start, end, value)


def find_regex(text: str, name: str, pattern: str) -> Iterator[Found]:
    for match in _compiled(pattern).finditer(text):
        if match.end() > match.start():
            yield Found(name, match.start(), match.end(), match.group(0))


def find_words(text: str, words: list[str]) -> Iterator[Found]:
    """Each word or phrase, case-insensitive, as whole words."""
    for word in words:
        pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, word.split())) + r"(?!\w)"
        for match in re.finditer(pattern, text, re.IGNORECASE):
            yield Found(word, match.start(), match.end(), match.group(0))


def offensive(texts: list[str]) -> list[float]:
    """How likely each text is offensive language, in [0, 1]."""
    try:
        from profanity_check import predict_prob
    except ModuleNotFoundError:
        raise ValidationException(
            "offensive-language filters need alt-profanity-check: pip install 'vetor[guardrails]'"
        ) from None
    return [float(p) for p in predict_prob(texts)] if texts else []


def _phones(text: str) -> Iterator[Found]:
    try:
        import phonenumbers
    except ModuleNotFoundError:
        raise ValidationException(
            "PHONE detection needs phonenumbers: pip install 'vetor[guardrails]'"
        ) from None
    seen: set[tuple[int, int]] = set()
    for region in ("US", "BR", "GB"):  # numbers without a + are read in these regions' plans
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            if (match.start, match.end) not in seen:
                seen.add((match.start, match.end))
                yield Found("PHONE", match.start, match.end, match.raw_string)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValidationException(f"The regex {pattern!r} is not valid: {error}") from None
