"""Vectors: put, delete, get, list, and query them (by vector, by text, or both).

Each operation checks its request, then runs on the index's engine through
``ServiceCore.with_engine`` (which resolves the index again if it was re-created meanwhile).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from .. import errors, validation
from ..engine import (
    Filter,
    FilterLimits,
    Hit,
    IndexEngine,
    IndexView,
    TextField,
    TextQuery,
    text_fields_of,
)
from ..errors import ValidationException
from ..settings import Settings
from ..store import require_conditional_create
from .core import Config, ServiceCore, current_config, with_token
from .tokens import fingerprint


class Vectors:
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    def put_vectors(self, *, vectors: list[dict[str, Any]], **address: Any) -> dict[str, Any]:
        core, settings = self.core, self.core.settings
        bucket, index = core.index_of(**address)
        records = list({r["key"]: r for r in vectors}.values())  # the last put of a key wins

        def put(config: Config, engine: IndexEngine) -> dict[str, Any]:
            matrix = validation.vectors_matrix(
                records, config["dimension"], config["distanceMetric"]
            )
            non_filterable = frozenset(config["metadataConfiguration"]["nonFilterableMetadataKeys"])
            metadata = [
                validation.metadata(r["key"], r.get("metadata"), non_filterable, settings)
                for r in records
            ]
            require_conditional_create(core.store, settings)
            engine.upsert([r["key"] for r in records], matrix, metadata)
            return {}

        return core.with_engine(bucket, index, put)

    def delete_vectors(self, *, keys: list[str], **address: Any) -> dict[str, Any]:
        core, settings = self.core, self.core.settings
        bucket, index = core.index_of(**address)
        wanted = list(keys)

        def delete(config: Config, engine: IndexEngine) -> dict[str, Any]:
            require_conditional_create(core.store, settings)
            engine.delete(list(dict.fromkeys(wanted)))
            return {}

        return core.with_engine(bucket, index, delete)

    def get_vectors(
        self,
        *,
        keys: list[str],
        returnData: bool = False,
        returnMetadata: bool = False,
        **address: Any,
    ) -> dict[str, Any]:
        core = self.core
        bucket, index = core.index_of(**address)
        wanted = list(keys)

        def get(config: Config, engine: IndexEngine) -> dict[str, Any]:
            with engine.snapshot() as view:
                rows = [r for r in (view.row(k) for k in dict.fromkeys(wanted)) if r is not None]
                return {"vectors": [_record(view, r, returnData, returnMetadata) for r in rows]}

        return core.with_engine(bucket, index, get)

    def list_vectors(
        self,
        *,
        maxResults: int | None = None,
        nextToken: str | None = None,
        segmentCount: int | None = None,
        segmentIndex: int | None = None,
        returnData: bool = False,
        returnMetadata: bool = False,
        **address: Any,
    ) -> dict[str, Any]:
        core, s = self.core, self.core.settings
        bucket, index = core.index_of(**address)
        limit = s.default_list_vectors if maxResults is None else int(maxResults)
        segment = validation.list_segment(segmentCount, segmentIndex)
        after = None
        if nextToken is not None:
            after = core.tokens.decode(nextToken, "vectors")["after"]

        def page(config: Config, engine: IndexEngine) -> dict[str, Any]:
            with engine.snapshot() as view:
                rows, more = view.list_page(after, limit, segment)
                out, size = [], 0
                for row in rows:
                    record = _record(view, row, returnData, returnMetadata)
                    size += len(record["key"]) + (4 * view.dimension if returnData else 0)
                    size += len(orjson.dumps(record.get("metadata"))) if returnMetadata else 0
                    out.append(record)
                    if size >= s.list_page_bytes:
                        more = more or len(out) < len(rows)
                        break
                token = core.tokens.encode("vectors", {"after": out[-1]["key"]}) if more else None
                return with_token({"vectors": out}, token)

        return core.with_engine(bucket, index, page)

    def scan_vectors(
        self,
        *,
        after: str | None = None,
        limit: int = 1000,
        keys: list[str] | None = None,
        **address: Any,
    ) -> dict[str, Any]:
        """vetor's own bulk read (import/export): up to ``limit`` rows in key order after
        ``after``, as arrays — ``keys``, ``vectors`` (n × dimension float32), ``metadata`` —
        and ``after``, the key to pass for the next page (None at the end). Keys order the
        pages, so a read stopped anywhere resumes from its last key. With ``keys``: the rows
        of those keys that exist, in their order, as one page."""
        bucket, index = self.core.index_of(**address)

        def page(config: Config, engine: IndexEngine) -> dict[str, Any]:
            with engine.snapshot() as view:
                if keys is None:
                    rows, more = view.list_page(after, max(1, int(limit)))
                else:
                    found = (view.row(k) for k in dict.fromkeys(keys))
                    rows, more = np.array([r for r in found if r is not None], np.int64), False
                names = [view.key(row) for row in rows]
                return {
                    "keys": names,
                    "vectors": view.gather(rows)[0],
                    "metadata": [view.metadata(row) for row in rows],
                    "after": names[-1] if more else None,
                    "count": len(view),
                }

        return self.core.with_engine(bucket, index, page)

    def scan_keys(self, *, since_version: int | None = None, **address: Any) -> dict[str, Any]:
        """Every key of the index with the seq of the write that stored it, and the view's
        ``version`` and ``applied_seq`` (a later write has a higher seq): what ``vetor export
        --sync`` diffs to find the changes since its last round. ``keys`` and ``seqs`` are
        None when the latest version is still ``since_version``."""
        bucket, index = self.core.index_of(**address)

        def scan(config: Config, engine: IndexEngine) -> dict[str, Any]:
            with engine.snapshot() as view:
                if view.version == since_version:
                    return {"keys": None, "seqs": None, "version": view.version,
                            "applied_seq": view.applied_seq}  # fmt: skip
                rows = np.flatnonzero(view.live())
                return {
                    "keys": [view.key(int(row)) for row in rows],
                    "seqs": view.seqs(rows).copy(),
                    "version": view.version,
                    "applied_seq": view.applied_seq,
                }

        return self.core.with_engine(bucket, index, scan)

    def query_vectors(
        self,
        *,
        topK: int,
        queryVector: dict[str, Any] | None = None,
        filter: dict[str, Any] | None = None,
        returnMetadata: bool = False,
        returnDistance: bool = False,
        queryMode: str | None = None,
        queryTexts: list[dict[str, Any]] | None = None,
        returnScores: bool = False,
        nextToken: str | None = None,
        **address: Any,
    ) -> dict[str, Any]:
        core = self.core
        bucket, index = core.index_of(**address)
        topK = int(topK)
        texts = validation.text_queries(queryTexts)
        if queryVector is None and not texts:
            raise ValidationException("Must specify queryVector, queryTexts, or both")

        def query(config: Config, engine: IndexEngine) -> dict[str, Any]:
            manifest = engine.latest_manifest()  # the configuration and data queried
            config = current_config(config, engine.config(manifest))
            vector = None
            if queryVector is not None:
                vector = validation.query_vector(
                    queryVector, config["dimension"], config["distanceMetric"]
                )
            mode = _query_mode(config, queryMode, bool(texts))
            searches = tuple(TextQuery(_text_field(config, key), text) for key, text in texts)
            where = _filter(config, filter, mode, self.core.settings)
            request = {
                "index": [bucket, index, config["indexId"]],  # not a re-created namesake
                "topK": topK,
                "queryVector": None if vector is None else vector.tolist(),
                "queryTexts": texts,
                "filter": filter,
                "queryMode": queryMode,
            }
            offset = self._offset(nextToken, request)
            end = min(topK, offset + core.settings.query_page_size)
            # Every page ranks the same topK (with the same RRF candidates): pages of an
            # unchanged index neither repeat nor skip a hit.
            depth = max(topK, core.settings.hybrid_candidates)
            page = slice(offset, end + 1)  # one more: is there a next page?
            hits = engine.search(
                vector, searches, topK, where, depth, returnMetadata, page=page, at=manifest
            )
            scores = returnScores and bool(texts)  # vector-only results carry no scores
            results = [
                _hit(h, returnDistance, returnMetadata, scores) for h in hits[: end - offset]
            ]
            body = {"vectors": results, "distanceMetric": config["distanceMetric"]}
            if len(hits) > end - offset:
                state = {"offset": end, "request": fingerprint(request)}
                body["nextToken"] = core.tokens.encode("query", state)
            return body

        return core.with_engine(bucket, index, query)

    def _offset(self, token: str | None, request: dict[str, Any]) -> int:
        """Where a query's page starts: 0, or where the token of the same query left off."""
        if token is None:
            return 0
        state = self.core.tokens.decode(token, "query")
        if state["request"] != fingerprint(request):
            raise ValidationException("Invalid nextToken: it belongs to another query")
        return int(state["offset"])


def _filter(
    config: Config, document: dict[str, Any] | None, mode: str, settings: Settings
) -> Filter | None:
    """The checked metadata filter of a query, or None."""
    if document is None:
        return None
    non_filterable = config["metadataConfiguration"]["nonFilterableMetadataKeys"]
    limits = FilterLimits(settings.max_filter_values, settings.max_filter_depth)
    return Filter.parse(document, non_filterable, mode == "ENHANCED", limits)


def _query_mode(config: Config, requested: str | None, text_search: bool) -> str:
    """The mode a query runs in. As in S3 Vectors, an ENHANCED index cannot be queried in
    CLASSIC mode, and full-text or hybrid search needs ENHANCED."""
    configured = config.get("indexMode", "CLASSIC")
    if requested == "CLASSIC" and configured == "ENHANCED":
        raise ValidationException("CLASSIC query mode cannot be used with an ENHANCED index")
    mode = requested or configured
    if text_search and mode != "ENHANCED":
        raise ValidationException(
            "Full-text and hybrid search (queryTexts) require ENHANCED mode: set the index's "
            "mode with UpdateIndexMode, or queryMode='ENHANCED'"
        )
    return mode


def _text_field(config: Config, key: str) -> TextField:
    for field in text_fields_of(config["metadataConfiguration"]):
        if field.key == key:
            return field
    raise ValidationException(errors.no_text_search(key))


def _single(value: float) -> float:
    """A float32 result (a distance, a BM25 score) as the shortest decimal that is that
    float32 (0.4064896, not the 0.40648961067199707 a float64 conversion prints)."""
    return float(str(np.float32(value)))


def _hit(hit: Hit, distance: bool, metadata: bool, scores: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"key": hit.key}
    if distance and hit.distance is not None:
        item["distance"] = _single(hit.distance)
    if metadata:
        item["metadata"] = hit.metadata
    if scores:
        block: dict[str, Any] = {
            "bm25Scores": [{"metadataKey": k, "score": _single(s)} for k, s in hit.bm25]
        }
        if hit.fused is not None:
            block["fused"] = hit.fused  # computed in float64: its digits are its own
        if hit.vector_distance is not None:
            block["vectorDistance"] = _single(hit.vector_distance)
        item["scores"] = block
    return item


def _record(view: IndexView, row: int, data: bool, metadata: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"key": view.key(row)}
    if data:
        record["data"] = {"float32": view.vector(row).tolist()}
    if metadata:
        record["metadata"] = view.metadata(row)
    return record
