#!/usr/bin/env python3
"""Before/after: one benchmark run against two source trees, interleaved, in one session.

A refactor claims "no slowdown"; on a shared, noisy machine only a side-by-side run can show
it. This script runs a benchmark script (any ``bench_*.py`` that writes ``--json``) once per
round for each tree, alternating which goes first, with ``PYTHONPATH`` pointing at that tree's
``src`` (checked: the child imports vetor from there). It then prints, for every figure named
by ``--match`` (dotted paths into the JSON's first result), the median over rounds of each
side and the after/before ratio, and writes everything to ``--json``.

Example (the baseline is a git worktree of the commit before the change)::

    git worktree add /tmp/baseline <commit>
    python3 bench/ab.py --before /tmp/baseline/src --after src --rounds 3 \\
        --match vetor.put.vectors_per_s,vetor.query.p50_ms,vetor.query_filtered.p50_ms \\
        -- bench/bench_engine.py --sizes 50000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import log, machine_info, print_table, write_json

REPO = Path(__file__).resolve().parent.parent


def figure(document: dict[str, Any], path: str) -> float:
    value: Any = document["results"][0]
    for part in path.split("."):
        value = value[part]
    return float(value)


def run_once(tree: Path, script: list[str], out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    where = subprocess.run(
        [sys.executable, "-c", "import vetor; print(vetor.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not where.startswith(str(tree)):
        raise SystemExit(f"PYTHONPATH={tree} imports vetor from {where}: not the tree asked for")
    subprocess.run([sys.executable, *script, "--json", str(out)], env=env, check=True)
    return dict(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="src of the baseline")
    parser.add_argument("--after", type=Path, required=True, help="src of the change")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--match", required=True, help="comma-separated dotted figure paths")
    parser.add_argument("--json", type=Path, default=REPO / "bench/results/ab.json")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- bench script and its args")
    args = parser.parse_args(argv)
    script = [a for a in args.script if a != "--"]
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    paths = args.match.split(",")
    samples: dict[str, dict[str, list[float]]] = {side: {p: [] for p in paths} for side in trees}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for side in order:
                log(f"round {r + 1}/{args.rounds}: {side} ({trees[side]})")
                document = run_once(trees[side], script, Path(scratch) / f"{side}-{r}.json")
                for p in paths:
                    samples[side][p].append(figure(document, p))
    rows, summary = [], {}
    for p in paths:
        before = statistics.median(samples["before"][p])
        after = statistics.median(samples["after"][p])
        summary[p] = {"before": before, "after": after, "ratio": after / before}
        rows.append([p, f"{before:,.3f}", f"{after:,.3f}", f"{after / before:.3f}"])
    print_table(f"after / before, median of {args.rounds} rounds", ["figure", "before",
                "after", "ratio"], rows)  # fmt: skip
    write_json(args.json, {
        "machine": machine_info(("vetor", "numpy", "pyarrow")),
        "trees": {k: str(v) for k, v in trees.items()},
        "script": script, "rounds": args.rounds, "samples": samples, "summary": summary,
    })  # fmt: skip
    log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
