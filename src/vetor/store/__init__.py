"""The object-store layer: local directory, memory and S3-compatible stores behind one
interface (``objects``), time bounds for every call (``deadline``), durable local writes
(``local``), encryption at rest (``sealing``) and the checks a store must pass (``checks``)."""

from .checks import CheckResult, check_conditional_create, check_store, require_conditional_create
from .deadline import bounded, call_deadline, remaining
from .objects import ObjectInfo, ObjectNotFound, ObjectStore, open_store, parse_json, unreadable
from .sealing import KMS, LOCAL, Choice, EncryptionKeyError, KeyFile, sealed_with

__all__ = [
    "KMS",
    "LOCAL",
    "CheckResult",
    "Choice",
    "EncryptionKeyError",
    "KeyFile",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "bounded",
    "call_deadline",
    "check_conditional_create",
    "check_store",
    "open_store",
    "parse_json",
    "remaining",
    "require_conditional_create",
    "sealed_with",
    "unreadable",
]
