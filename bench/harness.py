"""What every benchmark shares: the machine it ran on, timing, peers run side by side, and
output (a table on stdout, every figure as JSON under ``bench/results/``).

A benchmark file holds only its own workload; it imports this module for the rest.

- machine: ``machine_info``, ``pin_blas_threads``, ``free_port``, ``rss``;
- timing: ``percentiles``, ``timed``, ``interleaved`` (peers take turns query by query, so
  the noise of a shared machine hits them alike);
- output: ``log`` (progress on stderr), ``print_table``, ``write_json``;
- profiling: ``CProfiler`` (phases of this process), ``PySpy`` (a server's processes).
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import platform
import pstats
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
Q = TypeVar("Q")
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

REPO = Path(__file__).resolve().parent.parent


# --- the machine --------------------------------------------------------------------------


def machine_info(packages: tuple[str, ...]) -> dict[str, Any]:
    """Date, CPU, memory, Python and package versions, BLAS threads, load, git commit."""
    info: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in packages},
        "loadavg_at_start": os.getloadavg(),
        "blas_env": {v: os.environ.get(v) for v in BLAS_ENV},
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu_model"] = names[0] if names else None
        with open("/proc/meminfo") as f:
            info["mem_total_kib"] = int(f.readline().split()[1])
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "src"], cwd=REPO, capture_output=True
        )
        info["src_modified_since_commit"] = changed.returncode == 1
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = None
    return info


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def pin_blas_threads(threads: int, script: str) -> None:
    """Re-run ``script`` with BLAS limited to ``threads`` (0: leave the library default).

    BLAS reads its thread count once, when numpy loads, so it must be set before the process
    starts; child processes (the server) inherit it. Multi-threaded BLAS on a small shared
    machine stalls for a scheduler tick whenever another process holds a core.
    """
    wanted = str(threads)
    if threads > 0 and any(os.environ.get(v) != wanted for v in BLAS_ENV):
        os.environ.update(dict.fromkeys(BLAS_ENV, wanted))
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, os.path.abspath(script), *sys.argv[1:]])


def free_port() -> int:
    """A free TCP port on loopback, for a server a benchmark starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss() -> int:
    """This process's resident memory now, in bytes (after a garbage collection)."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") or 4096)


# --- timing -------------------------------------------------------------------------------


def percentiles(samples_s: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Latency figures of samples in seconds, in milliseconds."""
    if len(samples_s) == 0:
        return {"count": 0}
    ms = np.asarray(samples_s, dtype=np.float64) * 1000.0
    figures = {f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 90, 95, 99)}
    return {
        **figures,
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "count": int(len(ms)),
    }


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds ``fn`` took, and what it returned."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(
    peers: dict[str, Callable[[Q], T]],
    queries: Sequence[Q],
    warmup: int,
    limits: dict[str, int] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[T]]]:
    """Each query on every peer, the order rotating per query; percentiles per peer.

    The first ``warmup`` queries are run untimed. A peer in ``limits`` answers only that
    many of the timed queries (a slow peer would otherwise take the run's whole time).
    """
    names, limits = list(peers), limits or {}
    for q in queries[:warmup]:
        for name in names:
            peers[name](q)
    samples: dict[str, list[float]] = {n: [] for n in names}
    found: dict[str, list[T]] = {n: [] for n in names}
    for i, q in enumerate(queries[warmup:]):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            if i >= limits.get(name, len(queries)):
                continue
            elapsed, result = timed(lambda n=name, q=q: peers[n](q))  # type: ignore[misc]
            samples[name].append(elapsed)
            found[name].append(result)
    return {n: percentiles(s) for n, s in samples.items()}, found


# --- output -------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress, on stderr (stdout carries the table)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A right-aligned table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


def write_json(path: Path, document: Any) -> Path:
    """Write a results document: indented JSON, anything else (paths, numpy) as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


# --- profiling ----------------------------------------------------------------------------


class CProfiler:
    """Optional cProfile of named phases (main thread only); a no-op when disabled."""

    def __init__(self, directory: Path | None, label: str) -> None:
        self.directory = directory
        self.label = label
        self.profiles: dict[str, cProfile.Profile] = {}

    def run(self, phase: str, fn: Callable[[], T]) -> T:
        if self.directory is None:
            return fn()
        profile = self.profiles.setdefault(phase, cProfile.Profile())
        profile.enable()
        try:
            return fn()
        finally:
            profile.disable()

    def dump(self, top: int = 25) -> dict[str, str]:
        written: dict[str, str] = {}
        if self.directory is None:
            return written
        self.directory.mkdir(parents=True, exist_ok=True)
        for phase, profile in self.profiles.items():
            path = self.directory / f"profile-{self.label}-{phase}.prof"
            profile.dump_stats(str(path))
            written[phase] = str(path)
            for order in ("tottime", "cumulative"):
                text = io.StringIO()
                pstats.Stats(profile, stream=text).sort_stats(order).print_stats(top)
                log(f"profile of phase '{phase}' ({self.label}), by {order}:\n{text.getvalue()}")
        return written


class PySpy:
    """``py-spy record`` of a process tree during a timed window."""

    def __init__(self, directory: Path, rate: int, gil: bool) -> None:
        self.directory = directory
        self.rate = rate
        self.gil = gil
        self.proc: subprocess.Popen[bytes] | None = None
        self.path: Path | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self, pid: int, seconds: float, name: str) -> None:
        here = str(Path(sys.executable).parent)
        exe = shutil.which("py-spy", path=here) or shutil.which("py-spy")
        if exe is None:
            log("py-spy not found (pip install py-spy); not profiling")
            return
        self.path = self.directory / f"{name}.txt"
        command = [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
        command += ["--rate", str(self.rate), "--duration", str(max(1, int(seconds)))]
        command += ["--format", "raw", "--output", str(self.path)]
        command += ["--gil"] if self.gil else []
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self) -> dict[str, Any] | None:
        if self.proc is None or self.path is None:
            return None
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        return summarize_collapsed(self.path)


def summarize_collapsed(path: Path, top: int = 20) -> dict[str, Any] | None:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    if not path.exists():
        return None
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if total == 0:
        return None

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[f, round(100.0 * n / total, 1)] for f, n in counter.most_common(top)]

    return {
        "file": str(path),
        "samples": total,
        "self_pct": share(own),
        "inclusive_pct": share(inclusive),
    }
