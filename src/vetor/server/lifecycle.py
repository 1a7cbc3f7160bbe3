"""Graceful drain: how a replica leaves a load balancer without failing a request.

On SIGTERM the process starts *draining*: ``/ready`` answers 503 so that the load balancer
(HAProxy's ``httpchk``, a Kubernetes readiness probe) stops sending it new requests, while
everything keeps being served as usual. After ``drain_seconds`` uvicorn's own graceful
shutdown runs: it stops listening, lets in-flight requests finish and closes the connections.
A second SIGTERM skips the wait; SIGINT (Ctrl-C) never waits.

The handler wraps the one uvicorn installed, from the app's startup, so it works the same in
one process and in each ``--workers`` process.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from .exchange import error_log

DRAINING = threading.Event()  # per process: each worker drains on its own signal


def drain_on_sigterm(seconds: float) -> None:
    """Put the drain in front of the SIGTERM handler in place (uvicorn's); main thread only."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return
    shutdown = signal.getsignal(signal.SIGTERM)
    if not callable(shutdown):
        return

    def drain(sig: int, frame: FrameType | None) -> None:
        if DRAINING.is_set():  # asked twice: shut down now
            shutdown(sig, frame)
            return
        DRAINING.set()
        error_log.info(f"draining: /ready answers 503; shutting down in {seconds:g} s")
        timer = threading.Timer(seconds, shutdown, (sig, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain)
