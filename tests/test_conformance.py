"""All 22 S3 Vectors operations, written once, run against two targets.

``http``: boto3's real ``s3vectors`` client (endpoint from ``AWS_ENDPOINT_URL_S3VECTORS``)
against a real ``vetor serve`` process. ``embedded``: the in-process Python API. Both must
give the same answers, the same error codes and AWS's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from api import Api, ApiError
from conftest import SERVER_KEYS, Server, backdate_bucket

import vetor

ACCOUNT_ARN = "arn:aws:s3vectors:us-east-1:000000000000"


@pytest.fixture(params=["http", "embedded"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    if request.param == "embedded":
        service = vetor.connect(str(tmp_path_factory.mktemp("embedded")))
        embedded = Api(service, "embedded")
        embedded.store = service.store
        return embedded
    server: Server = request.getfixturevalue("server")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3VECTORS", server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SERVER_KEYS["VETOR_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"])
    import boto3

    http = Api(boto3.client("s3vectors", region_name="us-east-1"), "http")
    http.store = vetor.connect(server.data).store  # the server's own directory
    return http


@pytest.fixture
def bucket(api: Api) -> Iterator[str]:
    name = f"b-{uuid.uuid4().hex[:10]}"
    api.create_vector_bucket(vectorBucketName=name)
    yield name


@pytest.fixture
def old_bucket(api: Api, bucket: str) -> str:
    """A bucket created before 2026-09-30: its indexes are CLASSIC unless set otherwise."""
    backdate_bucket(api.store, bucket)
    return bucket


def make_index(api: Api, bucket: str, name: str = "idx", dimension: int = 3, **extra: Any) -> str:
    arn = api.create_index(
        vectorBucketName=bucket,
        indexName=name,
        dataType="float32",
        dimension=dimension,
        distanceMetric="cosine",
        **extra,
    )["indexArn"]
    return str(arn)


def expect(code: str, message: str | None = None) -> Any:
    """pytest.raises for ApiError with this code (and message substring)."""

    class Matcher:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
            assert isinstance(error, ApiError), f"expected {code}, got {error!r}"
            assert error.code == code, (error.code, error.message)
            if message is not None:
                assert message in error.message, error.message
            return True

    return Matcher()


# --- buckets --------------------------------------------------------------------------------


def test_vector_bucket_operations(api: Api) -> None:
    name = f"b-{uuid.uuid4().hex[:10]}"
    created = api.create_vector_bucket(
        vectorBucketName=name,
        encryptionConfiguration={"sseType": "AES256"},
        tags={"team": "search"},
    )
    arn = f"{ACCOUNT_ARN}:bucket/{name}"
    assert created == {"vectorBucketArn": arn}
    with expect("ConflictException", "A vector bucket with the specified name already exists"):
        api.create_vector_bucket(vectorBucketName=name)
    got = api.get_vector_bucket(vectorBucketArn=arn)["vectorBucket"]
    assert got["vectorBucketName"] == name and got["vectorBucketArn"] == arn
    assert isinstance(got["creationTime"], datetime)
    assert got["encryptionConfiguration"] == {"sseType": "AES256"}
    for suffix in ("x1", "x2", "x3"):
        api.create_vector_bucket(vectorBucketName=f"{name}-{suffix}")
    pages = list(
        api.paginate("list_vector_buckets", prefix=name, PaginationConfig={"PageSize": 2})
        if api.name == "http"
        else api.paginate("list_vector_buckets", prefix=name, maxResults=2)
    )
    assert [len(p["vectorBuckets"]) for p in pages] == [2, 2]
    names = [b["vectorBucketName"] for p in pages for b in p["vectorBuckets"]]
    assert names == [name, f"{name}-x1", f"{name}-x2", f"{name}-x3"]
    assert api.list_tags_for_resource(resourceArn=arn) == {"tags": {"team": "search"}}
    api.delete_vector_bucket(vectorBucketName=name)
    with expect("NotFoundException", "The specified vector bucket could not be found"):
        api.get_vector_bucket(vectorBucketName=name)


def test_bucket_errors(api: Api, bucket: str) -> None:
    with expect("ValidationException", "Invalid vector bucket name"):
        api.create_vector_bucket(vectorBucketName="Not_Valid")
    with expect(
        "ValidationException",
        "Must specify either vectorBucketName or vectorBucketArn but not both",
    ):
        api.get_vector_bucket(
            vectorBucketName=bucket, vectorBucketArn=f"{ACCOUNT_ARN}:bucket/{bucket}"
        )
    make_index(api, bucket)
    with expect("ConflictException", "The specified vector bucket is not empty"):
        api.delete_vector_bucket(vectorBucketName=bucket)


def test_bucket_policy_and_default_index_mode(api: Api, bucket: str) -> None:
    with expect("NotFoundException", "The specified vector bucket policy could not be found"):
        api.get_vector_bucket_policy(vectorBucketName=bucket)
    statement = '{"Effect":"Allow","Principal":"*","Action":"s3vectors:*","Resource":"*"}'
    policy = '{"Version":"2012-10-17","Statement":[' + statement + "]}"
    assert api.put_vector_bucket_policy(vectorBucketName=bucket, policy=policy) == {}
    assert api.get_vector_bucket_policy(vectorBucketName=bucket) == {"policy": policy}
    with expect("ValidationException", "not valid JSON"):
        api.put_vector_bucket_policy(vectorBucketName=bucket, policy="{oops")
    assert api.delete_vector_bucket_policy(vectorBucketName=bucket) == {}
    with expect("NotFoundException"):
        api.delete_vector_bucket_policy(vectorBucketName=bucket)
    api.put_vector_bucket_default_index_mode(vectorBucketName=bucket, defaultIndexMode="ENHANCED")
    assert (
        api.get_vector_bucket(vectorBucketName=bucket)["vectorBucket"]["defaultIndexMode"]
        == "ENHANCED"
    )
    make_index(api, bucket)
    assert (
        api.get_index(vectorBucketName=bucket, indexName="idx")["index"]["indexMode"] == "ENHANCED"
    )


def test_index_modes_follow_the_bucket_creation_date(api: Api, bucket: str) -> None:
    """As S3 Vectors since 2026-09-30: a new bucket's indexes are ENHANCED and CLASSIC cannot
    be set; a bucket created before then keeps CLASSIC (its default, and on request)."""
    refused = "only for vector indexes in vector buckets created before 2026-09-30"
    new = api.get_vector_bucket(vectorBucketName=bucket)["vectorBucket"]
    assert new["defaultIndexMode"] == "ENHANCED"
    arn = make_index(api, bucket)
    assert api.get_index(indexArn=arn)["index"]["indexMode"] == "ENHANCED"
    with expect("ValidationException", refused):
        api.update_index_mode(indexArn=arn, indexMode="CLASSIC")
    with expect("ValidationException", refused):
        api.put_vector_bucket_default_index_mode(
            vectorBucketName=bucket, defaultIndexMode="CLASSIC"
        )
    with expect("NotFoundException", "The specified index could not be found"):
        api.update_index_mode(vectorBucketName=bucket, indexName="nope", indexMode="CLASSIC")
    assert api.get_index(indexArn=arn)["index"]["indexMode"] == "ENHANCED"

    backdate_bucket(api.store, bucket)  # as if created in August 2026
    old = api.get_vector_bucket(vectorBucketName=bucket)["vectorBucket"]
    assert old["defaultIndexMode"] == "CLASSIC"
    assert old["creationTime"] == datetime.fromisoformat("2026-08-01T00:00:00+00:00")
    classic = make_index(api, bucket, "classic")
    assert api.get_index(indexArn=classic)["index"]["indexMode"] == "CLASSIC"
    assert api.update_index_mode(indexArn=arn, indexMode="CLASSIC") == {}
    assert api.get_index(indexArn=arn)["index"]["indexMode"] == "CLASSIC"


def test_a_new_bucket_answers_text_search_at_once(api: Api, bucket: str) -> None:
    """CreateIndex with a text search configuration, then queryTexts, no mode anywhere."""
    config = {"textSearchConfigurations": [{"metadataKey": "body", "language": "en"}]}
    arn = make_index(api, bucket, metadataConfiguration=config)
    vectors = [
        {"key": "fox", "data": {"float32": [1, 0, 0]}, "metadata": {"body": "the quick fox"}},
        {"key": "dog", "data": {"float32": [0, 1, 0]}, "metadata": {"body": "a lazy dog"}},
    ]
    api.put_vectors(indexArn=arn, vectors=vectors)
    text = [{"metadataKey": "body", "text": "foxes"}]
    found = api.query_vectors(indexArn=arn, topK=2, queryTexts=text)["vectors"]
    assert [v["key"] for v in found] == ["fox"]
    hybrid = api.query_vectors(
        indexArn=arn, topK=2, queryTexts=text, queryVector={"float32": [0, 1, 0]}
    )["vectors"]
    assert {v["key"] for v in hybrid} == {"fox", "dog"}


# --- indexes --------------------------------------------------------------------------------


def test_index_operations(api: Api, old_bucket: str) -> None:
    arn = make_index(
        api,
        old_bucket,
        metadataConfiguration={"nonFilterableMetadataKeys": ["body"]},
        tags={"tier": "hot"},
    )
    assert arn == f"{ACCOUNT_ARN}:bucket/{old_bucket}/index/idx"
    index = api.get_index(indexArn=arn)["index"]
    assert index["dimension"] == 3 and index["distanceMetric"] == "cosine"
    assert index["dataType"] == "float32" and index["indexMode"] == "CLASSIC"
    assert index["metadataConfiguration"]["nonFilterableMetadataKeys"] == ["body"]
    with expect("ConflictException"):
        make_index(api, old_bucket)
    for name in ("idx-2", "idx-3"):
        make_index(api, old_bucket, name)
    kwargs = {"vectorBucketName": old_bucket}
    if api.name == "http":
        pages = list(api.paginate("list_indexes", **kwargs, PaginationConfig={"PageSize": 2}))
    else:
        pages = list(api.paginate("list_indexes", **kwargs, maxResults=2))
    assert [i["indexName"] for p in pages for i in p["indexes"]] == ["idx", "idx-2", "idx-3"]
    assert len(pages) == 2
    assert api.update_index_mode(indexArn=arn, indexMode="ENHANCED") == {}
    assert api.get_index(indexArn=arn)["index"]["indexMode"] == "ENHANCED"
    updated = api.update_metadata_configuration(
        indexArn=arn, add={"textSearchConfigurations": [{"metadataKey": "body", "language": "pt"}]}
    )
    assert updated == {"indexArn": arn}
    texts = api.get_index(indexArn=arn)["index"]["metadataConfiguration"][
        "textSearchConfigurations"
    ]
    assert texts == [{"metadataKey": "body", "language": "pt", "status": "ACTIVE"}]
    api.delete_index(vectorBucketName=old_bucket, indexName="idx-3")
    with expect("NotFoundException", "The specified index could not be found"):
        api.get_index(vectorBucketName=old_bucket, indexName="idx-3")


def test_update_metadata_configuration_rules(api: Api, old_bucket: str) -> None:
    arn = make_index(api, old_bucket)
    body = {"textSearchConfigurations": [{"metadataKey": "body"}]}
    with expect("ValidationException", "must be in ENHANCED mode"):
        api.update_metadata_configuration(indexArn=arn, add=body)
    api.update_index_mode(indexArn=arn, indexMode="ENHANCED")
    with expect("ValidationException", "either add or delete"):
        api.update_metadata_configuration(indexArn=arn)
    twice = {"textSearchConfigurations": [{"metadataKey": "t"}, {"metadataKey": "t"}]}
    with expect("ValidationException", "more than once"):
        api.update_metadata_configuration(indexArn=arn, add=twice)
    with expect("ValidationException", "'body' has no text search configuration"):
        api.update_metadata_configuration(indexArn=arn, delete=body)
    api.update_metadata_configuration(indexArn=arn, add=body)  # no language: standard analyzer
    with expect("ConflictException", "already exists"):
        api.update_metadata_configuration(indexArn=arn, add=body)
    nine = {"textSearchConfigurations": [{"metadataKey": f"k{i}"} for i in range(9)]}
    api.update_metadata_configuration(indexArn=arn, add=nine)
    with expect("ValidationException", "at most 10 text search configurations"):
        api.update_metadata_configuration(
            indexArn=arn, add={"textSearchConfigurations": [{"metadataKey": "one-more"}]}
        )
    texts = api.get_index(indexArn=arn)["index"]["metadataConfiguration"][
        "textSearchConfigurations"
    ]
    assert texts[0] == {"metadataKey": "body", "status": "ACTIVE"}  # no language, as sent
    assert len(texts) == 10
    api.put_vectors(
        indexArn=arn,
        vectors=[
            {
                "key": "a",
                "data": {"float32": [1.0, 0.0, 0.0]},
                "metadata": {"body": "ERR_42 in São Paulo"},
            }
        ],
    )
    for text in ("err_42", "são"):  # the standard analyzer: split and lower-case, no folding
        found = api.query_vectors(
            indexArn=arn, topK=1, queryTexts=[{"metadataKey": "body", "text": text}]
        )
        assert [v["key"] for v in found["vectors"]] == ["a"]
    miss = api.query_vectors(
        indexArn=arn, topK=1, queryTexts=[{"metadataKey": "body", "text": "sao"}]
    )
    assert miss["vectors"] == []
    with expect("ValidationException", "enum"):
        make_index(
            api,
            old_bucket,
            "idx-2",
            metadataConfiguration={
                "textSearchConfigurations": [{"metadataKey": "t", "status": "DONE"}]
            },
        )


def test_index_errors(api: Api, bucket: str) -> None:
    with expect(
        "ValidationException",
        "1 validation error detected. Value at '/dimension' failed to satisfy constraint: "
        "Member must be between 1 and 4096, inclusive",
    ):
        make_index(api, bucket, dimension=5000)
    with expect(
        "ValidationException", "Must specify either indexArn or both vectorBucketName and indexName"
    ):
        api.get_index(vectorBucketName=bucket)
    with expect("ValidationException", "Invalid index name"):
        make_index(api, bucket, name="Bad_Index")
    with expect("NotFoundException", "The specified vector bucket could not be found"):
        make_index(api, "no-such-bucket")
    with expect("ValidationException", "enum"):
        api.update_index_mode(vectorBucketName=bucket, indexName="idx", indexMode="FAST")


# --- vectors --------------------------------------------------------------------------------


def vector(i: int) -> dict[str, Any]:
    return {
        "key": f"v{i:03d}",
        "data": {"float32": [1.0, i / 200, (i % 7) / 7]},
        "metadata": {
            "genre": ["drama", "comedy", "doc"][i % 3],
            "year": 1990 + i % 30,
            "body": "x",
        },
    }


def test_vector_operations(api: Api, bucket: str) -> None:
    arn = make_index(api, bucket, metadataConfiguration={"nonFilterableMetadataKeys": ["body"]})
    address = {"vectorBucketName": bucket, "indexName": "idx"}
    assert api.put_vectors(**address, vectors=[vector(i) for i in range(150)]) == {}
    assert api.put_vectors(indexArn=arn, vectors=[vector(i) for i in range(150, 210)]) == {}
    got = api.get_vectors(
        **address, keys=["v001", "missing", "v200"], returnData=True, returnMetadata=True
    )
    assert [v["key"] for v in got["vectors"]] == ["v001", "v200"]
    assert got["vectors"][0]["data"]["float32"] == pytest.approx([1.0, 0.005, 1 / 7], rel=1e-6)
    assert got["vectors"][0]["metadata"] == vector(1)["metadata"]
    assert api.get_vectors(**address, keys=["v002"])["vectors"] == [{"key": "v002"}]

    listed = [
        v["key"]
        for p in api.paginate("list_vectors", **address, maxResults=50)
        for v in p["vectors"]
    ]
    assert listed == [f"v{i:03d}" for i in range(210)]
    by_segment = [
        v["key"]
        for segment in range(3)
        for p in api.paginate("list_vectors", **address, segmentCount=3, segmentIndex=segment)
        for v in p["vectors"]
    ]
    assert sorted(by_segment) == listed

    query = {"topK": 5, "queryVector": {"float32": [1.0, 0.0, 0.0]}}
    hits = api.query_vectors(**address, **query, returnDistance=True, returnMetadata=True)
    assert hits["distanceMetric"] == "cosine"
    assert [h["key"] for h in hits["vectors"]] == ["v000", "v007", "v014", "v021", "v028"]
    distances = [h["distance"] for h in hits["vectors"]]
    assert distances == sorted(distances) and distances[0] == pytest.approx(0.0, abs=1e-6)
    filtered = api.query_vectors(
        **address,
        **query,
        filter={"$and": [{"genre": "doc"}, {"year": {"$gte": 2010}}]},
        returnMetadata=True,
    )
    assert len(filtered["vectors"]) == 5
    assert all(
        h["metadata"]["genre"] == "doc" and h["metadata"]["year"] >= 2010
        for h in filtered["vectors"]
    )
    bare = api.query_vectors(**address, **query)["vectors"]
    assert all(set(h) == {"key"} for h in bare)

    pages = list(
        api.paginate("query_vectors", **address, topK=150, queryVector={"float32": [1.0, 0.0, 0.0]})
    )
    assert [len(p["vectors"]) for p in pages] == [100, 50]

    assert api.delete_vectors(**address, keys=["v000", "v007"]) == {}
    hits = api.query_vectors(**address, **query)["vectors"]
    assert [h["key"] for h in hits][:2] == ["v014", "v021"]


def test_vector_errors(api: Api, old_bucket: str) -> None:
    make_index(api, old_bucket, metadataConfiguration={"nonFilterableMetadataKeys": ["body"]})
    address = {"vectorBucketName": old_bucket, "indexName": "idx"}
    api.put_vectors(**address, vectors=[vector(1)])
    with expect(
        "ValidationException",
        "Invalid record for key 'k': vector must have length 3, but has length 1",
    ):
        api.put_vectors(**address, vectors=[{"key": "k", "data": {"float32": [1.0]}}])
    with expect("ValidationException", "Member must have length between 1 and 500, inclusive"):
        api.put_vectors(**address, vectors=[vector(i) for i in range(501)])
    with expect("ValidationException", "more than the limit of 40960 bytes"):
        api.put_vectors(**address, vectors=[{**vector(2), "metadata": {"body": "y" * 41_000}}])
    query = {"topK": 3, "queryVector": {"float32": [1.0, 0.0, 0.0]}}
    with expect("ValidationException", "unknown operator '$like'"):
        api.query_vectors(**address, **query, filter={"genre": {"$like": "d"}})
    with expect("ValidationException", "'body' is non-filterable"):
        api.query_vectors(**address, **query, filter={"body": "x"})
    with expect("ValidationException", "require ENHANCED mode"):
        api.query_vectors(**address, topK=3, queryTexts=[{"text": "hi", "metadataKey": "body"}])
    with expect("ValidationException", "Member must have length between 1 and 100, inclusive"):
        api.get_vectors(**address, keys=[f"k{i}" for i in range(101)])
    with expect("NotFoundException", "The specified index could not be found"):
        api.query_vectors(vectorBucketName=old_bucket, indexName="nope", **query)
    with expect("ValidationException", "Invalid nextToken"):
        api.list_vectors(**address, nextToken="forged-token")
    assert [v["key"] for v in api.list_vectors(**address)["vectors"]] == ["v001"]  # nothing changed


def test_tags_on_buckets_and_indexes(api: Api, bucket: str) -> None:
    bucket_arn = f"{ACCOUNT_ARN}:bucket/{bucket}"
    index_arn = make_index(api, bucket)
    assert api.tag_resource(resourceArn=bucket_arn, tags={"a": "1", "b": "2"}) == {}
    assert api.tag_resource(resourceArn=index_arn, tags={"c": "3"}) == {}
    assert api.untag_resource(resourceArn=bucket_arn, tagKeys=["a"]) == {}
    assert api.list_tags_for_resource(resourceArn=bucket_arn) == {"tags": {"b": "2"}}
    assert api.list_tags_for_resource(resourceArn=index_arn) == {"tags": {"c": "3"}}
    with expect("NotFoundException"):
        api.list_tags_for_resource(resourceArn=f"{bucket_arn}/index/missing")
    api.tag_resource(resourceArn=index_arn, tags={f"t{i}": "v" for i in range(40)})
    with expect("ServiceQuotaExceededException", "at most 50 tags"):
        api.tag_resource(resourceArn=index_arn, tags={f"u{i}": "v" for i in range(20)})
    with expect("ValidationException", "Invalid resource ARN"):
        api.tag_resource(resourceArn="arn:aws:s3:::not-a-vector-bucket", tags={"a": "b"})


# --- full-text and hybrid search ----------------------------------------------------------------

DOCS = {
    "d1": "The thread pool runs jobs on worker threads",
    "d2": "A process pool forks worker processes",
    "d3": "Queues pass messages between threads safely",
    "d4": "Error E1234: the disk quota was exceeded",
}


def test_full_text_and_hybrid_search(api: Api, old_bucket: str) -> None:
    searchable = {"metadataKey": "body", "language": "en"}
    arn = make_index(
        api,
        old_bucket,
        metadataConfiguration={
            "nonFilterableMetadataKeys": ["body"],
            "textSearchConfigurations": [searchable],
        },
    )
    index = api.get_index(indexArn=arn)["index"]
    assert index["metadataConfiguration"]["textSearchConfigurations"] == [
        {**searchable, "status": "ACTIVE"}
    ]
    records = [
        {"key": k, "data": {"float32": [1.0, i + 1.0, 0.5]}, "metadata": {"body": t, "n": i}}
        for i, (k, t) in enumerate(DOCS.items())
    ]
    api.put_vectors(indexArn=arn, vectors=records)
    text = [{"metadataKey": "body", "text": "worker threads"}]
    with expect("ValidationException", "require ENHANCED mode"):
        api.query_vectors(indexArn=arn, topK=2, queryTexts=text)
    found = api.query_vectors(
        indexArn=arn, topK=3, queryTexts=text, queryMode="ENHANCED", returnScores=True
    )
    assert [v["key"] for v in found["vectors"]] == ["d1", "d2", "d3"]
    first = found["vectors"][0]["scores"]
    assert set(first) == {"bm25Scores"} and first["bm25Scores"][0]["metadataKey"] == "body"
    assert first["bm25Scores"][0]["score"] > found["vectors"][1]["scores"]["bm25Scores"][0]["score"]
    exact = api.query_vectors(
        indexArn=arn,
        topK=1,
        queryMode="ENHANCED",
        queryTexts=[{"metadataKey": "body", "text": "E1234"}],
    )
    assert [v["key"] for v in exact["vectors"]] == ["d4"]  # the exact term a dense model misses

    api.update_index_mode(indexArn=arn, indexMode="ENHANCED")
    hybrid = api.query_vectors(
        indexArn=arn,
        topK=4,
        queryVector={"float32": [1.0, 4.0, 0.5]},
        queryTexts=text,
        filter={"n": {"$lt": 3}},
        returnScores=True,
        returnDistance=True,
        returnMetadata=True,
    )["vectors"]
    assert {v["key"] for v in hybrid} == {"d1", "d2", "d3"}  # the filter holds on both sides
    for item in hybrid:
        assert set(item["scores"]) >= {"fused", "vectorDistance"}
        assert item["distance"] == pytest.approx(item["scores"]["vectorDistance"], abs=1e-6)
        assert item["metadata"]["body"] == DOCS[item["key"]]
    fused = [v["scores"]["fused"] for v in hybrid]
    assert fused == sorted(fused, reverse=True)
    with expect("ValidationException", "CLASSIC query mode cannot be used with an ENHANCED index"):
        api.query_vectors(indexArn=arn, topK=1, queryTexts=text, queryMode="CLASSIC")
    with expect("ValidationException", "'title' has no text search configuration"):
        api.query_vectors(indexArn=arn, topK=1, queryTexts=[{"metadataKey": "title", "text": "x"}])
    with expect("ValidationException", "distinct metadata key"):
        api.query_vectors(indexArn=arn, topK=1, queryTexts=text + text)

    add = {"textSearchConfigurations": [{"metadataKey": "title", "language": "pt"}]}
    delete = {"textSearchConfigurations": [{"metadataKey": "body"}]}
    with expect("ValidationException", "either add or delete, but not both"):
        api.update_metadata_configuration(indexArn=arn, add=add, delete=delete)
    api.update_metadata_configuration(indexArn=arn, add=add)
    api.update_metadata_configuration(indexArn=arn, delete=delete)
    configs = api.get_index(indexArn=arn)["index"]["metadataConfiguration"]
    assert configs["textSearchConfigurations"] == [
        {"metadataKey": "title", "language": "pt", "status": "ACTIVE"}
    ]
    with expect("ValidationException", "'body' has no text search configuration"):
        api.query_vectors(indexArn=arn, topK=1, queryTexts=text)


def test_starts_with_needs_enhanced_mode(api: Api, old_bucket: str) -> None:
    arn = make_index(api, old_bucket)
    api.put_vectors(
        indexArn=arn,
        vectors=[{"key": "a", "data": {"float32": [1.0, 0.0, 0.0]}, "metadata": {"lang": "pt-BR"}}],
    )
    query = {"topK": 1, "queryVector": {"float32": [1.0, 0.0, 0.0]}}
    starts = {"lang": {"$startsWith": "pt"}}
    with expect("ValidationException", "ENHANCED"):
        api.query_vectors(indexArn=arn, **query, filter=starts)
    found = api.query_vectors(indexArn=arn, **query, filter=starts, queryMode="ENHANCED")
    assert [v["key"] for v in found["vectors"]] == ["a"]
