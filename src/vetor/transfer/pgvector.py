"""PostgreSQL tables with a pgvector column as peers.

The table vetor creates is ``(key text PRIMARY KEY, embedding vector(d), metadata jsonb)``,
with the index's configuration in the table's comment and, after a copy, an HNSW index with
the matching operator class. Rows are written by binary COPY into a temporary table, then
merged by key (``ON CONFLICT DO UPDATE``): one round trip per batch, and a batch written
twice (a resumed copy) overwrites itself. Other tables are read as they are: the column names
and metric can be given in the URI (``?key=id&vector=embedding&metadata=meta&metric=cosine``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .base import Batch, IndexSpec, TransferError, as_matrix

OPERATOR_CLASSES = {"cosine": "vector_cosine_ops", "euclidean": "vector_l2_ops"}
METRIC_OF_CLASS = {v: k for k, v in OPERATOR_CLASSES.items()}


class PgVectorTable:
    def __init__(
        self,
        conninfo: str,
        table: str,
        uri: str,
        *,
        key: str = "key",
        vector: str = "embedding",
        metadata: str | None = "metadata",
        metric: str | None = None,
        index: str = "hnsw",
    ) -> None:
        import psycopg
        from pgvector.psycopg import register_vector

        self.uri, self.metric, self.index = uri, metric, index
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(self.connection)
        ident = psycopg.sql.Identifier
        self.table = ident(*table.split(".", 1))
        self.name = table
        self.key, self.vector = ident(key), ident(vector)
        self.metadata = ident(metadata) if metadata else None
        self.columns = (key, vector, metadata)

    def _sql(self, template: str, **names: Any) -> Any:
        from psycopg import sql

        return sql.SQL(template).format(
            table=self.table, key=self.key, vector=self.vector,
            metadata=self.metadata or sql.SQL("NULL"), **names,
        )  # fmt: skip

    def spec(self) -> IndexSpec | None:
        found = self.connection.execute(
            "SELECT to_regclass(%s)::oid, obj_description(to_regclass(%s)::oid, 'pg_class')",
            (self.name, self.name),
        ).fetchone()
        if found is None or found[0] is None:
            return None
        oid, comment = found
        saved = _vetor_comment(comment)
        dimension = self.connection.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s AND attname = %s",
            (oid, self.columns[1]),
        ).fetchone()
        if dimension is None or dimension[0] <= 0:
            raise TransferError(f"{self.uri}: no vector column {self.columns[1]!r} of fixed size")
        metric = self.metric or saved.get("metric") or self._indexed_metric(oid)
        if metric is None:
            raise TransferError(f"{self.uri}: say which distance it uses (?metric=cosine)")
        return IndexSpec(int(dimension[0]), metric, tuple(saved.get("nonFilterable", ())))

    def _indexed_metric(self, oid: int) -> str | None:
        """The metric of an ANN index on the vector column, from its operator class."""
        rows = self.connection.execute(
            "SELECT opc.opcname FROM pg_index i JOIN pg_opclass opc ON opc.oid = i.indclass[0] "
            "WHERE i.indrelid = %s",
            (oid,),
        ).fetchall()
        return next((METRIC_OF_CLASS[r[0]] for r in rows if r[0] in METRIC_OF_CLASS), None)

    def create(self, spec: IndexSpec) -> None:
        from psycopg import sql

        self.connection.execute(
            self._sql(
                "CREATE TABLE {table} ({key} text PRIMARY KEY, {vector} vector({d}) NOT NULL, "
                "{metadata} jsonb NOT NULL DEFAULT '{{}}')",
                d=sql.Literal(spec.dimension),
            )
        )
        comment = orjson.dumps(
            {"vetor": {"metric": spec.metric, "nonFilterable": list(spec.non_filterable)}}
        ).decode()
        self.connection.execute(
            self._sql("COMMENT ON TABLE {table} IS {c}", c=sql.Literal(comment))
        )

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        spec = self.spec()
        assert spec is not None
        with self.connection.cursor(binary=True) as rows:
            while True:
                after = orjson.loads(cursor) if cursor else None
                query = "SELECT {key}, {vector}, {metadata} FROM {table} "
                query += "WHERE {key} > %s " if after is not None else ""
                query += "ORDER BY {key} LIMIT %s"
                params = (after, size) if after is not None else (size,)
                found = rows.execute(self._sql(query), params).fetchall()
                keys = [str(r[0]) for r in found]
                more = len(found) == size
                cursor = orjson.dumps(found[-1][0]).decode() if more else None
                yield Batch(
                    keys,
                    as_matrix([_floats(r[1]) for r in found], spec.dimension),
                    [r[2] or {} for r in found],
                    cursor,
                )
                if cursor is None:
                    return

    def write(self, batch: Batch) -> None:
        from psycopg.types.json import Jsonb

        metadata = batch.metadata or [{}] * len(batch.keys)
        with self.connection.transaction():
            self.connection.execute(
                self._sql(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS vetor_incoming "
                    "(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
            )
            with self.connection.cursor() as cursor:
                copy = self._sql(
                    "COPY vetor_incoming ({key}, {vector}, {metadata}) FROM STDIN (FORMAT BINARY)"
                )
                with cursor.copy(copy) as rows:
                    rows.set_types(["text", "vector", "jsonb"])
                    for key, vector, meta in zip(batch.keys, batch.vectors, metadata, strict=True):
                        rows.write_row((key, vector, Jsonb(meta)))
            self.connection.execute(
                self._sql(
                    "INSERT INTO {table} ({key}, {vector}, {metadata}) "
                    "SELECT {key}, {vector}, {metadata} FROM vetor_incoming "
                    "ON CONFLICT ({key}) DO UPDATE SET {vector} = excluded.{vector}, "
                    "{metadata} = excluded.{metadata}"
                )
            )

    def delete(self, keys: list[str]) -> None:
        with self.connection.transaction():
            self.connection.execute(self._sql("DELETE FROM {table} WHERE {key} = ANY(%s)"), [keys])

    def finish(self) -> None:
        """The HNSW index a pgvector user would create (``?index=none`` leaves it out)."""
        from psycopg import sql

        spec = self.spec()
        if self.index == "none" or spec is None:
            return
        self.connection.execute(
            self._sql(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw ({vector} {ops})",
                name=sql.Identifier(f"{self.name.rsplit('.', 1)[-1]}_{self.columns[1]}_hnsw"),
                ops=sql.SQL(OPERATOR_CLASSES[spec.metric]),
            )
        )

    def count(self) -> int:
        found = self.connection.execute(self._sql("SELECT count(*) FROM {table}")).fetchone()
        return int(found[0]) if found else 0

    def close(self) -> None:
        self.connection.close()


def _floats(value: Any) -> Any:
    """A vector column's value as numbers (pgvector gives ``Vector`` objects in binary)."""
    return value.to_numpy() if hasattr(value, "to_numpy") else value


def _vetor_comment(comment: str | None) -> dict[str, Any]:
    """The configuration vetor left in the table's comment, if it did."""
    try:
        found = orjson.loads(comment or "")
    except orjson.JSONDecodeError:
        return {}
    return found.get("vetor", {}) if isinstance(found, dict) else {}
