"""``vetor import`` and ``vetor export``: copy an index from or to another vector store.

Both take the vetor side from ``--data`` (or the server of ``--endpoint-url``) and the other
side as a peer URI (see ``vetor.transfer.peers``). A copy that stops — a crash, Ctrl-C, a
peer that went away — goes on from where it stopped when the same command runs again.
``vetor export --sync`` keeps the copy up to date instead (see ``vetor.transfer.syncing``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TransferSpeedColumn

from ..service import VectorService
from ..transfer import (
    Follower,
    LocalIndex,
    Peer,
    RemoteIndex,
    Report,
    Round,
    TransferError,
    copy,
    open_peer,
)
from .base import DEFAULT_DATA, Bucket, DataOpt, Index, app, err, open_client, out

PeerArg = Annotated[
    str,
    typer.Argument(metavar="URI", help="postgresql://, qdrant://, chroma:, lancedb:, s3vectors://"),
]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option(help="Where the copy keeps its place (default: ~/.cache/vetor/transfers/)."),
]
BatchOpt = Annotated[int, typer.Option(help="Vectors read and written together.", min=1)]


@app.command("import")
def import_(
    source: PeerArg,
    bucket: Bucket,
    index: Index,
    data: DataOpt = DEFAULT_DATA,
    checkpoint: CheckpointOpt = None,
    batch_size: BatchOpt = 2000,
) -> None:
    """Copy a collection of another store into BUCKET/INDEX (created like it if absent)."""
    with _peer(source) as peer, _vetor(data, bucket, index) as here:
        _run(peer, here, checkpoint, batch_size)


@app.command("export")
def export(
    bucket: Bucket,
    index: Index,
    target: PeerArg,
    data: DataOpt = DEFAULT_DATA,
    checkpoint: CheckpointOpt = None,
    batch_size: BatchOpt = 2000,
    sync: Annotated[
        bool,
        typer.Option("--sync", help="Keep the copy up to date (writes and deletes) until stopped."),
    ] = False,
    interval: Annotated[
        float, typer.Option(help="With --sync: seconds between looks at the index.", min=0)
    ] = 5.0,
) -> None:
    """Copy BUCKET/INDEX into a collection of another store (created like it if absent)."""
    with _vetor(data, bucket, index) as here, _peer(target) as peer:
        if not sync:
            _run(here, peer, checkpoint, batch_size)
        elif not isinstance(here, LocalIndex):
            raise typer.BadParameter("--sync reads the store's manifests: use --data, not a server")
        else:
            _follow(Follower(here, peer, checkpoint, batch_size), interval)


@contextmanager
def _peer(uri: str) -> Iterator[Peer]:
    try:
        peer = open_peer(uri)
    except TransferError as error:
        raise typer.BadParameter(str(error), param_hint="URI") from None
    try:
        yield peer
    finally:
        peer.close()


@contextmanager
def _vetor(data: str, bucket: str, index: str) -> Iterator[Peer]:
    with open_client(data) as client:
        if isinstance(client, VectorService):
            yield LocalIndex(client, bucket, index)
        else:  # a server (--endpoint-url): through its S3 Vectors API
            yield RemoteIndex(client, bucket, index, f"s3vectors://{bucket}/{index}")


def _run(source: Peer, target: Peer, checkpoint: Path | None, batch_size: int) -> None:
    with _progress() as follow:
        try:
            report = copy(
                source, target, checkpoint=checkpoint, batch_size=batch_size, progress=follow
            )
        except TransferError as error:
            err.print(f"Error: {error}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
    out.print(_summary(source, target, report), markup=False, soft_wrap=True)


def _follow(follower: Follower, interval: float) -> None:
    """Sync rounds until Ctrl-C or SIGTERM, a line for each round that changed something."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    source, target = follower.source.uri, follower.target.uri
    out.print(f"syncing {source} to {target} every {interval:g} s", markup=False, soft_wrap=True)

    def tell(done: Round) -> None:
        out.print(
            f"version {done.version}: wrote {done.written:,}, deleted {done.deleted:,} "
            f"({done.seconds:.2f} s)", markup=False, soft_wrap=True,
        )  # fmt: skip

    try:
        follower.follow(interval, stop, tell)
    except KeyboardInterrupt:
        pass
    except TransferError as error:
        err.print(f"Error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _summary(source: Peer, target: Peer, report: Report) -> str:
    resumed = " (resumed)" if report.resumed else ""
    return (
        f"copied {report.copied:,} vectors{resumed} from {source.uri} to {target.uri} "
        f"in {report.seconds:.1f} s ({report.rate:,.0f}/s); "
        f"count check: {report.source_count:,} in the source, {report.target_count:,} in the target"
    )


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, shown only to a person at a terminal."""
    with Progress(
        TextColumn("copying"), BarColumn(), MofNCompleteColumn(), TransferSpeedColumn(),
        console=err, disable=not err.is_terminal, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("copy", total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)
