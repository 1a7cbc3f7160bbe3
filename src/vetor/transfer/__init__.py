"""Moving vectors in and out: ``vetor import`` and ``vetor export``.

A copy reads batches from one peer and writes them to another — a vetor index, any S3
Vectors endpoint, pgvector, Qdrant, Chroma or LanceDB — with the index's configuration,
resumable from a checkpoint, and ends with a count check (a ``Follower`` keeps such a copy up
to date instead)::

    from vetor import connect
    from vetor.transfer import LocalIndex, copy, open_peer

    report = copy(open_peer("postgresql://me@db/rag?table=chunks"),
                  LocalIndex(connect("s3://bucket/vetor"), "docs", "chunks"))
"""

from .base import Batch, IndexSpec, Peer, TransferError
from .copying import Report, copy, default_checkpoint
from .peers import open_peer
from .s3vectors import LocalIndex, RemoteIndex
from .syncing import Follower, Round

__all__ = [
    "Batch", "Follower", "IndexSpec", "LocalIndex", "Peer", "RemoteIndex", "Report", "Round",
    "TransferError", "copy", "default_checkpoint", "open_peer",
]  # fmt: skip
