"""``vetor embed`` (commands, in vetor's and in the AWS embed CLI's form) and the
``s3vectors-embed`` command vetor installs (``awscli``)."""

from .commands import embed_app

__all__ = ["embed_app"]
