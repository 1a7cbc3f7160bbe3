"""Access keys and whom they belong to: the keys file, read (and read again) by the server.

``{"keys": [{"accessKeyId", "secretAccessKey", "principalArn"?, "policies"?}, ...]}``: a key
without ``principalArn`` is the account's root (an admin); ``policies`` are the principal's IAM
identity policies. ``vetor keys`` edits the file; a running server notices within a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ValidationException
from ..iam import Principal, parse_policy, root_of

DEFAULT_ACCOUNT = "000000000000"  # Settings.account_id's default


@dataclass(frozen=True)
class Credentials:
    """One access key the server accepts; the secret never shows in ``repr``.

    ``principal_arn`` is whom the key belongs to (None: the account's root, the admin);
    ``policies`` are that principal's IAM identity policies, as documents.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    principal_arn: str | None = None
    policies: tuple[dict[str, Any], ...] = ()


class Keyring:
    """The configured access keys, and the principal each belongs to.

    Built from a mapping (id -> secret: admin keys) or a keys file; a keyring read from a file
    reads it again when it changes (checked at most once a second), so that keys can be
    added, rotated and revoked without a restart. A file that no longer parses leaves the
    keys as they were, with a warning in the log.
    """

    def __init__(
        self,
        keys: Mapping[str, str] | list[Credentials],
        account_id: str = DEFAULT_ACCOUNT,
        path: Path | None = None,
    ) -> None:
        self.account_id = account_id
        self.path = path
        self._checked = 0.0
        self._stamp = _stamp(path) if path is not None else None
        self._lock = threading.Lock()
        self._load(keys)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], account_id: str = DEFAULT_ACCOUNT) -> Keyring:
        """Load ``{"keys": [{"accessKeyId", "secretAccessKey", "principalArn"?,
        "policies"?}, ...]}``."""
        return cls(read_keys_file(path), account_id, Path(path))

    def _load(self, keys: Mapping[str, str] | list[Credentials]) -> None:
        if isinstance(keys, Mapping):
            for key_id, secret in keys.items():
                if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret):
                    raise ValueError("access key ids and secrets must be non-empty strings")
            keys = [Credentials(key_id, secret) for key_id, secret in keys.items()]
        principals = {c.access_key_id: self._principal(c) for c in keys}
        self._keys = {c.access_key_id: c.secret_access_key for c in keys}
        self._principals = principals

    def _principal(self, credentials: Credentials) -> Principal:
        if credentials.principal_arn is None:
            return root_of(self.account_id)
        arn = credentials.principal_arn
        policies = tuple(
            parse_policy(document, "identity", f"identity policy {n} of {arn}")
            for n, document in enumerate(credentials.policies, 1)
        )
        user_id = "AIDA" + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()
        account = arn.split(":")[4]
        return Principal(arn, account, account if arn.endswith(":root") else user_id, policies)

    def _refresh(self) -> None:
        """Read the keys file again if it changed since it was last read."""
        if self.path is None or time.monotonic() - self._checked < 1.0:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self.path)
            if stamp == self._stamp:
                return
            try:
                self._load(read_keys_file(self.path))
            except (OSError, ValueError) as error:
                logging.getLogger("vetor.server").warning(f"keys file not reloaded: {error}")
                return
            self._stamp = stamp

    def secret(self, access_key_id: str) -> str | None:
        """The secret access key of ``access_key_id``, or None when it is not configured."""
        self._refresh()
        return self._keys.get(access_key_id)

    def principal(self, access_key_id: str) -> Principal | None:
        """Whom an (already authenticated) access key belongs to; None once it is revoked."""
        return self._principals.get(access_key_id)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} keys)"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def read_keys_file(path: str | os.PathLike[str]) -> list[Credentials]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return parse_keys_document(document)
    except (ValueError, ValidationException) as exc:
        reason = exc.message if isinstance(exc, ValidationException) else str(exc)
        raise ValueError(f"invalid keys file {os.fspath(path)!r}: {reason}") from None


def write_keys_file(path: str | os.PathLike[str], credentials: list[Credentials]) -> None:
    """Replace the keys file atomically (a 0600 temporary file renamed over it): a server
    reading it sees the old keys or the new ones, never half a file. The new document is
    validated first (ValueError), so a bad policy never reaches the file."""
    target = Path(path)
    target.parent.mkdir(0o700, parents=True, exist_ok=True)
    entries = []
    for c in credentials:
        entry: dict[str, Any] = {
            "accessKeyId": c.access_key_id,
            "secretAccessKey": c.secret_access_key,
        }
        if c.principal_arn is not None:
            entry["principalArn"] = c.principal_arn
        if c.policies:
            entry["policies"] = list(c.policies)
        entries.append(entry)
    try:
        parse_keys_document({"keys": entries})
    except ValidationException as error:  # a malformed identity policy
        raise ValueError(error.message) from None
    text = json.dumps({"keys": entries}, indent=2).encode()
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "wb") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, target)


_PRINCIPAL_ARN = re.compile(r"\Aarn:aws[-a-z]*:iam::\d{12}:(root|(user|role)/[\w+=,.@/-]{1,512})\Z")


def parse_keys_document(document: Any) -> list[Credentials]:
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError('expected an object {"keys": [...]}')
    credentials = []
    for entry in entries:
        key_id = entry.get("accessKeyId") if isinstance(entry, dict) else None
        secret = entry.get("secretAccessKey") if isinstance(entry, dict) else None
        if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret):
            raise ValueError("each key needs a non-empty accessKeyId and secretAccessKey")
        arn = entry.get("principalArn")
        if arn is not None and not (isinstance(arn, str) and _PRINCIPAL_ARN.match(arn)):
            raise ValueError(
                f"principalArn of {key_id} must look like arn:aws:iam::123456789012:user/bob"
            )
        policies = entry.get("policies", [])
        if not isinstance(policies, list) or not all(isinstance(p, dict) for p in policies):
            raise ValueError(f"policies of {key_id} must be a list of policy documents")
        for n, policy in enumerate(policies, 1):
            parse_policy(policy, "identity", f"identity policy {n} of {key_id}")
        credentials.append(Credentials(key_id, secret, arn, tuple(policies)))
    ids = [c.access_key_id for c in credentials]
    if len(set(ids)) != len(ids):
        raise ValueError("an accessKeyId is listed twice")
    return credentials
