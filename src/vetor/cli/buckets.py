"""``vetor buckets``: create, list, inspect and delete vector buckets."""

from __future__ import annotations

from typing import Annotated

import typer

from .base import (
    DEFAULT_DATA,
    Bucket,
    DataOpt,
    Output,
    OutputOpt,
    emit,
    every_page,
    fields_table,
    message,
    open_client,
    rows_table,
)

buckets_app = typer.Typer(help="Create, list, inspect and delete vector buckets.")


@buckets_app.command("create")
def bucket_create(
    name: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Create a vector bucket."""
    with open_client(data) as s3v:
        response = s3v.create_vector_bucket(vectorBucketName=name)
    emit(response, output, message(f"Created bucket {response['vectorBucketArn']}"))


@buckets_app.command("list")
def bucket_list(
    prefix: Annotated[str | None, typer.Option(help="Only names starting with this.")] = None,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """List every vector bucket (all pages)."""
    with open_client(data) as s3v:
        buckets = every_page(
            lambda token: s3v.list_vector_buckets(prefix=prefix, nextToken=token),
            "vectorBuckets",
        )["vectorBuckets"]
    emit(
        {"vectorBuckets": buckets},
        output,
        lambda r: rows_table(r["vectorBuckets"], ["vectorBucketName", "creationTime"]),
    )


@buckets_app.command("get")
def bucket_get(
    name: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Show a vector bucket's configuration."""
    with open_client(data) as s3v:
        response = s3v.get_vector_bucket(vectorBucketName=name)
    emit(response, output, lambda r: fields_table(r["vectorBucket"]))


@buckets_app.command("delete")
def bucket_delete(
    name: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Delete an empty vector bucket."""
    with open_client(data) as s3v:
        response = s3v.delete_vector_bucket(vectorBucketName=name)
    emit(response, output, message(f"Deleted bucket {name}"))
