"""Running vetor: ``serve``, ``compact``, ``warm``, ``doctor`` and ``version``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..store import check_store, open_store
from .base import (
    DEFAULT_DATA,
    Bucket,
    DataOpt,
    Index,
    Output,
    OutputOpt,
    app,
    dumps,
    emit,
    err,
    fields_table,
    open_client,
    out,
)


@app.command()
def compact(
    bucket: Bucket,
    index: Index,
    full: Annotated[bool, typer.Option(help="Rewrite everything as one segment.")] = False,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Fold write batches into segments and delete unreferenced objects."""
    with open_client(data) as s3v:
        response = s3v.compact(vectorBucketName=bucket, indexName=index, full=full)
    emit(response, output, fields_table)


@app.command()
def warm(
    bucket: Bucket, index: Index, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Load an index (rows and ANN indexes) and report what it holds in memory and how long
    loading took. A server preloads with ``vetor serve --warm BUCKET/INDEX``."""
    with open_client(data) as s3v:
        started = time.perf_counter()
        response = s3v.warm(vectorBucketName=bucket, indexName=index)
        response["seconds"] = round(time.perf_counter() - started, 3)
    emit(response, output, fields_table)


@app.command()
def doctor(
    uri: Annotated[str, typer.Argument(help="Store to check: directory, memory:// or s3://.")],
    output: OutputOpt = Output.table,
) -> None:
    """Check that a store supports everything vetor needs (exit 1 if not)."""
    try:
        store = open_store(uri)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'URI'") from None
    results = check_store(store)
    rows = [{"check": r.name, "ok": r.ok, "detail": r.detail} for r in results]
    if output is Output.json:
        typer.echo(dumps(rows))
    else:
        table = Table("check", "result", "detail")
        table.columns[0].no_wrap = True
        for r in results:
            verdict = Text("ok", "green") if r.ok else Text("FAIL", "bold red")
            table.add_row(r.name, verdict, Text(r.detail))
        out.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def serve(
    data: DataOpt = DEFAULT_DATA,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9700,
    workers: Annotated[int, typer.Option(help="Server processes sharing the store.")] = 1,
    keys_file: Annotated[
        Path | None, typer.Option(help='JSON {"keys": [{"accessKeyId", "secretAccessKey"}]}.')
    ] = None,
    no_auth: Annotated[bool, typer.Option(help="Accept unsigned requests (no SigV4).")] = False,
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
