"""STS: who the caller is. Principals (users, roles) arrive later; today the account's root."""

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
        return {
            "UserId": caller.user_id,
            "Account": caller.account_id,
            "Arn": f"arn:aws:iam::{caller.account_id}:root",
        }
