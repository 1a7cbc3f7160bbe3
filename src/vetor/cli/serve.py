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
) -> None:
    """Serve the S3 Vectors API over HTTP (boto3, the AWS CLI, LangChain, ...)."""
    from ..server.run import choose_keys, is_loopback
    from ..server.run import serve as run_server

    keys, note = choose_keys(keys_file, no_auth)
    err.print(f"vetor {__version__}: serving {data} on http://{host}:{port}", markup=False)
    err.print(note, markup=False)
    if keys is None and not is_loopback(host):
        err.print(f"WARNING: {host} is not a loopback address and authentication is off.")
    err.print(f"Point clients at it: export AWS_ENDPOINT_URL_S3VECTORS=http://{host}:{port}")
    run_server(
        data=data, host=host, port=port, workers=workers, keys=keys, access_log=access_log,
        warm=tuple(warm or ()),
    )  # fmt: skip


@app.command()
def version() -> None:
    """Print vetor's version."""
    typer.echo(f"vetor {__version__}")
