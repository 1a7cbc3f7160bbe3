"""``vetor kb`` as a new user runs it: from an empty folder of documents to a filtered,
re-ranked retrieval (the README's commands), on a local store and through a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import documents
from conftest import SERVER_KEYS, Server
from typer.testing import CliRunner

from vetor.cli import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.stdout


def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vacation.pdf").write_bytes(documents.pdf([
        "Vacation policy\nEvery employee gets 25 days of paid vacation per year.",
        "Sick leave\nSick leave longer than three days needs a doctor's note.",
    ]))  # fmt: skip
    (docs / "vacation.pdf.metadata.json").write_bytes(documents.sidecar(department="hr"))
    (docs / "expenses.docx").write_bytes(
        documents.docx("Expenses", ["Send travel receipts within 30 days."])
    )
    return docs


def test_from_a_folder_to_a_filtered_reranked_answer(tmp_path: Path) -> None:
    docs, data = folder(tmp_path), str(tmp_path / "store")
    created = json.loads(run("kb", "create", "handbook", "--folder", str(docs),
                             "--data", data, "-o", "json"))  # fmt: skip
    assert created["dataSource"]["dataSourceConfiguration"]["type"] == "LOCAL"
    synced = json.loads(run("kb", "sync", "handbook", "--data", data, "-o", "json"))
    stats = synced["ingestionJobs"][0]["statistics"]
    assert stats["numberOfNewDocumentsIndexed"] == 2
    hr = '{"equals": {"key": "department", "value": "hr"}}'
    answer = json.loads(run("kb", "retrieve", "handbook", "how long is vacation?", "--filter", hr,
                            "--rerank", "ms-marco-minilm-l-12-v2", "-k", "1", "--data", data,
                            "-o", "json"))  # fmt: skip
    [best] = answer["retrievalResults"]
    assert "25 days" in best["content"]["text"] and best["metadata"]["department"] == "hr"
    table = run("kb", "retrieve", "handbook", "receipts", "--data", data)
    assert "expenses.docx" in table and "30 days" in table
    (docs / "expenses.docx").unlink()
    again = json.loads(run("kb", "sync", "handbook", "--data", data, "-o", "json"))
    assert again["ingestionJobs"][0]["statistics"]["numberOfDocumentsDeleted"] == 1
    status = run("kb", "status", "handbook", "--data", data)
    assert "INDEXED" in status and "COMPLETE" in status


def test_ask_streams_a_cited_answer_and_follows_up(tmp_path: Path) -> None:
    docs, data = folder(tmp_path), str(tmp_path / "store")
    run("kb", "create", "handbook", "--folder", str(docs), "--data", data)
    run("kb", "sync", "handbook", "--data", data)
    shown = run("kb", "ask", "handbook", "How many days of paid vacation per year?",
                "--data", data)  # fmt: skip
    assert "25" in shown and "[1] " in shown and "vacation.pdf" in shown  # answer, then sources
    answer = json.loads(run("kb", "ask", "handbook", "How many days of paid vacation per year?",
                            "--data", data, "-o", "json"))  # fmt: skip
    assert answer["citations"] and answer["output"]["text"]
    follow = json.loads(run("kb", "ask", "handbook", "And sick leave?", "--session",
                            answer["sessionId"], "--data", data, "-o", "json"))  # fmt: skip
    assert follow["sessionId"] == answer["sessionId"]


def test_through_a_server(server: Server, tmp_path: Path, monkeypatch: Any) -> None:
    """With --endpoint-url the same commands call the server's Bedrock APIs; a folder is
    refused (a server reads no local disk)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SERVER_KEYS["VETOR_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SERVER_KEYS["VETOR_SECRET_ACCESS_KEY"])
    endpoint = ["--endpoint-url", server.endpoint]
    refused = runner.invoke(app, [*endpoint, "kb", "create", "x", "--folder", str(tmp_path)])
    assert refused.exit_code != 0 and "--bucket" in refused.output
    created = json.loads(run(*endpoint, "kb", "create", "pushed", "-o", "json"))
    assert created["dataSource"]["dataSourceConfiguration"]["type"] == "CUSTOM"
    listed = run(*endpoint, "kb", "list")
    assert "pushed" in listed
