"""``vetor embed``: ``put`` and ``query``: documents in, answers out, one command each.

Everything the AWS S3 Vectors embed CLI does, with its options too (``aws``), and any provider
(local models, self-hosted OpenAI-compatible servers, Vertex AI, Bedrock), chunking,
resumable runs and a progress bar. Both commands talk to the store given by ``--data`` or,
with the global ``--endpoint-url``, to a remote vetor server, like the other ``vetor``
commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ...embed import (
    AUDIO,
    CONTENT_KEY,
    IMAGE,
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
    on_ray,
    parse_spec,
    put,
    transcript,
)
from ...settings import Settings
from ..base import DEFAULT_DATA, DataOpt, Metric, Output, cli_defaults, open_client, parse_json
from . import aws
from .output import (
    aws_put_document,
    aws_query_document,
    echo_json,
    err,
    load,
    out,
    print_failures,
    print_report,
    progress_bar,
    results_table,
)

OptBucket = Annotated[
    str | None, typer.Argument(metavar="BUCKET", help="Vector bucket (or --vector-bucket-name).")
]
OptIndex = Annotated[str | None, typer.Argument(metavar="INDEX", help="Index (or --index-name).")]
SourceEndpointOpt = Annotated[
    str | None,
    typer.Option(envvar="VETOR_SOURCE_ENDPOINT_URL", help="S3 endpoint of s3:// inputs."),
]
OptOutput = Annotated[
    Output | None,
    typer.Option("--output", "-o", help="json or table (default: table; json in the AWS form)."),
]

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
    bucket: OptBucket = None,
    index: OptIndex = None,
    vector_bucket_name: aws.BucketNameOpt = None,
    index_name: aws.IndexNameOpt = None,
    model_id: aws.ModelIdOpt = None,
    text_value: TextValueOpt = None,
    text: TextOpt = None,
    image: ImageOpt = None,
    video: aws.VideoOpt = None,
    audio: aws.AudioOpt = None,
    key: Annotated[str | None, typer.Option(help="Vector key of a single input.")] = None,
    key_prefix: Annotated[str, typer.Option(help="Prefix of every vector key.")] = "",
    filename_as_key: Annotated[
        bool, typer.Option(help="Key by file name (relative to its folder, glob or prefix).")
    ] = False,
    metadata: Annotated[
        str | None, typer.Option(help="JSON object of metadata added to every vector.")
    ] = None,
    bedrock_inference_params: aws.InferenceParamsOpt = None,
    src_bucket_owner: aws.SrcBucketOwnerOpt = None,
    async_output_s3_uri: aws.AsyncOutputOpt = None,
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
    source_endpoint_url: SourceEndpointOpt = None,
    source_region: Annotated[
        str | None, typer.Option(envvar="VETOR_SOURCE_REGION", help="Region of s3:// inputs.")
    ] = None,
    source_profile: Annotated[
        str | None,
        typer.Option(envvar="VETOR_SOURCE_PROFILE", help="AWS profile for s3:// inputs."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Read, chunk and embed on this Ray cluster (HOST:PORT or ray://...).",
        ),
    ] = None,
    region: aws.RegionOpt = None,
    data: DataOpt = DEFAULT_DATA,
    output: OptOutput = None,
) -> None:
    """Embed texts, files, folders or S3 prefixes and store them as vectors.

    Name the index as BUCKET INDEX, or the AWS embed CLI's way (--vector-bucket-name,
    --index-name, --model-id), which also prints its JSON documents."""
    settings = Settings.from_env()
    where = aws.target(bucket, index, vector_bucket_name, index_name)
    user_metadata = _user_metadata(metadata)
    source_bucket = _source_bucket(
        source_endpoint_url, source_region, source_profile, src_bucket_owner
    )
    with _fatal():
        aws.refuse_video(video, model_id or model or provider or "(any of vetor's)")
    sources = _sources(text_value, text, image, audio, source_bucket)
    if key is not None and sum(isinstance(s, Source) for s in sources) > 1:
        raise typer.BadParameter("--key names one input; use --key-prefix for several")
    options = PutOptions(
        bucket=where.bucket,
        index=where.index,
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
    region = region or cli_defaults.get("region")
    with open_client(data, region) as client, _fatal():
        embedder = _embedder(
            client, where, model_id, provider, model, provider_option,
            bedrock_inference_params, region, settings,
        )  # fmt: skip
        with progress_bar(len(sources)) as (advance, announce):
            stages = on_ray(ray) if ray else None  # read to embedded on a Ray cluster
            report = put(client, embedder, sources, options, advance, announce, stages)
        if where.aws and (output or Output.json) is Output.json:
            patterns = (text or []) + (image or []) + (audio or [])
            batch = len(sources) > 1 or any(_is_pattern(p) for p in patterns)
            stored = {} if batch or len(report.keys) != 1 else _stored_metadata(client, report)
            kinds = {getattr(s, "kind", TEXT) for s in sources}
            kind = kinds.pop() if len(kinds) == 1 else TEXT
            echo_json(aws_put_document(report, model_id or embedder.model, kind, batch, stored))
            print_failures(report)
        else:
            print_report(report, output or Output.table)
    # The AWS tool lists a batch's failed files and succeeds; vetor fails on any failure.
    if report.failures and (not where.aws or not report.vectors):
        raise typer.Exit(1)


def _embedder(
    client: Any,
    where: aws.Target,
    model_id: str | None,
    provider: str | None,
    model: str | None,
    provider_option: list[str] | None,
    inference_params: str | None,
    region: str | None,
    settings: Settings,
) -> Embedder:
    provider, model = aws.model_choice(model_id, provider, model)
    chosen = parse_spec(provider)[0] if provider else None
    options = aws.provider_options(
        chosen, _provider_options(provider_option), inference_params, region
    )
    return index_embedder(client, where.bucket, where.index, provider, model, options, settings)


def _is_pattern(path: str) -> bool:
    return "*" in path or "?" in path


def _stored_metadata(client: Any, report: PutReport) -> dict[str, Any]:
    """The metadata of the one vector written, as the AWS tool prints it (not vetor's own
    bookkeeping keys)."""
    found = client.get_vectors(
        vectorBucketName=report.bucket, indexName=report.index, keys=report.keys,
        returnMetadata=True,
    )["vectors"]  # fmt: skip
    metadata = found[0].get("metadata") or {} if found else {}
    return {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}


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


def _source_bucket(
    endpoint: str | None, region: str | None, profile: str | None, owner: str | None = None
) -> SourceBucket:
    return SourceBucket(
        endpoint_url=endpoint,
        region=region,
        profile=profile,
        access_key_id=os.environ.get("VETOR_SOURCE_ACCESS_KEY_ID"),
        secret_access_key=os.environ.get("VETOR_SOURCE_SECRET_ACCESS_KEY"),
        owner=owner,
    )


def _sources(
    text_values: list[str] | None,
    texts: list[str] | None,
    images: list[str] | None,
    recordings: list[str] | None,
    bucket: SourceBucket,
) -> list[Source | SourceError]:
    items: list[Source | SourceError] = [literal(v) for v in text_values or []]
    items += expand(texts or [], TEXT, bucket)
    items += expand(images or [], IMAGE, bucket)
    items += expand(recordings or [], AUDIO, bucket)
    if not items:
        raise typer.BadParameter(
            "give something to embed: --text-value, --text, --image or --audio"
        )
    return items


# --- query ------------------------------------------------------------------------------------


@embed_app.command("query")
def query_command(
    bucket: OptBucket = None,
    index: OptIndex = None,
    question: Annotated[
        str | None, typer.Argument(metavar="[QUESTION]", help="The query text.")
    ] = None,
    vector_bucket_name: aws.BucketNameOpt = None,
    index_name: aws.IndexNameOpt = None,
    model_id: aws.ModelIdOpt = None,
    text_value: Annotated[str | None, typer.Option("--text-value", help="The query text.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="A text file or S3 object holding the query.")
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="An image file or S3 object to search with.")
    ] = None,
    video: aws.VideoOpt = None,
    audio: Annotated[
        str | None, typer.Option("--audio", help="A recording of the question (transcribed).")
    ] = None,
    k: Annotated[int, typer.Option("--k", "--top-k", help="How many results.", min=1)] = 5,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help="Metadata filter as a JSON object.")
    ] = None,
    return_distance: Annotated[
        bool | None, typer.Option(help="Include distances (default: yes; no in the AWS form).")
    ] = None,
    return_metadata: Annotated[bool, typer.Option(help="Include metadata.")] = True,
    bedrock_inference_params: aws.InferenceParamsOpt = None,
    src_bucket_owner: aws.SrcBucketOwnerOpt = None,
    async_output_s3_uri: aws.AsyncOutputOpt = None,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    provider_option: ProviderOptionOpt = None,
    source_endpoint_url: SourceEndpointOpt = None,
    region: aws.RegionOpt = None,
    data: DataOpt = DEFAULT_DATA,
    output: OptOutput = None,
) -> None:
    """Embed a question (or an image) and return the nearest vectors.

    Name the index as BUCKET INDEX, or the AWS embed CLI's way (--vector-bucket-name,
    --index-name, --model-id), which also prints its JSON document."""
    settings = Settings.from_env()
    where = aws.target(bucket, index, vector_bucket_name, index_name)
    condition = parse_json(filter_json, "--filter") if filter_json is not None else None
    if condition is not None and not isinstance(condition, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="'--filter'")
    with _fatal():
        aws.refuse_video(video, model_id or model or provider or "(any of vetor's)")
    source_bucket = _source_bucket(source_endpoint_url, None, None, src_bucket_owner)
    query = _query_input(question, text_value, text, image, audio, source_bucket)
    distances = not where.aws if return_distance is None else return_distance
    region = region or cli_defaults.get("region")
    with open_client(data, region) as client, _fatal():
        embedder = _embedder(
            client, where, model_id, provider, model, provider_option,
            bedrock_inference_params, region, settings,
        )  # fmt: skip
        load(embedder)
        vector = _query_vector(embedder, query)
        response = client.query_vectors(
            vectorBucketName=where.bucket,
            indexName=where.index,
            topK=k,
            queryVector={"float32": vector},
            filter=condition,
            returnMetadata=return_metadata,
            returnDistance=distances,
        )
    results = response["vectors"]
    summary: dict[str, Any] = {"queryType": query.kind, "model": model_id or embedder.model}
    if where.aws:
        summary["index"] = where.index
    else:
        summary.update(provider=embedder.provider, index=f"{where.bucket}/{where.index}")
    summary.update(resultsFound=len(results), queryDimensions=embedder.dimension)
    chosen = output or (Output.json if where.aws else Output.table)
    if chosen is Output.table:
        out.print(results_table(results))
    elif where.aws:
        echo_json(aws_query_document(results, summary, distances))
    else:
        echo_json({"results": results, "summary": summary})


def _query_input(
    question: str | None,
    text_value: str | None,
    text: str | None,
    image: str | None,
    audio: str | None,
    bucket: SourceBucket,
) -> Source:
    given = [v for v in (question, text_value, text, image, audio) if v is not None]
    if len(given) != 1:
        raise typer.BadParameter(
            "give exactly one of QUESTION, --text-value, --text, --image, --audio"
        )
    if question is not None or text_value is not None:
        return literal(question if question is not None else text_value or "")
    kind, pattern = next((k, p) for k, p in ((TEXT, text), (IMAGE, image), (AUDIO, audio)) if p)
    found = list(expand([pattern or ""], kind, bucket))
    if len(found) != 1 or isinstance(found[0], SourceError):
        problem = str(found[0]) if found and isinstance(found[0], SourceError) else "several inputs"
        raise typer.BadParameter(f"{pattern}: {problem}; the query is one file or object")
    return found[0]


def _query_vector(embedder: Embedder, query: Source) -> list[float]:
    try:
        if query.kind == IMAGE and embedder.supports_images:
            return embedder.embed_images([query.read_image()])[0].tolist()
        text = query.read_text() if query.kind == TEXT else transcript(query)
    except SourceError as error:
        raise EmbeddingError(f"{query.label}: {error}") from None
    problem = embedder.input_problem(text)
    if problem:
        raise EmbeddingError(f"{query.label}: {problem}")
    return embedder.embed_queries([text])[0].tolist()


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
