"""Identity and access management: principals, IAM policy documents and their evaluation.

Pure logic, no I/O: the server authenticates a caller into a :class:`Principal`, names the
action and resource of each operation, and asks :func:`evaluate`; the service validates the
bucket policies it stores with :func:`parse_policy`.
"""

from .evaluate import Decision, Principal, evaluate, root_of
from .policy import MAX_BUCKET_POLICY_BYTES, Policy, parse_policy

__all__ = [
    "MAX_BUCKET_POLICY_BYTES",
    "Decision",
    "Policy",
    "Principal",
    "evaluate",
    "parse_policy",
    "root_of",
]
