"""``vetor indexes``: create, list, inspect and delete vector indexes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..service import VectorService
from .base import (
    DEFAULT_DATA,
    Bucket,
    DataOpt,
    Index,
    Metric,
    Mode,
    Output,
    OutputOpt,
    emit,
    every_page,
    fields_table,
    message,
    open_client,
    rows_table,
)

indexes_app = typer.Typer(help="Create, list, inspect and delete vector indexes.")


@indexes_app.command("create")
def index_create(
    bucket: Bucket,
    index: Index,
    dimension: Annotated[int, typer.Option(help="Vector length.", min=1)],
    metric: Annotated[Metric, typer.Option(help="Distance metric.")] = Metric.cosine,
    non_filterable: Annotated[
        list[str] | None,
        typer.Option("--non-filterable", help="Metadata key stored but not filterable."),
    ] = None,
    searchable: Annotated[
        list[str] | None,
        typer.Option(
            "--searchable",
            help="Metadata key made full-text searchable, as KEY:LANGUAGE (en, pt, …) or KEY "
            "(the standard analyzer: no stemming or stop words).",
        ),
    ] = None,
    mode: Annotated[
        Mode | None,
        typer.Option(
            case_sensitive=False,
            help="Index mode (default: ENHANCED with --searchable, else the bucket's).",
        ),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Create a float32 index in a bucket."""
    texts = [_text_search_config(item) for item in searchable or []]
    config: dict[str, Any] = {"nonFilterableMetadataKeys": non_filterable or []}
    if texts:
        config["textSearchConfigurations"] = texts
    with open_client(data) as s3v:
        response = s3v.create_index(
            vectorBucketName=bucket,
            indexName=index,
            dataType="float32",
            dimension=dimension,
            distanceMetric=metric.value,
            metadataConfiguration=config,
        )
        if mode is None and texts:
            mode = Mode.ENHANCED  # full-text search needs it
        if mode is not None:
            s3v.update_index_mode(vectorBucketName=bucket, indexName=index, indexMode=mode.value)
    emit(response, output, message(f"Created index {response['indexArn']}"))


@indexes_app.command("list")
def index_list(
    bucket: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """List every index of a bucket (all pages)."""
    with open_client(data) as s3v:
        indexes = every_page(
            lambda token: s3v.list_indexes(vectorBucketName=bucket, nextToken=token), "indexes"
        )["indexes"]
    emit(
        {"indexes": indexes},
        output,
        lambda r: rows_table(r["indexes"], ["indexName", "creationTime"]),
    )


@indexes_app.command("get")
def index_get(
    bucket: Bucket, index: Index, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Show an index's configuration (and, on a store, its indexing progress)."""
    with open_client(data) as s3v:
        response = s3v.get_index(vectorBucketName=bucket, indexName=index)
        if isinstance(s3v, VectorService):  # a vetor extension: not in the S3 Vectors API
            response["indexing"] = s3v.index_stats(vectorBucketName=bucket, indexName=index)
    emit(response, output, lambda r: fields_table({**r["index"], **r.get("indexing", {})}))


@indexes_app.command("delete")
def index_delete(
    bucket: Bucket, index: Index, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Delete an index and all its vectors."""
    with open_client(data) as s3v:
        response = s3v.delete_index(vectorBucketName=bucket, indexName=index)
    emit(response, output, message(f"Deleted index {bucket}/{index}"))


def _text_search_config(item: str) -> dict[str, str]:
    key, _, language = item.partition(":")
    return {"metadataKey": key, "language": language} if language else {"metadataKey": key}
