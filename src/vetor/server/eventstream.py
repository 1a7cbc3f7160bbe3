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

from ..errors import InternalServerException, VetorError

CONTENT_TYPE = "application/vnd.amazon.eventstream"
error_log = logging.getLogger("vetor.server")


@dataclass
class EventStream:
    """What a handler returns for a streamed operation: ``(event type, payload)`` pairs and
    the headers sent before them."""

    events: Iterator[tuple[str, dict[str, Any]]]
    headers: dict[str, str] = field(default_factory=dict)


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


def exception(error: VetorError) -> bytes:
    member = error.code[:1].lower() + error.code[1:]  # ValidationException → validationException
    headers = {":exception-type": member, ":content-type": "application/json",
               ":message-type": "exception"}  # fmt: skip
    return message(headers, orjson.dumps({"message": error.message}))


def encode(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[bytes]:
    """The messages of a stream; an error raised while it runs ends it as an exception."""
    try:
        for event_type, payload in events:
            yield event(event_type, payload)
    except VetorError as error:
        yield exception(error)
    except Exception:  # never a stack trace to the client; the log has it
        error_log.exception("a streamed response failed")
        yield exception(InternalServerException("The stream failed; the server log has why"))
