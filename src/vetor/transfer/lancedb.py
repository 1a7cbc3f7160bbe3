"""LanceDB tables as peers (a folder, or any URI ``lancedb.connect`` takes).

The table vetor writes is ``key`` (string), ``vector`` (fixed-size float32 list) and
``metadata`` (the metadata as a JSON string, so that any value comes back as it was), with
the index's configuration in the schema's metadata under ``vetor``. A table vetor did not
write is read as it is: ``key`` or ``id`` is the key, the first fixed-size float list the
vector, and the other columns the metadata (LanceDB's default metric, L2, unless
``?metric=`` says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa

from .base import Batch, IndexSpec, TransferError, as_matrix

KEY_COLUMNS = ("key", "id")


class LanceTable:
    def __init__(self, database: Any, name: str, uri: str, metric: str | None = None) -> None:
        self.database, self.name, self.uri, self.metric = database, name, uri, metric

    def _table(self) -> Any:
        return self.database.open_table(self.name)

    def spec(self) -> IndexSpec | None:
        try:
            schema = self._table().schema
        except (FileNotFoundError, ValueError):  # LanceDB's "table not found", by version
            return None
        saved = orjson.loads((schema.metadata or {}).get(b"vetor", b"{}"))
        field = schema.field(self._columns(schema)[1])
        metric = self.metric or saved.get("metric") or "euclidean"
        return IndexSpec(field.type.list_size, metric, tuple(saved.get("nonFilterable", ())))

    def _columns(self, schema: pa.Schema) -> tuple[str, str]:
        key = next((name for name in KEY_COLUMNS if name in schema.names), None)
        vector = next(
            (f.name for f in schema if pa.types.is_fixed_size_list(f.type)
             and pa.types.is_floating(f.type.value_type)),
            None,
        )  # fmt: skip
        if key is None or vector is None:
            raise TransferError(f"{self.uri}: no key/id column or no fixed-size vector column")
        return key, vector

    def create(self, spec: IndexSpec) -> None:
        saved = {"metric": spec.metric, "nonFilterable": list(spec.non_filterable)}
        schema = pa.schema(
            [("key", pa.string()), ("vector", pa.list_(pa.float32(), spec.dimension)),
             ("metadata", pa.string())],
            metadata={"vetor": orjson.dumps(saved)},
        )  # fmt: skip
        self.database.create_table(self.name, schema=schema)

    def read(self, cursor: str | None, size: int) -> Iterator[Batch]:
        spec = self.spec()
        assert spec is not None
        table = self._table()
        key, vector = self._columns(table.schema)
        offset = int(cursor or 0)
        while True:
            found = table.search().offset(offset).limit(size).to_arrow()
            offset += found.num_rows
            more = found.num_rows == size
            values = found.column(vector).combine_chunks().flatten().to_numpy()
            yield Batch(
                [str(k) for k in found.column(key).to_pylist()],
                as_matrix(values, spec.dimension),
                _metadata(found, (key, vector)),
                str(offset) if more else None,
            )
            if not more:
                return

    def write(self, batch: Batch) -> None:
        metadata = batch.metadata or [{}] * len(batch.keys)
        dimension = batch.vectors.shape[1]
        flat = pa.array(batch.vectors.reshape(-1), type=pa.float32())
        rows = pa.table(
            {
                "key": pa.array(batch.keys, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, dimension),
                "metadata": pa.array([orjson.dumps(m).decode() for m in metadata], pa.string()),
            }
        )
        table = self._table()
        table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(
            rows
        )

    def delete(self, keys: list[str]) -> None:
        if keys:
            quoted = ", ".join("'" + key.replace("'", "''") + "'" for key in keys)
            self._table().delete(f"key IN ({quoted})")

    def finish(self) -> None:
        pass

    def count(self) -> int:
        return int(self._table().count_rows())

    def close(self) -> None:
        pass


def _metadata(found: pa.Table, skip: tuple[str, str]) -> list[dict[str, Any]]:
    if found.schema.names == ["key", "vector", "metadata"]:  # vetor's own layout
        return [orjson.loads(m) if m else {} for m in found.column("metadata").to_pylist()]
    others = found.drop_columns([n for n in skip if n in found.schema.names])
    return [{k: v for k, v in row.items() if v is not None} for row in others.to_pylist()]
