"""One face for the two ways to reach vetor: boto3 over HTTP, or the embedded Python API.

The conformance tests are written once against ``Api`` and run on both targets; both raise
``ApiError`` with the S3 Vectors error code and message, so the tests cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from vetor import VectorService, VetorError


@dataclass
class ApiError(Exception):
    code: str
    message: str
    field_list: list[dict[str, str]] | None = None


class Api:
    def __init__(self, target: Any, name: str) -> None:
        self._target = target
        self.name = name
        self.store: Any = None  # the store behind the target, for tests that age a bucket

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        method = getattr(self._target, operation)

        def call(**kwargs: Any) -> dict[str, Any]:
            try:
                response = dict(method(**kwargs))
            except ClientError as error:
                details = error.response["Error"]
                # boto3 must have parsed it into the modeled exception class of that code.
                assert type(error).__name__ == details["Code"], (type(error), details)
                raise ApiError(
                    details["Code"], details["Message"], error.response.get("fieldList")
                ) from None
            except VetorError as error:
                raise ApiError(error.code, error.message, error.field_list) from None
            response.pop("ResponseMetadata", None)
            return response

        return call

    def paginate(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """boto3's own paginator over HTTP; the same nextToken loop embedded."""
        if not isinstance(self._target, VectorService):
            yield from self._target.get_paginator(operation).paginate(**kwargs)
            return
        token = None
        while True:
            page = getattr(self, operation)(**kwargs, **({"nextToken": token} if token else {}))
            yield page
            token = page.get("nextToken")
            if token is None:
                return
