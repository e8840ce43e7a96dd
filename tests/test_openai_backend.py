import socket

import pytest
from chat_server import ChatServer
from PIL import Image

from vla_r1_model.backends.base import BackendError, GenerationSettings
from vla_r1_model.backends.openai_backend import OpenAIChatClient, chat_completions_url, image_to_data_url
from vla_r1_model.policy import Policy, PolicyConfig

ANSWER = (
    "<think>left of the pot</think> so, the answer is <output>[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]</output> trailing"
)
IMAGE = Image.new("RGB", (64, 48), (10, 200, 30))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_url_forms():
    assert chat_completions_url("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    with pytest.raises(ValueError, match="http"):
        OpenAIChatClient("localhost:8000", "m")


def test_policy_over_server_streams_sends_image_and_stops_at_output():
    with ChatServer(ANSWER) as server:
        pieces = []
        policy = Policy.remote(server.url, "vla-r1", PolicyConfig(generation=GenerationSettings(max_new_tokens=64)))
        output = policy.predict(IMAGE, "reach for the cup", "trajectory", on_text=pieces.append)
    assert output.ok and len(output.prediction.action) == 3
    assert output.raw_text.endswith("</output>") and "trailing" not in output.raw_text
    assert output.reasoning == "left of the pot" and len(pieces) > 3
    request = server.requests[0]
    assert request["model"] == "vla-r1" and request["stream"] is True and request["max_tokens"] == 64
    assert request["temperature"] == 0.0 and request["stop"] == ["</output>"]
    text_part, image_part = request["messages"][0]["content"]
    assert text_part["text"].startswith("reach for the cup Please output the optimal trajectory")
    assert image_part["image_url"]["url"] == image_to_data_url(IMAGE)


def test_complete_and_retry_after_transient_503():
    with ChatServer("hello", mode="flaky", flaky_failures=2) as server:
        client = OpenAIChatClient(server.url, "m", max_retries=2, backoff_s=0.01)
        assert client.complete([{"role": "user", "content": "hi"}]) == "hello"
    assert len(server.requests) == 3


def test_persistent_server_error_names_the_url():
    with ChatServer(mode="error503") as server:
        client = OpenAIChatClient(server.url, "m", max_retries=1, backoff_s=0.01)
        with pytest.raises(BackendError, match=f"{server.url}/v1/chat/completions.*2 attempt.*HTTP 503"):
            client.complete([{"role": "user", "content": "hi"}])


def test_refused_connection_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    client = OpenAIChatClient(url, "m", max_retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(BackendError, match="cannot connect"):
        client.complete([{"role": "user", "content": "hi"}])


def test_timeout_is_a_clear_error():
    with ChatServer("late", mode="slow", delay_s=1.5) as server:
        client = OpenAIChatClient(server.url, "m", max_retries=0, timeout_s=0.3)
        with pytest.raises(BackendError, match=r"no answer within 0\.3 s"):
            client.complete([{"role": "user", "content": "hi"}])


def test_garbage_answer_is_a_clear_error():
    with ChatServer(mode="garbage") as server, pytest.raises(BackendError, match="not a completion"):
        OpenAIChatClient(server.url, "m").complete([{"role": "user", "content": "hi"}])


def test_the_openai_client_is_built_with_the_backend_not_inside_the_first_request():
    # Its import cost (~0.8 s here, seconds on a loaded robot computer) used to be spent inside the
    # first goal's timeout: the node's first goal could time out against a server that answers at once.
    from vla_r1_model.backends.openai_backend import OpenAIBackend, OpenAIChatClient

    client = OpenAIChatClient(base_url="http://127.0.0.1:9", model="m")
    assert "_openai" not in vars(client)
    OpenAIBackend(client)
    assert "_openai" in vars(client)
