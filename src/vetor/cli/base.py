"""The root ``vetor`` app and what every command group shares: the global ``--endpoint-url``
option, the option types (``--data``, ``--output``, BUCKET, INDEX...), the client a command
talks to (a local store or a remote server), and JSON / table output.

Command groups import this module and nothing of each other; ``vetor.cli`` mounts them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import numpy as np
import orjson
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from ..errors import VetorError
from ..service import VectorService, connect
from . import helpstyle

helpstyle.apply()
# Consoles resolve sys.stdout / sys.stderr lazily, so test runners that swap them still work.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class CommandGroup(TyperGroup):
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
    cls=CommandGroup,
    name="vetor",
    help="Self-hostable Amazon S3 Vectors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_remote: dict[str, str] = {}  # set by --endpoint-url: talk to a vetor server instead
cli_defaults: dict[str, str] = {}  # a group's --region / --profile (s3vectors-embed's)


def use_server(
    endpoint_url: str | None, region: str | None = None, profile: str | None = None
) -> None:
    """Talk to the server at ``endpoint_url`` (None: to the store given by --data)."""
    _remote.clear()
    if endpoint_url:
        options = {"endpoint_url": endpoint_url, "region": region, "profile": profile}
        _remote.update({k: v for k, v in options.items() if v})


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
    use_server(endpoint_url)


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
    """boto3's clients of a server's services (s3vectors; or bedrock-agent and its runtime),
    minus ``ResponseMetadata``, so output matches local use."""

    def __init__(
        self,
        endpoint_url: str,
        region: str | None = None,
        profile: str | None = None,
        services: tuple[str, ...] = ("s3vectors",),
    ) -> None:
        import boto3

        env = os.environ
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        session = boto3.session.Session(profile_name=profile)
        self._clients = [
            session.client(name, endpoint_url=endpoint_url, region_name=region) for name in services
        ]

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name in _STORE_ONLY:
            raise typer.BadParameter(_STORE_ONLY[name])
        method = next((getattr(c, name) for c in self._clients if hasattr(c, name)), None)
        if method is None:
            raise AttributeError(name)

        def call(**kwargs: Any) -> dict[str, Any]:
            # boto3 rejects None for optional parameters; the service treats None as absent.
            response = dict(method(**{k: v for k, v in kwargs.items() if v is not None}))
            response.pop("ResponseMetadata", None)
            return response

        return call


@contextmanager
def open_client(data: str, region: str | None = None) -> Iterator[VectorService]:
    """Open the store (or the server given by --endpoint-url); on exit wait for background
    compaction so the process never stops mid-commit."""
    if "endpoint_url" in _remote:
        remote = _RemoteClient(
            _remote["endpoint_url"], region or _remote.get("region"), _remote.get("profile")
        )
        yield remote  # type: ignore[misc]
        return
    try:
        service = connect(data)
    except ValueError as error:  # an unsupported URI scheme
        raise typer.BadParameter(str(error), param_hint="'--data'") from None
    try:
        yield service
    finally:
        service.close()


@contextmanager
def open_knowledge_bases(data: str, **settings: Any) -> Iterator[Any]:
    """Knowledge bases on the store (or the server given by --endpoint-url); on exit wait for
    jobs started here to finish."""
    if "endpoint_url" in _remote:
        services = ("bedrock-agent", "bedrock-agent-runtime")
        yield _RemoteClient(_remote["endpoint_url"], _remote.get("region"),
                            _remote.get("profile"), services)  # fmt: skip
        return
    from ..generation import knowledge_bases as answering_knowledge_bases

    try:
        service = connect(data, **settings)
    except ValueError as error:  # an unsupported URI scheme
        raise typer.BadParameter(str(error), param_hint="'--data'") from None
    knowledge_bases = answering_knowledge_bases(service)
    try:
        yield knowledge_bases
    finally:
        knowledge_bases.close()
        service.close()


def is_remote() -> bool:
    return "endpoint_url" in _remote


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def dumps(value: Any, indent: bool = True) -> str:
    """orjson writes datetimes as ISO 8601 strings natively."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, default=_json_default, option=option).decode()


def emit(response: Any, output: Output, render: Callable[[Any], Any]) -> None:
    """Print the raw response as JSON for scripts, or ``render(response)`` for people."""
    if output is Output.json:
        typer.echo(dumps(response))
    else:
        out.print(render(response), markup=False)


def cell(value: Any) -> Text:
    """Plain Text, so that keys or metadata holding "[...]" are never read as Rich markup."""
    if isinstance(value, datetime):
        return Text(value.isoformat())
    if isinstance(value, (dict, list)):
        return Text(dumps(value, indent=False))
    return Text("" if value is None else str(value))


def rows_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(*columns)
    table.columns[0].no_wrap = True  # keys and names stay whole and copyable
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    return table


def fields_table(record: dict[str, Any]) -> Table:
    """A two-column table of one object's fields (get and compact responses)."""
    table = Table("field", "value", show_header=False)
    table.columns[1].overflow = "fold"  # show ARNs whole, even on a narrow terminal
    for name, value in record.items():
        table.add_row(Text(name), cell(value))
    return table


def message(text: str) -> Callable[[Any], str]:
    return lambda _: text


def parse_json(text: str, option: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise typer.BadParameter(f"not valid JSON ({error})", param_hint=f"'{option}'") from None


# --- buckets ----------------------------------------------------------------------------------


def every_page(call: Callable[[str | None], dict[str, Any]], field: str) -> dict[str, Any]:
    """Follow nextToken to the end: the last page, holding every page's ``field`` items."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = call(token)
        items.extend(page[field])
        token = page.pop("nextToken", None)
        if token is None:
            return {**page, field: items}


def results_table(vectors: list[dict[str, Any]], metadata: bool) -> Table:
    scored = any("scores" in v for v in vectors)
    rows = ({**v, "distance": _number(v.get("distance")), "score": _score(v)} for v in vectors)
    columns = ["key", "distance"] + (["score"] if scored else [])
    return rows_table(rows, columns + (["metadata"] if metadata else []))


def _score(result: dict[str, Any]) -> str:
    """RRF score of a hybrid result, else the summed BM25 score."""
    scores = result.get("scores", {})
    if "fused" in scores:
        return f"{scores['fused']:.5f}"
    return _number(sum(s["score"] for s in scores.get("bm25Scores", [])))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
