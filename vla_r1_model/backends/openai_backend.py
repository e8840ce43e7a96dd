"""A VLA-R1 checkpoint served by any OpenAI-compatible chat-completions server (vLLM, SGLang).

Example server: ``vllm serve ./vla-r1 --served-model-name vla-r1``; then
``--backend openai --server-url http://localhost:8000 --model vla-r1``.
"""
from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from PIL import Image

from .base import OUTPUT_CLOSE_TAG, BackendError, GenerationResult, GenerationSettings, TextCallback

# 408 timeout, 429 rate limit, 5xx server trouble: worth another try. Other 4xx: our request is wrong.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def image_to_data_url(image: Image.Image, image_format: str = "PNG") -> str:
    """The image as a base64 data URL (PNG keeps the pixels the model sees exact)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=image_format)
    mime = "image/png" if image_format.upper() == "PNG" else f"image/{image_format.lower()}"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def chat_completions_url(base_url: str) -> str:
    """Accepts http://host:port, http://host:port/v1 or the full endpoint."""
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if not url.endswith("/v1"):
        url += "/v1"
    return url + "/chat/completions"


@dataclass(frozen=True)
class OpenAIChatClient:
    """A small, dependable chat-completions client: timeout, bounded retries with backoff."""

    base_url: str
    model: str
    timeout_s: float = 60.0
    max_retries: int = 2
    backoff_s: float = 0.5
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"server URL must start with http:// or https://, got {self.base_url!r}")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.backoff_s < 0:
            raise ValueError("timeout_s must be > 0, max_retries and backoff_s >= 0")

    @property
    def url(self) -> str:
        return chat_completions_url(self.base_url)

    def _post(self, payload: dict, stream: bool):
        import requests

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)) * (1 + 0.1 * random.random()))
            try:
                response = requests.post(self.url, json=payload, headers=headers, timeout=self.timeout_s, stream=stream)
            except requests.exceptions.Timeout:
                last_error = f"no answer within {self.timeout_s:g} s"
                continue
            except requests.exceptions.ConnectionError as exc:
                last_error = f"cannot connect ({_short(exc)})"
                continue
            if response.status_code == 200:
                return response
            last_error = f"HTTP {response.status_code}: {response.text[:200]!r}"
            if response.status_code not in RETRYABLE_STATUS:
                break
        raise BackendError(f"chat-completions server {self.url} failed after {attempt + 1} attempt(s): {last_error}")

    def complete(self, messages: list[dict], **sampling: Any) -> str:
        """The assistant's text for ``messages`` (one non-streamed request)."""
        response = self._post({"model": self.model, "messages": messages, **sampling}, stream=False)
        try:
            body = response.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"chat-completions server {self.url} answered something that is not a completion: "
                               f"{type(exc).__name__} in {response.text[:200]!r}") from None
        if not isinstance(content, str):
            raise BackendError(f"chat-completions server {self.url} answered content of type {type(content).__name__}")
        return content

    def stream(self, messages: list[dict], **sampling: Any) -> Iterator[str]:
        """Text deltas of a streamed completion (server-sent events)."""
        response = self._post({"model": self.model, "messages": messages, "stream": True, **sampling}, stream=True)
        try:
            for raw in response.iter_lines(decode_unicode=True):
                if not raw or not raw.startswith("data:"):
                    continue
                data = raw[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content") or ""
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    raise BackendError(f"chat-completions server {self.url} streamed a malformed event: {data[:200]!r}") from None
                if delta:
                    yield delta
        except BackendError:
            raise
        except Exception as exc:  # the connection broke mid-stream
            raise BackendError(f"stream from {self.url} broke off: {_short(exc)}") from None
        finally:
            response.close()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


class OpenAIBackend:
    """Backend over an OpenAI-compatible server; streams so that reasoning arrives as it is written."""

    name = "openai"

    def __init__(self, client: OpenAIChatClient):
        self.client = client

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        start = time.perf_counter()
        messages = [{
            "role": "user",
            "content": [
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": image_to_data_url(image)}},
            ],
        }]
        sampling: dict[str, Any] = {"max_tokens": settings.max_new_tokens}
        if settings.do_sample:
            sampling.update(temperature=settings.temperature, top_p=settings.top_p)
        else:
            sampling["temperature"] = 0.0
        if settings.repetition_penalty != 1.0:
            sampling["repetition_penalty"] = settings.repetition_penalty  # vLLM / SGLang extension
        if settings.stop_at_output_close and not settings.ignore_eos:
            sampling["stop"] = [OUTPUT_CLOSE_TAG]
        preprocess_s = time.perf_counter() - start

        request_start = time.perf_counter()
        pieces: list[str] = []
        first = last = None
        cancelled = False
        for delta in self.client.stream(messages, **sampling):
            last = time.perf_counter()
            first = first or last
            pieces.append(delta)
            if on_text is not None:
                on_text(delta)
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
        text = "".join(pieces)
        closed = False
        if "stop" in sampling and "<output>" in text.lower() and OUTPUT_CLOSE_TAG not in text.lower():
            text += OUTPUT_CLOSE_TAG  # servers drop the stop string itself; put it back
            closed = True
        first = first or time.perf_counter()
        return GenerationResult(
            text=text,
            generated_tokens=len(pieces),  # one streamed delta per token on vLLM/SGLang; an estimate elsewhere
            stop_reason="cancelled" if cancelled else ("output_closed" if closed else "eos"),
            preprocess_s=preprocess_s,
            time_to_first_token_s=first - request_start,
            decode_s=(last or first) - first,
            extra={"server": self.client.url},
        )
