"""``s3vectors-embed``: the AWS embed CLI's command, answered by vetor.

A script written for awslabs' ``s3vectors-embed`` runs unchanged: the same group options
(``--profile``, ``--region``, ``--debug``, ``--version``), the same ``put`` and ``query``
options, defaults and JSON documents (they are ``vetor embed``'s AWS form). The S3 Vectors
endpoint comes from the environment (``AWS_ENDPOINT_URL_S3VECTORS``, else
``AWS_ENDPOINT_URL``) — a vetor server — and without one the store named by ``VETOR_DATA``
(default ``./vetor-data``) is used directly. Model ids name any model vetor embeds with:
``all-MiniLM-L6-v2`` (offline), ``multilingual-e5-small``, Bedrock's ids.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from ... import __version__
from ..base import CommandGroup, cli_defaults, use_server
from .commands import put_command, query_command

app = typer.Typer(
    name="s3vectors-embed",
    cls=CommandGroup,  # vetor's errors as "<Code>: <message>", exit 1, no traceback
    help="S3 Vectors Embed CLI (vetor): embed text, images and speech into vector indexes, "
    "and query them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"s3vectors-embed, version {__version__} (vetor)")
        raise typer.Exit()


@app.callback()
def _group(
    profile: Annotated[str | None, typer.Option(help="AWS profile to use.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region to use.")] = None,
    debug: Annotated[bool, typer.Option(help="Log every request.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    env = os.environ
    use_server(
        env.get("AWS_ENDPOINT_URL_S3VECTORS") or env.get("AWS_ENDPOINT_URL"), region, profile
    )
    cli_defaults.clear()  # the subcommands' --region, and Bedrock's region and profile
    cli_defaults.update({k: v for k, v in {"region": region, "profile": profile}.items() if v})
    if debug:
        logging.basicConfig(level=logging.DEBUG)


app.command("put")(put_command)
app.command("query")(query_command)


def main() -> None:
    app()
