"""Load generation for the server benchmark: a ``vetor serve`` process it starts and
measures, and client processes that send pre-built, pre-signed S3 Vectors requests.

Clients sign their requests with botocore's own ``SigV4Auth`` *before* the timed region and
then only send them over keep-alive HTTP connections, so the figure is the server's. CPU is
accounted per process tree (``/proc``) and for the whole machine, so that a run on a shared
machine can tell its own load from other people's.
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from harness import PySpy, free_port, log, percentiles

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "bench", "bench-secret"
BUCKET = "bench"

Request = tuple[str, dict[str, str], bytes]  # path, headers, body


def index_name(dim: int) -> str:
    return f"i{dim}"


def signed(port: int, operation: str, body: bytes) -> Request:
    """A request exactly as botocore signs it for s3vectors (SigV4, payload hashed)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}:{port}/{operation}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3vectors", REGION).add_auth(request)
    return f"/{operation}", {k: str(v) for k, v in request.headers.items()}, body


def put_records(vectors: np.ndarray, prefix: str, start: int) -> list[dict[str, Any]]:
    """PutVectors records: Python floats (as a JSON client sends them), small metadata."""
    return [
        {
            "key": f"{prefix}{start + i}",
            "data": {"float32": row},
            "metadata": {"category": f"c{(start + i) % 10}", "n": start + i},
        }
        for i, row in enumerate(vectors.tolist())
    ]


def put_body(index: str, records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"vectorBucketName": BUCKET, "indexName": index, "vectors": records})


def query_params(index: str, vector: list[float], top_k: int) -> dict[str, Any]:
    return {
        "vectorBucketName": BUCKET,
        "indexName": index,
        "topK": top_k,
        "queryVector": {"float32": vector},
        "returnDistance": True,
    }


def query_vectors(dim: int, count: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, dim), dtype=np.float32).tolist()


def boto3_client(port: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3vectors",
        endpoint_url=f"http://{HOST}:{port}",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, read_timeout=120, connect_timeout=10),
    )


class RawClient:
    """One keep-alive HTTP/1.1 connection that sends pre-built, pre-signed requests."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def send(self, request: Request) -> tuple[int, bytes]:
        path, headers, body = request
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            return 0, b""

    def close(self) -> None:
        self.conn.close()


# --- CPU accounting -----------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of one process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_s(root: int) -> float:
    """CPU seconds used by ``root`` and its live descendants (the uvicorn workers)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            got = _proc_stat(int(entry))
            if got is not None:
                parents[int(entry)], cpu[int(entry)] = got
    members, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in members:
                members.add(child)
                frontier.append(child)
    return sum(cpu.get(pid, 0.0) for pid in members)


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of all CPUs, from /proc/stat; busy excludes steal (time
    the hypervisor gave this VM's CPUs to someone else)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]] + [0] * 8
    idle = values[3] + values[4]
    steal = values[7]
    total = sum(values[:8])
    return float(total - idle - steal), float(total), float(steal)


# --- the server ---------------------------------------------------------------------------


def wait_idle(pid: int, timeout: float, threshold_cores: float = 0.05) -> float:
    """Wait until a server (and its children) use < ``threshold_cores`` for 2 consecutive
    0.5 s windows (background compaction has drained). Returns the seconds waited."""
    started = time.perf_counter()
    quiet, last = 0, tree_cpu_s(pid)
    while time.perf_counter() - started < timeout:
        time.sleep(0.5)
        now = tree_cpu_s(pid)
        quiet = quiet + 1 if (now - last) / 0.5 < threshold_cores else 0
        last = now
        if quiet >= 2:
            return max(0.0, time.perf_counter() - started - 1.0)
    log(f"server still busy after {timeout:.0f} s; going on")
    return time.perf_counter() - started


class Server:
    def __init__(self, workers: int, root: Path, access_log: bool) -> None:
        self.workers = workers
        self.data = root / "data"
        self.port = free_port()
        self.log_path = root / "server.log"
        self.access_log = access_log
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        exe = shutil.which("vetor", path=str(Path(sys.executable).parent)) or shutil.which("vetor")
        command = ([exe] if exe else [sys.executable, "-c", "from vetor.cli import app; app()"]) + [
            "serve",
            "--data",
            str(self.data),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--access-log" if self.access_log else "--no-access-log",
        ]
        env = dict(
            os.environ,
            VETOR_ACCESS_KEY_ID=ACCESS_KEY,
            VETOR_SECRET_ACCESS_KEY=SECRET_KEY,
        )
        log(f"starting: {' '.join(command)}")
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            command, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vetor serve exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/health", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"vetor serve not healthy after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_s(self) -> float:
        return tree_cpu_s(self.pid)

    def processes(self) -> int:
        pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
        children = [p for p in pids if (_proc_stat(p) or (0, 0))[0] == self.pid]
        return 1 + len(children)

    def wait_idle(self, timeout: float, threshold_cores: float = 0.05) -> float:
        return wait_idle(self.pid, timeout, threshold_cores)

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc is not None
        t = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
            result = {"exit_code": rc, "stop_s": time.perf_counter() - t, "timed_out": False}
        except subprocess.TimeoutExpired:
            self.kill()
            result = {"exit_code": None, "stop_s": timeout, "timed_out": True}
        self.log_file.close()
        result["ok"] = result["exit_code"] == 0 and not result["timed_out"]
        if not result["ok"]:
            log(f"server did not stop cleanly: {result}\n{self.tail()}")
        return result

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the session this script started
            self.proc.wait(10)


# --- client processes ---------------------------------------------------------------------


def build_put_pool(spec: dict[str, Any]) -> list[Request]:
    """This client's PutVectors requests: distinct keys ``c{cid}-{n}``, random vectors."""
    dim, batch, index = spec["dim"], spec["batch"], index_name(spec["dim"])
    rng = np.random.default_rng(spec["seed"])
    pool = []
    for r in range(spec["pool"]):
        vectors = rng.standard_normal((batch, dim), dtype=np.float32)
        records = put_records(vectors, f"c{spec['cid']}-", r * batch)
        pool.append(signed(spec["port"], "PutVectors", put_body(index, records)))
    return pool


def build_query_pool(spec: dict[str, Any]) -> list[Request]:
    index = spec.get("index") or index_name(spec["dim"])
    return [
        signed(spec["port"], "QueryVectors", orjson.dumps(query_params(index, q, spec["top_k"])))
        for q in query_vectors(spec["dim"], spec["pool"], spec["seed"])
    ]


def build_boto3_pool(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    dim, batch = spec["dim"], spec["batch"]
    rng = np.random.default_rng(spec["seed"])
    return [
        put_records(
            rng.standard_normal((batch, dim), dtype=np.float32), f"b{spec['cid']}-", r * batch
        )
        for r in range(spec["pool"])
    ]


def client_main(conn: Any, spec: dict[str, Any]) -> None:
    """One client process: build its requests, report ready, send until the deadline."""
    try:
        t = time.perf_counter()
        kind = spec["kind"]
        if kind == "put":
            pool: list[Any] = build_put_pool(spec)
        elif kind == "query":
            pool = build_query_pool(spec)
        else:
            pool = build_boto3_pool(spec)
        size = sum(len(r[2]) for r in pool) if kind != "boto3_put" else None
        conn.send({"ready": True, "build_s": time.perf_counter() - t, "pool_bytes": size})
        start, deadline = conn.recv()
        if kind == "boto3_put":
            client = boto3_client(spec["port"])
            index = index_name(spec["dim"]) if "index" not in spec else spec["index"]

            def send(i: int) -> tuple[int, bytes]:
                try:
                    client.put_vectors(vectorBucketName=BUCKET, indexName=index, vectors=pool[i])
                    return 200, b""
                except Exception as error:  # counted, not fatal: the phase is bounded
                    return 0, repr(error).encode()
        else:
            raw = RawClient(spec["port"])

            def send(i: int) -> tuple[int, bytes]:
                return raw.send(pool[i])

        latencies, ends, statuses, ok_entries = [], [], Counter(), set()
        first_body, errors = None, []
        while time.monotonic() < start:
            time.sleep(min(0.01, max(0.0, start - time.monotonic())))
        cpu0 = os.times()
        i = 0
        while True:
            t0 = time.monotonic()
            if t0 >= deadline:
                break
            status, body = send(i % len(pool))
            t1 = time.monotonic()
            latencies.append(t1 - t0)
            ends.append(t1 - start)
            statuses[status] += 1
            if status == 200:
                ok_entries.add(i % len(pool))
                if first_body is None:
                    first_body = body
            elif len(errors) < 3:
                errors.append(body[:300].decode(errors="replace"))
            i += 1
        cpu1 = os.times()
        conn.send(
            {
                "latencies": latencies,
                "ends": ends,
                "statuses": dict(statuses),
                "ok_entries": len(ok_entries),
                "requests": i,
                "resent": max(0, i - len(pool)),
                "pool": len(pool),
                "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
                "first_body": first_body[:2000] if first_body else None,
                "errors": errors,
            }
        )
    except Exception:
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def run_clients(
    server: Server,
    specs: list[dict[str, Any]],
    seconds: float,
    idle_timeout: float,
    profiler: PySpy | None,
    profile_name: str,
) -> dict[str, Any]:
    """Start one process per spec, wait until all have built their requests and the server is
    idle, run them for ``seconds``, and aggregate their results."""
    ctx = mp.get_context("fork")
    procs, pipes = [], []
    t = time.perf_counter()
    for spec in specs:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=client_main, args=(child, spec), daemon=True)
        proc.start()
        child.close()
        procs.append(proc)
        pipes.append(parent)
    try:
        ready = []
        for pipe in pipes:
            if not pipe.poll(900):
                raise RuntimeError("a client did not finish building its requests in 900 s")
            try:
                message = pipe.recv()
            except EOFError:
                raise RuntimeError(
                    "a client process died while building (out of memory?)"
                ) from None
            if "error" in message:
                raise RuntimeError(f"client failed while building:\n{message['error']}")
            ready.append(message)
        build_wall_s = time.perf_counter() - t
        settle_s = server.wait_idle(idle_timeout)
        start = time.monotonic() + 0.2
        deadline = start + seconds
        for pipe in pipes:
            pipe.send((start, deadline))
        time.sleep(max(0.0, start - time.monotonic()))
        if profiler is not None:
            profiler.start(server.pid, seconds, profile_name)
        busy0, total0, steal0 = machine_cpu()
        cpu0, c0 = server.cpu_s(), time.monotonic()
        results = []
        for pipe in pipes:
            if not pipe.poll(seconds + 300):
                raise RuntimeError("a client did not report within the phase limit")
            try:
                message = pipe.recv()
            except EOFError:
                raise RuntimeError("a client process died during the timed phase") from None
            if "error" in message:
                raise RuntimeError(f"client failed:\n{message['error']}")
            results.append(message)
        cpu1, c1 = server.cpu_s(), time.monotonic()
        busy1, total1, steal1 = machine_cpu()
        profile = profiler.finish() if profiler is not None else None
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    latencies = [x for r in results for x in r["latencies"]]
    wall = max((max(r["ends"]) for r in results if r["ends"]), default=seconds)
    statuses: Counter[str] = Counter()
    for r in results:
        statuses.update({str(k): v for k, v in r["statuses"].items()})
    ok = statuses.get("200", 0)
    client_cpu = sum(r["cpu_s"] for r in results)
    server_cpu = cpu1 - cpu0
    window = c1 - c0
    out = {
        "clients": len(specs),
        "seconds": seconds,
        "wall_s": wall,
        "requests": sum(r["requests"] for r in results),
        "ok_requests": ok,
        "statuses": dict(statuses),
        "requests_per_s": ok / wall,
        "latency": percentiles(latencies),
        "resent_requests": sum(r["resent"] for r in results),
        "pool_requests": sum(r["pool"] for r in results),
        "ok_pool_entries": sum(r["ok_entries"] for r in results),
        "prebuilt_bytes": sum(m["pool_bytes"] or 0 for m in ready) or None,
        "prebuild_wall_s": build_wall_s,
        "settle_before_s": settle_s,
        "server_cpu_s": server_cpu,
        "server_cores": server_cpu / window,
        "client_cpu_s": client_cpu,
        "client_cores": client_cpu / wall,
        "client_cpu_share": client_cpu / max(client_cpu + server_cpu, 1e-9),
        "machine_busy_pct": 100.0 * (busy1 - busy0) / max(total1 - total0, 1.0),
        "steal_cores": (steal1 - steal0) / CLK_TCK / window,
        "other_cores": max(
            0.0,
            (busy1 - busy0) / CLK_TCK / window - server_cpu / window - client_cpu / wall,
        ),
        "errors": [e for r in results for e in r["errors"]][:5],
        "first_body": next((r["first_body"] for r in results if r["first_body"]), None),
    }
    if profile is not None:
        out["py_spy"] = profile
    return out
