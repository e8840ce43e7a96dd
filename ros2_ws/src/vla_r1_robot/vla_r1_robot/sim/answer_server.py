"""The ground-truth answer server: a local OpenAI-compatible chat-completions endpoint (127.0.0.1 only)
that answers from the simulated cell's ground truth in VLA-R1's exact output format.

The answer is ``policies.GroundTruthBackend``'s (the object named in the instruction, its box as the
camera saw it), so the VLA-R1 node runs with ``model.backend: openai`` exactly as against a vLLM
server. Streamed (SSE) and plain completions are both served.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from vla_r1_model.backends.base import GenerationSettings

from .policies import GroundTruthBackend, SceneTruth


def _prompt_text(body: dict) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
    return "\n".join(parts)


class AnswerServer:
    """``with AnswerServer(truth, port=0) as server: server.url``; ``answered`` counts the answers."""

    def __init__(
        self,
        truth: SceneTruth,
        port: int = 0,
        noise_px: float = 0.0,
        seed: int = 0,
        image_size: tuple[int, int] = (640, 480),
    ) -> None:
        self.backend = GroundTruthBackend(truth, noise_px=noise_px, seed=seed)
        self.answered = 0
        self._lock = threading.Lock()
        image = Image.new("RGB", image_size)  # the size only scales the optional noise
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # /v1/models, as an OpenAI server lists them
                self._send(
                    200, json.dumps({"object": "list", "data": [{"id": "vla-r1-ground-truth", "object": "model"}]})
                )

            def do_POST(self) -> None:
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                except ValueError:
                    return self._send(400, json.dumps({"error": {"message": "the request body is not JSON"}}))
                with server._lock:
                    text = server.backend.generate(image, _prompt_text(body), GenerationSettings()).text
                    server.answered += 1
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for i in range(0, len(text), 8):
                        chunk = {
                            "choices": [{"index": 0, "delta": {"content": text[i : i + 8]}, "finish_reason": None}]
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                    self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
                    return
                self._send(
                    200,
                    json.dumps(
                        {
                            "choices": [
                                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                            ]
                        }
                    ),
                )

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="answer_server", daemon=True)

    def __enter__(self) -> AnswerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
