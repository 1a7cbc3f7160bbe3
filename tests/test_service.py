"""Buckets, indexes, tags, policies and validation: S3 Vectors semantics and error messages."""

from __future__ import annotations

from typing import Any

import pytest

import vetor
from vetor import ConflictException, NotFoundException, ValidationException

ARN = "arn:aws:s3vectors:us-east-1:000000000000:bucket/docs"


def snapshot(service: vetor.VectorService, address: dict[str, str]) -> Any:
    """Everything observable about an index plus every object in the store."""
    vectors = service.list_vectors(**address, returnData=True, returnMetadata=True)
    objects = sorted(info.key for info in service.store.list(""))
    return vectors, objects


def test_bucket_lifecycle(service: vetor.VectorService) -> None:
    assert service.create_vector_bucket(vectorBucketName="docs") == {"vectorBucketArn": ARN}
    with pytest.raises(
        ConflictException, match="A vector bucket with the specified name already exists"
    ):
        service.create_vector_bucket(vectorBucketName="docs")
    for name in ("alpha-1", "alpha-2", "beta-1"):
        service.create_vector_bucket(vectorBucketName=name)
    bucket = service.get_vector_bucket(vectorBucketArn=ARN)["vectorBucket"]
    assert bucket["vectorBucketName"] == "docs" and bucket["vectorBucketArn"] == ARN
    assert bucket["encryptionConfiguration"] == {"sseType": "AES256"}
    first = service.list_vector_buckets(maxResults=2)
    assert [b["vectorBucketName"] for b in first["vectorBuckets"]] == ["alpha-1", "alpha-2"]
    second = service.list_vector_buckets(maxResults=2, nextToken=first["nextToken"])
    assert [b["vectorBucketName"] for b in second["vectorBuckets"]] == ["beta-1", "docs"]
    assert "nextToken" not in second
    assert len(service.list_vector_buckets(prefix="alpha")["vectorBuckets"]) == 2
    service.delete_vector_bucket(vectorBucketName="docs")
    with pytest.raises(NotFoundException, match="The specified vector bucket could not be found"):
        service.get_vector_bucket(vectorBucketName="docs")


def test_bucket_with_index_cannot_be_deleted(service: vetor.VectorService, index: dict) -> None:
    with pytest.raises(ConflictException, match="The specified vector bucket is not empty"):
        service.delete_vector_bucket(vectorBucketName="docs")
    service.delete_index(**index)
    service.delete_vector_bucket(vectorBucketName="docs")
    assert service.list_vector_buckets()["vectorBuckets"] == []


@pytest.mark.parametrize("name", ["Docs", "do_cs", "-docs", "docs-", "../etc", "a/b"])
def test_bad_bucket_names(service: vetor.VectorService, name: str) -> None:
    with pytest.raises(ValidationException, match="Invalid vector bucket name"):
        service.create_vector_bucket(vectorBucketName=name)
    assert list(service.store.list("")) == []


@pytest.mark.parametrize("name", ["ab", "x" * 64])
def test_bucket_names_out_of_length_say_the_rule(service: vetor.VectorService, name: str) -> None:
    with pytest.raises(ValidationException) as error:
        service.create_vector_bucket(vectorBucketName=name)
    assert error.value.message == (
        f"1 validation error detected. Value with length {len(name)} at '/vectorBucketName' "
        "failed to satisfy constraint: Member must have length between 3 and 63, inclusive"
    )
    assert list(service.store.list("")) == []


def test_addressing_rules(service: vetor.VectorService, index: dict) -> None:
    with pytest.raises(
        ValidationException,
        match="Must specify either vectorBucketName or vectorBucketArn but not both",
    ):
        service.get_vector_bucket(vectorBucketName="docs", vectorBucketArn=ARN)
    with pytest.raises(
        ValidationException,
        match="Must specify either indexArn or both vectorBucketName and indexName",
    ):
        service.get_index(vectorBucketName="docs")
    with pytest.raises(ValidationException, match="Must specify either indexArn"):
        service.get_index(indexArn=f"{ARN}/index/pages", indexName="pages")
    by_arn = service.get_index(indexArn=f"{ARN}/index/pages")["index"]
    assert by_arn == service.get_index(**index)["index"]
    with pytest.raises(NotFoundException, match="The specified index could not be found"):
        service.get_index(vectorBucketName="docs", indexName="nope")
    with pytest.raises(NotFoundException, match="The specified index could not be found"):
        service.get_index(vectorBucketName="nope", indexName="pages")  # as AWS: the index


def test_index_lifecycle_and_limits(service: vetor.VectorService, index: dict) -> None:
    got = service.get_index(**index)["index"]
    assert got["dimension"] == 4 and got["distanceMetric"] == "cosine"
    assert got["metadataConfiguration"] == {"nonFilterableMetadataKeys": ["body"]}
    create = dict(vectorBucketName="docs", dataType="float32", distanceMetric="cosine")
    with pytest.raises(ConflictException):
        service.create_index(**create, indexName="pages", dimension=4)
    message = (
        "1 validation error detected. Value at '/dimension' failed to satisfy constraint: "
        "Member must be between 1 and 4096, inclusive"
    )
    for dimension in (0, 4097):
        with pytest.raises(ValidationException) as error:
            service.create_index(**create, indexName="other", dimension=dimension)
        assert error.value.message == message
        assert error.value.field_list == [
            {"path": "/dimension", "message": message.removeprefix("1 validation error detected. ")}
        ]
    with pytest.raises(ValidationException, match="distanceMetric"):
        service.create_index(**{**create, "distanceMetric": "dot"}, indexName="other", dimension=4)
    with pytest.raises(ValidationException, match="nonFilterableMetadataKeys"):
        service.create_index(
            **create,
            indexName="other",
            dimension=4,
            metadataConfiguration={"nonFilterableMetadataKeys": [f"k{i}" for i in range(11)]},
        )
    with pytest.raises(ValidationException, match="Invalid index name"):
        service.create_index(**create, indexName="Bad_Name", dimension=4)
    service.create_index(**create, indexName="a.b-c", dimension=4096)
    names = [i["indexName"] for i in service.list_indexes(vectorBucketName="docs")["indexes"]]
    assert names == ["a.b-c", "pages"]
    service.delete_index(vectorBucketName="docs", indexName="a.b-c")
    with pytest.raises(NotFoundException):
        service.query_vectors(
            vectorBucketName="docs",
            indexName="a.b-c",
            topK=1,
            queryVector={"float32": [1.0] * 4096},
        )


GOOD = {"key": "good", "data": {"float32": [1.0, 0.0, 0.0, 0.0]}, "metadata": {"lang": "pt"}}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"key": "k", "data": {"float32": [1.0]}},
            "Invalid record for key 'k': vector must have length 4, but has length 1",
        ),
        ({"key": "k", "data": {"float32": [1.0, float("nan"), 0.0, 0.0]}}, "finite"),
        ({"key": "k", "data": {"float32": [1.0, float("inf"), 0.0, 0.0]}}, "finite"),
        ({"key": "k", "data": {"float32": [0.0] * 4}}, "zero vector"),
        ({"key": "k", "data": {"float32": ["1", 0.0, 0.0, 0.0]}}, "numbers"),
        (
            {"key": "k", "data": {"float32": [1.0] * 4}, "metadata": {"x": "y" * 41_000}},
            "more than the limit of 40960 bytes",
        ),
        (
            {"key": "k", "data": {"float32": [1.0] * 4}, "metadata": {"x": "y" * 2100}},
            "filterable metadata",
        ),
        (
            {
                "key": "k",
                "data": {"float32": [1.0] * 4},
                "metadata": {f"m{i}": i for i in range(51)},
            },
            "51 keys",
        ),
        (
            {"key": "k", "data": {"float32": [1.0] * 4}, "metadata": {"x": {"nested": 1}}},
            "must be a string",
        ),
        ({"key": "", "data": {"float32": [1.0] * 4}}, "length between 1 and 1024"),
        ({"key": "k" * 1025, "data": {"float32": [1.0] * 4}}, "length between 1 and 1024"),
    ],
)
def test_bad_vectors_change_nothing(
    service: vetor.VectorService, index: dict, record: dict, message: str
) -> None:
    service.put_vectors(**index, vectors=[GOOD])
    before = snapshot(service, index)
    with pytest.raises(ValidationException, match=message):
        service.put_vectors(**index, vectors=[{**GOOD, "key": "other"}, record])
    assert snapshot(service, index) == before


def test_non_filterable_metadata_is_stored_but_not_counted(
    service: vetor.VectorService, index: dict
) -> None:
    big = {"key": "k", "data": {"float32": [1.0] * 4}, "metadata": {"body": "y" * 30_000}}
    service.put_vectors(**index, vectors=[big])
    got = service.get_vectors(**index, keys=["k"], returnMetadata=True)["vectors"][0]
    assert got["metadata"]["body"] == "y" * 30_000


def test_request_limits(service: vetor.VectorService, index: dict) -> None:
    before = snapshot(service, index)
    too_many = [{"key": f"k{i}", "data": {"float32": [1.0] * 4}} for i in range(501)]
    with pytest.raises(ValidationException, match="length between 1 and 500"):
        service.put_vectors(**index, vectors=too_many)
    with pytest.raises(ValidationException, match="length between 1 and 500"):
        service.put_vectors(**index, vectors=[])
    with pytest.raises(ValidationException, match="length between 1 and 100"):
        service.get_vectors(**index, keys=[f"k{i}" for i in range(101)])
    with pytest.raises(ValidationException, match="length between 1 and 500"):
        service.delete_vectors(**index, keys=[f"k{i}" for i in range(501)])
    with pytest.raises(ValidationException, match="between 1 and 1000"):
        service.list_vectors(**index, maxResults=1001)
    with pytest.raises(ValidationException, match="together"):
        service.list_vectors(**index, segmentCount=2)
    with pytest.raises(ValidationException, match="less than segmentCount"):
        service.list_vectors(**index, segmentCount=2, segmentIndex=2)
    with pytest.raises(ValidationException, match="Invalid nextToken"):
        service.list_vectors(**index, nextToken="garbage")
    assert snapshot(service, index) == before


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"filter": {"lang": {"$regex": "p"}}}, "unknown operator '\\$regex'"),
        ({"filter": {"$not": {"lang": "pt"}}}, "unknown operator '\\$not'"),
        ({"filter": {"body": "x"}}, "'body' is non-filterable"),
        ({"filter": {"n": {"$gt": "3"}}}, "'\\$gt' takes a number"),
        ({"filter": {"n": {"$in": []}}}, "non-empty array"),
        ({"filter": {"$and": []}}, "non-empty array"),
        ({"filter": {"lang": {"$startsWith": "p"}}}, "ENHANCED"),
        ({"queryVector": {"float32": [1.0, 0.0]}}, "vector must have length 4, but has length 2"),
        ({"topK": 0}, "between 1 and 10000"),
        ({"queryTexts": [{"text": "hi", "metadataKey": "body"}]}, "require ENHANCED mode"),
        (
            {"queryTexts": [{"text": "hi", "metadataKey": "body"}], "queryMode": "ENHANCED"},
            "'body' has no text search configuration",
        ),
        (
            {
                "queryTexts": [
                    {"text": "a", "metadataKey": "body"},
                    {"text": "b", "metadataKey": "body"},
                ],
                "queryMode": "ENHANCED",
            },
            "distinct metadata key",
        ),
        ({"queryTexts": [{"text": "", "metadataKey": "body"}]}, "between 1 and 1024"),
        ({"queryTexts": []}, "between 1 and 10"),
    ],
)
def test_bad_queries(
    service: vetor.VectorService, classic_index: dict, request_: dict, message: str
) -> None:
    service.put_vectors(**classic_index, vectors=[GOOD])
    query = {"topK": 3, "queryVector": {"float32": [1.0, 0.0, 0.0, 0.0]}, **request_}
    with pytest.raises(ValidationException, match=message):
        service.query_vectors(**classic_index, **query)


def test_tags_and_policy(service: vetor.VectorService, index: dict) -> None:
    index_arn = f"{ARN}/index/pages"
    service.tag_resource(resourceArn=ARN, tags={"team": "search", "env": "dev"})
    service.tag_resource(resourceArn=index_arn, tags={"tier": "hot"})
    service.untag_resource(resourceArn=ARN, tagKeys=["env"])
    assert service.list_tags_for_resource(resourceArn=ARN) == {"tags": {"team": "search"}}
    assert service.list_tags_for_resource(resourceArn=index_arn) == {"tags": {"tier": "hot"}}
    with pytest.raises(NotFoundException):
        service.list_tags_for_resource(resourceArn=f"{ARN}/index/nope")
    with pytest.raises(ValidationException):
        service.tag_resource(resourceArn=ARN, tags={f"k{i}": "v" for i in range(51)})
    with pytest.raises(
        NotFoundException, match="The specified vector bucket policy could not be found"
    ):
        service.get_vector_bucket_policy(vectorBucketName="docs")
    policy = (
        '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*", '
        f'"Action": "s3vectors:DeleteIndex", "Resource": "{ARN}/index/*"}}}}'
    )
    service.put_vector_bucket_policy(vectorBucketName="docs", policy=policy)
    assert service.get_vector_bucket_policy(vectorBucketArn=ARN) == {"policy": policy}
    with pytest.raises(ValidationException, match="not valid JSON"):
        service.put_vector_bucket_policy(vectorBucketName="docs", policy="{nope")
    service.delete_vector_bucket_policy(vectorBucketName="docs")
    with pytest.raises(NotFoundException):
        service.delete_vector_bucket_policy(vectorBucketName="docs")


def test_index_modes(service: vetor.VectorService, index: dict) -> None:
    service.put_vector_bucket_default_index_mode(
        vectorBucketName="docs", defaultIndexMode="ENHANCED"
    )
    assert (
        service.get_vector_bucket(vectorBucketName="docs")["vectorBucket"]["defaultIndexMode"]
        == "ENHANCED"
    )
    service.update_index_mode(**index, indexMode="ENHANCED")
    assert service.get_index(**index)["index"]["indexMode"] == "ENHANCED"
    service.put_vectors(**index, vectors=[GOOD])
    hits = service.query_vectors(
        **index,
        topK=1,
        queryVector={"float32": [1.0, 0, 0, 0]},
        filter={"lang": {"$startsWith": "p"}},
    )
    assert [h["key"] for h in hits["vectors"]] == ["good"]
    with pytest.raises(ValidationException, match="enum"):
        service.update_index_mode(**index, indexMode="TURBO")


def test_filtered_query_returns_k_when_k_match(service: vetor.VectorService, index: dict) -> None:
    """Unlike S3 Vectors' CLASSIC mode, a selective filter never starves the result."""
    vectors = [
        {
            "key": f"k{i}",
            "data": {"float32": [1.0, i / 1000, 0.0, 0.0]},
            "metadata": {"rare": i % 97 == 0},
        }
        for i in range(500)
    ]
    for start in range(0, 2000, 500):
        service.put_vectors(**index, vectors=[{**v, "key": f"{start}-{v['key']}"} for v in vectors])
    hits = service.query_vectors(
        **index, topK=20, queryVector={"float32": [1.0, 0, 0, 0]}, filter={"rare": True}
    )
    assert len(hits["vectors"]) == 20


def test_delete_and_recreate_is_seen_by_another_process(
    service: vetor.VectorService, index: dict
) -> None:
    other = vetor.connect(service.store.uri)
    service.put_vectors(**index, vectors=[GOOD])
    assert other.get_vectors(**index, keys=["good"])["vectors"] == [{"key": "good"}]
    service.delete_index(**index)
    with pytest.raises(NotFoundException, match="The specified index could not be found"):
        other.query_vectors(**index, topK=1, queryVector={"float32": [1.0, 0, 0, 0]})
    service.create_index(**index, dataType="float32", dimension=2, distanceMetric="euclidean")
    other.put_vectors(**index, vectors=[{"key": "new", "data": {"float32": [3.0, 4.0]}}])
    hits = service.query_vectors(
        **index, topK=5, queryVector={"float32": [0.0, 0.0]}, returnDistance=True
    )
    assert hits == {"vectors": [{"key": "new", "distance": 5.0}], "distanceMetric": "euclidean"}


def test_recreated_index_at_the_same_version_is_not_mistaken_for_the_old_one(
    service: vetor.VectorService, index: dict
) -> None:
    other = vetor.connect(service.store.uri)
    service.put_vectors(**index, vectors=[GOOD])
    assert [v["key"] for v in other.list_vectors(**index)["vectors"]] == ["good"]
    service.delete_index(**index)
    service.create_index(**index, dataType="float32", dimension=4, distanceMetric="cosine")
    service.put_vectors(**index, vectors=[{**GOOD, "key": "fresh"}])  # same manifest version
    assert [v["key"] for v in other.list_vectors(**index)["vectors"]] == ["fresh"]


def test_query_pages_and_tamper_proof_tokens(service: vetor.VectorService, index: dict) -> None:
    vectors = [
        {"key": f"k{i:03d}", "data": {"float32": [1.0, i / 300, 0.0, 0.0]}} for i in range(300)
    ]
    service.put_vectors(**index, vectors=vectors[:250])
    service.put_vectors(**index, vectors=vectors[250:])
    query = {"topK": 250, "queryVector": {"float32": [1.0, 0.0, 0.0, 0.0]}, "returnDistance": True}
    pages, token = [], None
    while True:
        reply = service.query_vectors(**index, **query, **({"nextToken": token} if token else {}))
        pages.append(reply["vectors"])
        token = reply.get("nextToken")
        if token is None:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    keys = [v["key"] for page in pages for v in page]
    assert keys == [f"k{i:03d}" for i in range(250)]
    everything = {**query, "topK": 400}  # 300 vectors: three full pages and no empty fourth
    first = service.query_vectors(**index, **everything)
    second = service.query_vectors(**index, **everything, nextToken=first["nextToken"])
    third = service.query_vectors(**index, **everything, nextToken=second["nextToken"])
    assert len(third["vectors"]) == 100 and "nextToken" not in third
    first = service.query_vectors(**index, **query)["nextToken"]
    forged = first[:-2] + ("AA" if not first.endswith("AA") else "BB")
    with pytest.raises(ValidationException, match="Invalid nextToken"):
        service.query_vectors(**index, **query, nextToken=forged)
    with pytest.raises(ValidationException, match="another query"):
        service.query_vectors(**index, **{**query, "topK": 249}, nextToken=first)
    listed = service.list_vectors(**index, maxResults=10)
    with pytest.raises(ValidationException, match="Invalid nextToken"):
        service.query_vectors(**index, **query, nextToken=listed["nextToken"])


def test_recreate_after_an_interrupted_delete(service: vetor.VectorService, index: dict) -> None:
    service.put_vectors(**index, vectors=[GOOD])
    engine = service.engine("docs", "pages")
    engine.retire()  # a delete that stopped right after its linearization point
    query = {"topK": 1, "queryVector": {"float32": [1.0, 0.0, 0.0, 0.0]}}
    with pytest.raises(NotFoundException, match="The specified index could not be found"):
        service.query_vectors(**index, **query)
    with pytest.raises(NotFoundException):
        service.put_vectors(**index, vectors=[GOOD])
    service.delete_index(**index)  # retrying the delete finishes it
    service.create_index(**index, dataType="float32", dimension=4, distanceMetric="cosine")
    service.put_vectors(**index, vectors=[{**GOOD, "key": "fresh"}])
    assert [v["key"] for v in service.list_vectors(**index)["vectors"]] == ["fresh"]


def test_a_writer_that_missed_a_delete_cannot_write_into_it(
    service: vetor.VectorService, index: dict
) -> None:
    other = vetor.connect(service.store.uri)
    other.put_vectors(**index, vectors=[GOOD])  # other now caches this index's engine
    service.delete_index(**index)
    with pytest.raises(NotFoundException):
        other.put_vectors(**index, vectors=[{**GOOD, "key": "late"}])
    service.create_index(**index, dataType="float32", dimension=4, distanceMetric="cosine")
    other.put_vectors(**index, vectors=[{**GOOD, "key": "new"}])  # the new incarnation
    assert [v["key"] for v in service.list_vectors(**index)["vectors"]] == ["new"]


def test_a_failed_create_leaves_the_existing_tags_alone(service: vetor.VectorService) -> None:
    service.create_vector_bucket(vectorBucketName="docs", tags={"owner": "alice"})
    with pytest.raises(ConflictException):
        service.create_vector_bucket(vectorBucketName="docs", tags={"owner": "mallory"})
    assert service.list_tags_for_resource(resourceArn=ARN) == {"tags": {"owner": "alice"}}


def test_a_retried_create_that_had_succeeded_is_not_a_conflict(
    service: vetor.VectorService,
) -> None:
    config = {"vectorBucketName": "docs", "bucketId": "abc"}
    assert service.core.create_config("docs/bucket.json", config, "bucketId")
    assert service.core.create_config("docs/bucket.json", config, "bucketId")  # the retry: ours
    assert not service.core.create_config(
        "docs/bucket.json", {**config, "bucketId": "xyz"}, "bucketId"
    )


def test_a_slow_commit_rewrites_its_batch_before_gc_can_take_it(store_uri: str) -> None:
    import time

    service = vetor.connect(store_uri, gc_grace_seconds=1.0, background_compaction=False)
    service.create_vector_bucket(vectorBucketName="docs")
    address = {"vectorBucketName": "docs", "indexName": "pages"}
    service.create_index(**address, dataType="float32", dimension=4, distanceMetric="cosine")
    engine = service.engine("docs", "pages")
    collector = vetor.connect(store_uri, gc_grace_seconds=1.0).open_engine("docs", "pages")
    base = engine.log.commit_base

    def stalled_base():  # the writer stalls after writing its batch, while GC runs
        time.sleep(1.3)
        assert collector.collect_garbage() >= 1  # the uncommitted batch looked abandoned
        return base()

    engine.log.commit_base = stalled_base
    service.put_vectors(**address, vectors=[GOOD])
    fresh = vetor.connect(store_uri)
    assert [v["key"] for v in fresh.list_vectors(**address)["vectors"]] == ["good"]
