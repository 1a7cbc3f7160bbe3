"""S3 Vectors: each operation is the ``VectorService`` method of the same (snake_case) name."""

from __future__ import annotations

from typing import Any

from ...service import VectorService
from ..access import Caller


class S3VectorsHandler:
    def __init__(self, service: VectorService) -> None:
        self.service = service

    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        return getattr(self.service, function)(**params)
