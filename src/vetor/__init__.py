"""vetor: a self-hostable Amazon S3 Vectors for any S3-compatible object storage.

import vetor
s3v = vetor.connect("./data")   # or "memory://", or "s3://bucket/prefix"
s3v.create_vector_bucket(vectorBucketName="docs")
"""

from .errors import (
    AccessDeniedException,
    ConflictException,
    InternalServerException,
    NotFoundException,
    ServiceQuotaExceededException,
    ServiceUnavailableException,
    ValidationException,
    VetorError,
)
from .service import VectorService, connect
from .settings import Settings

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "knowledge_bases":  # loaded on first use: it brings the document parsers
        from .generation import knowledge_bases

        return knowledge_bases
    raise AttributeError(name)


__all__ = [
    "AccessDeniedException",
    "ConflictException",
    "InternalServerException",
    "NotFoundException",
    "ServiceQuotaExceededException",
    "ServiceUnavailableException",
    "Settings",
    "ValidationException",
    "VectorService",
    "VetorError",
    "connect",
    "knowledge_bases",
]
