"""The ``vetor`` command line: S3 Vectors operations on a local directory, memory or S3.

Every data command opens the store named by ``--data`` (or ``VETOR_DATA``) and calls the same
``VectorService`` method that boto3's ``s3vectors`` client would, so ``--output json`` prints
exactly the response a script would get from the API.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from . import __version__
from .errors import ConflictException, VetorError
from .service import VectorService, connect
from .settings import Settings
from .store import check_store, open_store

# Consoles resolve sys.stdout / sys.stderr lazily, so test runners that swap them still work.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class _App(TyperGroup):
    """Turns vetor's typed errors into ``<Code>: <message>`` and exit code 1, no traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except VetorError as error:
            err.print(f"{error.code}: {error.message}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ClientError as error:  # the same errors, from a remote vetor over HTTP
            details = error.response.get("Error", {})
            text = f"{details.get('Code')}: {details.get('Message')}"
            err.print(text, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except BotoCoreError as error:  # no credentials, endpoint unreachable, ...
            err.print(f"Error: {error}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_App,
    name="vetor",
    help="Self-hostable Amazon S3 Vectors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
buckets_app = typer.Typer(help="Create, list, inspect and delete vector buckets.")
indexes_app = typer.Typer(help="Create, list, inspect and delete vector indexes.")
vectors_app = typer.Typer(help="Put, get, list, delete and query vectors.")
_remote: dict[str, str] = {}  # set by --endpoint-url: talk to a vetor server instead


@app.callback()
def _global_options(
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar="VETOR_ENDPOINT_URL",
            help="Talk to a vetor (or S3 Vectors) server at this URL instead of --data.",
        ),
    ] = None,
) -> None:
    if endpoint_url:
        _remote["endpoint_url"] = endpoint_url
    else:
        _remote.clear()


app.add_typer(buckets_app, name="buckets", no_args_is_help=True)
app.add_typer(indexes_app, name="indexes", no_args_is_help=True)
app.add_typer(vectors_app, name="vectors", no_args_is_help=True)


class Output(StrEnum):
    json = "json"
    table = "table"


class Metric(StrEnum):
    cosine = "cosine"
    euclidean = "euclidean"


class Mode(StrEnum):
    CLASSIC = "CLASSIC"
    ENHANCED = "ENHANCED"


DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        envvar="VETOR_DATA",
        help="Store: a directory, memory://name or s3://bucket/prefix.",
    ),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="json or table.")]
Bucket = Annotated[str, typer.Argument(metavar="BUCKET", help="Vector bucket name.")]
Index = Annotated[str, typer.Argument(metavar="INDEX", help="Index name.")]
ValuesOpt = Annotated[bool, typer.Option("--values/--no-values", help="Include the vector data.")]
Keys = Annotated[list[str], typer.Argument(metavar="KEY", help="Vector keys.")]

DEFAULT_DATA = "./vetor-data"
MAX_BATCH = 500  # S3 Vectors' PutVectors limit


# --- plumbing ---------------------------------------------------------------------------------


# Operations that need the store itself, with what to say when given a server.
_STORE_ONLY = {
    "compact": "compact runs on a store (--data), not through a server",
    "warm": "warm runs on a store (--data); use vetor serve --warm",
}


class _RemoteClient:
    """boto3's s3vectors client, minus ``ResponseMetadata``, so output matches local use."""

    def __init__(self, endpoint_url: str) -> None:
        import boto3

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self._client = boto3.client("s3vectors", endpoint_url=endpoint_url, region_name=region)

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name in _STORE_ONLY:
            raise typer.BadParameter(_STORE_ONLY[name])
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> dict[str, Any]:
            # boto3 rejects None for optional parameters; the service treats None as absent.
            response = dict(method(**{k: v for k, v in kwargs.items() if v is not None}))
            response.pop("ResponseMetadata", None)
            return response

        return call


@contextmanager
def _service(data: str) -> Iterator[VectorService]:
    """Open the store (or the server given by --endpoint-url); on exit wait for background
    compaction so the process never stops mid-commit."""
    if "endpoint_url" in _remote:
        yield _RemoteClient(_remote["endpoint_url"])  # type: ignore[misc]
        return
    try:
        service = connect(data)
    except ValueError as error:  # an unsupported URI scheme
        raise typer.BadParameter(str(error), param_hint="'--data'") from None
    try:
        yield service
    finally:
        service.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def _dumps(value: Any, indent: bool = True) -> str:
    """orjson writes datetimes as ISO 8601 strings natively."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, default=_json_default, option=option).decode()


def _emit(response: Any, output: Output, render: Callable[[Any], Any]) -> None:
    """Print the raw response as JSON for scripts, or ``render(response)`` for people."""
    if output is Output.json:
        typer.echo(_dumps(response))
    else:
        out.print(render(response), markup=False)


def _cell(value: Any) -> Text:
    """Plain Text, so that keys or metadata holding "[...]" are never read as Rich markup."""
    if isinstance(value, datetime):
        return Text(value.isoformat())
    if isinstance(value, (dict, list)):
        return Text(_dumps(value, indent=False))
    return Text("" if value is None else str(value))


def _table(rows: Iterable[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(*columns)
    table.columns[0].no_wrap = True  # keys and names stay whole and copyable
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def _fields(record: dict[str, Any]) -> Table:
    """A two-column table of one object's fields (get and compact responses)."""
    table = Table("field", "value", show_header=False)
    table.columns[1].overflow = "fold"  # show ARNs whole, even on a narrow terminal
    for name, value in record.items():
        table.add_row(Text(name), _cell(value))
    return table


def _message(text: str) -> Callable[[Any], str]:
    return lambda _: text


def _parse_json(text: str, option: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise typer.BadParameter(f"not valid JSON ({error})", param_hint=f"'{option}'") from None


# --- buckets ----------------------------------------------------------------------------------


@buckets_app.command("create")
def bucket_create(
    name: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Create a vector bucket."""
    with _service(data) as s3v:
        response = s3v.create_vector_bucket(vectorBucketName=name)
    _emit(response, output, _message(f"Created bucket {response['vectorBucketArn']}"))


@buckets_app.command("list")
def bucket_list(
    prefix: Annotated[str | None, typer.Option(help="Only names starting with this.")] = None,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """List every vector bucket (all pages)."""
    with _service(data) as s3v:
        buckets = _all_pages(
            lambda token: s3v.list_vector_buckets(prefix=prefix, nextToken=token),
            "vectorBuckets",
        )["vectorBuckets"]
    _emit(
        {"vectorBuckets": buckets},
        output,
        lambda r: _table(r["vectorBuckets"], ["vectorBucketName", "creationTime"]),
    )


@buckets_app.command("get")
def bucket_get(
    name: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Show a vector bucket's configuration."""
    with _service(data) as s3v:
        response = s3v.get_vector_bucket(vectorBucketName=name)
    _emit(response, output, lambda r: _fields(r["vectorBucket"]))


@buckets_app.command("delete")
def bucket_delete(
    name: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Delete an empty vector bucket."""
    with _service(data) as s3v:
        response = s3v.delete_vector_bucket(vectorBucketName=name)
    _emit(response, output, _message(f"Deleted bucket {name}"))


def _all_pages(call: Callable[[str | None], dict[str, Any]], field: str) -> dict[str, Any]:
    """Follow nextToken to the end: the last page, holding every page's ``field`` items."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = call(token)
        items.extend(page[field])
        token = page.pop("nextToken", None)
        if token is None:
            return {**page, field: items}


# --- indexes ----------------------------------------------------------------------------------


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
    with _service(data) as s3v:
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
    _emit(response, output, _message(f"Created index {response['indexArn']}"))


@indexes_app.command("list")
def index_list(
    bucket: Bucket, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """List every index of a bucket (all pages)."""
    with _service(data) as s3v:
        indexes = _all_pages(
            lambda token: s3v.list_indexes(vectorBucketName=bucket, nextToken=token), "indexes"
        )["indexes"]
    _emit(
        {"indexes": indexes},
        output,
        lambda r: _table(r["indexes"], ["indexName", "creationTime"]),
    )


@indexes_app.command("get")
def index_get(
    bucket: Bucket, index: Index, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Show an index's configuration (and, on a store, its indexing progress)."""
    with _service(data) as s3v:
        response = s3v.get_index(vectorBucketName=bucket, indexName=index)
        if isinstance(s3v, VectorService):  # a vetor extension: not in the S3 Vectors API
            response["indexing"] = s3v.index_stats(vectorBucketName=bucket, indexName=index)
    _emit(response, output, lambda r: _fields({**r["index"], **r.get("indexing", {})}))


@indexes_app.command("delete")
def index_delete(
    bucket: Bucket, index: Index, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Delete an index and all its vectors."""
    with _service(data) as s3v:
        response = s3v.delete_index(vectorBucketName=bucket, indexName=index)
    _emit(response, output, _message(f"Deleted index {bucket}/{index}"))


# --- vectors ----------------------------------------------------------------------------------


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
    with _service(data) as s3v, _progress(len(records)) as advance:
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            s3v.put_vectors(vectorBucketName=bucket, indexName=index, vectors=batch)
            advance(len(batch))
    _emit(
        {"vectorCount": len(records)},
        output,
        _message(f"Wrote {len(records)} vectors to {bucket}/{index}"),
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
        return list(_parse_json(text, "FILE"))
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    return [_parse_json(line, f"FILE line {n}") for n, line in lines]


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
    with _service(data) as s3v:
        response = s3v.get_vectors(
            vectorBucketName=bucket,
            indexName=index,
            keys=keys,
            returnData=values,
            returnMetadata=metadata,
        )
    _emit(response, output, lambda r: _vector_table(r["vectors"], values, metadata))


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
    with _service(data) as s3v:

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

        response = _all_pages(page, "vectors") if all_pages else page(next_token)
    _emit(response, output, lambda r: _vector_table(r["vectors"], values, metadata))
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
    with _service(data) as s3v:
        response = s3v.delete_vectors(vectorBucketName=bucket, indexName=index, keys=keys)
    _emit(response, output, _message(f"Deleted {len(set(keys))} keys from {bucket}/{index}"))


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
    where = _parse_json(filter_json, "--filter") if filter_json is not None else None
    if where is not None and not isinstance(where, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="'--filter'")
    with _service(data) as s3v:
        if text is not None and vector_from_text and "queryVector" not in request:
            vector_of_text = _embed_query(s3v, bucket, index, text, provider, model)
            request["queryVector"] = {"float32": vector_of_text}
        request.update(topK=top_k, filter=where, returnMetadata=metadata, returnDistance=True)
        response = _all_pages(  # pages of 100 up to topK
            lambda token: s3v.query_vectors(
                vectorBucketName=bucket, indexName=index, nextToken=token, **request
            ),
            "vectors",
        )
    _emit(response, output, lambda r: _results_table(r["vectors"], metadata))


def _text_search_config(item: str) -> dict[str, str]:
    key, _, language = item.partition(":")
    return {"metadataKey": key, "language": language} if language else {"metadataKey": key}


def _embed_query(
    client: Any, bucket: str, index: str, text: str, provider: str | None, model: str | None
) -> list[float]:
    """The query text's vector, by the model ``vetor embed`` would pick for this index."""
    from .embed.cli import index_embedder

    embedder = index_embedder(client, bucket, index, provider, model, None, Settings.from_env())
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
    value = _parse_json(vector or "", option)
    if isinstance(value, dict) and isinstance(value.get("float32"), list):
        value = value["float32"]  # the API's own shape is fine too
    if not isinstance(value, list):
        raise typer.BadParameter("must be a JSON list of numbers", param_hint=f"'{option}'")
    return value


def _vector_table(vectors: list[dict[str, Any]], values: bool, metadata: bool) -> Table:
    columns = ["key"] + (["data"] if values else []) + (["metadata"] if metadata else [])
    return _table(({**v, "data": (v.get("data") or {}).get("float32")} for v in vectors), columns)


def _results_table(vectors: list[dict[str, Any]], metadata: bool) -> Table:
    scored = any("scores" in v for v in vectors)
    rows = ({**v, "distance": _number(v.get("distance")), "score": _score(v)} for v in vectors)
    columns = ["key", "distance"] + (["score"] if scored else [])
    return _table(rows, columns + (["metadata"] if metadata else []))


def _score(result: dict[str, Any]) -> str:
    """RRF score of a hybrid result, else the summed BM25 score."""
    scores = result.get("scores", {})
    if "fused" in scores:
        return f"{scores['fused']:.5f}"
    return _number(sum(s["score"] for s in scores.get("bm25Scores", [])))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


# --- maintenance ------------------------------------------------------------------------------


@app.command()
def compact(
    bucket: Bucket,
    index: Index,
    full: Annotated[bool, typer.Option(help="Rewrite everything as one segment.")] = False,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Fold write batches into segments and delete unreferenced objects."""
    with _service(data) as s3v:
        response = s3v.compact(vectorBucketName=bucket, indexName=index, full=full)
    _emit(response, output, _fields)


@app.command()
def warm(
    bucket: Bucket, index: Index, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table
) -> None:
    """Load an index (rows and ANN indexes) and report what it holds in memory and how long
    loading took. A server preloads with ``vetor serve --warm BUCKET/INDEX``."""
    with _service(data) as s3v:
        started = time.perf_counter()
        response = s3v.warm(vectorBucketName=bucket, indexName=index)
        response["seconds"] = round(time.perf_counter() - started, 3)
    _emit(response, output, _fields)


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
        typer.echo(_dumps(rows))
    else:
        table = Table("check", "result", "detail")
        table.columns[0].no_wrap = True
        for r in results:
            verdict = Text("ok", "green") if r.ok else Text("FAIL", "bold red")
            table.add_row(r.name, verdict, Text(r.detail))
        out.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


# --- getting started --------------------------------------------------------------------------

GENRES = ("documentary", "drama", "comedy", "thriller", "animation")
DEMO_FILTER = {"genre": "documentary", "year": {"$gte": 2000}}


@app.command()
def quickstart(data: DataOpt = DEFAULT_DATA) -> None:
    """Create a demo index, fill it with 200 vectors and run a filtered query."""
    vectors, query = _demo_vectors()
    with _service(data) as s3v:
        # Idempotent: a second run finds the bucket and index and overwrites the same keys.
        with suppress(ConflictException):
            s3v.create_vector_bucket(vectorBucketName="quickstart")
        with suppress(ConflictException):
            s3v.create_index(
                vectorBucketName="quickstart",
                indexName="demo",
                dataType="float32",
                dimension=8,
                distanceMetric="cosine",
            )
        s3v.put_vectors(vectorBucketName="quickstart", indexName="demo", vectors=vectors)
        response = s3v.query_vectors(
            vectorBucketName="quickstart",
            indexName="demo",
            topK=5,
            queryVector={"float32": query},
            filter=DEMO_FILTER,
            returnMetadata=True,
            returnDistance=True,
        )
    out.print(f"Wrote {len(vectors)} vectors to quickstart/demo in {data}", markup=False)
    out.print(f"Query, filter {_dumps(DEMO_FILTER, indent=False)}:", soft_wrap=True)
    out.print(_results_table(response["vectors"], metadata=True))
    _next_steps(data, query)


def _demo_vectors() -> tuple[list[dict[str, Any]], list[float]]:
    """200 reproducible 8-d vectors (seed 0) with genre/year metadata, and a query vector."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((200, 8)).astype(np.float32)
    genres = rng.integers(0, len(GENRES), 200)
    years = rng.integers(1970, 2025, 200)
    vectors = [
        {
            "key": f"movie-{i:03d}",
            "data": {"float32": matrix[i].tolist()},
            "metadata": {"genre": GENRES[genres[i]], "year": int(years[i])},
        }
        for i in range(200)
    ]
    query = [round(float(x), 3) for x in rng.standard_normal(8)]
    return vectors, query


def _next_steps(data: str, query: list[float]) -> None:
    where = "" if data == DEFAULT_DATA else f" --data {shlex.quote(data)}"
    vector = shlex.quote(_dumps(query, indent=False))
    out.print("\nNext steps:")
    for command in (
        f"vetor indexes get quickstart demo{where}",
        f"vetor vectors query quickstart demo{where} --top-k 3 --vector {vector}",
    ):
        out.print(f"  {command}", markup=False, soft_wrap=True)


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
    from .server.run import choose_keys, is_loopback
    from .server.run import serve as run_server

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


# Last: the embed commands reuse this module's options and helpers.
from .embed.cli import embed_app  # noqa: E402

app.add_typer(embed_app, name="embed")
