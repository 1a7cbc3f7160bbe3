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
from collections.abc import Callable, Iterable, Iterator
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
    parts = text.split("-")
    if len(parts) != 3:
        return False
    area, group, serial = parts
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


PATTERNS: dict[str, tuple[str, Callable[[str], bool] | None]] = {
    "EMAIL": (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", None),
    # A card does not go on from a number joined by a dash: "+1 415-555-6310 4319 …" is a
    # phone number before the card, whatever the Luhn digit of "6310 4319 …" says.
    "CREDIT_DEBIT_CARD_NUMBER": (
        r"(?<!\d-)\b(?:\d{4}(?P<s>[ -]?)\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{3})?"
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
    spans = [(f.start, f.end) for other in STRONGER.get(kind, ()) for f in find_pii(text, other)]
    if kind == "PHONE":  # no phone number among dates, times and decimals either
        spans += [match.span() for match in NOT_PHONE.finditer(text)]
    taken = _mask(text, spans)
    if kind == "PHONE":
        yield from _phones(text, taken)
        return
    for found in _matches(text, kind):
        if not any(taken[found.start : found.end]):
            yield found


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> bytearray:
    """1 at each character inside one of ``spans``: an overlap test costs the length of what
    is tested, not the number of spans."""
    mask = bytearray(len(text))
    for start, end in spans:
        mask[start:end] = b"\x01" * (end - start)
    return mask


def _matches(text: str, kind: str) -> Iterator[Found]:
    pattern, valid = PATTERNS[kind]
    if valid is None:
        for match in _compiled(pattern).finditer(text):
            yield Found(kind, match.start(), match.end(), match.group(0))
        return
    # Candidates at every position, not only after the last one: "2023 4111 1111 1111 1111"
    # holds a card that a scan consuming the failed "2023 4111 1111 1111" would miss. A
    # card candidate that fails Luhn may hold a valid one that ends sooner: the card in
    # "4111 1111 1111 1111 337-30-8902" is followed by digits the pattern also took.
    end = 0
    shrink = kind == "CREDIT_DEBIT_CARD_NUMBER"
    for match in _compiled(f"(?=({pattern}))").finditer(text):
        start = match.start()
        if start >= end:
            tried = _shorter(match.group(1)) if shrink else iter([match.group(1)])
            value = next((v for v in tried if valid(v)), None)
            if value is not None:
                end = start + len(value)
                yield Found(kind, start, end, value)


def _shorter(value: str) -> Iterator[str]:
    """The value, then each of its prefixes that ends before a separator, longest first."""
    yield value
    for cut in range(len(value) - 1, 0, -1):
        if value[cut] in " -":
            yield value[:cut]


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


# A phone number's groups ("+1", "(11)", "415", "98824", "0132x12"); a candidate is a run of
# them with one separator between each two (none after a bracket).
PHONE_GROUP = re.compile(r"(?<![A-Za-z_])\+?\(\d{1,4}\)|(?<![\w+])\+?\d+(?:x\d{1,5})?(?!\w)")
PHONE_SEPARATORS = " .-/"
PHONE_REGIONS = ("US", "BR", "GB")  # numbers without a + are read in these regions' plans
# Digits that are something else: dates, times of day, decimal numbers ("3.1415926535").
NOT_PHONE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b"
    r"|(?<![\d.])\d+\.\d+(?![\d.])"
)


def _phones(text: str, taken: bytearray) -> Iterator[Found]:
    """Phone numbers: in each run of digit groups, the longest window of groups that
    ``phonenumbers`` finds valid, left to right. Windows, not its matcher: that gives up on
    a number that touches other digits ("+44 20 7946 0958 3.7") or brackets ("f() +1 …")."""
    try:
        import phonenumbers
    except ModuleNotFoundError:
        raise ValidationException(
            "PHONE detection needs phonenumbers: pip install 'vetor[guardrails]'"
        ) from None

    def valid(groups: list[tuple[int, int]]) -> bool:
        candidate = text[groups[0][0] : groups[-1][1]]
        digits, plus = sum(c.isdigit() for c in candidate), candidate[0] == "+"
        # International: 7 to 15 digits (E.164); national numbers of the three plans, with
        # their area code (a valid one has it), trunk prefix or a short extension: 10 to 13.
        low, high = (7, 15) if plus else (10, 13)
        if not low <= digits <= high or not _phone_shaped(text, groups):
            return False
        for region in PHONE_REGIONS[:1] if plus else PHONE_REGIONS:  # a + needs no region
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)):
                    return True
            except phonenumbers.NumberParseException:
                continue
        return False

    for run in _group_runs(text, taken):
        first = 0
        while first < len(run):
            last = next((last for last in range(min(len(run), first + 6), first, -1)
                         if valid(run[first:last])), None)  # fmt: skip
            if last is None:
                first += 1
                continue
            start, end = run[first][0], run[last - 1][1]
            yield Found("PHONE", start, end, text[start:end])
            first = last


def _phone_shaped(text: str, groups: list[tuple[int, int]]) -> bool:
    """Two groups or more unless it starts with + (a lone run of digits is an id or a
    timestamp), groups of at most eight digits (but a +country code run together with the
    number), one of three or more unless it starts with +, and at most one single digit after
    the first: not counts ("11 12 13 14 15")."""
    sizes = [sum(c.isdigit() for c in text[start:end]) for start, end in groups]
    plus = text[groups[0][0]] == "+"
    if not plus and len(groups) < 2:
        return False
    long = [n for i, n in enumerate(sizes) if n > 8 and not (i == 0 and plus)]
    short = not plus and max(sizes) < 3
    return not long and not short and sum(n == 1 for n in sizes[1:]) <= 1


def _group_runs(text: str, blocked: bytearray) -> Iterator[list[tuple[int, int]]]:
    """Runs of digit groups one separator apart (or touching a bracket), cut where
    ``blocked`` marks a stronger type's match."""
    run: list[tuple[int, int]] = []
    for match in PHONE_GROUP.finditer(text):
        start, end = match.span()
        if any(blocked[start:end]):
            continue
        if run:
            gap, previous = start - run[-1][1], run[-1][1]
            joined = (gap == 1 and text[previous] in PHONE_SEPARATORS) or (
                gap == 0 and (text[previous - 1] == ")" or text[start] == "(")
            )
            if not joined:
                yield run
                run = []
        run.append((start, end))
    if run:
        yield run


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValidationException(f"The regex {pattern!r} is not valid: {error}") from None
