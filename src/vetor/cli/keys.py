"""Access keys and the principals they belong to: ``vetor keys add|list|rotate|revoke``; and the
key file of encryption at rest: ``vetor keys encryption-key FILE``.

The commands edit the keys file a server was started with (``--keys-file``, or the generated
``~/.config/vetor/credentials.json``); a running ``vetor serve`` reads it again within a
second of each change, so no restart is needed.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..settings import Settings
from .base import err, out

if TYPE_CHECKING:
    from ..server.keys import Credentials

keys_app = typer.Typer(help="Access keys, their principals and identity policies.")

KeysFile = Annotated[
    Path | None,
    typer.Option(help="The keys file (default: the generated credentials file)."),
]


def _path(keys_file: Path | None) -> Path:
    from ..server.run import credentials_path

    return keys_file or credentials_path()


def _new_pair() -> tuple[str, str]:
    return "VETOR" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)


@keys_app.command("add")
def add(
    user: Annotated[
        str | None, typer.Option(help="A user of this server's account (its principal).")
    ] = None,
    principal_arn: Annotated[
        str | None, typer.Option(help="The principal's ARN (absent: the account's root, admin).")
    ] = None,
    policy: Annotated[
        list[Path] | None, typer.Option(help="An IAM identity-policy JSON file (repeatable).")
    ] = None,
    keys_file: KeysFile = None,
) -> None:
    """Add an access key (printed once) for a principal with its identity policies."""
    from ..server.keys import Credentials, read_keys_file

    if user and principal_arn:
        raise typer.BadParameter("give --user or --principal-arn, not both")
    if user:
        principal_arn = f"arn:aws:iam::{Settings.from_env().account_id}:user/{user}"
    documents = tuple(json.loads(p.read_text(encoding="utf-8")) for p in policy or ())
    path = _path(keys_file)
    existing = read_keys_file(path) if path.exists() else []
    key_id, secret = _new_pair()
    credentials = Credentials(key_id, secret, principal_arn, documents)
    _save(path, [*existing, credentials])
    out.print(f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


@keys_app.command("list")
def list_keys(keys_file: KeysFile = None) -> None:
    """The access keys (never their secrets), principals and policy counts."""
    from ..server.keys import read_keys_file

    table = Table("accessKeyId", "principalArn", "policies")
    for c in read_keys_file(_path(keys_file)):
        table.add_row(c.access_key_id, c.principal_arn or "(account root)", str(len(c.policies)))
    out.print(table)


@keys_app.command("rotate")
def rotate(access_key_id: str, keys_file: KeysFile = None) -> None:
    """Replace a key by a new one for the same principal and policies (printed once)."""
    from ..server.keys import Credentials, read_keys_file

    path = _path(keys_file)
    keys = read_keys_file(path)
    old = _find(keys, access_key_id)
    key_id, secret = _new_pair()
    fresh = Credentials(key_id, secret, old.principal_arn, old.policies)
    _save(path, [fresh if c is old else c for c in keys])
    out.print(f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


@keys_app.command("revoke")
def revoke(access_key_id: str, keys_file: KeysFile = None) -> None:
    """Remove a key: requests signed with it are refused from the next second on."""
    from ..server.keys import read_keys_file

    path = _path(keys_file)
    keys = read_keys_file(path)
    old = _find(keys, access_key_id)
    remaining = [c for c in keys if c is not old]
    if not remaining:
        err.print("Error: refusing to revoke the last key (the server would accept none)")
        raise typer.Exit(1)
    _save(path, remaining)
    out.print(f"revoked {access_key_id}")


@keys_app.command("encryption-key")
def encryption_key(path: Path) -> None:
    """Create a key file for encryption at rest, or rotate one: a new primary key is added
    (objects sealed with the older keys keep opening; nothing is rewritten)."""
    from ..store import KeyFile

    key_id = KeyFile.create(path)
    KeyFile(path)  # it reads back
    out.print(f"primary key-encryption key {key_id} in {path}; serve with")
    out.print(f"  export VETOR_ENCRYPTION_KEY_FILE={path.resolve()}")


def _find(keys: list[Credentials], access_key_id: str) -> Credentials:
    for credentials in keys:
        if credentials.access_key_id == access_key_id:
            return credentials
    err.print(f"Error: no access key {access_key_id!r} in the keys file")
    raise typer.Exit(1)


def _save(path: Path, keys: list[Credentials]) -> None:
    from ..server.keys import write_keys_file

    try:
        write_keys_file(path, keys)
    except ValueError as error:  # a malformed principal or policy: the file is unchanged
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
