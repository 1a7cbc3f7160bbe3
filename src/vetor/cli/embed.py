"""``vetor embed``: ``put`` and ``query``: documents in, answers out, one command each.

Everything the AWS S3 Vectors embed CLI does, with any provider (local models, self-hosted
OpenAI-compatible servers, Vertex AI, Bedrock), chunking, resumable runs and a progress bar.
Both commands talk to the store given by ``--data`` or, with the global ``--endpoint-url``,
to a remote vetor server, exactly like the other ``vetor`` commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
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

from ..embed import (
    CONTENT_KEY,
    IMAGE,
    LOCATION_KEY,
    RESERVED_PREFIX,
    TEXT,
    Embedder,
    EmbeddingError,
    PutOptions,
    PutReport,
    Source,
    SourceBucket,
    SourceError,
    expand,
    index_embedder,
    literal,
    put,
)
from ..settings import Settings
from .base import (
    DEFAULT_DATA,
    Bucket,
    DataOpt,
    Index,
    Metric,
    Output,
    OutputOpt,
    open_client,
    parse_json,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

embed_app = typer.Typer(
    help="Embed documents into an index with a model, and query it in words.",
    no_args_is_help=True,
)


TextValueOpt = Annotated[
    list[str] | None, typer.Option("--text-value", help="Literal text to embed (repeatable).")
]
TextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--text", help="Text file, folder, glob, S3 object or s3://bucket/prefix/ (repeatable)."
    ),
]
ImageOpt = Annotated[
    list[str] | None,
    typer.Option("--image", help="Image file, folder, glob or S3 object/prefix (repeatable)."),
]
ProviderOpt = Annotated[
    str | None,
    typer.Option(
        "--provider",
        help="local, e5-multilingual, openai, vertex or bedrock "
        "(default: the index's own model, else VETOR_EMBED_PROVIDER).",
    ),
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Model name or local path (default: the provider's).")
]
ProviderOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--provider-option",
        help="KEY=VALUE for the provider: base_url, api_key, dimensions, project, location, "
        "endpoint_url, region, ... (repeatable).",
    ),
]


# --- put --------------------------------------------------------------------------------------


@embed_app.command("put")
def put_command(
    bucket: Bucket,
    index: Index,
    text_value: TextValueOpt = None,
    text: TextOpt = None,
    image: ImageOpt = None,
    key: Annotated[str | None, typer.Option(help="Vector key of a single input.")] = None,
    key_prefix: Annotated[str, typer.Option(help="Prefix of every vector key.")] = "",
    filename_as_key: Annotated[
        bool, typer.Option(help="Key by file name (relative to its folder, glob or prefix).")
    ] = False,
    metadata: Annotated[
        str | None, typer.Option(help="JSON object of metadata added to every vector.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Vectors per PutVectors call.", min=1, max=500)
    ] = 500,
    max_workers: Annotated[
        int | None, typer.Option(help="Reader threads (and remote model calls).", min=1)
    ] = None,
    embed_batch_size: Annotated[
        int | None, typer.Option(help="Inputs per model call.", min=1)
    ] = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    provider_option: ProviderOptionOpt = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Characters per chunk of long text; 0: no chunking.", min=0)
    ] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(help="Characters shared by neighbouring chunks.", min=0)
    ] = None,
    text_search: Annotated[
        str | None,
        typer.Option(
            help=f"Make the stored text ({CONTENT_KEY}) full-text searchable in this language."
        ),
    ] = None,
    distance_metric: Annotated[
        Metric, typer.Option(help="Metric of an index this command creates.")
    ] = Metric.cosine,
    create_index: Annotated[
        bool, typer.Option(help="Create the bucket and index when absent.")
    ] = True,
    force: Annotated[
        bool,
        typer.Option(help="Embed inputs stored unchanged again; allow a model not the index's."),
    ] = False,
    source_endpoint_url: Annotated[
        str | None,
        typer.Option(envvar="VETOR_SOURCE_ENDPOINT_URL", help="S3 endpoint of s3:// inputs."),
    ] = None,
    source_region: Annotated[
        str | None, typer.Option(envvar="VETOR_SOURCE_REGION", help="Region of s3:// inputs.")
    ] = None,
    source_profile: Annotated[
        str | None,
        typer.Option(envvar="VETOR_SOURCE_PROFILE", help="AWS profile for s3:// inputs."),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Embed texts, files, folders or S3 prefixes and store them as vectors."""
    settings = Settings.from_env()
    user_metadata = _user_metadata(metadata)
    source_bucket = _source_bucket(source_endpoint_url, source_region, source_profile)
    sources = _sources(text_value, text, image, source_bucket)
    if key is not None and sum(isinstance(s, Source) for s in sources) > 1:
        raise typer.BadParameter("--key names one input; use --key-prefix for several")
    options = PutOptions(
        bucket=bucket,
        index=index,
        key=key,
        key_prefix=key_prefix,
        filename_as_key=filename_as_key,
        metadata=user_metadata,
        batch_size=batch_size,
        embed_batch_size=embed_batch_size or settings.embed_batch_size,
        max_workers=max_workers or settings.embed_max_workers,
        chunk_size=settings.embed_chunk_size if chunk_size is None else chunk_size,
        chunk_overlap=settings.embed_chunk_overlap if chunk_overlap is None else chunk_overlap,
        force=force,
        create_index=create_index,
        distance_metric=distance_metric.value,
        text_search=text_search,
    )
    with open_client(data) as client, _fatal():
        embedder = index_embedder(
            client, bucket, index, provider, model, _provider_options(provider_option), settings
        )
        with _progress(len(sources)) as advance:
            report = put(client, embedder, sources, options, advance)
    _print_report(report, output)
    if report.failures:
        raise typer.Exit(1)


def _user_metadata(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    value = parse_json(text, "--metadata")
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="'--metadata'")
    reserved = sorted(k for k in value if k.upper().startswith(RESERVED_PREFIX))
    if reserved:
        raise typer.BadParameter(
            f"keys starting with {RESERVED_PREFIX} are vetor's own: {', '.join(reserved)}",
            param_hint="'--metadata'",
        )
    return value


def _source_bucket(endpoint: str | None, region: str | None, profile: str | None) -> SourceBucket:
    return SourceBucket(
        endpoint_url=endpoint,
        region=region,
        profile=profile,
        access_key_id=os.environ.get("VETOR_SOURCE_ACCESS_KEY_ID"),
        secret_access_key=os.environ.get("VETOR_SOURCE_SECRET_ACCESS_KEY"),
    )


def _sources(
    text_values: list[str] | None,
    texts: list[str] | None,
    images: list[str] | None,
    bucket: SourceBucket,
) -> list[Source | SourceError]:
    items: list[Source | SourceError] = [literal(v) for v in text_values or []]
    items += expand(texts or [], TEXT, bucket)
    items += expand(images or [], IMAGE, bucket)
    if not items:
        raise typer.BadParameter("give something to embed: --text-value, --text or --image")
    return items


def _print_report(report: PutReport, output: Output) -> None:
    summary = report.to_dict()
    if output is Output.json:
        typer.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        table = Table("field", "value", show_header=False)
        for name in ("bucket", "index", "provider", "model", "dimension", "indexCreated",
                     "inputs", "vectors", "embedded", "skipped", "failed", "seconds",
                     "embeddedPerSecond"):  # fmt: skip
            table.add_row(Text(name), Text(str(summary[name])))
        out.print(table)
    if report.failures:
        err.print(f"{len(summary['failures'])} failed:", markup=False)
        for failure in report.failures:
            err.print(f"  {failure.input}: {failure.error}", markup=False, soft_wrap=True)


# --- query ------------------------------------------------------------------------------------


@embed_app.command("query")
def query_command(
    bucket: Bucket,
    index: Index,
    question: Annotated[
        str | None, typer.Argument(metavar="[QUESTION]", help="The query text.")
    ] = None,
    text_value: Annotated[str | None, typer.Option("--text-value", help="The query text.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="A text file or S3 object holding the query.")
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="An image file or S3 object to search with.")
    ] = None,
    k: Annotated[int, typer.Option("--k", "--top-k", help="How many results.", min=1)] = 5,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help="Metadata filter as a JSON object.")
    ] = None,
    return_distance: Annotated[bool, typer.Option(help="Include distances.")] = True,
    return_metadata: Annotated[bool, typer.Option(help="Include metadata.")] = True,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    provider_option: ProviderOptionOpt = None,
    source_endpoint_url: Annotated[
        str | None,
        typer.Option(envvar="VETOR_SOURCE_ENDPOINT_URL", help="S3 endpoint of s3:// inputs."),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Embed a question (or an image) and return the nearest vectors."""
    settings = Settings.from_env()
    where = parse_json(filter_json, "--filter") if filter_json is not None else None
    if where is not None and not isinstance(where, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="'--filter'")
    source_bucket = _source_bucket(source_endpoint_url, None, None)
    query = _query_input(question, text_value, text, image, source_bucket)
    with open_client(data) as client, _fatal():
        embedder = index_embedder(
            client, bucket, index, provider, model, _provider_options(provider_option), settings
        )
        vector = _query_vector(embedder, query)
        response = client.query_vectors(
            vectorBucketName=bucket,
            indexName=index,
            topK=k,
            queryVector={"float32": vector},
            filter=where,
            returnMetadata=return_metadata,
            returnDistance=return_distance,
        )
    results = response["vectors"]
    summary = {
        "queryType": query.kind,
        "provider": embedder.provider,
        "model": embedder.model,
        "index": f"{bucket}/{index}",
        "resultsFound": len(results),
        "queryDimensions": embedder.dimension,
    }
    if output is Output.json:
        document = {"results": results, "summary": summary}
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        out.print(results_table(results))


def _query_input(
    question: str | None,
    text_value: str | None,
    text: str | None,
    image: str | None,
    bucket: SourceBucket,
) -> Source:
    given = [v for v in (question, text_value, text, image) if v is not None]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of QUESTION, --text-value, --text, --image")
    if question is not None or text_value is not None:
        return literal(question if question is not None else text_value or "")
    kind, pattern = (TEXT, text) if text is not None else (IMAGE, image)
    found = list(expand([pattern or ""], kind, bucket))
    if len(found) != 1 or isinstance(found[0], SourceError):
        problem = str(found[0]) if found and isinstance(found[0], SourceError) else "several inputs"
        raise typer.BadParameter(f"{pattern}: {problem}; the query is one file or object")
    return found[0]


def _query_vector(embedder: Embedder, query: Source) -> list[float]:
    try:
        if query.kind == IMAGE:
            return embedder.embed_images([query.read_image()])[0].tolist()
        text = query.read_text()
    except SourceError as error:
        raise EmbeddingError(f"{query.label}: {error}") from None
    problem = embedder.input_problem(text)
    if problem:
        raise EmbeddingError(f"{query.label}: {problem}")
    return embedder.embed_queries([text])[0].tolist()


def results_table(results: list[dict[str, Any]]) -> Table:
    table = Table("key", "distance", "source", "text")
    table.columns[0].no_wrap = True
    for item in results:
        meta = item.get("metadata") or {}
        distance = item.get("distance")
        snippet = str(meta.get(CONTENT_KEY, ""))[:120].replace("\n", " ")
        table.add_row(
            Text(item["key"]),
            Text("" if distance is None else f"{distance:.4f}"),
            Text(str(meta.get(LOCATION_KEY, ""))),
            Text(snippet),
        )
    return table


# --- plumbing ---------------------------------------------------------------------------------


@contextmanager
def _fatal() -> Iterator[None]:
    """A problem that stops the whole command (unknown provider, dimension mismatch)."""
    try:
        yield
    except EmbeddingError as error:
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _provider_options(pairs: list[str] | None) -> dict[str, str]:
    options = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="'--provider-option'")
        options[name.strip().replace("-", "_")] = value
    return options


class _RateColumn(ProgressColumn):
    """Inputs per second, the throughput people compare between models and settings."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        vectors = task.fields.get("vectors", 0)
        rate = f"{speed:.1f} inputs/s" if speed else "- inputs/s"
        return Text(f"{vectors} vectors · {rate}")


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A bar over inputs with vectors written, throughput and ETA; only at a terminal."""
    with Progress(
        TextColumn("embedding"),
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
        task = progress.add_task("embed", total=total, vectors=0)
        written = 0

        def advance(inputs: int, vectors: int) -> None:
            nonlocal written
            written += vectors
            progress.update(task, advance=inputs, vectors=written)

        yield advance
