"""A tiny local chat-completions server for tests (loopback only, bounded, stops with the test)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    """Answers POST /v1/chat/completions with ``reply`` (a str, or a callable of the request body).

    ``mode``: "ok", "garbage" (200 with non-completion JSON), "slow" (sleeps past timeouts),
    "error503" (always 503), "flaky" (503 on the first ``flaky_failures`` requests, then ok).
    """

    def __init__(self, reply="", mode: str = "ok", flaky_failures: int = 1, delay_s: float = 2.0):
        self.reply = reply
        self.mode = mode
        self.flaky_failures = flaky_failures
        self.delay_s = delay_s
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.mode == "error503" or (server.mode == "flaky" and len(server.requests) <= server.flaky_failures):
                    return self._send(503, b'{"error": "overloaded"}')
                if server.mode == "slow":
                    time.sleep(server.delay_s)
                if server.mode == "garbage":
                    return self._send(200, b'{"unexpected": true}')
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
                payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
                self._send(200, json.dumps(payload).encode())

            def _send(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ChatServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
