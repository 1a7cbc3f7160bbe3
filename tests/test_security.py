"""Principals and enforced policies through boto3 against a real ``vetor serve``.

Two principals besides the admin: Bob, with no identity policy, whom the bucket policy lets
query but not put; Alice, whose identity policy allows S3 Vectors but explicitly denies
deletes. A condition on the source IP, listings that show only what a caller may read, STS,
and keys added and revoked while the server runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

ACCOUNT = "000000000000"
ADMIN = {"accessKeyId": "AKADMIN", "secretAccessKey": "admin-secret"}
BOB_ARN = f"arn:aws:iam::{ACCOUNT}:user/bob"
ALICE_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
CAROL_ARN = f"arn:aws:iam::{ACCOUNT}:user/carol"
ALICE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3vectors:*", "Resource": "*"},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3vectors:Delete*", "Resource": "*"},
    ],
}
CAROL_POLICY = {  # may list buckets, but sees only the team-* ones
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3vectors:ListVectorBuckets", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "s3vectors:GetVectorBucket",
            "Resource": f"arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/team-*",
        },
    ],
}
BUCKET, INDEX = "team-docs", "notes"
INDEX_ARN = f"arn:aws:s3vectors:us-east-1:{ACCOUNT}:bucket/{BUCKET}/index/{INDEX}"
BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "BobQueries",
            "Effect": "Allow",
            "Principal": {"AWS": BOB_ARN},
            "Action": ["s3vectors:QueryVectors", "s3vectors:GetVectors"],
            "Resource": INDEX_ARN,
        },
        {
            "Sid": "BobReadsFromLoopback",
            "Effect": "Allow",
            "Principal": {"AWS": BOB_ARN},
            "Action": "s3vectors:GetIndex",
            "Resource": INDEX_ARN,
            "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
        },
        {
            "Sid": "BobListsFromElsewhere",
            "Effect": "Allow",
            "Principal": {"AWS": BOB_ARN},
            "Action": "s3vectors:ListVectors",
            "Resource": INDEX_ARN,
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
    ],
}


def key(key_id: str, arn: str | None = None, *policies: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"accessKeyId": key_id, "secretAccessKey": f"{key_id}-secret"}
    if arn:
        entry["principalArn"] = arn
    if policies:
        entry["policies"] = list(policies)
    return entry


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    keys = [
        ADMIN,
        key("AKBOB", BOB_ARN),
        key("AKALICE", ALICE_ARN, ALICE_POLICY),
        key("AKCAROL", CAROL_ARN, CAROL_POLICY),
    ]
    path.write_text(json.dumps({"keys": keys}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, keys_file: Path) -> Iterator[Server]:
    no_env_keys = {"VETOR_ACCESS_KEY_ID": "", "VETOR_SECRET_ACCESS_KEY": ""}
    data = str(tmp_path_factory.mktemp("secure"))
    running = Server(data, no_env_keys, "--keys-file", str(keys_file))
    admin = client(running, "AKADMIN", "admin-secret")
    for bucket in (BUCKET, "team-other", "private-stuff"):
        admin.create_vector_bucket(vectorBucketName=bucket)
    admin.create_index(
        vectorBucketName=BUCKET, indexName=INDEX, dataType="float32", dimension=2,
        distanceMetric="cosine",
    )  # fmt: skip
    admin.put_vectors(
        vectorBucketName=BUCKET, indexName=INDEX,
        vectors=[{"key": "a", "data": {"float32": [1.0, 0.0]}, "metadata": {"t": "x"}}],
    )  # fmt: skip
    admin.put_vector_bucket_policy(vectorBucketName=BUCKET, policy=json.dumps(BUCKET_POLICY))
    yield running
    running.stop()


def client(server: Server, key_id: str, secret: str | None = None, service: str = "s3vectors"):  # type: ignore[no-untyped-def]
    return server.client(
        service, aws_access_key_id=key_id, aws_secret_access_key=secret or f"{key_id}-secret"
    )


def denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    return str(error["Message"])


def keys_in_index(server: Server) -> list[str]:
    admin = client(server, "AKADMIN", "admin-secret")
    listed = admin.list_vectors(vectorBucketName=BUCKET, indexName=INDEX)["vectors"]
    return sorted(v["key"] for v in listed)


def test_bucket_policy_lets_bob_query_but_not_put(served: Server) -> None:
    bob = client(served, "AKBOB")
    found = bob.query_vectors(
        vectorBucketName=BUCKET, indexName=INDEX, queryVector={"float32": [1.0, 0.0]}, topK=1,
        returnMetadata=True,
    )["vectors"]  # fmt: skip
    assert [v["key"] for v in found] == ["a"] and found[0]["metadata"] == {"t": "x"}
    message = denied(
        bob.put_vectors, vectorBucketName=BUCKET, indexName=INDEX,
        vectors=[{"key": "b", "data": {"float32": [0.0, 1.0]}}],
    )  # fmt: skip
    assert message == (
        f"User: {BOB_ARN} is not authorized to perform: s3vectors:PutVectors on resource: "
        f"{INDEX_ARN} because no identity-based policy allows the s3vectors:PutVectors action"
    )
    assert keys_in_index(served) == ["a"]  # the denied put changed nothing
    denied(bob.create_vector_bucket, vectorBucketName="bobs-bucket")
    denied(bob.list_vector_buckets)  # no identity policy: not even a listing
    other = denied(bob.get_vector_bucket, vectorBucketName="private-stuff")
    assert "bucket/private-stuff" in other


def test_source_ip_condition(served: Server) -> None:
    bob = client(served, "AKBOB")
    assert bob.get_index(vectorBucketName=BUCKET, indexName=INDEX)["index"]["indexName"] == INDEX
    denied(bob.list_vectors, vectorBucketName=BUCKET, indexName=INDEX)  # only from 10/8


def test_identity_policy_denies_deletes(served: Server) -> None:
    alice = client(served, "AKALICE")
    alice.put_vectors(
        vectorBucketName=BUCKET, indexName=INDEX,
        vectors=[{"key": "c", "data": {"float32": [0.5, 0.5]}}],
    )  # fmt: skip
    assert keys_in_index(served) == ["a", "c"]
    message = denied(alice.delete_vectors, vectorBucketName=BUCKET, indexName=INDEX, keys=["c"])
    assert "explicit deny in statement 'NoDeletes' of identity policy 1" in message
    denied(alice.delete_index, vectorBucketName=BUCKET, indexName=INDEX)
    denied(alice.delete_index, indexArn=INDEX_ARN.replace("arn:aws:", "arn:aws-cn:"))
    denied(alice.delete_vector_bucket_policy, vectorBucketName=BUCKET)
    assert keys_in_index(served) == ["a", "c"]
    admin = client(served, "AKADMIN", "admin-secret")
    assert admin.get_vector_bucket_policy(vectorBucketName=BUCKET)["policy"]
    admin.delete_vectors(vectorBucketName=BUCKET, indexName=INDEX, keys=["c"])


def test_listings_show_only_what_the_caller_may_read(served: Server) -> None:
    carol = client(served, "AKCAROL")
    names = [b["vectorBucketName"] for b in carol.list_vector_buckets()["vectorBuckets"]]
    assert sorted(names) == ["team-docs", "team-other"]
    alice = client(served, "AKALICE")
    names = [b["vectorBucketName"] for b in alice.list_vector_buckets()["vectorBuckets"]]
    assert sorted(names) == ["private-stuff", "team-docs", "team-other"]


def test_caller_identity_names_the_principal(served: Server) -> None:
    identity = client(served, "AKBOB", service="sts").get_caller_identity()
    assert identity["Arn"] == BOB_ARN and identity["Account"] == ACCOUNT
    assert identity["UserId"].startswith("AIDA")
    admin = client(served, "AKADMIN", "admin-secret", service="sts").get_caller_identity()
    assert admin["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_the_access_log_names_principal_and_decision(served: Server) -> None:
    denied(client(served, "AKBOB").delete_index, vectorBucketName=BUCKET, indexName=INDEX)
    records = [json.loads(line) for line in served.logs().splitlines() if '"requestId"' in line]
    denial = [r for r in records if r["operation"] == "DeleteIndex"][-1]
    assert denial["principal"] == BOB_ARN and denial["status"] == 403
    assert denial["authorization"] == [
        {
            "action": "s3vectors:DeleteIndex",
            "resource": INDEX_ARN,
            "decision": "implicit deny: no statement allows it",
        }
    ]


def test_keys_are_added_and_revoked_without_a_restart(served: Server, keys_file: Path) -> None:
    vetor = [sys.executable, "-m", "vetor", "keys"]
    added = subprocess.run(
        [*vetor, "add", "--user", "dave", "--keys-file", str(keys_file)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pairs = dict(line.removeprefix("export ").split("=", 1) for line in added.stdout.splitlines())
    key_id, secret = pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]
    assert (keys_file.stat().st_mode & 0o777) == 0o600
    sts = client(served, key_id, secret, service="sts")
    deadline = time.monotonic() + 10
    while True:  # the server reads the file again within a second of the change
        try:
            assert sts.get_caller_identity()["Arn"].endswith(":user/dave")
            break
        except ClientError:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    listed = subprocess.run(
        [*vetor, "list", "--keys-file", str(keys_file)], capture_output=True, text=True, check=True
    ).stdout
    assert key_id in listed and secret not in listed
    subprocess.run([*vetor, "revoke", key_id, "--keys-file", str(keys_file)], check=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            sts.get_caller_identity()
            assert time.monotonic() < deadline
            time.sleep(0.3)
        except ClientError as error:
            assert error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
            break
