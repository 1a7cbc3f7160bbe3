"""Typed errors that map 1:1 to the S3 Vectors error codes, HTTP statuses and messages."""

from __future__ import annotations

from typing import Any, ClassVar


class VetorError(Exception):
    """Base of every error vetor raises on purpose; ``code`` is the S3 Vectors error type."""

    code: ClassVar[str] = "InternalServerException"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, field_list: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_list = field_list

    def to_dict(self) -> dict[str, Any]:
        """The error body S3 Vectors sends (``__type``, ``message``, optional ``fieldList``)."""
        body: dict[str, Any] = {"__type": self.code, "message": self.message}
        if self.field_list:
            body["fieldList"] = self.field_list
        return body


class ValidationException(VetorError):
    code = "ValidationException"
    http_status = 400

    @classmethod
    def field(cls, path: str, constraint: str) -> ValidationException:
        """AWS's wording for a single field that breaks a constraint."""
        message = f"Value at '{path}' failed to satisfy constraint: {constraint}"
        return cls(f"1 validation error detected. {message}", [{"path": path, "message": message}])


class AccessDeniedException(VetorError):
    code = "AccessDeniedException"
    http_status = 403


class NotFoundException(VetorError):
    code = "NotFoundException"
    http_status = 404


class ResourceNotFoundException(VetorError):
    """Bedrock's name for a missing resource (a knowledge base, a data source...)."""

    code = "ResourceNotFoundException"
    http_status = 404


class RequestTimeoutException(VetorError):
    code = "RequestTimeoutException"
    http_status = 408


class ConflictException(VetorError):
    code = "ConflictException"
    http_status = 409


class ServiceQuotaExceededException(VetorError):
    code = "ServiceQuotaExceededException"
    http_status = 402


class TooManyRequestsException(VetorError):
    code = "TooManyRequestsException"
    http_status = 429


class ThrottlingException(TooManyRequestsException):
    """Bedrock's name for the same: too many requests (429)."""

    code = "ThrottlingException"


class InternalServerException(VetorError):
    code = "InternalServerException"
    http_status = 500


class ServiceUnavailableException(VetorError):
    code = "ServiceUnavailableException"
    http_status = 503


class DependencyFailedException(VetorError):
    """A model the request needs (a generation server, a remote provider) failed or timed out;
    Bedrock's runtime names it so."""

    code = "DependencyFailedException"
    http_status = 424


class KmsDisabledException(ValidationException):
    code = "KmsDisabledException"


class KmsNotFoundException(ValidationException):
    code = "KmsNotFoundException"


class KmsInvalidStateException(ValidationException):
    code = "KmsInvalidStateException"


class KmsInvalidKeyUsageException(ValidationException):
    code = "KmsInvalidKeyUsageException"


class StoreError(ServiceUnavailableException):
    """The object store failed after all retries, or cannot be used safely."""


BUCKET_NOT_FOUND = "The specified vector bucket could not be found"
INDEX_NOT_FOUND = "The specified index could not be found"
BUCKET_EXISTS = "A vector bucket with the specified name already exists"
INDEX_EXISTS = "An index with the specified name already exists"
BUCKET_NOT_EMPTY = "The specified vector bucket is not empty"
POLICY_NOT_FOUND = "The specified vector bucket policy could not be found"
INDEX_ADDRESS = "Must specify either indexArn or both vectorBucketName and indexName"
BUCKET_ADDRESS = "Must specify either vectorBucketName or vectorBucketArn but not both"


def classic_refused(cutoff: str) -> str:
    return (
        "CLASSIC mode can be set only for vector indexes in vector buckets created before "
        f"{cutoff}: this bucket's indexes are ENHANCED"
    )


def no_text_search(key: str) -> str:
    return (
        f"The metadata key '{key}' has no text search configuration: add one with "
        "UpdateMetadataConfiguration to search it"
    )
