"""The ``vetor`` command: the root app (``base``) with one module per command group mounted on it.

Groups (``buckets``, ``indexes``, ``vectors``, ``embed``) and the top-level commands
(``admin``, ``quickstart``, ``serve``, ``transfer``) import only ``base`` and the layers
below, never each other.
"""

from __future__ import annotations

from . import admin, quickstart, serve, transfer  # noqa: F401  (their commands register on the root app)
from .base import app
from .buckets import buckets_app
from .embed import embed_app
from .indexes import indexes_app
from .kb import kb_app
from .keys import keys_app
from .vectors import vectors_app

app.add_typer(buckets_app, name="buckets", no_args_is_help=True)
app.add_typer(indexes_app, name="indexes", no_args_is_help=True)
app.add_typer(vectors_app, name="vectors", no_args_is_help=True)
app.add_typer(embed_app, name="embed")
app.add_typer(kb_app, name="kb", no_args_is_help=True)
app.add_typer(keys_app, name="keys", no_args_is_help=True)

__all__ = ["app"]
