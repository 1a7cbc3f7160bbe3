"""STS: who the caller is, as its access key's principal (the account's root for admin keys)."""

from __future__ import annotations

from typing import Any

from ..access import Caller
from . import NotImplementedOperation


class StsHandler:
    def call(self, function: str, params: dict[str, Any], caller: Caller) -> Any:
        if function == "get_caller_identity":
            return self.get_caller_identity(caller)
        raise NotImplementedOperation(f"vetor does not implement STS {function} yet")

    @staticmethod
    def get_caller_identity(caller: Caller) -> dict[str, str]:
        principal = caller.principal
        return {"UserId": principal.user_id, "Account": principal.account, "Arn": principal.arn}
