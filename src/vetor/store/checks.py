"""Checks of a store: ``vetor doctor``'s probe, and the conditional-create check writers need."""

from __future__ import annotations

import contextvars
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..settings import Settings
from .objects import ObjectStore


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_store(store: ObjectStore, racers: int = 8) -> list[CheckResult]:
    """Probe a store: reachable, read/write/list/delete work, conditional create honoured.

    Writes only under ``_vetor/doctor/<random>/`` and removes what it wrote.
    """
    base = f"_vetor/doctor/{uuid.uuid4().hex}"
    results: list[CheckResult] = []

    def step(name: str, action: Any) -> bool:
        try:
            detail = action() or "ok"
        except Exception as error:  # report, don't raise: doctor explains every failure
            results.append(CheckResult(name, False, f"{type(error).__name__}: {error}"))
            return False
        ok = not detail.startswith(("FAIL", "UNSURE"))
        results.append(CheckResult(name, ok, detail.removeprefix("FAIL: ")))
        return ok

    def write_read() -> str:
        store.put(f"{base}/object", b"vetor")
        got = store.get(f"{base}/object")
        part = store.get_range(f"{base}/object", 1, 3)
        if got != b"vetor" or part != b"et":
            return f"FAIL: read back {got!r} / range {part!r}"
        return "put, get and ranged get agree"

    def listing() -> str:
        keys = [info.key for info in store.list(f"{base}/")]
        return "ok" if f"{base}/object" in keys else f"FAIL: listed {keys}"

    def deletion() -> str:
        store.delete(f"{base}/object")
        return "FAIL: object still exists" if store.exists(f"{base}/object") else "ok"

    if not step("reachable", lambda: (list(store.list("_vetor/doctor/none/")), "ok")[1]):
        return results
    step("read/write", write_read)
    step("list", listing)
    step("delete", deletion)
    step("conditional create", lambda: check_conditional_create(store, base, racers))
    store.delete_prefix(f"{base}/")
    return results


def check_conditional_create(store: ObjectStore, base: str, racers: int = 8) -> str:
    """Race ``racers`` creates of one key: at most one may be told it won, and its bytes must
    stay. Returns "ok…", "FAIL: …" (the store ignores If-None-Match) or "UNSURE: …".

    A create the store applied but whose reply was lost (a 500 or a reset after the write)
    is retried by the client, which then finds the key taken: every racer hears "lost" while
    one racer's bytes are stored. That says nothing about the store, so it is "UNSURE", not
    a failure, and so is a read-back that no racer wrote (a reply cut short); only two racers
    told they won (or a winner whose bytes another racer's replaced) prove that conditional
    create is not honoured.
    """
    key = f"{base}/race"
    barrier = threading.Barrier(racers)

    def race(i: int) -> bool:
        barrier.wait()
        return store.put_if_absent(key, f"racer-{i}".encode())

    contexts = [contextvars.copy_context() for _ in range(racers)]  # the caller's deadline
    try:
        with ThreadPoolExecutor(max_workers=racers) as pool:
            wins = list(pool.map(lambda c, i: c.run(race, i), contexts, range(racers)))
        winners = [i for i, won in enumerate(wins) if won]
        stored = store.get(key)
    finally:
        store.delete(key)
    bodies = {f"racer-{i}".encode() for i in range(racers)}
    if len(winners) <= 1 and stored not in bodies:  # a reply cut on the way, not an overwrite
        return f"UNSURE: read back {stored[:16]!r}, which no racer wrote"
    if len(winners) > 1 or (winners and stored != f"racer-{winners[0]}".encode()):
        return (
            f"FAIL: {len(winners)} of {racers} racing creates succeeded; the store ignores "
            "If-None-Match, so concurrent writers could overwrite each other's commits"
        )
    if not winners:
        return f"UNSURE: no racer heard that it won, yet {stored[:16]!r} was stored (a lost reply)"
    return f"exactly 1 of {racers} racing creates won"


_verdicts: dict[str, str] = {}  # store URI -> "ok…" or "FAIL: …", once known for sure
PROBE_ATTEMPTS = 3


def require_conditional_create(store: ObjectStore, settings: Settings) -> None:
    """Refuse a store that lets two writers both "create" one key, unless single-writer.

    Commits rely on create-if-absent; on a store that ignores it, two writers would silently
    overwrite each other's manifest versions. The probe runs until it is conclusive, once per
    store per process: a probe that met store errors or lost replies is not remembered, and
    the write that needed it fails with a retryable StoreError if no attempt was conclusive.
    """
    if store.trusted_conditional_create or settings.single_writer:
        return
    verdict = _verdicts.get(store.uri)
    for _ in range(PROBE_ATTEMPTS if verdict is None else 0):
        verdict = check_conditional_create(store, f"_vetor/probe/{uuid.uuid4().hex}", racers=4)
        if not verdict.startswith("UNSURE"):
            _verdicts[store.uri] = verdict
            break
    assert verdict is not None
    if verdict.startswith("UNSURE"):
        raise StoreError(
            f"Could not verify that {store.uri} honours conditional create "
            f"({verdict.removeprefix('UNSURE: ')}); retry the request"
        )
    if verdict.startswith("FAIL"):
        raise StoreError(
            f"Refusing to write to {store.uri}: conditional create is not honoured "
            f"({verdict.removeprefix('FAIL: ')}). Run a single writer with "
            "VETOR_SINGLE_WRITER=1, or use a store that supports If-None-Match."
        )
