"""A loopback server speaking the OpenAI chat-completions wire format (server-sent events when
asked to stream), for testing the ``openai-chat`` provider as vLLM, Ollama or llama.cpp's
server would answer it. It answers with a scripted reply, word by word, and keeps every
request it got so a test can read the prompt vetor sent."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    def __init__(self, reply: str = "Hello.", delay: float = 0.0) -> None:
        self.reply, self.delay = reply, delay
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                words = owner.reply.split(" ")
                pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
                if not body.get("stream"):
                    self._send_json(owner.reply)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in pieces:
                    time.sleep(owner.delay)
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._event(
                    {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(pieces)}}
                )
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, document: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(document).encode() + b"\n\n")
                self.wfile.flush()

            def _send_json(self, text: str) -> None:
                payload = json.dumps(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text},
                            }
                        ]
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CloudChatServer:
    """Loopback servers in two clouds' documented chat formats, answering ``reply`` word by
    word: Vertex AI's ``:streamGenerateContent?alt=sse`` (server-sent events of
    ``candidates``) and Bedrock's ``/model/{id}/converse-stream`` (AWS event-stream messages:
    ``messageStart``, ``contentBlockDelta``…, ``metadata``)."""

    def __init__(self, reply: str) -> None:
        from vetor.server.eventstream import event

        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, body))
                words = owner.reply.split(" ")
                pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
                self.send_response(200)
                if ":streamGenerateContent" in self.path:
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for n, piece in enumerate(pieces):
                        candidate: dict[str, Any] = {
                            "content": {"role": "model", "parts": [{"text": piece}]}
                        }
                        if n == len(pieces) - 1:
                            candidate["finishReason"] = "STOP"
                        document = {
                            "candidates": [candidate],
                            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": n + 1},
                        }
                        self.wfile.write(b"data: " + json.dumps(document).encode() + b"\r\n\r\n")
                    return
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.end_headers()
                self.wfile.write(event("messageStart", {"role": "assistant"}))
                for piece in pieces:
                    self.wfile.write(
                        event(
                            "contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}
                        )
                    )
                self.wfile.write(event("contentBlockStop", {"contentBlockIndex": 0}))
                self.wfile.write(event("messageStop", {"stopReason": "end_turn"}))
                self.wfile.write(
                    event(
                        "metadata",
                        {
                            "usage": {
                                "inputTokens": 9,
                                "outputTokens": len(pieces),
                                "totalTokens": 9 + len(pieces),
                            },
                            "metrics": {"latencyMs": 1},
                        },
                    )
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
