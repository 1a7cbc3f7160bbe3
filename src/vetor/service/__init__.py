"""The S3 Vectors service: vector buckets, indexes and vectors with S3 Vectors semantics.

``VectorService`` (``facade``) is the boto3-shaped front that ``vetor.connect()`` returns;
it is composed of one part per resource (``buckets``, ``indexes``, ``vectors``,
``policies``, ``tags``, ``maintenance``) over a shared ``core`` (store, settings,
addressing, the engine cache). ``layout`` names every key the service writes on the store;
``tokens`` signs pagination tokens. The service reaches the engine only through
``vetor.engine``'s front.
"""

from __future__ import annotations

from .facade import VectorService, connect

__all__ = ["VectorService", "connect"]
