"""The remote backend against misbehaving servers (issue 14, item 3): `timeout_s` bounds the whole request in
wall time, `max_new_tokens` bounds what is read, a 200 that is not a stream is a server failure (or, when
it is a valid completion, accepted), and `finish_reason` labels an answer cut by the server's length limit.

Each server runs on 127.0.0.1 (tests/chat_server.py). Every call runs under a watchdog so that a backend
that waits forever fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
import time

import pytest
from chat_server import ChatServer
from PIL import Image

from vla_r1_cli.main import main
from vla_r1_model.backends.base import BackendError, GenerationSettings
from vla_r1_model.backends.openai_backend import OpenAIBackend, OpenAIChatClient

ANSWER = (
    "<think>the cup is left</think> so, the answer is "
    '<output>{"x": 0.4, "y": 0.5, "width": 0.2, "height": 0.1}</output> bye'
)
IMAGE = Image.new("RGB", (32, 24), (90, 20, 200))
WATCHDOG_S = 8.0


def generate(url: str, *, timeout_s: float = 30.0, max_new_tokens: int = 256, cancel=None, on_text=None):
    """(result or exception, wall seconds); the call runs in a daemon thread so a hang fails the test."""
    backend = OpenAIBackend(OpenAIChatClient(url, "m", timeout_s=timeout_s, max_retries=0))
    box: dict = {}

    def call():
        try:
            box["value"] = backend.generate(
                IMAGE, "find the cup", GenerationSettings(max_new_tokens=max_new_tokens), on_text=on_text, cancel=cancel
            )
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["value"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(WATCHDOG_S)
    assert not thread.is_alive(), f"the backend was still waiting after {WATCHDOG_S} s"
    return box["value"], time.monotonic() - start


@pytest.mark.parametrize("mode", ["keepalive", "endless"])
def test_timeout_bounds_the_whole_request_in_wall_time(mode):
    with ChatServer(ANSWER, mode=mode, interval_s=0.05) as server:
        value, wall_s = generate(server.url, timeout_s=1.0, max_new_tokens=100_000)
    assert isinstance(value, BackendError), value
    assert "within 1 s" in str(value) and server.url in str(value)
    assert wall_s < 2.0


def test_max_new_tokens_bounds_an_endless_stream():
    with ChatServer(ANSWER, mode="endless", interval_s=0.01) as server:
        value, wall_s = generate(server.url, timeout_s=30.0, max_new_tokens=20)
    assert not isinstance(value, Exception), value
    assert value.stop_reason == "max_new_tokens" and value.generated_tokens == 20 and value.text == "ab" * 20
    assert wall_s < 3.0


def test_one_huge_event_is_cut_at_the_byte_budget_of_max_new_tokens():
    with ChatServer(mode="huge_event", huge_bytes=10_000_000) as server:
        value, wall_s = generate(server.url, max_new_tokens=64)
    assert isinstance(value, BackendError), value
    assert "bytes" in str(value) and "max_new_tokens 64" in str(value)
    assert wall_s < 3.0


def test_a_valid_non_streamed_completion_is_accepted():
    with ChatServer(ANSWER, mode="json_completion") as server:
        value, _ = generate(server.url)
    assert not isinstance(value, Exception), value
    assert value.text == ANSWER  # the server ignored `stop`: the text is what it said
    assert value.extra["finish_reason"] == "stop" and value.generated_tokens == len(ANSWER)  # usage


@pytest.mark.parametrize(
    "mode, message",
    [
        ("html", "text/html"),
        ("null_content", "no text"),
        ("malformed", "malformed event"),
    ],
)
def test_a_200_that_is_no_answer_is_a_server_failure(mode, message):
    with ChatServer(ANSWER, mode=mode) as server:
        value, _ = generate(server.url)
    assert isinstance(value, BackendError), value
    assert message in str(value) and server.url in str(value)


def test_an_answer_cut_by_the_length_limit_is_not_labelled_closed():
    with ChatServer(ANSWER, mode="length") as server:
        value, _ = generate(server.url, max_new_tokens=60)  # the server cuts inside <output>
    assert not isinstance(value, Exception), value
    assert value.stop_reason == "max_new_tokens" and value.extra["finish_reason"] == "length"
    assert value.text == ANSWER[:60] and not value.text.endswith("</output>")


def test_finish_reason_stop_and_usage_are_read():
    with ChatServer(ANSWER, mode="finish_stop") as server:
        value, _ = generate(server.url)
    assert not isinstance(value, Exception), value
    assert value.text == ANSWER.split("</output>")[0] + "</output>" and value.stop_reason == "output_closed"
    assert (
        value.extra["finish_reason"] == "stop" and value.extra["usage"]["completion_tokens"] == value.generated_tokens
    )


def test_cancel_from_another_thread_while_the_server_is_silent():
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with ChatServer(mode="keepalive", interval_s=0.05) as server:
        value, wall_s = generate(server.url, timeout_s=30.0, cancel=cancel)
    assert not isinstance(value, Exception), value
    assert value.stop_reason == "cancelled" and value.text == "" and wall_s < 1.5


def test_streaming_callback_runs_in_the_callers_thread():
    threads = set()
    with ChatServer(ANSWER, mode="finish_stop") as server:
        value, _ = generate(server.url, on_text=lambda piece: threads.add(threading.get_ident()))
    assert not isinstance(value, Exception) and len(threads) == 1
    assert threading.get_ident() not in threads  # generate() ran in the watchdog's thread, the callback too


@pytest.mark.parametrize("mode, code", [("html", 1), ("null_content", 1), ("json_completion", 0), ("keepalive", 1)])
def test_cli_infer_exit_codes(tmp_path, capsys, mode, code):
    image = tmp_path / "frame.png"
    IMAGE.save(image)
    with ChatServer(ANSWER, mode=mode) as server:
        start = time.monotonic()
        assert (
            main(
                [
                    "infer",
                    "--backend",
                    "openai",
                    "--server-url",
                    server.url,
                    "--model",
                    "m",
                    "--timeout",
                    "1",
                    "--image",
                    str(image),
                    "--instruction",
                    "find the cup",
                    "--task",
                    "affordance",
                ]
            )
            == code
        )
        assert time.monotonic() - start < 6.0  # --timeout 1 plus the CLI's first imports
    if code == 1:
        assert server.url in capsys.readouterr().err


def test_sampling_settings_and_usage_request_reach_the_server():
    with ChatServer(ANSWER, mode="finish_stop") as server:
        backend = OpenAIBackend(OpenAIChatClient(server.url, "vla-r1", api_key="sk-test"))
        backend.generate(IMAGE, "find the cup", GenerationSettings.reference_sampling(max_new_tokens=32))
    request = server.requests[0]
    assert (request["model"], request["max_tokens"], request["temperature"], request["top_p"]) == (
        "vla-r1",
        32,
        0.7,
        0.9,
    )
    assert request["repetition_penalty"] == 1.1 and request["stop"] == ["</output>"] and request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
