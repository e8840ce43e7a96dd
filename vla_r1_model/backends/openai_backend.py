"""A VLA-R1 checkpoint served by any OpenAI-compatible chat-completions server (vLLM, SGLang).

Example server: ``vllm serve ./vla-r1 --served-model-name vla-r1``; then
``--backend openai --server-url http://localhost:8000 --model vla-r1``.

The protocol (requests, server-sent events, error bodies) is the `openai` package's; this module is the
adapter that makes a robot's guarantees hold on top of it:

- ``timeout_s`` bounds the whole call in wall time: connecting, retries and their back-off, and
  reading the answer. A server that sends keep-alive comments or streams tokens forever is given up
  on at the deadline (the request runs in a worker thread; the caller waits at most until then).
- ``max_tokens`` bounds what is read: at most that many streamed deltas are taken, and the response
  body may not exceed a byte budget derived from it (one huge event is refused, not parsed).
- A 200 whose body is not an event stream is a valid non-streamed completion (accepted) or a server
  failure (``BackendError``), never an empty answer.
- ``finish_reason`` and ``usage`` are read: an answer the server cut at its length limit is labelled
  ``max_new_tokens``, not ``output_closed``.
- Cancellation (``cancel`` set from any thread) is noticed within 50 ms, even while the server is
  silent; the streaming callback runs in the caller's thread.
"""

from __future__ import annotations

import base64
import io
import json
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from PIL import Image

from .base import OUTPUT_CLOSE_TAG, BackendError, GenerationResult, GenerationSettings, StopReason, TextCallback

# 408 timeout, 429 rate limit, 5xx server trouble: worth another try. Other 4xx: our request is wrong.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Byte budget of one response: a streamed token costs ~300 bytes of JSON on vLLM; 2 KiB per token
# leaves room for long model names and escaped non-ASCII text.
BYTES_PER_TOKEN = 2048
BASE_BYTES = 64 * 1024
UNBOUNDED_COMPLETION_BYTES = 16 * 1024 * 1024  # a complete() without max_tokens
_POLL_S = 0.05  # how often a waiting caller looks at `cancel`


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


@dataclass
class ChatAnswer:
    """What one chat-completions call produced."""

    text: str = ""
    deltas: int = 0  # streamed content pieces (one per token on vLLM / SGLang)
    finish_reason: str | None = None  # as the server said: "stop", "length", ...; None if it said nothing
    usage: dict | None = None  # prompt_tokens, completion_tokens, ... when the server reports them
    cut_at_max_tokens: bool = False  # we stopped reading after max_tokens deltas
    cancelled: bool = False
    first_text_s: float | None = None  # perf_counter of the first and last piece of text
    last_text_s: float | None = None


class _GiveUp(Exception):
    """Raised inside the response body stream: the caller stopped waiting (deadline or cancel)."""


class _TooLarge(Exception):
    """Raised inside the response body stream: more bytes than the request's budget."""


@dataclass
class _Guard:
    """Per-request limits, checked on every chunk of the response body (keep-alive comments included)."""

    deadline: float  # time.monotonic()
    max_bytes: int
    stop: threading.Event = field(default_factory=threading.Event)
    received: int = 0

    def check(self, size: int) -> None:
        self.received += size
        if self.stop.is_set() or time.monotonic() > self.deadline:
            raise _GiveUp()
        if self.received > self.max_bytes:
            raise _TooLarge(self.received)


_current_guard = threading.local()  # the worker thread's _Guard, read by the transport


def _guarded_transport():
    import httpx2

    class GuardedStream(httpx2.SyncByteStream):
        def __init__(self, inner, guard: _Guard) -> None:
            self._inner, self._guard = inner, guard

        def __iter__(self):
            for chunk in self._inner:
                self._guard.check(len(chunk))
                yield chunk

        def close(self) -> None:
            self._inner.close()

    class GuardedTransport(httpx2.BaseTransport):
        def __init__(self) -> None:
            self._inner = httpx2.HTTPTransport()

        def handle_request(self, request):
            response = self._inner.handle_request(request)
            guard = getattr(_current_guard, "guard", None)
            if guard is None:
                return response
            return httpx2.Response(
                response.status_code,
                headers=response.headers,
                extensions=response.extensions,
                stream=GuardedStream(response.stream, guard),
            )

        def close(self) -> None:
            self._inner.close()

    return GuardedTransport()


@dataclass(frozen=True)
class OpenAIChatClient:
    """Chat completions over the `openai` package with a wall-time bound, bounded reading and retries."""

    base_url: str
    model: str
    timeout_s: float = 60.0  # the whole call, retries included, in wall time
    max_retries: int = 2
    backoff_s: float = 0.5
    api_key: str | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"server URL must start with http:// or https://, got {self.base_url!r}")
        if not self.timeout_s > 0 or self.max_retries < 0 or self.backoff_s < 0:
            raise ValueError("timeout_s must be > 0, max_retries and backoff_s >= 0")

    @property
    def url(self) -> str:
        return chat_completions_url(self.base_url)

    @cached_property
    def _openai(self):
        import httpx2
        import openai

        # Our own retries (they must fit in the deadline) and our own transport (the byte/deadline guard).
        return openai.OpenAI(
            base_url=self.url.removesuffix("/chat/completions"),
            api_key=self.api_key or "EMPTY",
            max_retries=0,
            http_client=httpx2.Client(transport=_guarded_transport()),
        )

    # -- public calls ----------------------------------------------------------------------
    def complete(self, messages: list[dict], **sampling: Any) -> str:
        """The assistant's text for ``messages`` (one non-streamed request)."""
        return self.chat(messages, stream=False, **sampling).text

    def chat(
        self,
        messages: list[dict],
        *,
        stream: bool = True,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        **sampling: Any,
    ) -> ChatAnswer:
        """One call, bounded by ``timeout_s`` in wall time. ``on_text`` gets each piece of text in the
        caller's thread; ``cancel`` ends the call early (the answer so far, ``cancelled`` set).
        Raises BackendError naming the URL when the server gives no answer."""
        deadline = time.monotonic() + self.timeout_s
        max_tokens = sampling.get("max_tokens")
        max_bytes = BASE_BYTES + BYTES_PER_TOKEN * max_tokens if max_tokens else UNBOUNDED_COMPLETION_BYTES
        guard = _Guard(deadline, max_bytes)
        events: queue.SimpleQueue = queue.SimpleQueue()
        payload = {"model": self.model, "messages": messages, **sampling}
        worker = threading.Thread(
            target=self._work, args=(payload, stream, guard, events), daemon=True, name="openai-chat"
        )
        worker.start()
        answer = ChatAnswer()
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    answer.cancelled = True
                    return answer
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BackendError(
                        f"chat-completions server {self.url}: no answer within {self.timeout_s:g} s "
                        "(the timeout bounds the whole request, streaming and retries included)"
                    )
                try:
                    kind, value = events.get(timeout=min(remaining, _POLL_S))
                except queue.Empty:
                    continue
                if kind == "text":
                    now = time.perf_counter()
                    answer.first_text_s = answer.first_text_s or now
                    answer.last_text_s = now
                    answer.text += value
                    answer.deltas += 1
                    if on_text is not None:
                        on_text(value)
                    if stream and max_tokens and answer.deltas >= max_tokens:
                        answer.cut_at_max_tokens = True  # a server that ignores max_tokens is not read further
                        return answer
                elif kind == "finish":
                    answer.finish_reason = value or answer.finish_reason
                elif kind == "usage":
                    answer.usage = value
                elif kind == "error":
                    raise value
                else:  # "done"
                    return answer
        finally:
            guard.stop.set()  # the worker stops at its next chunk (or its read timeout, at the deadline)

    # -- the worker ------------------------------------------------------------------------
    def _work(self, payload: dict, stream: bool, guard: _Guard, events: queue.SimpleQueue) -> None:
        _current_guard.guard = guard
        try:
            self._attempts(payload, stream, guard, events)
            events.put(("done", None))
        except _GiveUp:
            pass  # the caller has gone; it reports the deadline or the cancellation itself
        except _TooLarge as exc:
            events.put(
                (
                    "error",
                    BackendError(
                        f"chat-completions server {self.url} sent more than {exc.args[0]:,} bytes, over the "
                        f"{guard.max_bytes:,}-byte budget of max_new_tokens {payload.get('max_tokens')}: "
                        "stopped reading"
                    ),
                )
            )
        except BackendError as exc:
            events.put(("error", exc))
        except Exception as exc:  # noqa: BLE001 - anything else is still the server's failure, named
            events.put(
                ("error", BackendError(f"chat-completions server {self.url}: {type(exc).__name__}: {_short(exc)}"))
            )

    def _attempts(self, payload: dict, stream: bool, guard: _Guard, events: queue.SimpleQueue) -> None:
        import openai

        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                pause = self.backoff_s * (2 ** (attempt - 1)) * (1 + 0.1 * random.random())
                if guard.stop.wait(min(pause, max(0.0, guard.deadline - time.monotonic()))):
                    raise _GiveUp()
            remaining = guard.deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                return self._exchange(payload, stream, remaining, events)
            except openai.APITimeoutError:
                last_error = f"no answer within {self.timeout_s:g} s"
                break  # the deadline is spent
            except openai.APIConnectionError as exc:
                last_error = f"cannot connect ({_short(exc.__cause__ or exc)})"
            except openai.APIStatusError as exc:
                last_error = f"HTTP {exc.status_code}: {_body_start(exc.response)!r}"
                if exc.status_code not in RETRYABLE_STATUS:
                    break
        raise BackendError(
            f"chat-completions server {self.url} failed after {attempt + 1} attempt(s): "
            f"{last_error or f'no answer within {self.timeout_s:g} s'}"
        )

    def _exchange(self, payload: dict, stream: bool, remaining_s: float, events: queue.SimpleQueue) -> None:
        extra = {"stream_options": {"include_usage": True}} if stream else {}
        create = self._openai.chat.completions.with_streaming_response.create
        with create(**payload, **extra, stream=stream, timeout=remaining_s) as response:
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if stream and content_type == "text/event-stream":
                return self._read_events(response.parse(), events)
            body = response.read()
        # Not a stream: a whole completion (some servers ignore "stream"), or something else entirely.
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BackendError(
                f"chat-completions server {self.url} answered HTTP 200 with {content_type or 'no content type'}, "
                f"neither an event stream nor a completion: {body[:200]!r}"
            ) from None
        text, finish_reason, usage = _completion(data, self.url)
        if text:
            events.put(("text", text))
        events.put(("finish", finish_reason))
        if usage is not None:
            events.put(("usage", usage))

    def _read_events(self, chunks, events: queue.SimpleQueue) -> None:
        try:
            for chunk in chunks:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    events.put(("usage", usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)))
                choices = getattr(chunk, "choices", None)
                if choices is None and usage is None:
                    raise BackendError(
                        f"chat-completions server {self.url} streamed an event that is not a "
                        f"completion chunk: {str(chunk.to_dict() if hasattr(chunk, 'to_dict') else chunk)[:200]!r}"
                    )
                for choice in choices or ():
                    delta = getattr(choice, "delta", None)
                    content = getattr(delta, "content", None) if delta is not None else None
                    if content is not None and not isinstance(content, str):
                        raise BackendError(
                            f"chat-completions server {self.url} streamed content of type {type(content).__name__}"
                        )
                    if content:
                        events.put(("text", content))
                    if getattr(choice, "finish_reason", None):
                        events.put(("finish", choice.finish_reason))
        except json.JSONDecodeError as exc:
            raise BackendError(
                f"chat-completions server {self.url} streamed a malformed event ({exc.msg} at "
                f"character {exc.pos}: {exc.doc[:200]!r})"
            ) from None
        finally:
            chunks.close()


def _completion(data: Any, url: str) -> tuple[str, str | None, dict | None]:
    """(text, finish_reason, usage) of a non-streamed completion body; BackendError when it is none."""
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise BackendError(
            f"chat-completions server {url} answered something that is not a completion: {json.dumps(data)[:200]!r}"
        ) from None
    if not isinstance(content, str):
        raise BackendError(
            f"chat-completions server {url} answered a completion with no text (content is "
            f"{'null' if content is None else type(content).__name__})"
        )
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    finish_reason = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
    return content, finish_reason, usage


def _body_start(response) -> str:
    try:
        return response.text[:200]
    except Exception:  # noqa: BLE001 - a body that was not read (or not text) is not worth a second error
        return ""


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


class OpenAIBackend:
    """Backend over an OpenAI-compatible server; streams so that reasoning arrives as it is written."""

    name = "openai"

    def __init__(self, client: OpenAIChatClient):
        self.client = client
        # Build the openai client now (its import takes ~0.8 s, seconds on a busy robot computer), so
        # that the first goal's --timeout / timeout_s is spent on the server, not on start-up work.
        _ = client._openai

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        start = time.perf_counter()
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": image_to_data_url(image)}},
                ],
            }
        ]
        sampling: dict[str, Any] = {"max_tokens": settings.max_new_tokens}
        if settings.do_sample:
            sampling.update(temperature=settings.temperature, top_p=settings.top_p)
        else:
            sampling["temperature"] = 0.0
        if settings.repetition_penalty != 1.0:
            sampling["extra_body"] = {"repetition_penalty": settings.repetition_penalty}  # vLLM / SGLang extension
        if settings.stop_at_output_close and not settings.ignore_eos:
            sampling["stop"] = [OUTPUT_CLOSE_TAG]
        preprocess_s = time.perf_counter() - start

        request_start = time.perf_counter()
        answer = self.client.chat(messages, stream=True, on_text=on_text, cancel=cancel, **sampling)
        text = answer.text
        stop_reason: StopReason
        if answer.cancelled:
            stop_reason = "cancelled"
        elif answer.cut_at_max_tokens or answer.finish_reason == "length":
            stop_reason = "max_new_tokens"  # cut off: never presented as a closed answer
        elif "stop" in sampling and "<output>" in text.lower() and OUTPUT_CLOSE_TAG not in text.lower():
            text += OUTPUT_CLOSE_TAG  # the server stopped at the stop string and dropped it; put it back
            stop_reason = "output_closed"
        else:
            stop_reason = "eos"
        usage = answer.usage or {}
        completion_tokens = usage.get("completion_tokens")
        first = answer.first_text_s or time.perf_counter()
        return GenerationResult(
            text=text,
            # the server's count when it reports usage; else one streamed delta per token (vLLM/SGLang)
            generated_tokens=completion_tokens if isinstance(completion_tokens, int) else answer.deltas,
            stop_reason=stop_reason,
            preprocess_s=preprocess_s,
            time_to_first_token_s=first - request_start,
            decode_s=(answer.last_text_s or first) - first,
            extra={"server": self.client.url, "finish_reason": answer.finish_reason, "usage": answer.usage},
        )
