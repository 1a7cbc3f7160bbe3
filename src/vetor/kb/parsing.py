"""Documents to text: each supported file type read by a well-kept library.

A parsed document is a list of ``Section``s (a page of a PDF, the whole of anything else), so
chunks can say which page they came from. A file that cannot be parsed raises ``ParseError``
with the reason, and fails alone. Bedrock's metadata sidecars (``<file>.metadata.json``)
become typed attributes (``sidecar_attributes``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

SIDECAR_SUFFIX = ".metadata.json"


class ParseError(Exception):
    """Why a document could not be turned into text."""


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None  # 1-based page number, where the format has pages


def parser_for(name: str) -> Callable[[bytes], list[Section]]:
    """The parser of a file name's type; ``ParseError`` for a type vetor does not parse."""
    suffix = PurePosixPath(name.lower()).suffix
    parser = PARSERS.get(suffix)
    if parser is None:
        known = " ".join(sorted(PARSERS))
        raise ParseError(f"unsupported file type {suffix or '(none)'} (vetor parses {known})")
    return parser


def parse(name: str, data: bytes) -> list[Section]:
    """The text of a document, by its file name's suffix."""
    parser = parser_for(name)
    suffix = PurePosixPath(name.lower()).suffix
    try:
        sections = parser(data)
    except ParseError:
        raise
    except Exception as error:  # each library has its own: say which file and why
        raise ParseError(f"cannot parse {suffix} file: {error}") from None
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise ParseError("the document has no text")
    return sections


def sidecar_attributes(data: bytes) -> dict[str, Any]:
    """The ``metadataAttributes`` of a Bedrock sidecar, as plain values (strings, numbers,
    booleans, lists of strings); the typed form (``{"value": {"type": …}}``) is unwrapped."""
    try:
        document = json.loads(data)
    except ValueError as error:
        raise ParseError(f"the metadata file is not JSON: {error}") from None
    attributes = document.get("metadataAttributes") if isinstance(document, dict) else None
    if not isinstance(attributes, dict):
        raise ParseError('the metadata file has no "metadataAttributes" object')
    return {key: _attribute(key, value) for key, value in attributes.items()}


def _attribute(key: str, value: Any) -> Any:
    if isinstance(value, dict) and "value" in value:  # {"value": {"type": "STRING", ...}}
        typed = value["value"]
        for field in ("stringValue", "numberValue", "booleanValue", "stringListValue"):
            if field in typed:
                return typed[field]
        raise ParseError(f"metadata attribute {key} has no value")
    if isinstance(value, (str, bool, int, float)) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return value
    raise ParseError(f"metadata attribute {key} must be a string, number, boolean or strings")


# --- the parsers ------------------------------------------------------------------------------


def _text(data: bytes) -> list[Section]:
    try:
        return [Section(data.decode("utf-8-sig"))]
    except UnicodeDecodeError as error:
        raise ParseError(f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def _html(data: bytes) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return [Section("\n".join(line for line in lines if line))]


def _csv(data: bytes) -> list[Section]:
    """One line per row, ``header: value`` pairs, so each row reads as a sentence."""
    rows = list(csv.reader(io.StringIO(_text(data)[0].text)))
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    lines = ["; ".join(f"{h}: {v}" for h, v in zip(header, row) if v) for row in body]
    return [Section("\n".join(lines) if body else ", ".join(header))]


def _json(data: bytes) -> list[Section]:
    try:
        value = json.loads(data)
    except ValueError as error:
        raise ParseError(f"not JSON: {error}") from None
    return [Section(json.dumps(value, ensure_ascii=False, indent=1))]


def _pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise ParseError("the PDF is encrypted")
    return [Section(page.extract_text() or "", n) for n, page in enumerate(reader.pages, 1)]


def _docx(data: bytes) -> list[Section]:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [" | ".join(cell.text for cell in row.cells) for row in table.rows]
    return [Section("\n".join(parts))]


PARSERS: dict[str, Callable[[bytes], list[Section]]] = {
    ".txt": _text, ".md": _text, ".markdown": _text, ".rst": _text, ".text": _text,
    ".html": _html, ".htm": _html, ".xhtml": _html,
    ".csv": _csv, ".json": _json, ".pdf": _pdf, ".docx": _docx,
}  # fmt: skip
