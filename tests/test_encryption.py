"""Encryption at rest: with a key file set, no stored byte shows a vector's metadata or text;
a cold process with the key answers exactly as before, one without it fails clearly; the
key-encryption key rotates without rewriting data. On a directory store and on a real
S3-compatible endpoint (moto's server on loopback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import free_port, new_s3_uri

import vetor
from vetor.errors import ServiceUnavailableException, StoreError, VetorError
from vetor.store import KeyFile, open_store

SECRET_WORD = "zanzibar-confidential"
BUCKET, INDEX = "sealed", "docs"


def write_corpus(s3v: Any) -> None:
    s3v.create_vector_bucket(vectorBucketName=BUCKET)
    s3v.create_index(
        vectorBucketName=BUCKET, indexName=INDEX, dataType="float32", dimension=8,
        distanceMetric="cosine",
        metadataConfiguration={"nonFilterableMetadataKeys": ["text"],
                               "textSearchConfigurations": [{"metadataKey": "text"}]},
    )  # fmt: skip
    s3v.update_index_mode(vectorBucketName=BUCKET, indexName=INDEX, indexMode="ENHANCED")
    rng = np.random.default_rng(3)
    for batch in range(4):
        s3v.put_vectors(
            vectorBucketName=BUCKET, indexName=INDEX,
            vectors=[{"key": f"doc-{batch}-{n}", "data": {"float32": rng.random(8).tolist()},
                      "metadata": {"text": f"{SECRET_WORD} passage {batch} {n}", "n": n}}
                     for n in range(300)],
        )  # fmt: skip
    s3v.compact(vectorBucketName=BUCKET, indexName=INDEX, full=True)


def answers(s3v: Any) -> list[Any]:
    query = {"float32": [0.5] * 8}
    found = s3v.query_vectors(
        vectorBucketName=BUCKET, indexName=INDEX, topK=5, queryVector=query,
        returnMetadata=True, returnDistance=True, filter={"n": {"$lt": 100}},
    )["vectors"]  # fmt: skip
    text = s3v.query_vectors(
        vectorBucketName=BUCKET, indexName=INDEX, topK=3,
        queryTexts=[{"text": "passage 2", "metadataKey": "text"}], returnMetadata=True,
    )["vectors"]  # fmt: skip
    listed = s3v.list_vectors(vectorBucketName=BUCKET, indexName=INDEX, returnMetadata=True)
    return [found, text, sorted(v["key"] for v in listed["vectors"])]


def stored_bytes(uri: str) -> list[tuple[str, bytes]]:
    store = open_store(uri, vetor.Settings())  # no key: the raw bytes
    return [(info.key, bytes(store._stored(info.key))) for info in store.list("")]


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "data")
    request.getfixturevalue("s3_env")  # the AWS variables point at moto's server
    return new_s3_uri(request.getfixturevalue("s3_endpoint"))


def test_nothing_stored_in_plaintext_and_a_cold_process_answers_the_same(
    place: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "kek.json"
    KeyFile.create(key_file)
    sealed = vetor.connect(place, encryption_key_file=str(key_file))
    write_corpus(sealed)
    before = answers(sealed)
    sealed.close()
    objects = stored_bytes(place)
    assert len(objects) > 10
    leaks = [key for key, data in objects if SECRET_WORD.encode() in data or b"passage" in data]
    assert not leaks, leaks
    sealed_keys = [key for key, data in objects if data.startswith(b"VETORENC")]
    plain = {key for key, _ in objects} - set(sealed_keys)
    assert all(k.endswith(("bucket.json", "index.json")) or k.startswith("_vetor/tmp")
               for k in plain), plain  # fmt: skip
    cold = vetor.connect(place, encryption_key_file=str(key_file))
    assert answers(cold) == before
    cold.close()
    keyless = vetor.connect(place)
    with pytest.raises(ServiceUnavailableException, match="encrypted at rest with a key file"):
        answers(keyless)
    keyless.close()


def test_rotation_keeps_old_data_readable_and_a_wrong_key_fails(tmp_path: Path) -> None:
    place, key_file = str(tmp_path / "data"), tmp_path / "kek.json"
    first = KeyFile.create(key_file)
    s3v = vetor.connect(place, encryption_key_file=str(key_file))
    write_corpus(s3v)
    before = answers(s3v)
    s3v.close()
    second = KeyFile.create(key_file)  # rotation: a new primary, the old key kept
    assert KeyFile(key_file).primary == second != first
    rotated = vetor.connect(place, encryption_key_file=str(key_file))
    assert answers(rotated) == before
    rotated.put_vectors(
        vectorBucketName=BUCKET, indexName=INDEX,
        vectors=[{"key": "after-rotation", "data": {"float32": [1.0] * 8}}],
    )  # fmt: skip
    rotated.close()
    ids = {d[14 : 14 + int.from_bytes(d[12:14], "big")].decode()
           for _, d in stored_bytes(place) if d.startswith(b"VETORENC")}  # fmt: skip
    assert ids == {first, second}  # old objects untouched, new ones under the new key
    other = tmp_path / "other.json"
    KeyFile.create(other)
    wrong = vetor.connect(place, encryption_key_file=str(other))
    with pytest.raises(ServiceUnavailableException, match="does not hold"):
        answers(wrong)
    wrong.close()


def test_sealed_ranges_and_tampering(tmp_path: Path) -> None:
    """Ranged reads of every kind of span match the plaintext; an altered, truncated or
    emptied object fails authentication."""
    from vetor.store import ObjectStore

    key_file = tmp_path / "kek.json"
    KeyFile.create(key_file)
    sealing = vetor.Settings(encryption_key_file=str(key_file))
    store: ObjectStore = open_store(str(tmp_path / "raw"), sealing)
    block = 64 * 1024
    for size in (0, 1, block - 1, block, block + 1, 3 * block + 7):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        store.put(f"x/{size}", data)
        assert store.get(f"x/{size}") == data
        spans = [(0, size), (0, min(size, 5)), (max(size - 3, 0), size),
                 (min(block - 2, size), min(block + 2, size))]  # fmt: skip
        found = store.get_ranges(f"x/{size}", [a for a, _ in spans], [b for _, b in spans])
        assert [bytes(f) for f in found] == [data[a:b] for a, b in spans]
    raw = Path(tmp_path / "raw" / "x" / str(block + 1))
    sealed = raw.read_bytes()
    raw.write_bytes(sealed[:-1])  # truncated
    fresh = open_store(str(tmp_path / "raw"), sealing)
    with pytest.raises(StoreError):
        fresh.get(f"x/{block + 1}")
    altered = bytearray(sealed)
    altered[-20] ^= 1
    raw.write_bytes(bytes(altered))
    with pytest.raises(StoreError, match="authentication"):
        fresh.get(f"x/{block + 1}")
    empty = Path(tmp_path / "raw" / "x" / "0").read_bytes()
    header_only = empty[: len(empty) - 16]  # the empty object's one tag removed
    Path(tmp_path / "raw" / "x" / "0").write_bytes(header_only)
    with pytest.raises(StoreError):
        fresh.get("x/0")


def test_the_cli_creates_a_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    done = subprocess.run(
        [sys.executable, "-m", "vetor", "keys", "encryption-key", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "VETOR_ENCRYPTION_KEY_FILE" in done.stdout
    assert (path.stat().st_mode & 0o777) == 0o600 and KeyFile(path).primary


def test_through_the_server(tmp_path: Path) -> None:
    from botocore.exceptions import ClientError
    from conftest import Server

    key_file = tmp_path / "kek.json"
    KeyFile.create(key_file)
    data = str(tmp_path / "served")
    server = Server(data, {"VETOR_ENCRYPTION_KEY_FILE": str(key_file)})
    try:
        client = server.client()
        client.create_vector_bucket(vectorBucketName=BUCKET)
        client.create_index(
            vectorBucketName=BUCKET, indexName=INDEX, dataType="float32", dimension=2,
            distanceMetric="cosine",
        )  # fmt: skip
        client.put_vectors(
            vectorBucketName=BUCKET, indexName=INDEX,
            vectors=[{"key": "a", "data": {"float32": [1.0, 0.0]},
                      "metadata": {"note": SECRET_WORD}}],
        )  # fmt: skip
        found = client.get_vectors(
            vectorBucketName=BUCKET, indexName=INDEX, keys=["a"], returnMetadata=True
        )["vectors"]
        assert found[0]["metadata"] == {"note": SECRET_WORD}
    finally:
        server.stop()
    assert not [k for k, d in stored_bytes(data) if SECRET_WORD.encode() in d]
    keyless = Server(data)
    try:
        with pytest.raises(ClientError) as raised:
            keyless.client().get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["a"])
        error = raised.value.response["Error"]
        assert error["Code"] == "ServiceUnavailableException"
        assert "encrypted at rest with a key file" in error["Message"]
        assert data not in error["Message"]
    finally:
        keyless.stop()


# --- KMS: a bucket whose encryptionConfiguration names a KMS key --------------------------


@pytest.fixture
def kms(s3_env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("kms", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1")


def test_a_kms_bucket_is_sealed_with_its_kms_key(
    kms: Any, s3_env: dict[str, str], tmp_path: Path
) -> None:
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    place, endpoint = str(tmp_path / "data"), s3_env["AWS_ENDPOINT_URL"]
    s3v = vetor.connect(place, kms_endpoint_url=endpoint)
    s3v.create_vector_bucket(
        vectorBucketName=BUCKET,
        encryptionConfiguration={"sseType": "aws:kms", "kmsKeyArn": key_arn},
    )
    s3v.create_vector_bucket(vectorBucketName="plain-one")  # AES256 and no key file: as stored
    for bucket in (BUCKET, "plain-one"):
        s3v.create_index(
            vectorBucketName=bucket, indexName=INDEX, dataType="float32", dimension=2,
            distanceMetric="cosine",
        )  # fmt: skip
        s3v.put_vectors(
            vectorBucketName=bucket, indexName=INDEX,
            vectors=[{"key": "a", "data": {"float32": [1.0, 0.0]},
                      "metadata": {"note": SECRET_WORD}}],
        )  # fmt: skip
    s3v.close()
    objects = stored_bytes(place)
    sealed = [k for k, d in objects if k.startswith(f"{BUCKET}/") and d.startswith(b"VETORENC")]
    assert sealed and all(d[9] == 2 for k, d in objects if k in sealed)  # kind 2: KMS
    assert not [k for k, d in objects if k.startswith(f"{BUCKET}/") and SECRET_WORD.encode() in d]
    assert [k for k, d in objects if k.startswith("plain-one/") and SECRET_WORD.encode() in d]
    elsewhere = vetor.connect(place, kms_endpoint_url=endpoint, region="us-west-2")
    with pytest.raises(VetorError) as raised:  # a KMS (region) that does not hold the key
        elsewhere.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["a"])
    assert raised.value.code.startswith("Kms") and raised.value.http_status == 400
    elsewhere.close()
    unreachable = vetor.connect(place, kms_endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailableException, match="KMS cannot be reached"):
        unreachable.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["a"])
    unreachable.close()
    key_id = key_arn.rsplit("/", 1)[1]  # moto's DisableKey takes the id, not the ARN
    kms.disable_key(KeyId=key_id)
    disabled = vetor.connect(place, kms_endpoint_url=endpoint)
    with pytest.raises(VetorError) as raised:
        disabled.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["a"])
    assert raised.value.code == "KmsDisabledException" and raised.value.http_status == 400
    disabled.close()
    kms.enable_key(KeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id)
    kms.rotate_key_on_demand(KeyId=key_id)  # rotation inside KMS: nothing is rewritten
    cold = vetor.connect(place, kms_endpoint_url=endpoint)
    found = cold.get_vectors(
        vectorBucketName=BUCKET, indexName=INDEX, keys=["a"], returnMetadata=True
    )["vectors"]
    assert found[0]["metadata"] == {"note": SECRET_WORD}
    cold.close()
    without = vetor.connect(place)
    with pytest.raises(ServiceUnavailableException, match="KMS"):
        without.get_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["a"])
    without.close()


def test_a_kms_bucket_needs_kms(tmp_path: Path) -> None:
    s3v = vetor.connect(tmp_path / "data")
    arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(VetorError, match="kms_endpoint_url"):
        s3v.create_vector_bucket(
            vectorBucketName=BUCKET,
            encryptionConfiguration={"sseType": "aws:kms", "kmsKeyArn": arn},
        )


def test_a_default_kms_key_seals_aes256_buckets_and_vetor_state(
    kms: Any, s3_env: dict[str, str], tmp_path: Path
) -> None:
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    place, endpoint = str(tmp_path / "data"), s3_env["AWS_ENDPOINT_URL"]
    options = {"kms_endpoint_url": endpoint, "kms_default_key_arn": key_arn}
    s3v = vetor.connect(place, **options)
    write_corpus(s3v)  # an AES256 bucket (the default), paged listings (the token key)
    before = answers(s3v)
    s3v.close()
    objects = stored_bytes(place)
    assert not [k for k, d in objects if SECRET_WORD.encode() in d]
    kinds = {d[9] for k, d in objects if d.startswith(b"VETORENC")}
    assert kinds == {2}  # all sealed by KMS
    assert answers(vetor.connect(place, **options)) == before


def test_a_session_is_sealed_with_its_own_kms_key(
    kms: Any, s3_env: dict[str, str], tmp_path: Path
) -> None:
    """RetrieveAndGenerate's ``sessionConfiguration.kmsKeyArn``: every version of the session
    sealed with that key (a follow-up too, from another process), others as the server says."""
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    place, endpoint = str(tmp_path / "data"), s3_env["AWS_ENDPOINT_URL"]
    config = {"type": "EXTERNAL_SOURCES", "externalSourcesConfiguration": {
        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/smollm2-135m-instruct",
        "sources": [{"sourceType": "BYTE_CONTENT", "byteContent": {
            "identifier": "memo", "contentType": "text/plain",
            "data": b"The launch code name is Heron."}}],
        "generationConfiguration": {
            "inferenceConfig": {"textInferenceConfig": {"maxTokens": 8}}}}}  # fmt: skip
    question = {"text": f"What is the code name? ({SECRET_WORD})"}
    kbs = vetor.knowledge_bases(place, kms_endpoint_url=endpoint)
    sealed = kbs.retrieve_and_generate(
        input=question, retrieveAndGenerateConfiguration=config,
        sessionConfiguration={"kmsKeyArn": key_arn},
    )["sessionId"]  # fmt: skip
    plain = kbs.retrieve_and_generate(input=question, retrieveAndGenerateConfiguration=config)
    kbs.close()
    other = vetor.knowledge_bases(place, kms_endpoint_url=endpoint)  # another process's turn
    other.retrieve_and_generate(
        input={"text": f"And again? {SECRET_WORD}"},
        retrieveAndGenerateConfiguration=config,
        sessionId=sealed,
    )
    other.close()  # fmt: skip
    objects = dict(stored_bytes(place))

    def versions(session_id: str) -> list[bytes]:
        return [d for k, d in objects.items() if f"/sessions/{session_id}/" in k]

    assert len(versions(sealed)) == 2  # two turns, each a version
    assert all(d.startswith(b"VETORENC") and d[9] == 2 for d in versions(sealed))  # KMS
    assert all(SECRET_WORD.encode() in d for d in versions(plain["sessionId"]))  # no key set
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    fresh = vetor.knowledge_bases(place, kms_endpoint_url=endpoint)
    with pytest.raises(VetorError) as raised:  # refused before anything is answered
        fresh.retrieve_and_generate(input=question, retrieveAndGenerateConfiguration=config,
                                    sessionConfiguration={"kmsKeyArn": missing})  # fmt: skip
    assert raised.value.code == "KmsNotFoundException"
    fresh.close()
    keyless = vetor.knowledge_bases(str(tmp_path / "other"))
    with pytest.raises(VetorError, match="kms_endpoint_url"):
        keyless.retrieve_and_generate(input=question, retrieveAndGenerateConfiguration=config,
                                      sessionConfiguration={"kmsKeyArn": key_arn})  # fmt: skip
    keyless.close()
