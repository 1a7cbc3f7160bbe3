"""The PutVectors fast decoder agrees with the general JSON decoder, or steps aside."""

from __future__ import annotations

import numpy as np
import orjson

from vetor.server.codec import decode_put_vectors


def test_vector_data_becomes_arrays_and_the_rest_stays_json() -> None:
    request = {
        "vectorBucketName": "docs",
        "indexName": "pages",
        "vectors": [
            {"key": "a", "data": {"float32": [0.1, 2, -3.5e-3]}, "metadata": {"t": ["x", 1, True]}},
            {"key": "b", "data": {"float32": [1e10, 0.0, 1]}},
        ],
    }
    fast = decode_put_vectors(orjson.dumps(request))
    assert fast is not None
    for got, sent in zip(fast["vectors"], request["vectors"], strict=True):
        assert isinstance(got["data"]["float32"], np.ndarray)
        assert got["data"]["float32"].tolist() == [float(x) for x in sent["data"]["float32"]]
        assert {k: v for k, v in got.items() if k != "data"} == {
            k: v for k, v in sent.items() if k != "data"
        }
    assert fast["vectorBucketName"] == "docs" and fast["indexName"] == "pages"


def test_unusual_bodies_fall_back_to_the_general_decoder() -> None:
    for body in (
        b"{not json",
        b"[1, 2]",
        b'{"vectors": 5}',
        b'{"vectors": [{"key": "a", "data": {"float32": [1.0, "2"]}}]}',
        b'{"vectors": [{"key": "a", "data": [1.0, 2.0]}]}',
        b'{"vectors": [{"key": "a", "data": {"float32": [1.0], "extra": 1}}]}',
        b'{"indexName": "x"}',
    ):
        assert decode_put_vectors(body) is None, body
