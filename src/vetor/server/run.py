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
from .app import create_app
from .auth import Keyring

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9700
_KEYS_ENV = "VETOR_SERVE_KEYS"  # JSON {access key id: secret}, handed to worker processes
_NO_AUTH_ENV = "VETOR_SERVE_NO_AUTH"
_ACCESS_LOG_ENV = "VETOR_SERVE_ACCESS_LOG"
_WARM_ENV = "VETOR_SERVE_WARM"  # comma-separated bucket/index names to load at start


def credentials_path() -> Path:
    configured = os.environ.get("VETOR_CREDENTIALS_FILE")
    return (
        Path(configured) if configured else Path.home() / ".config" / "vetor" / "credentials.json"
    )


def choose_keys(keys_file: Path | None, no_auth: bool) -> tuple[dict[str, str] | None, str]:
    """The access keys the server accepts, and a line telling the operator where they are from.

    In order: ``VETOR_ACCESS_KEY_ID``/``VETOR_SECRET_ACCESS_KEY``; ``--keys-file``; none with
    ``--no-auth``; otherwise a key pair generated on first start and kept in
    ``~/.config/vetor/credentials.json`` (``VETOR_CREDENTIALS_FILE``), like MinIO's root user.
    """
    key_id = os.environ.get("VETOR_ACCESS_KEY_ID")
    secret = os.environ.get("VETOR_SECRET_ACCESS_KEY")
    if key_id and secret:
        return {key_id: secret}, f"Access key {key_id} from VETOR_ACCESS_KEY_ID"
    if keys_file is not None:
        return _read_keys(keys_file), f"Access keys from {keys_file}"
    if no_auth:
        return None, "Authentication is OFF (--no-auth): anyone who can connect has full access"
    path = credentials_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pair = {
            "accessKeyId": "VETOR" + secrets.token_hex(8).upper(),
            "secretAccessKey": secrets.token_urlsafe(30),
        }
        path.write_bytes(orjson.dumps({"keys": [pair]}, option=orjson.OPT_INDENT_2))
        path.chmod(0o600)
    keys = _read_keys(path)
    key_id, secret = next(iter(keys.items()))
    return keys, (
        f"Credentials (from {path}):\n"
        f"  export AWS_ACCESS_KEY_ID={key_id}\n"
        f"  export AWS_SECRET_ACCESS_KEY={secret}"
    )


def _read_keys(path: Path) -> dict[str, str]:
    Keyring.from_file(path)  # validates the document, with a clear error
    document = orjson.loads(path.read_bytes())
    return {k["accessKeyId"]: k["secretAccessKey"] for k in document["keys"]}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_from_env() -> Starlette:
    """The app factory uvicorn calls in each worker process."""
    keys = os.environ.get(_KEYS_ENV)
    keyring = Keyring(orjson.loads(keys)) if keys else None
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
    keys: dict[str, str] | None,
    access_log: bool = True,
    warm: tuple[str, ...] = (),
) -> None:
    os.environ["VETOR_DATA"] = data
    os.environ[_WARM_ENV] = ",".join(warm)
    if keys is None:
        os.environ[_NO_AUTH_ENV] = "1"
        os.environ.pop(_KEYS_ENV, None)
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
        timeout_graceful_shutdown=30,  # in-flight writes finish before the process exits
        log_level="info",
    )
