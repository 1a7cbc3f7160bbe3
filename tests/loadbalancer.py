"""HAProxy (Debian's package) in front of ``vetor serve`` replicas, for tests and benchmarks.

The configuration is the one the README's "Running in production" recommends: round
robin, ``/ready`` health checks every 200 ms, a replica taken out after one failed check and
back after two good ones, and failed requests re-sent to another replica (every S3 Vectors
write is idempotent by key, so a re-sent PutVectors or DeleteVectors does no harm).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CONFIG = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
frontend vetor
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 200ms fastinter 100ms downinter 200ms fall 1 rise 2
{servers}
"""


def haproxy_binary() -> str:
    """HAProxy's path, installed from Debian's packages when this machine lacks it."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None
    )
    if found:
        return found
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "haproxy"]):
        subprocess.run(command, check=True, capture_output=True, env=environment, timeout=600)
    return "/usr/sbin/haproxy"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HAProxy:
    """One HAProxy process balancing ``backends`` (loopback ports) on its own port."""

    def __init__(self, port: int, backends: list[int]) -> None:
        self.port, self.stats_port = port, _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(backends))
        self.config = Path(tempfile.mkdtemp(prefix="vetor-haproxy-")) / "haproxy.cfg"
        self.config.write_text(
            CONFIG.format(port=port, stats_port=self.stats_port, servers=servers)
        )
        binary = haproxy_binary()
        subprocess.run([binary, "-c", "-q", "-f", str(self.config)], check=True)
        self.process = subprocess.Popen(
            [binary, "-db", "-f", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("haproxy did not start listening in 10 s")

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's own counters of each replica (its CSV stats): ``status``, ``chkdown``
        (times taken out), ``wretr`` (retries), ``wredis`` (requests sent elsewhere)..."""
        url = f"http://127.0.0.1:{self.stats_port}/stats;csv"
        with urllib.request.urlopen(url, timeout=5) as reply:
            rows = list(csv.DictReader(io.StringIO(reply.read().decode().lstrip("# "))))
        return {r["svname"]: r for r in rows if r["pxname"] == "replicas"}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
