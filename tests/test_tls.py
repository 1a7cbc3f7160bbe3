"""``vetor serve --tls-cert/--tls-key``: boto3 and the AWS CLI over HTTPS, verified against a
test certificate authority made here (``cryptography``)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import SSLError
from conftest import SERVER_KEYS, Server

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _certificate(subject: str, key, issuer_key, issuer_name, *, ca: bool, names=()):  # type: ignore[no-untyped-def]
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vetor test CA")])
    ca = _certificate("vetor test CA", ca_key, ca_key, ca_name, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = (x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"))
    cert = _certificate("127.0.0.1", key, ca_key, ca_name, ca=False, names=names)
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files["key"].chmod(0o600)
    return files


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tls_files: dict[str, Path]
) -> Iterator[Server]:
    data = str(tmp_path_factory.mktemp("tls-data"))
    args = ("--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"]))
    running = Server(data, None, *args)
    yield running
    running.stop()


def test_boto3_over_https_with_the_test_ca(server: Server, tls_files: dict[str, Path]) -> None:
    assert server.endpoint.startswith("https://")
    client = server.client(verify=str(tls_files["ca"]))
    client.create_vector_bucket(vectorBucketName="over-tls")
    names = [b["vectorBucketName"] for b in client.list_vector_buckets()["vectorBuckets"]]
    assert "over-tls" in names
    identity = server.client("sts", verify=str(tls_files["ca"])).get_caller_identity()
    assert identity["Arn"].endswith(":root")
    with pytest.raises(SSLError):  # an unknown CA is refused by the client, as it should be
        server.client(verify=True).list_vector_buckets()


def test_aws_cli_over_https(server: Server, tls_files: dict[str, Path]) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": SERVER_KEYS["VETOR_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    command = ["aws", "s3vectors", "list-vector-buckets", "--endpoint-url", server.endpoint]
    done = subprocess.run(
        [*command, "--ca-bundle", str(tls_files["ca"])], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert '"vectorBuckets"' in done.stdout


def test_unsigned_payload_is_accepted_over_tls(server: Server, tls_files: dict[str, Path]) -> None:
    import ssl
    import urllib.request

    request = AWSRequest(method="POST", url=f"{server.endpoint}/ListVectorBuckets", data=b"{}")
    request.headers["Content-Type"] = "application/json"
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    keys = Credentials(SERVER_KEYS["VETOR_ACCESS_KEY_ID"], SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"])
    SigV4Auth(keys, "s3vectors", "us-east-1").add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=b"{}", headers=dict(prepared.headers))
    context = ssl.create_default_context(cafile=str(tls_files["ca"]))
    with urllib.request.urlopen(raw, timeout=10, context=context) as reply:
        assert reply.status == 200
