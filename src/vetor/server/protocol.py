"""uvicorn's HTTP/1.1 protocol with a deadline for each request's line and headers.

uvicorn closes a keep-alive connection left idle after a response, but a connection that never
finishes its headers (slowloris: a byte every few seconds) or sends nothing at all is held
forever. Here every connection must deliver a whole request head within
``VETOR_HEADER_TIMEOUT_SECONDS`` of opening, and again after each response; bodies have their
own per-piece timeout where they are read (``exchange.read_body``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..settings import Settings


class DeadlineH11Protocol(H11Protocol):
    # Read once per process (each worker imports this module) from VETOR_* like every setting.
    header_timeout = Settings.from_env().header_timeout_seconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a whole request head has arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expire(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
