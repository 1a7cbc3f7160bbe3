"""Real document files for the knowledge-base tests, made on the spot: a PDF written to the
PDF 1.4 specification (one text object per page, Helvetica), a Word document written by
python-docx, HTML and Markdown with Bedrock metadata sidecars."""

from __future__ import annotations

import io
import json
from typing import Any


def pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string; lines become text lines."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b""]
    objects[2] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    kids = []
    for text in pages:
        lines = [_pdf_string(line) for line in text.splitlines()]
        body = b"BT /F1 11 Tf 14 TL 60 760 Td " + b" ".join(b"(%s) Tj T*" % s for s in lines)
        body += b" ET"
        content = len(objects) + 2  # object numbers are 1-based; the page comes first
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content
        )
        kids.append(len(objects))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body))
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _pdf_string(line: str) -> bytes:
    escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("latin-1")


def docx(title: str, paragraphs: list[str]) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading(title, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        "<script>var tracking = 'do not index this script';</script>"
        f"<style>p {{ color: red; }}</style></head><body><h1>{title}</h1>{body}</body></html>"
    ).encode()


def sidecar(**attributes: Any) -> bytes:
    return json.dumps({"metadataAttributes": attributes}).encode()
