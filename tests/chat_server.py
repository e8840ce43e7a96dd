"""A tiny local chat-completions server for tests (loopback only, bounded, stops with the test)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_MISBEHAVIOURS = frozenset(
    {
        "keepalive",
        "endless",
        "huge_event",
        "json_completion",
        "html",
        "null_content",
        "length",
        "finish_stop",
        "malformed",
    }
)


class ChatServer:
    """Answers POST /v1/chat/completions with ``reply`` (a str, or a callable of the request body).

    ``mode``: "ok", "garbage" (200 with non-completion JSON), "slow" (sleeps past timeouts),
    "error503" (always 503), "flaky" (503 on the first ``flaky_failures`` requests, then ok).
    Misbehaving servers (a streamed request gets the misbehaviour; see ``_misbehave``):
    "keepalive" (SSE comments every ``interval_s``, never an answer), "endless" (a token every
    ``interval_s``, forever), "huge_event" (one data event of ``huge_bytes``), "json_completion" (a valid
    non-streamed completion of ``reply``), "html" (200 text/html), "null_content" (a completion whose
    content is null), "length" (``reply`` cut to ``max_tokens`` characters, finish_reason "length", usage),
    "finish_stop" (``reply`` streamed with finish_reason "stop" and usage), "malformed" (an event that is not JSON).
    """

    def __init__(
        self,
        reply="",
        mode: str = "ok",
        flaky_failures: int = 1,
        delay_s: float = 2.0,
        interval_s: float = 0.05,
        huge_bytes: int = 10_000_000,
    ):
        self.reply = reply
        self.mode = mode
        self.flaky_failures = flaky_failures
        self.delay_s = delay_s
        self.interval_s = interval_s
        self.huge_bytes = huge_bytes
        self.stopped = threading.Event()  # ends the endless modes when the server shuts down
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    self._answer()

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.mode == "error503" or (
                    server.mode == "flaky" and len(server.requests) <= server.flaky_failures
                ):
                    return self._send(503, b'{"error": "overloaded"}')
                if server.mode == "slow":
                    time.sleep(server.delay_s)
                if server.mode == "garbage":
                    return self._send(200, b'{"unexpected": true}')
                if server.mode in _MISBEHAVIOURS:
                    return self._misbehave(body)
                text = server.reply(body) if callable(server.reply) else server.reply
                if body.get("stop"):
                    for stop in body["stop"]:  # like vLLM: cut at the stop string and drop it
                        if stop in text:
                            text = text[: text.index(stop)]
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for i in range(0, len(text), 4):
                        chunk = {"choices": [{"index": 0, "delta": {"content": text[i : i + 4]}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                payload = {
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ]
                }
                self._send(200, json.dumps(payload).encode())

            def _misbehave(self, body):
                mode, text = server.mode, server.reply(body) if callable(server.reply) else server.reply
                if mode in ("json_completion", "null_content"):
                    content = text if mode == "json_completion" else None
                    payload = {
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": len(text), "total_tokens": 5 + len(text)},
                    }
                    return self._send(200, json.dumps(payload).encode())
                if mode == "html":
                    return self._send(200, b"<html><body>It works!</body></html>", "text/html")
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

                def event(data) -> None:
                    self.wfile.write(f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

                def delta(content: str, finish=None) -> dict:
                    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}

                if mode in ("keepalive", "endless"):
                    while not server.stopped.wait(server.interval_s):
                        if mode == "keepalive":
                            self.wfile.write(b": keep-alive\n\n")
                            self.wfile.flush()
                        else:
                            event(delta("ab"))
                    return
                if mode == "huge_event":
                    return event(delta("x" * server.huge_bytes))
                if mode == "malformed":
                    event(delta("<think>"))
                    return event("{not json")
                for stop in body.get("stop") or ():  # like vLLM: cut at the stop string and drop it
                    text = text.split(stop)[0]
                if mode == "length":
                    text = text[: body.get("max_tokens", len(text))]
                for i in range(0, len(text), 4):
                    event(delta(text[i : i + 4]))
                finish = "length" if mode == "length" else "stop"
                event(delta("", finish))
                event(
                    {
                        "choices": [],
                        "usage": {
                            "prompt_tokens": 5,
                            "completion_tokens": len(text) // 4 + 1,
                            "total_tokens": 6 + len(text) // 4,
                        },
                    }
                )
                event("[DONE]")

            def _send(self, status, data, content_type="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()
