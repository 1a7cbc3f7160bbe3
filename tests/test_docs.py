"""The docs match the code: every setting in the README, its test command in CI, the format
spec's version."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vetor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f.name for f in dataclasses.fields(Settings) if f"`{f.name}`" not in readme]
    assert not missing


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "python3 -m pip install -e '.[dev]' && python3 -m pytest"
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("VETOR_GC_GRACE_SECONDS", "12.5")
    monkeypatch.setenv("VETOR_SINGLE_WRITER", "true")
    settings = Settings.from_env(max_top_k=7)
    assert (settings.gc_grace_seconds, settings.single_writer, settings.max_top_k) == (
        12.5,
        True,
        7,
    )


def test_the_format_spec_is_versioned_with_the_code() -> None:
    from vetor.engine.format import FORMAT_VERSION

    title = (ROOT / "docs" / "FORMAT.md").read_text().splitlines()[0]
    assert title == f"# vetor on-store format, version {FORMAT_VERSION}"
