"""Random sequences of writes and reads, checked against a brute-force oracle on every backend.

Two service instances share one store, standing in for two processes: every read through
either must see every write made through either (strong consistency), across compactions,
garbage collection and cold re-opens.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from oracle import OracleIndex

import vetor

KEYS = [f"k{i}" for i in range(12)] + ["ключ", "a/b", "x" * 40]
SCALARS = st.one_of(
    st.integers(-2, 3), st.sampled_from(["x", "y", "xy", "z"]), st.booleans(), st.just(0.5)
)
METADATA = st.dictionaries(
    st.sampled_from(["a", "b", "c", "body"]),
    st.one_of(SCALARS, st.lists(SCALARS, min_size=1, max_size=3)),
    max_size=3,
)
COMPONENT = st.sampled_from([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0])
VECTOR = st.lists(COMPONENT, min_size=3, max_size=3).filter(lambda v: any(v))

FIELD = st.sampled_from(["a", "b", "c"])
LEAF = st.one_of(
    st.builds(lambda k, v: {k: v}, FIELD, SCALARS),
    st.builds(lambda k, op, v: {k: {op: v}}, FIELD, st.sampled_from(["$eq", "$ne"]), SCALARS),
    st.builds(
        lambda k, op, v: {k: {op: v}},
        FIELD,
        st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
        st.integers(-2, 3),
    ),
    st.builds(
        lambda k, op, v: {k: {op: v}},
        FIELD,
        st.sampled_from(["$in", "$nin"]),
        st.lists(SCALARS, min_size=1, max_size=3),
    ),
    st.builds(lambda k, v: {k: {"$exists": v}}, FIELD, st.booleans()),
    st.builds(lambda k, v: {k: {"$startsWith": v}}, FIELD, st.sampled_from(["x", "y"])),
    st.builds(lambda k, v: {k: {"$contains": v}}, FIELD, st.sampled_from(["x", "y", ""])),
)
FILTER = st.recursive(
    LEAF,
    lambda children: st.one_of(
        st.builds(lambda cs: {"$and": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$or": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda a, b: {**a, **b}, children, children),
    ),
    max_leaves=5,
)

TOLERANCE = 1e-4


def make_machine(uri: str, metric: str) -> type[RuleBasedStateMachine]:
    class IndexMachine(RuleBasedStateMachine):
        @initialize()
        def create(self) -> None:
            opts = dict(
                compact_wal_runs=3, max_segments=2, gc_grace_seconds=0.0, view_backlog_rows=8
            )
            opts["background_compaction"] = False
            self.services = [vetor.connect(uri, **opts), vetor.connect(uri, **opts)]
            self.name = f"i{np.random.default_rng().integers(1 << 40):x}"
            self.address = {"vectorBucketName": "props", "indexName": self.name}
            with contextlib.suppress(vetor.ConflictException):
                self.services[0].create_vector_bucket(vectorBucketName="props")
            self.services[0].create_index(
                **self.address,
                dataType="float32",
                dimension=3,
                distanceMetric=metric,
                metadataConfiguration={"nonFilterableMetadataKeys": ["body"]},
            )
            self.oracle = OracleIndex(metric)

        @rule(
            via=st.integers(0, 1),
            records=st.lists(
                st.fixed_dictionaries(
                    {"key": st.sampled_from(KEYS), "data": VECTOR.map(lambda v: {"float32": v})},
                    optional={"metadata": METADATA},
                ),
                min_size=1,
                max_size=6,
            ),
        )
        def put(self, via: int, records: list[dict[str, Any]]) -> None:
            self.services[via].put_vectors(**self.address, vectors=records)
            self.oracle.put(records)

        @rule(via=st.integers(0, 1), keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=4))
        def delete(self, via: int, keys: list[str]) -> None:
            self.services[via].delete_vectors(**self.address, keys=keys)
            self.oracle.delete(keys)

        @rule(
            via=st.integers(0, 1),
            vector=VECTOR,
            k=st.integers(1, 8),
            where=st.one_of(st.none(), FILTER),
        )
        def query(self, via: int, vector: list[float], k: int, where: Any) -> None:
            request: dict[str, Any] = {"topK": k, "queryVector": {"float32": vector}}
            if where is not None:
                request["filter"] = where
            got = self.services[via].query_vectors(
                **self.address,
                **request,
                returnDistance=True,
                returnMetadata=True,
                queryMode="ENHANCED",
            )["vectors"]
            expected = self.oracle.query(vector, k, where)
            assert len(got) == len(expected), (got, expected)
            assert np.allclose(
                [g["distance"] for g in got], [d for _, d in expected], atol=TOLERANCE
            )
            truth = {key: d for key, d in self.oracle.query(vector, 10_000, where)}
            for hit in got:
                assert abs(truth[hit["key"]] - hit["distance"]) <= TOLERANCE
                assert hit["metadata"] == self.oracle.rows[hit["key"]][1]

        @rule(via=st.integers(0, 1), keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=5))
        def get(self, via: int, keys: list[str]) -> None:
            got = self.services[via].get_vectors(
                **self.address, keys=keys, returnData=True, returnMetadata=True
            )["vectors"]
            wanted = [k for k in dict.fromkeys(keys) if k in self.oracle.rows]
            assert [g["key"] for g in got] == wanted
            for g in got:
                data, metadata = self.oracle.rows[g["key"]]
                assert np.allclose(g["data"]["float32"], data)
                assert g["metadata"] == metadata

        @rule(via=st.integers(0, 1), page=st.integers(1, 5), segments=st.integers(1, 4))
        def list_all(self, via: int, page: int, segments: int) -> None:
            seen: list[str] = []
            for segment in range(segments):
                token = None
                while True:
                    extra = {"nextToken": token} if token else {}
                    if segments > 1:
                        extra.update(segmentCount=segments, segmentIndex=segment)
                    reply = self.services[via].list_vectors(
                        **self.address, maxResults=page, **extra
                    )
                    assert len(reply["vectors"]) <= page
                    seen += [v["key"] for v in reply["vectors"]]
                    token = reply.get("nextToken")
                    if token is None:
                        break
            assert sorted(seen) == sorted(self.oracle.rows)  # disjoint and complete

        @rule(via=st.integers(0, 1))
        def compact(self, via: int) -> None:
            self.services[via].compact(**self.address, full=via == 0)

        @rule(via=st.integers(0, 1))
        def reopen(self, via: int) -> None:
            """A fresh process: no cache, everything rebuilt from the store."""
            self.services[via] = vetor.connect(
                uri,
                compact_wal_runs=3,
                max_segments=2,
                gc_grace_seconds=0.0,
                background_compaction=False,
            )

    return IndexMachine


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_engine_matches_oracle(store_uri: str, metric: str) -> None:
    examples = 12 if store_uri.startswith("s3://") else 30
    run_state_machine_as_test(
        make_machine(store_uri, metric),
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
