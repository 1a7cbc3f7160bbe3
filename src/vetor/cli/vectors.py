"""``vetor vectors``: put, get, list, delete and query vectors (by vector, text or both)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ..embed import index_embedder
from ..settings import Settings
from .base import (
    DEFAULT_DATA,
    MAX_BATCH,
    Bucket,
    DataOpt,
    Index,
    Keys,
    Mode,
    Output,
    OutputOpt,
    ValuesOpt,
    emit,
    err,
    every_page,
    message,
    open_client,
    parse_json,
    results_table,
    rows_table,
)

vectors_app = typer.Typer(help="Put, get, list, delete and query vectors.")


@vectors_app.command("put")
def vectors_put(
    bucket: Bucket,
    index: Index,
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="JSON array or JSON Lines file; - for stdin.")
    ],
    batch_size: Annotated[
        int, typer.Option(help="Vectors per PutVectors call.", min=1, max=MAX_BATCH)
    ] = MAX_BATCH,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Put (upsert) vectors from records like {"key": "a", "data": [0.1, ...], "metadata": {}}.

    "data" may also be the API's {"float32": [...]}.
    """
    records = [_normalize(r) for r in _read_records(file)]
    if not records:
        raise typer.BadParameter("no vectors in the input", param_hint="'FILE'")
    with open_client(data) as s3v, _progress(len(records)) as advance:
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            s3v.put_vectors(vectorBucketName=bucket, indexName=index, vectors=batch)
            advance(len(batch))
    emit(
        {"vectorCount": len(records)},
        output,
        message(f"Wrote {len(records)} vectors to {bucket}/{index}"),
    )


def _read_records(file: str) -> list[Any]:
    """A JSON array when the text starts with ``[``, JSON Lines otherwise."""
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text()
        except OSError as error:
            raise typer.BadParameter(str(error), param_hint="'FILE'") from None
    if text.lstrip().startswith("["):
        return list(parse_json(text, "FILE"))
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    return [parse_json(line, f"FILE line {n}") for n, line in lines]


def _normalize(record: Any) -> Any:
    """Accept ``"data": [...]`` as shorthand for ``"data": {"float32": [...]}``."""
    if isinstance(record, dict) and isinstance(record.get("data"), list):
        return {**record, "data": {"float32": record["data"]}}
    return record


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, shown only to a person at a terminal."""
    with Progress(
        TextColumn("writing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("put", total=total)
        yield lambda n: progress.advance(task, n)


@vectors_app.command("get")
def vectors_get(
    bucket: Bucket,
    index: Index,
    keys: Keys,
    values: ValuesOpt = False,
    metadata: Annotated[bool, typer.Option(help="Include the metadata.")] = True,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Get vectors by key (missing keys are left out)."""
    with open_client(data) as s3v:
        response = s3v.get_vectors(
            vectorBucketName=bucket,
            indexName=index,
            keys=keys,
            returnData=values,
            returnMetadata=metadata,
        )
    emit(response, output, lambda r: _vector_table(r["vectors"], values, metadata))


@vectors_app.command("list")
def vectors_list(
    bucket: Bucket,
    index: Index,
    max_results: Annotated[int | None, typer.Option(help="Page size.", min=1)] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow nextToken to the end.")] = False,
    next_token: Annotated[str | None, typer.Option(help="Continue a listing.")] = None,
    segment_count: Annotated[int | None, typer.Option(help="Parallel listing: segments.")] = None,
    segment_index: Annotated[int | None, typer.Option(help="Parallel listing: this one.")] = None,
    values: ValuesOpt = False,
    metadata: Annotated[bool, typer.Option(help="Include the metadata.")] = False,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """List vectors in key order, one page or (--all) every page."""
    with open_client(data) as s3v:

        def page(token: str | None) -> dict[str, Any]:
            return s3v.list_vectors(
                vectorBucketName=bucket,
                indexName=index,
                maxResults=max_results,
                nextToken=token,
                segmentCount=segment_count,
                segmentIndex=segment_index,
                returnData=values,
                returnMetadata=metadata,
            )

        response = every_page(page, "vectors") if all_pages else page(next_token)
    emit(response, output, lambda r: _vector_table(r["vectors"], values, metadata))
    if output is Output.table and "nextToken" in response:
        hint = f"More vectors: --next-token {response['nextToken']} (or --all)"
        err.print(hint, markup=False, soft_wrap=True)


@vectors_app.command("delete")
def vectors_delete(
    bucket: Bucket,
    index: Index,
    keys: Keys,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Delete vectors by key (missing keys are not an error)."""
    with open_client(data) as s3v:
        response = s3v.delete_vectors(vectorBucketName=bucket, indexName=index, keys=keys)
    emit(response, output, message(f"Deleted {len(set(keys))} keys from {bucket}/{index}"))


@vectors_app.command("query")
def vectors_query(
    bucket: Bucket,
    index: Index,
    vector: Annotated[str | None, typer.Option(help="Query vector as a JSON list.")] = None,
    vector_file: Annotated[
        Path | None, typer.Option(help="File holding the query vector as a JSON list.")
    ] = None,
    text: Annotated[
        str | None, typer.Option(help="Full-text (BM25) query on the --key metadata key.")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="The searchable metadata key --text searches.")
    ] = None,
    vector_from_text: Annotated[
        bool, typer.Option(help="Also embed --text for a hybrid (vector + BM25) query.")
    ] = False,
    provider: Annotated[
        str | None,
        typer.Option(help="Embedding provider for --vector-from-text (default: the index's)."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Its model (default: the provider's).")] = None,
    top_k: Annotated[
        int, typer.Option(help="How many results (pages of 100 are fetched as needed).", min=1)
    ] = 10,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help="Metadata filter as a JSON object.")
    ] = None,
    mode: Annotated[
        Mode | None, typer.Option(case_sensitive=False, help="Query mode (default: the index's).")
    ] = None,
    metadata: Annotated[bool, typer.Option(help="Include the metadata.")] = True,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Find the nearest vectors, the best full-text matches, or both (hybrid), optionally
    filtered by metadata."""
    if (text is None) != (key is None):
        raise typer.BadParameter("--text and --key go together: the text and the key it searches")
    if vector_from_text and (text is None or vector is not None or vector_file is not None):
        raise typer.BadParameter("--vector-from-text embeds --text: give --text, not a vector")
    request: dict[str, Any] = {}
    if vector is not None or vector_file is not None or text is None:
        request["queryVector"] = {"float32": _query_vector(vector, vector_file)}
    if text is not None:
        request["queryTexts"] = [{"metadataKey": key, "text": text}]
        request["returnScores"] = True
        request["queryMode"] = (mode or Mode.ENHANCED).value
    elif mode is not None:
        request["queryMode"] = mode.value
    where = parse_json(filter_json, "--filter") if filter_json is not None else None
    if where is not None and not isinstance(where, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="'--filter'")
    with open_client(data) as s3v:
        if text is not None and vector_from_text and "queryVector" not in request:
            vector_of_text = _embed_query(s3v, bucket, index, text, provider, model)
            request["queryVector"] = {"float32": vector_of_text}
        request.update(topK=top_k, filter=where, returnMetadata=metadata, returnDistance=True)
        response = every_page(  # pages of 100 up to topK
            lambda token: s3v.query_vectors(
                vectorBucketName=bucket, indexName=index, nextToken=token, **request
            ),
            "vectors",
        )
    emit(response, output, lambda r: results_table(r["vectors"], metadata))


def _embed_query(
    client: Any, bucket: str, index: str, text: str, provider: str | None, model: str | None
) -> list[float]:
    """The query text's vector, by the model ``vetor embed`` would pick for this index."""
    embedder = index_embedder(client, bucket, index, provider, model, {}, Settings.from_env())
    return embedder.embed_queries([text])[0].tolist()


def _query_vector(vector: str | None, vector_file: Path | None) -> list[Any]:
    if (vector is None) == (vector_file is None):
        raise typer.BadParameter("give one of --vector, --vector-file or --text")
    if vector_file is not None:
        try:
            vector = vector_file.read_text()
        except OSError as error:
            raise typer.BadParameter(str(error), param_hint="'--vector-file'") from None
    option = "--vector" if vector_file is None else "--vector-file"
    value = parse_json(vector or "", option)
    if isinstance(value, dict) and isinstance(value.get("float32"), list):
        value = value["float32"]  # the API's own shape is fine too
    if not isinstance(value, list):
        raise typer.BadParameter("must be a JSON list of numbers", param_hint=f"'{option}'")
    return value


def _vector_table(vectors: list[dict[str, Any]], values: bool, metadata: bool) -> Table:
    columns = ["key"] + (["data"] if values else []) + (["metadata"] if metadata else [])
    return rows_table(
        ({**v, "data": (v.get("data") or {}).get("float32")} for v in vectors), columns
    )
