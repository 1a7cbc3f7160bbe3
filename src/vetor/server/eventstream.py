"""AWS's event-stream encoding (``application/vnd.amazon.eventstream``), for the streamed
operations (RetrieveAndGenerateStream, ConverseStream): what botocore's ``EventStream`` reads.

A message is a prelude (total length, headers length, the prelude's CRC32), headers (name,
type 7 = string, value), the payload and the CRC32 of everything before it, big-endian. An
error after the stream started is an ``exception`` message whose type names the member of
the operation's event union (``validationException``).
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..contract import service_model
from ..errors import InternalServerException, VetorError
from .exchange import public

CONTENT_TYPE = "application/vnd.amazon.eventstream"
error_log = logging.getLogger("vetor.server")


@dataclass
class EventStream:
    """What a handler returns for a streamed operation: ``(event type, payload)`` pairs and
    the headers sent before them."""

    events: Iterator[tuple[str, dict[str, Any]]]
    headers: dict[str, str] = field(default_factory=dict)
    # The error members of the operation's event union (botocore reads only those), and
    # which of them an error of another type is sent as; internalServerException otherwise.
    errors: frozenset[str] = frozenset()
    renamed: dict[str, str] = field(default_factory=dict)

    def member(self, error: VetorError) -> str:
        member = error.code[:1].lower() + error.code[1:]  # ValidationException → validation…
        if member in self.errors:
            return member
        return self.renamed.get(error.code, "internalServerException")


def message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(
        struct.pack("B", len(name)) + name.encode() + b"\x07" + struct.pack(">H", len(value))
        + value.encode()
        for name, value in ((k, str(v)) for k, v in headers.items())
    )  # fmt: skip
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json",
               ":message-type": "event"}  # fmt: skip
    return message(headers, orjson.dumps(payload))


def exception(member: str, error: VetorError) -> bytes:
    headers = {":exception-type": member, ":content-type": "application/json",
               ":message-type": "exception"}  # fmt: skip
    return message(headers, orjson.dumps({"message": error.message}))


def encode(stream: EventStream) -> Iterator[bytes]:
    """The messages of a stream; an error raised while it runs ends it as an exception."""
    try:
        for event_type, payload in stream.events:
            yield event(event_type, payload)
    except VetorError as error:
        error = public(error)
        yield exception(stream.member(error), error)
    except Exception:  # never a stack trace to the client; the log has it
        error_log.exception("a streamed response failed")
        failed = InternalServerException("The stream failed; the server log has why")
        yield exception("internalServerException", failed)


def stream_errors(service: str, operation: str) -> frozenset[str]:
    """The error members of an operation's event union, from its botocore model."""
    output = service_model(service).operation_model(operation).output_shape
    union = next(m for m in output.members.values() if m.serialization.get("eventstream"))
    return frozenset(n for n, shape in union.members.items() if shape.metadata.get("exception"))
