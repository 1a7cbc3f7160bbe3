"""The architecture holds: layers and no cycles (import-linter), rooms of a readable size,
and the type checker (docs/ARCHITECTURE.md describes what is checked here)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "src" / "vetor"
MAX_FILE_LINES = 600
MAX_CLASS_LINES = 300
SIZE_REASON = "# size:"  # written at the top of a file or class allowed to be bigger


def lint_imports(config: Path, source_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         str(config), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=source_root, timeout=300,
    )  # fmt: skip


def test_layers_and_no_cycles_hold() -> None:
    result = lint_imports(REPO / "pyproject.toml", REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/format.py", "import vetor.service", "Layers"),  # an upward import
        ("store.py", "from vetor import server", "Layers"),
        ("embed/sources.py", "import vetor.embed.pipeline", "No import cycle"),
        ("cli/buckets.py", "from vetor.cli import vectors", "CLI command groups"),
        ("service/vectors.py", "from vetor.service import indexes", "Service parts"),
        ("server/handlers/sts.py", "import vetor.server.handlers.s3vectors", "one handler"),
        ("embed/providers/openai.py", "import vetor.embed.providers.vertex", "Embedding"),
        ("cli/vectors.py", "import vetor.embed.providers.local", "Providers are reached"),
        ("unplaced.py", '"""A new top-level module no layer names."""', "not listed as layers"),
    ],
)
def test_the_contract_bites(tmp_path: Path, module: str, line: str, contract: str) -> None:
    """A scratch copy with one forbidden import fails lint-imports, naming the contract."""
    shutil.copytree(SOURCE, tmp_path / "vetor", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "vetor" / module
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}  # noqa\n")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    result = lint_imports(tmp_path / "pyproject.toml", tmp_path)
    assert result.returncode != 0
    broken = result.stdout[result.stdout.index("Broken contracts") :]
    assert contract in broken, result.stdout


def _has_reason(lines: list[str], start: int) -> bool:
    return any(SIZE_REASON in text for text in lines[start : start + 12])


def test_no_room_too_big() -> None:
    """Source files under ~600 lines and classes under ~300, unless a reason is written at
    their top (a ``# size:`` comment)."""
    too_big = []
    for path in sorted(SOURCE.rglob("*.py")):
        lines = path.read_text().splitlines()
        name = path.relative_to(SOURCE)
        if len(lines) > MAX_FILE_LINES and not _has_reason(lines, 0):
            too_big.append(f"{name}: {len(lines)} lines")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS_LINES and not _has_reason(lines, node.lineno - 1):
                    too_big.append(f"{name}: class {node.name}, {size} lines")
    assert not too_big, too_big


def test_every_module_says_what_it_is_for() -> None:
    missing = [
        str(path.relative_to(SOURCE))
        for path in sorted(SOURCE.rglob("*.py"))
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert not missing, missing


def test_types_check() -> None:
    """mypy over src/ with pyproject's settings (strict on the engine and the store)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "src/vetor"],
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:]
