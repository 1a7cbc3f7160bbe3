"""``vetor kb``: knowledge bases from the shell — create one over a folder, a bucket or pushed
documents, sync it (with a progress bar), see its state, ask it questions.

Every command is the same Bedrock operations the server answers (through the store given by
``--data``, or the server given by ``--endpoint-url``).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Annotated, Any

import orjson
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..generation.citations import location_of
from .base import (
    DEFAULT_DATA,
    DataOpt,
    Output,
    OutputOpt,
    emit,
    err,
    is_remote,
    open_knowledge_bases,
    out,
    rows_table,
)

kb_app = typer.Typer(help="Knowledge bases: documents in, answers' sources out (Bedrock's API).")

ROLE = "arn:aws:iam::000000000000:role/vetor-kb"  # Bedrock requires one; vetor does not use it
FINISHED = ("COMPLETE", "FAILED", "STOPPED")
Name = Annotated[str, typer.Argument(metavar="KB", help="Knowledge base name or id.")]


@kb_app.command("create")
def kb_create(
    name: Annotated[str, typer.Argument(help="Name of the new knowledge base.")],
    folder: Annotated[
        str | None, typer.Option(help="Documents in a local folder (with --data only).")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Documents in S3: s3://bucket or s3://bucket/prefix/.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Embedding model id (all-MiniLM-L6-v2, multilingual-e5-small…).")
    ] = "all-MiniLM-L6-v2",
    chunking: Annotated[
        str,
        typer.Option(
            help="fixed:TOKENS:OVERLAP%, hierarchical:PARENT:CHILD:OVERLAP, "
            "semantic:TOKENS:BUFFER:PERCENTILE or none."
        ),
    ] = "fixed:300:20",
    vector_bucket: Annotated[
        str | None, typer.Option(help="S3 Vectors bucket of its index (default: kb-NAME).")
    ] = None,
    index: Annotated[str, typer.Option(help="Index of its chunks.")] = "chunks",
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Create a knowledge base and its data source (a folder, a bucket, or none: push
    documents with the API)."""
    if folder and bucket:
        raise typer.BadParameter("give --folder or --bucket, not both")
    if folder and is_remote():
        raise typer.BadParameter(
            "a server reads no local folder: use --bucket", param_hint="'--folder'"
        )
    store = vector_bucket or f"kb-{name}".lower()[:63]
    with open_knowledge_bases(data) as kbs:
        kb = kbs.create_knowledge_base(
            name=name, roleArn=ROLE, clientToken=str(uuid.uuid4()),
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model}"}},
            storageConfiguration={"type": "S3_VECTORS", "s3VectorsConfiguration": {
                "vectorBucketArn": f"arn:aws:s3vectors:us-east-1:000000000000:bucket/{store}",
                "indexName": index}},
        )["knowledgeBase"]  # fmt: skip
        source = kbs.create_data_source(
            knowledgeBaseId=kb["knowledgeBaseId"], name="documents",
            dataSourceConfiguration=_source(folder, bucket),
            vectorIngestionConfiguration={"chunkingConfiguration": _chunking(chunking)},
        )["dataSource"]  # fmt: skip
    created = {"knowledgeBase": kb, "dataSource": source}
    emit(created, output, lambda r: _summary(r["knowledgeBase"], [r["dataSource"]]))


@kb_app.command("sync")
def kb_sync(
    name: Name,
    workers: Annotated[
        int | None, typer.Option(help="Threads reading and parsing documents (with --data).")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Read, parse, chunk and embed on this Ray cluster (with --data; a server: "
            "VETOR_KB_RAY_ADDRESS).",
        ),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Bring the index up to date with the documents: new and changed ones are ingested,
    deleted ones removed; unchanged ones are not read."""
    if ray and is_remote():
        raise typer.BadParameter("a server's jobs use VETOR_KB_RAY_ADDRESS", param_hint="'--ray'")
    settings: dict[str, Any] = {"kb_workers": workers} if workers else {}
    if ray:
        settings["kb_ray_address"] = ray
    with open_knowledge_bases(data, **settings) as kbs:
        kb = _find(kbs, name)
        jobs = []
        for source in _sources(kbs, kb["knowledgeBaseId"]):
            if _source_type(kbs, kb, source) == "CUSTOM":
                continue  # its documents are pushed, not synced
            ids = {"knowledgeBaseId": kb["knowledgeBaseId"], "dataSourceId": source["dataSourceId"]}
            job = kbs.start_ingestion_job(**ids, clientToken=str(uuid.uuid4()))["ingestionJob"]
            jobs.append(_follow(kbs, ids, job["ingestionJobId"], output is Output.table))
    emit({"ingestionJobs": jobs}, output, lambda r: _jobs_table(r["ingestionJobs"]))
    if any(j["status"] != "COMPLETE" for j in jobs):
        raise typer.Exit(1)


@kb_app.command("status")
def kb_status(name: Name, data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table) -> None:
    """A knowledge base, its data sources, their last jobs and documents."""
    with open_knowledge_bases(data) as kbs:
        kb = _find(kbs, name)
        sources = []
        for summary in _sources(kbs, kb["knowledgeBaseId"]):
            ids = {
                "knowledgeBaseId": kb["knowledgeBaseId"],
                "dataSourceId": summary["dataSourceId"],
            }
            source = kbs.get_data_source(**ids)["dataSource"]
            jobs = kbs.list_ingestion_jobs(**ids, maxResults=1)["ingestionJobSummaries"]
            documents = kbs.list_knowledge_base_documents(**ids)["documentDetails"]
            counts: dict[str, int] = {}
            for document in documents:
                counts[document["status"]] = counts.get(document["status"], 0) + 1
            sources.append({**source, "lastJob": jobs[0] if jobs else None, "documents": counts})
    emit({"knowledgeBase": kb, "dataSources": sources}, output,
         lambda r: _summary(r["knowledgeBase"], r["dataSources"]))  # fmt: skip


@kb_app.command("retrieve")
def kb_retrieve(
    name: Name,
    question: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 5,
    where: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="A Bedrock RetrievalFilter as JSON, e.g. "
            '\'{"equals": {"key": "year", "value": 2024}}\'',
        ),
    ] = None,
    search: Annotated[str | None, typer.Option(help="HYBRID or SEMANTIC.")] = None,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Re-rank with this model: ms-marco-minilm-l-12-v2 (offline, English), "
            "vetor-rerank-e5 (offline, multilingual)."
        ),
    ] = None,
    candidates: Annotated[
        int, typer.Option(help="Results fetched for re-ranking (with --rerank).", min=1, max=100)
    ] = 20,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Retrieve the passages that answer a question."""
    config: dict[str, Any] = {"numberOfResults": candidates if rerank else top_k}
    if where:
        try:
            config["filter"] = orjson.loads(where)
        except orjson.JSONDecodeError as error:
            raise typer.BadParameter(f"not JSON: {error}", param_hint="'--filter'") from None
    if search:
        config["overrideSearchType"] = search.upper()
    if rerank:
        config["rerankingConfiguration"] = {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfRerankedResults": top_k,
                "modelConfiguration": {
                    "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{rerank}"
                },
            },
        }
    with open_knowledge_bases(data) as kbs:
        kb = _find(kbs, name)
        reply = kbs.retrieve(
            knowledgeBaseId=kb["knowledgeBaseId"],
            retrievalQuery={"text": question},
            retrievalConfiguration={"vectorSearchConfiguration": config},
        )
    emit(reply, output, lambda r: _results_table(r["retrievalResults"]))


@kb_app.command("ask")
def kb_ask(
    name: Name,
    question: Annotated[str, typer.Argument(help="The question.")],
    model: Annotated[
        str,
        typer.Option(help="The generation model (vetor serve lists them: ListFoundationModels)."),
    ] = "smollm2-135m-instruct",
    session: Annotated[
        str | None, typer.Option(help="Continue this conversation (the id a reply printed).")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 5,
    data: DataOpt = DEFAULT_DATA,
    output: OutputOpt = Output.table,
) -> None:
    """Answer a question from the knowledge base's passages, streamed, with its sources."""
    with open_knowledge_bases(data) as kbs:
        kb = _find(kbs, name)
        search = {"vectorSearchConfiguration": {"numberOfResults": top_k}}
        config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {
            "knowledgeBaseId": kb["knowledgeBaseId"], "retrievalConfiguration": search,
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model}"}}  # fmt: skip
        reply = kbs.retrieve_and_generate_stream(
            input={"text": question}, retrieveAndGenerateConfiguration=config,
            **({"sessionId": session} if session else {}),
        )  # fmt: skip
        text, citations = "", []
        for event in reply["stream"]:
            if "output" in event:
                text += event["output"]["text"]
                if output is not Output.json:
                    out.file.write(event["output"]["text"])
                    out.file.flush()
            if "citation" in event:
                citations.append(event["citation"]["citation"])
    if output is Output.json:
        emit({"sessionId": reply["sessionId"], "output": {"text": text},
              "citations": citations}, output, lambda r: r)  # fmt: skip
        return
    out.print()
    sources = list(
        dict.fromkeys(location_of(ref) for c in citations for ref in c["retrievedReferences"])
    )
    for n, source in enumerate(sources, 1):
        out.print(f"[{n}] {source}", markup=False, soft_wrap=True)
    err.print(f"session {reply['sessionId']} (--session to follow up)", markup=False)


@kb_app.command("list")
def kb_list(data: DataOpt = DEFAULT_DATA, output: OutputOpt = Output.table) -> None:
    """The knowledge bases."""
    with open_knowledge_bases(data) as kbs:
        reply = kbs.list_knowledge_bases()
    columns = ["name", "knowledgeBaseId", "status", "updatedAt"]
    emit(reply, output, lambda r: rows_table(r["knowledgeBaseSummaries"], columns))


@kb_app.command("delete")
def kb_delete(name: Name, data: DataOpt = DEFAULT_DATA) -> None:
    """Delete a knowledge base and its data sources' chunks (its index stays)."""
    with open_knowledge_bases(data) as kbs:
        kb = _find(kbs, name)
        for source in _sources(kbs, kb["knowledgeBaseId"]):
            kbs.delete_data_source(
                knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=source["dataSourceId"]
            )
        kbs.delete_knowledge_base(knowledgeBaseId=kb["knowledgeBaseId"])
    out.print(f"deleted {kb['name']} ({kb['knowledgeBaseId']})", markup=False)


# --- helpers ------------------------------------------------------------------------------------


def _source(folder: str | None, bucket: str | None) -> dict[str, Any]:
    if folder:
        return {"type": "LOCAL", "localConfiguration": {"path": os.path.abspath(folder)}}
    if bucket:
        name, _, prefix = bucket.removeprefix("s3://").partition("/")
        s3: dict[str, Any] = {"bucketArn": f"arn:aws:s3:::{name}"}
        if prefix:
            s3["inclusionPrefixes"] = [prefix]
        return {"type": "S3", "s3Configuration": s3}
    return {"type": "CUSTOM"}


def _chunking(spec: str) -> dict[str, Any]:
    kind, *numbers = spec.lower().split(":")
    try:
        values = [int(n) for n in numbers]
        if kind == "none" and not values:
            return {"chunkingStrategy": "NONE"}
        if kind == "fixed" and len(values) == 2:
            return {"chunkingStrategy": "FIXED_SIZE", "fixedSizeChunkingConfiguration": {
                "maxTokens": values[0], "overlapPercentage": values[1]}}  # fmt: skip
        if kind == "hierarchical" and len(values) == 3:
            return {"chunkingStrategy": "HIERARCHICAL", "hierarchicalChunkingConfiguration": {
                "levelConfigurations": [{"maxTokens": values[0]}, {"maxTokens": values[1]}],
                "overlapTokens": values[2]}}  # fmt: skip
        if kind == "semantic" and len(values) == 3:
            return {"chunkingStrategy": "SEMANTIC", "semanticChunkingConfiguration": {
                "maxTokens": values[0], "bufferSize": values[1],
                "breakpointPercentileThreshold": values[2]}}  # fmt: skip
    except ValueError:
        pass
    raise typer.BadParameter(f"unknown chunking {spec!r}", param_hint="'--chunking'")


def _find(kbs: Any, name: str) -> dict[str, Any]:
    token = None
    while True:
        page = kbs.list_knowledge_bases(**({"nextToken": token} if token else {}))
        for summary in page["knowledgeBaseSummaries"]:
            if name in (summary["name"], summary["knowledgeBaseId"]):
                return dict(kbs.get_knowledge_base(knowledgeBaseId=summary["knowledgeBaseId"])[
                    "knowledgeBase"])  # fmt: skip
        token = page.get("nextToken")
        if not token:
            raise typer.BadParameter(f"no knowledge base is named {name}", param_hint="'KB'")


def _sources(kbs: Any, kb_id: str) -> list[dict[str, Any]]:
    return list(kbs.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"])


def _source_type(kbs: Any, kb: dict[str, Any], summary: dict[str, Any]) -> str:
    source = kbs.get_data_source(
        knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=summary["dataSourceId"]
    )["dataSource"]
    return str(source["dataSourceConfiguration"]["type"])


def _follow(kbs: Any, ids: dict[str, str], job_id: str, show: bool) -> dict[str, Any]:
    """Poll the job until it ends, with a live line of its counts on stderr."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err, transient=True, disable=not show,
    ) as progress:  # fmt: skip
        task = progress.add_task("starting", total=None)
        while True:
            job = kbs.get_ingestion_job(**ids, ingestionJobId=job_id)["ingestionJob"]
            progress.update(task, description=_counts(job))
            if job["status"] in FINISHED:
                return dict(job)
            time.sleep(0.25)


def _counts(job: dict[str, Any]) -> str:
    s = job.get("statistics") or {}
    return (
        f"{job['status'].lower()}: {s.get('numberOfDocumentsScanned', 0)} scanned, "
        f"{s.get('numberOfNewDocumentsIndexed', 0)} new, "
        f"{s.get('numberOfModifiedDocumentsIndexed', 0)} modified, "
        f"{s.get('numberOfDocumentsDeleted', 0)} deleted, "
        f"{s.get('numberOfDocumentsFailed', 0)} failed"
    )


def _jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table("data source", "job", "status", "counts")
    for job in jobs:
        table.add_row(job["dataSourceId"], job["ingestionJobId"], job["status"], _counts(job))
        for reason in job.get("failureReasons", [])[:20]:
            table.add_row("", "", "", f"failed: {reason}")
    return table


def _summary(kb: dict[str, Any], sources: list[dict[str, Any]]) -> Table:
    s3v = kb["storageConfiguration"]["s3VectorsConfiguration"]
    model = kb["knowledgeBaseConfiguration"]["vectorKnowledgeBaseConfiguration"]
    table = Table("field", "value")
    table.add_row("knowledge base", f"{kb['name']} ({kb['knowledgeBaseId']}), {kb['status']}")
    table.add_row("model", model["embeddingModelArn"].rsplit("/", 1)[-1])
    table.add_row("index", s3v["indexArn"])
    for source in sources:
        config = source["dataSourceConfiguration"]
        where = config.get("localConfiguration") or config.get("s3Configuration") or {}
        line = f"{source['dataSourceId']} {config['type']} {orjson.dumps(where).decode()}"
        if source.get("documents"):
            line += f"; documents {source['documents']}"
        if source.get("lastJob"):
            line += f"; last sync {source['lastJob']['status']}"
        table.add_row("data source", line)
    return table


def _results_table(results: list[dict[str, Any]]) -> Table:
    table = Table("score", "source", "text")
    table.columns[1].overflow = table.columns[2].overflow = "fold"
    for result in results:
        location = result["location"]
        source = (location.get("s3Location") or {}).get("uri") or (
            location.get("customDocumentLocation") or {}
        ).get("id", "")
        page = result.get("metadata", {}).get("x-amz-bedrock-kb-document-page-number")
        text = " ".join(result["content"]["text"].split())
        table.add_row(f"{result['score']:.3f}", source + (f" p.{page}" if page else ""),
                      text[:300] + ("…" if len(text) > 300 else ""))  # fmt: skip
    return table
