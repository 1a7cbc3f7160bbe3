"""``python -m vetor`` is the ``vetor`` command."""

from .cli import app

app()
