"""Starting the server: choosing credentials, configuring logs, running uvicorn.

Configuration reaches the app through environment variables so that ``--workers N`` (N
processes, each building its own app through ``app_from_env``) and a single process behave
identically.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette

from ..service import connect
from ..settings import Settings
from .app import create_app
from .exchange import error_log
from .keys import Keyring, read_keys_file
from .protocol import DeadlineH11Protocol

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9700
_KEYS_ENV = "VETOR_SERVE_KEYS"  # JSON {access key id: secret}, handed to worker processes
_KEYS_FILE_ENV = "VETOR_SERVE_KEYS_FILE"  # a keys file each worker reads (and re-reads)
_NO_AUTH_ENV = "VETOR_SERVE_NO_AUTH"
_ACCESS_LOG_ENV = "VETOR_SERVE_ACCESS_LOG"
_WARM_ENV = "VETOR_SERVE_WARM"  # comma-separated bucket/index names to load at start


def credentials_path() -> Path:
    configured = os.environ.get("VETOR_CREDENTIALS_FILE")
    return (
        Path(configured) if configured else Path.home() / ".config" / "vetor" / "credentials.json"
    )


KeySource = Path | dict[str, str] | None  # a keys file, admin keys, or none (--no-auth)


def choose_keys(keys_file: Path | None, no_auth: bool) -> tuple[KeySource, str]:
    """The access keys the server accepts, and a line telling the operator where they are from.

    In order: ``VETOR_ACCESS_KEY_ID``/``VETOR_SECRET_ACCESS_KEY`` (one admin key);
    ``--keys-file``; none with ``--no-auth``; otherwise a key pair generated on first start and
    kept in ``~/.config/vetor/credentials.json`` (``VETOR_CREDENTIALS_FILE``), like MinIO's root
    user. A keys file is read again whenever it changes (``vetor keys add|revoke``).
    """
    key_id = os.environ.get("VETOR_ACCESS_KEY_ID")
    secret = os.environ.get("VETOR_SECRET_ACCESS_KEY")
    if key_id and secret and keys_file is not None:
        raise ValueError(
            "both VETOR_ACCESS_KEY_ID/VETOR_SECRET_ACCESS_KEY and --keys-file are given: "
            "choose one (a keys file can hold that key too)"
        )
    if key_id and secret:
        return {key_id: secret}, f"Access key {key_id} from VETOR_ACCESS_KEY_ID"
    if keys_file is not None:
        _read_keys(keys_file)
        return keys_file.resolve(), f"Access keys from {keys_file}"
    if no_auth:
        return None, "Authentication is OFF (--no-auth): anyone who can connect has full access"
    path = credentials_path()
    _create_credentials(path)
    keys = _read_keys(path)
    key_id, secret = next(iter(keys.items()))
    return path.resolve(), (
        f"Credentials (from {path}):\n"
        f"  export AWS_ACCESS_KEY_ID={key_id}\n"
        f"  export AWS_SECRET_ACCESS_KEY={secret}"
    )


def _create_credentials(path: Path) -> None:
    """A first-start key pair, in a file that is 0600 from its first byte (O_EXCL: never
    overwritten, and a concurrent first start keeps the other's pair)."""
    path.parent.mkdir(0o700, parents=True, exist_ok=True)
    pair = {
        "accessKeyId": "VETOR" + secrets.token_hex(8).upper(),
        "secretAccessKey": secrets.token_urlsafe(30),
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with open(descriptor, "wb") as file:
        file.write(orjson.dumps({"keys": [pair]}, option=orjson.OPT_INDENT_2))


def _read_keys(path: Path) -> dict[str, str]:
    if path.stat().st_mode & 0o077:
        error_log.warning(
            f"warning: {path} can be read by other users (mode "
            f"{path.stat().st_mode & 0o777:o}); it holds secret keys: chmod 600 {path}"
        )
    credentials = read_keys_file(path)  # validates the document, with a clear error
    return {c.access_key_id: c.secret_access_key for c in credentials}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_from_env() -> Starlette:
    """The app factory uvicorn calls in each worker process."""
    keys, keys_file = os.environ.get(_KEYS_ENV), os.environ.get(_KEYS_FILE_ENV)
    account = Settings.from_env().account_id
    keyring = None
    if keys_file:
        keyring = Keyring.from_file(keys_file, account)
    elif keys:
        keyring = Keyring(orjson.loads(keys), account)
    if keyring is None and os.environ.get(_NO_AUTH_ENV) != "1":
        raise RuntimeError("vetor serve: no access keys configured")
    _configure_logging(os.environ.get(_ACCESS_LOG_ENV) != "0")
    warm = tuple(n for n in os.environ.get(_WARM_ENV, "").split(",") if n)
    return create_app(connect(os.environ.get("VETOR_DATA", "./vetor-data")), keyring, warm)


def _configure_logging(access_log: bool) -> None:
    """vetor's own loggers, set up in each worker process after uvicorn's logging config."""
    logger = logging.getLogger("vetor")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.getLogger("vetor.access").disabled = not access_log


def serve(
    *,
    data: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    keys: KeySource,
    access_log: bool = True,
    warm: tuple[str, ...] = (),
    tls: tuple[Path, Path] | None = None,
) -> None:
    """Run uvicorn; ``tls`` is (certificate, private key), PEM files, for HTTPS."""
    os.environ["VETOR_DATA"] = data
    os.environ[_WARM_ENV] = ",".join(warm)
    for name in (_NO_AUTH_ENV, _KEYS_ENV, _KEYS_FILE_ENV):
        os.environ.pop(name, None)
    if keys is None:
        os.environ[_NO_AUTH_ENV] = "1"
    elif isinstance(keys, Path):
        os.environ[_KEYS_FILE_ENV] = str(keys)
    else:
        os.environ[_KEYS_ENV] = orjson.dumps(keys).decode()
    os.environ[_ACCESS_LOG_ENV] = "1" if access_log else "0"
    # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown; with these handlers in
    # place that ends the process with status 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    uvicorn.run(
        "vetor.server.run:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # vetor writes its own structured access log with request ids
        http=DeadlineH11Protocol,  # request heads within the header timeout (slowloris)
        limit_concurrency=Settings.from_env().max_connections,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        timeout_graceful_shutdown=30,  # in-flight writes finish before the process exits
        log_level="info",
    )
