"""vetor behind a misbehaving network: a fault-injecting proxy between vetor and its S3 store.

``tests/faultproxy.py`` answers with 5xx and SlowDown before requests, errors and dropped
connections after the store applied them, added latency, truncated and short bodies, and
hangs. The first tests aim one fault at one weak spot; the last runs concurrent writer
processes through random faults and SIGKILLs, then checks, with the faults off, what every
writer was told: each acknowledged put is there with its exact vector and metadata, each
acknowledged delete is gone, the index reads and compacts, every call ended within its bound
and every failure was a typed vetor error.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import new_s3_uri
from faultproxy import KINDS, FaultProxy, Faults
from test_concurrency import (
    ADDRESS,
    acknowledged,
    acknowledged_deletes,
    check_consistent,
    check_writer,
)

import vetor

WRITER = Path(__file__).with_name("writer_process.py")
CALL_TIMEOUT = 6.0  # seconds: Settings.call_timeout_seconds for these tests
SLACK = 4.0  # thread hand-offs, and a writer process starved of CPU on a loaded machine
# Short store timeouts, so that hangs cost seconds; the call bound holds whatever they are.
FAST_STORE = {"store_request_timeout_seconds": 2.0, "store_retry_timeout_seconds": 4.0}


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    faulty = FaultProxy(s3_endpoint, Faults(hang_seconds=4.0, seed=7)).start()
    yield faulty
    faulty.stop()


@pytest.fixture
def proxied(proxy: FaultProxy, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh S3 store URI whose requests go through the proxy."""
    uri = new_s3_uri(s3_env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    return uri


def connect(uri: str, **settings: Any) -> vetor.VectorService:
    return vetor.connect(uri, call_timeout_seconds=CALL_TIMEOUT, **{**FAST_STORE, **settings})


def make_index(service: vetor.VectorService) -> None:
    service.create_vector_bucket(vectorBucketName="shared")
    service.create_index(**ADDRESS, dataType="float32", dimension=8, distanceMetric="euclidean")


def put(service: vetor.VectorService, key: str) -> None:
    vector = {"float32": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]}
    service.put_vectors(**ADDRESS, vectors=[{"key": key, "data": vector}])


@pytest.mark.parametrize("kind", ["error_after", "drop_after", "short"])
def test_a_lost_reply_to_the_probe_does_not_condemn_the_store(
    proxied: str, proxy: FaultProxy, kind: str
) -> None:
    """The store applies the probe's winning create; the reply is lost (or the read-back of
    the winner's bytes comes back cut short). The probe must call that inconclusive (not
    "ignores If-None-Match"), try again, and let writes through."""
    proxy.faults.rates, proxy.faults.match, proxy.faults.budget = {kind: 1.0}, "PUT /", 1
    service = connect(proxied)
    # the first create of the probe's race, or the read-back of what won
    proxy.faults.match = ("GET ", "/race") if kind == "short" else "/race"
    make_index(service)
    assert proxy.faults.injected[kind] == 1
    put(service, "after-the-probe")
    assert service.get_vectors(**ADDRESS, keys=["after-the-probe"])["vectors"]


def test_a_probe_that_met_store_errors_is_tried_again(proxied: str, proxy: FaultProxy) -> None:
    proxy.faults.rates, proxy.faults.match = {"error_before": 1.0}, "/race"
    service = connect(proxied, store_max_retries=1)
    with pytest.raises(vetor.ServiceUnavailableException):
        service.create_vector_bucket(vectorBucketName="shared")
    proxy.faults.rates = {}  # the store recovers: the next write probes again and succeeds
    make_index(service)
    put(service, "k")


def test_a_hanging_store_fails_the_call_within_its_bound(proxied: str, proxy: FaultProxy) -> None:
    service = vetor.connect(proxied, call_timeout_seconds=CALL_TIMEOUT)  # default store timeouts
    make_index(service)
    proxy.faults.rates, proxy.faults.match, proxy.faults.hang_seconds = {"hang": 1.0}, "PUT /", 30
    started = time.monotonic()
    with pytest.raises(vetor.ServiceUnavailableException, match="time bound"):
        put(service, "stuck")
    assert time.monotonic() - started < CALL_TIMEOUT + SLACK


@pytest.mark.parametrize("kind", ["truncate", "short"])
def test_cut_replies_are_typed_store_errors(proxied: str, proxy: FaultProxy, kind: str) -> None:
    writer = connect(proxied)
    make_index(writer)
    for n in range(3):
        put(writer, f"k{n}")
    proxy.faults.rates, proxy.faults.match = {kind: 1.0}, "GET /"
    reader = connect(proxied, store_max_retries=1)  # a fresh process's view: it must read
    calls = [
        lambda: reader.get_vectors(**ADDRESS, keys=["k0"], returnData=True),
        lambda: reader.list_vectors(**ADDRESS),
        lambda: reader.query_vectors(**ADDRESS, topK=2, queryVector={"float32": [1.0] * 8}),
        lambda: reader.get_index(**ADDRESS),
    ]
    for call in calls:
        try:
            call()
        except vetor.VetorError as error:
            assert isinstance(error, vetor.ServiceUnavailableException), error
    assert proxy.faults.injected[kind] > 0


# --- the mixed suite --------------------------------------------------------------------------


def spawn(uri: str, writer: int, env: dict[str, str]) -> subprocess.Popen[str]:
    args = [sys.executable, str(WRITER), uri, str(writer), "0", "--forever", "--tolerant"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=WRITER.parent, env=env)


def outcomes(output: str) -> tuple[list[float], list[str]]:
    """Every call's duration, and the lines of calls that failed with a non-vetor error."""
    times, raw = [], []
    for line in output.splitlines():
        words = line.split() or [""]
        if words[0] in ("ack", "del"):
            times.append(float(words[2]))
        elif words[0] == "fail":
            times.append(float(words[3]))
        elif words[0] == "raw":
            times.append(float(words[2]))
            raw.append(line)
    return times, raw


@pytest.mark.slow
def test_writers_behind_faults_lose_nothing_and_fail_typed(proxied: str, proxy: FaultProxy) -> None:
    make_index(connect(proxied))
    env = {
        **os.environ,
        "VETOR_CALL_TIMEOUT_SECONDS": str(CALL_TIMEOUT),
        **{f"VETOR_{k.upper()}": str(v) for k, v in FAST_STORE.items()},
    }
    proxy.faults.rates = {kind: 0.015 for kind in KINDS}
    rng = random.Random(99)
    outputs: dict[int, str] = {}
    kills = 0
    for round_ in range(int(os.environ.get("VETOR_FAULT_ROUNDS", "4"))):  # more: a soak
        processes = {2 * round_ + n: spawn(proxied, 2 * round_ + n, env) for n in range(2)}
        time.sleep(rng.uniform(5.0, 8.0))
        for number, process in processes.items():
            kill = rng.random() < 0.6
            kills += kill
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            outputs[number] = process.communicate(timeout=60)[0]
    proxy.faults.rates = {}
    injected = dict(proxy.faults.injected)
    print(f"faults injected: {injected} in {proxy.faults.requests} requests; {kills} SIGKILLs")
    assert set(injected) == set(KINDS), injected  # every kind of fault happened

    service = vetor.connect(proxied)  # a fresh process, the faults off
    check_consistent(service)
    acks = 0
    for number, output in outputs.items():
        times, raw = outcomes(output)
        assert not raw, f"writer {number} met untyped errors: {raw[:3]}"
        assert max(times, default=0) < CALL_TIMEOUT + SLACK, f"writer {number}: {max(times)} s"
        batches, deleted = acknowledged(output)
        check_writer(service, number, batches, deleted, acknowledged_deletes(output))
        acks += len(batches)
        print(
            f"writer {number}: {len(batches)} puts acknowledged, {output.count('fail ')} failed,"
            f" longest call {max(times, default=0):.1f} s"
        )
    assert acks > 8, "the writers made too little progress to prove anything"
    before = check_consistent(service)
    service.compact(**ADDRESS)
    assert check_consistent(service) == before
