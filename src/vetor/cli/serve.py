"""Running vetor: ``serve`` (the HTTP endpoint) and ``version``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from .base import DEFAULT_DATA, DataOpt, app, err


@app.command()
def serve(
    data: DataOpt = DEFAULT_DATA,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9700,
    workers: Annotated[int, typer.Option(help="Server processes sharing the store.")] = 1,
    keys_file: Annotated[
        Path | None, typer.Option(help='JSON {"keys": [{"accessKeyId", "secretAccessKey"}]}.')
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept unsigned requests (no SigV4).")
    ] = False,
    access_log: Annotated[bool, typer.Option(help="Log one JSON line per request.")] = True,
    warm: Annotated[
        list[str] | None,
        typer.Option(help="BUCKET/INDEX to load before accepting requests (repeatable)."),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS instead of HTTP.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Serve the S3 Vectors API over HTTP (boto3, the AWS CLI, LangChain, ...)."""
    from ..server.run import choose_keys, is_loopback
    from ..server.run import serve as run_server

    if (tls_cert is None) != (tls_key is None):
        err.print("Error: --tls-cert and --tls-key go together")
        raise typer.Exit(1)
    try:
        keys, note = choose_keys(keys_file, no_auth)
    except ValueError as error:  # conflicting or malformed key configuration
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    url = f"{'https' if tls_cert else 'http'}://{host}:{port}"
    err.print(f"vetor {__version__}: serving {data} on {url}", markup=False)
    err.print(note, markup=False)
    if keys is None and not is_loopback(host):
        err.print(f"WARNING: {host} is not a loopback address and authentication is off.")
    if tls_cert is None and not is_loopback(host):
        err.print(f"WARNING: {host} is not a loopback address and TLS is off (--tls-cert).")
    err.print(f"Point clients at it: export AWS_ENDPOINT_URL_S3VECTORS={url}")
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    run_server(
        data=data, host=host, port=port, workers=workers, keys=keys, access_log=access_log,
        warm=tuple(warm or ()), tls=tls,
    )  # fmt: skip


@app.command()
def version() -> None:
    """Print vetor's version."""
    typer.echo(f"vetor {__version__}")
