"""Service handlers: each translates decoded requests into calls on the layer below.

A handler knows nothing of HTTP. An adapter hands it the operation (the snake_case name of a
botocore operation, e.g. ``query_vectors``), the request's members as decoded from the wire
and checked against the service model, and the authenticated :class:`~vetor.server.access.
Caller`; it returns the response members, or raises a :class:`~vetor.errors.VetorError`.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...errors import VetorError
from ..access import Caller


class Handler(Protocol):
    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any: ...


class NotImplementedOperation(VetorError):
    """An operation of the service's model that vetor does not serve (yet)."""

    code = "NotImplemented"
    http_status = 501
