#!/usr/bin/env python3
"""``vetor embed put`` (or, with ``--kb``, ``vetor kb sync`` of a knowledge base over a
folder) on one process against ``--ray`` on a local Ray cluster (a head and a worker on
loopback, one CPU each: the same two cores), same texts, same model (MiniLM), fresh stores,
rounds alternating. Goal: the Ray path at least 0.9× the single process, with the same output.

    python3 bench/bench_ray.py [--texts 400] [--copies 4] [--rounds 2] [--kb] [--json PATH]

Results: ``bench/results/ray.json`` (``ray-kb.json`` with ``--kb``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_embed import corpus
from harness import free_port, log, machine_info, print_table, write_json

from vetor.embed import get_embedder

RESULTS = Path(__file__).parent / "results" / "ray.json"
RESULTS_KB = Path(__file__).parent / "results" / "ray-kb.json"


@contextlib.contextmanager
def cluster(temp: Path) -> Any:
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port, common = free_port(), ["--num-cpus", "1", "--disable-usage-stats"]
    address = f"127.0.0.1:{port}"
    head = [ray, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
            "--include-dashboard", "false", "--temp-dir", str(temp), *common]  # fmt: skip
    worker = [ray, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common]
    try:
        for command in (head, worker):
            subprocess.run(command, check=True, capture_output=True, timeout=180)
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


def put(folder: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    """``vetor embed put`` as a user runs it: a new process, which loads the model (or, with
    ``--ray``, whose actors do), into a fresh store."""
    with tempfile.TemporaryDirectory(prefix="vetor-bench-ray-") as store:
        command = ["embed", "put", "bench", "texts", "--text", str(folder), "--chunk-size", "0",
                   "--data", store, "-o", "json", *extra]  # fmt: skip
        started = time.perf_counter()
        report = vetor_command(command)
        return time.perf_counter() - started, {"vectors": report["vectors"], "keys": report["keys"]}


def sync(folder: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    """``vetor kb sync`` of a new knowledge base over the folder (one chunk a file), timed
    from the sync command's start."""
    with tempfile.TemporaryDirectory(prefix="vetor-bench-ray-") as store:
        vetor_command(["kb", "create", "bench", "--folder", str(folder), "--chunking", "none",
                       "--data", store, "-o", "json"])  # fmt: skip
        started = time.perf_counter()
        jobs = vetor_command(["kb", "sync", "bench", "--data", store, "-o", "json", *extra])
        elapsed = time.perf_counter() - started
        (job,) = jobs["ingestionJobs"]
        assert job["status"] == "COMPLETE", job
        statistics = job["statistics"]
        return elapsed, {"vectors": statistics["numberOfNewDocumentsIndexed"],
                         "keys": statistics["numberOfDocumentsScanned"]}  # fmt: skip


def vetor_command(arguments: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "vetor", *arguments]
    return dict(
        json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=400, help="distinct texts")
    parser.add_argument("--copies", type=int, default=4, help="files of each text")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kb", action="store_true", help="vetor kb sync instead of embed put")
    parser.add_argument("--json", type=Path, default=None, help="where the results go")
    args = parser.parse_args()
    run = sync if args.kb else put
    embedder = get_embedder("local")
    texts = corpus(args.texts, embedder.fits)
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "texts"
        folder.mkdir()
        for copy in range(args.copies):  # more files than the corpus has texts; keys differ
            for n, text in enumerate(texts):
                (folder / f"{copy}-{n:04d}.txt").write_text(text)
        with cluster(Path(scratch) / "ray") as address:
            run(folder)  # the model's files in the page cache, for both
            times: dict[str, list[float]] = {"one process": [], "ray": []}
            reports = {}
            for round_ in range(args.rounds):
                order = ("one process", "ray") if round_ % 2 == 0 else ("ray", "one process")
                for name in order:
                    extra = ("--ray", address) if name == "ray" else ()
                    elapsed, reports[name] = run(folder, *extra)
                    times[name].append(elapsed)
                    log(f"round {round_ + 1} {name}: {elapsed:.1f} s")
    files = len(texts) * args.copies
    rates = {name: files / statistics.median(t) for name, t in times.items()}
    same = all(reports["ray"][k] == reports["one process"][k] for k in ("vectors", "keys"))
    ratio = rates["ray"] / rates["one process"]
    what = "vetor kb sync" if args.kb else "vetor embed put"
    print_table(
        f"{what}, {files} files of 600-1,000 characters, MiniLM, 2 cores",
        ["path", "texts/s", "vectors"],
        [[n, f"{rates[n]:.1f}", str(reports[n]["vectors"])] for n in rates],
    )
    print(f"ray / one process = {ratio:.2f}; same keys and counts: {same}")
    document = {"machine": machine_info(("ray", "torch", "sentence-transformers")),
                "arguments": vars(args), "seconds": times, "texts_per_s": rates,
                "ratio": ratio, "same_output": same}  # fmt: skip
    path = args.json or (RESULTS_KB if args.kb else RESULTS)
    log(f"wrote {write_json(path, document)}")


if __name__ == "__main__":
    main()
