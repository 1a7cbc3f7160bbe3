"""What every benchmark records about the machine and the code it measured."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def machine_info(packages: tuple[str, ...]) -> dict[str, Any]:
    """Date, CPU, memory, Python and package versions, load, git commit of the run."""
    info: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "versions": {name: _version(name) for name in packages},
        "loadavg_at_start": os.getloadavg(),
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


BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


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
