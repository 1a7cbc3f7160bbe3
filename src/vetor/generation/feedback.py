"""The answer log: one record per answer (RetrieveAndGenerate and its stream), and the users'
ratings of answers, in the store as Parquet files anyone can analyse (DuckDB, pandas, polars:
``_vetor/answers/log/date=2026-12-07/*.parquet``, Hive-partitioned by day).

Records are buffered and written as one file per ``FLUSH_RECORDS`` records or
``FLUSH_SECONDS`` seconds (and when the server stops), so a killed server loses at most that
much of the log, never an answer. Each file is written whole with a unique name: concurrent
servers never overwrite each other. Days older than ``answer_log_retention_days`` are deleted
when a file is written. A rating names the session whose latest answer it rates.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ValidationException
from ..settings import Settings
from ..store import ObjectStore

ROOT = "_vetor/answers"
FLUSH_RECORDS = 100
FLUSH_SECONDS = 10.0


class AnswerLog:
    def __init__(self, store: ObjectStore, settings: Settings) -> None:
        self.store, self.enabled = store, settings.answer_log
        self.retention = timedelta(days=settings.answer_log_retention_days)
        self._pending: dict[str, list[dict[str, Any]]] = {"log": [], "ratings": []}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def record(self, **fields: Any) -> None:
        """An answer: question, model, passages, answer, latency, guardrail action…"""
        if self.enabled:
            self._add("log", {"time": _now(), **fields})

    def rate(self, session_id: str, rating: int, comment: str = "") -> dict[str, Any]:
        """A user's rating (-1, 0, 1, or 1 to 5) of a session's latest answer."""
        if not self.enabled:
            raise ValidationException("The answer log is off (setting answer_log)")
        if not isinstance(rating, int) or not -1 <= rating <= 5:
            raise ValidationException("rating must be an integer from -1 to 5")
        if not isinstance(session_id, str) or not session_id:
            raise ValidationException("sessionId must name the session of the rated answer")
        rated = {"time": _now(), "ratingId": str(uuid.uuid4()), "sessionId": session_id,
                 "rating": rating, "comment": str(comment)[:2000]}  # fmt: skip
        self._add("ratings", rated)
        return {"ratingId": rated["ratingId"]}

    def flush(self) -> None:
        with self._lock:
            batches, self._pending = self._pending, {"log": [], "ratings": []}
            self._last_flush = time.monotonic()
        for kind, rows in batches.items():
            if rows:
                self._write(kind, rows)
        if any(batches.values()):
            self._expire()

    def _add(self, kind: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._pending[kind].append(row)
            due = len(self._pending[kind]) >= FLUSH_RECORDS or (
                time.monotonic() - self._last_flush >= FLUSH_SECONDS
            )
        if due:
            self.flush()

    def _write(self, kind: str, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buffer, compression="zstd")
        day = rows[0]["time"][:10]
        name = f"{rows[0]['time'].replace(':', '')}-{uuid.uuid4().hex[:8]}.parquet"
        self.store.put_if_absent(f"{ROOT}/{kind}/date={day}/{name}", buffer.getvalue())

    def _expire(self) -> None:
        oldest = (datetime.now(UTC) - self.retention).date().isoformat()
        for kind in ("log", "ratings"):
            for day in self.store.list_dirs(f"{ROOT}/{kind}/"):
                if day.startswith("date=") and day[5:] < oldest:
                    self.store.delete_prefix(f"{ROOT}/{kind}/{day}/")


def _now() -> str:
    return datetime.now(UTC).isoformat()
