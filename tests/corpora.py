"""A real text corpus for tests that need real embeddings: Python's own documentation.

``stdlib_paragraphs`` collects the docstring paragraphs of standard-library modules, their
public members and their classes' members: ~3,000 distinct paragraphs of real English, the
same on every machine with the same Python.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

MODULES = (
    "argparse", "asyncio", "calendar", "codecs", "collections", "concurrent.futures",
    "configparser", "contextlib", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "doctest", "email", "enum", "fractions", "ftplib", "functools", "gettext", "glob", "gzip",
    "hashlib", "heapq", "http.client", "http.server", "imaplib", "inspect", "io", "ipaddress",
    "itertools", "json", "locale", "logging", "mailbox", "math", "multiprocessing", "operator",
    "optparse", "os", "pathlib", "pdb", "pickle", "platform", "pprint", "pydoc", "queue",
    "random", "re", "sched", "secrets", "selectors", "shutil", "signal", "smtplib", "socket",
    "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "tokenize", "traceback", "typing", "unittest",
    "urllib.parse", "urllib.request", "uuid", "warnings", "weakref", "xml.etree.ElementTree",
    "zipfile",
)  # fmt: skip


def stdlib_paragraphs(limit: int = 3000) -> list[str]:
    """Docstring paragraphs of the modules, their public members and their classes' members."""
    seen: dict[str, None] = {}

    def add(value: object) -> None:
        for paragraph in (inspect.getdoc(value) or "").split("\n\n"):
            if len(paragraph) > 60:
                seen.setdefault(" ".join(paragraph.split()))

    with warnings.catch_warnings():  # typing.io and friends warn when their docs are read
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in MODULES:
            module = importlib.import_module(name)
            add(module)
            for value in public(module, name):
                add(value)
                if inspect.isclass(value):
                    for member in public(value, None):
                        add(member)
    return list(seen)[:limit]


def public(owner: object, module: str | None) -> list[object]:
    """Public attributes, by name; with ``module``, only those defined in that module."""
    return [
        value
        for name, value in sorted(vars(owner).items())
        if not name.startswith("_")
        and (module is None or getattr(value, "__module__", module) == module)
    ]
