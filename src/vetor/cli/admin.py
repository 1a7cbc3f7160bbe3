"""Looking after a store: ``compact``, ``warm`` and ``doctor``."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

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
    loading took. A server preloads with 'vetor serve --warm BUCKET/INDEX'."""
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
