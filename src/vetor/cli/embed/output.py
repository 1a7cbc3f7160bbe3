"""What ``vetor embed`` prints: the progress bar, vetor's reports and tables, and the JSON
documents of the AWS embed CLI (``s3vectors-embed``) for the AWS form of the commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ...embed import CHUNK_KEY, CONTENT_KEY, LOCATION_KEY, RESERVED_PREFIX, PutReport
from ..base import Output, err, out

WIDE = 120  # columns from which the vector key is worth its 36 characters


def echo_json(document: Any) -> None:
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


# --- vetor's form -------------------------------------------------------------------------------


def print_report(report: PutReport, output: Output) -> None:
    summary = report.to_dict()
    if output is Output.json:
        echo_json(summary)
    else:
        table = Table("field", "value", show_header=False)
        for name in ("bucket", "index", "provider", "model", "dimension", "indexCreated",
                     "inputs", "vectors", "embedded", "skipped", "failed", "seconds",
                     "embeddedPerSecond"):  # fmt: skip
            table.add_row(Text(name), Text(str(summary[name])))
        out.print(table)
    print_failures(report)


def print_failures(report: PutReport) -> None:
    if report.failures:
        err.print(f"{len({f.input for f in report.failures})} failed:", markup=False)
        for failure in report.failures:
            err.print(f"  {failure.input}: {failure.error}", markup=False, soft_wrap=True)


def results_table(results: list[dict[str, Any]], width: int | None = None) -> Table:
    """Nearest vectors at the terminal's width: distance, where the text came from (file name
    and chunk) and as much of the text as fits on one line; the key only on wide terminals."""
    wide = (width or out.width) >= WIDE
    table = Table(expand=True)
    table.add_column("distance", no_wrap=True, justify="right", width=8)
    table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("text", no_wrap=True, overflow="ellipsis", ratio=1)
    if wide:
        table.add_column("key", no_wrap=True, overflow="ellipsis", max_width=36)
    for item in results:
        meta = item.get("metadata") or {}
        distance = item.get("distance")
        row = [
            Text("" if distance is None else f"{distance:.4f}"),
            Text(_source(meta)),
            Text(" ".join(str(meta.get(CONTENT_KEY, "")).split())),
        ]
        table.add_row(*row, *([Text(item["key"])] if wide else []))
    return table


def _source(meta: dict[str, Any]) -> str:
    location = str(meta.get(LOCATION_KEY, ""))
    name = PurePosixPath(location.removeprefix("file://")).name if location else ""
    chunk = meta.get(CHUNK_KEY)
    return f"{name} #{chunk}" if chunk is not None else name


# --- the AWS embed CLI's form -------------------------------------------------------------------


def aws_put_document(
    report: PutReport, model_id: str, content_type: str, batch: bool, metadata: dict[str, Any]
) -> dict[str, Any]:
    """``s3vectors-embed put``'s JSON: one vector, several from one input, or a batch."""
    common = {"bucket": report.bucket, "index": report.index, "model": model_id}
    if batch:
        failed = len({f.input for f in report.failures})
        document = {
            "type": "streaming_batch",
            **common,
            "contentType": content_type,
            "totalFiles": report.inputs,
            "processedFiles": report.inputs - failed,
            "failedFiles": failed,
            "totalVectors": report.vectors,
            "vectorKeys": report.keys[:10],
        }
        if report.failures:
            document["errors"] = [
                f"Error processing {f.input}: {f.error}" for f in report.failures
            ][:5]
        return document
    if len(report.keys) > 1:
        return {
            "type": "multiclip",
            **common,
            "contentType": content_type,
            "totalVectors": len(report.keys),
            "keys": report.keys,
        }
    return {
        "key": report.keys[0] if report.keys else None,
        **common,
        "contentType": content_type,
        "embeddingDimensions": report.dimension,
        "metadata": metadata,
    }


def aws_query_document(
    results: list[dict[str, Any]],
    summary: dict[str, Any],
    return_distance: bool,
) -> dict[str, Any]:
    """``s3vectors-embed query``'s JSON (its result key is ``Key``, capital K)."""
    rows = []
    for item in results:
        row: dict[str, Any] = {"Key": item["key"]}
        if return_distance:
            row["distance"] = item.get("distance", 0.0)
        metadata = item.get("metadata") or {}  # without vetor's bookkeeping keys
        row["metadata"] = {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}
        rows.append(row)
    return {"results": rows, "summary": summary}


# --- progress -----------------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """Inputs per second, the throughput people compare between models and settings."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        vectors = task.fields.get("vectors", 0)
        rate = f"{speed:.1f} inputs/s" if speed else "- inputs/s"
        return Text(f"{vectors} vectors · {rate}")


@contextmanager
def progress_bar(total: int) -> Iterator[tuple[Any, Any]]:
    """A bar over inputs with vectors written, throughput and ETA, only at a terminal; and
    how to say what a pause is for (the bar's label there, a line on stderr elsewhere)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("embedding", total=total, vectors=0)
        written = 0

        def advance(inputs: int, vectors: int) -> None:
            nonlocal written
            written += vectors
            progress.update(task, advance=inputs, vectors=written)

        def announce(message: str) -> None:
            if err.is_terminal:
                progress.update(task, description=message)
            elif message != "embedding":
                err.print(f"{message} …", markup=False)

        yield advance, announce


def load(embedder: Any) -> None:
    """Load a model not in memory yet, saying so: a spinner at a terminal, a line elsewhere."""
    if embedder.loaded:
        return
    if not err.is_terminal:
        err.print(f"loading {embedder.identity} …", markup=False)
        embedder.load()
        return
    with err.status(f"loading {embedder.identity}"):
        embedder.load()
