"""The parser stays linear on a model's garbage (repeated opening tags and fences, megabytes long)
and finds exactly what the reference regular expressions find on any text."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_r1_model.parsing import (
    CODE_FENCE,
    OUTPUT_BLOCK,
    QWEN_FENCED_JSON,
    THINK_BLOCK,
    ParseError,
    _qwen_fenced_json,
    _unfence,
    first_block,
    parse_output,
)

MB = 1_000_000
# Generous: each of these takes a few milliseconds here and took 5.7 s (100 KB) to over a minute
# (1 MB) with the quadratic regex search; the bound only has to separate the two.
SECONDS_PER_MB = 3.0

pieces = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<THINK>",
        "</Think>",
        "<thin\u212a>",
        "</thin\u212a>",  # Kelvin sign folds to k
        "<output>",
        "</output>",
        "<OUTPUT>",
        "</Output>",
        "<output",
        "output>",
        "</",
        "<",
        "```",
        "```json",
        "```py-3_x",
        "json",
        "[",
        "]",
        "[[0.1, 0.2], [0.3, 0.4]]",
        '"bbox_2d"',
        " ",
        "\n",
        "\t",
        "\u2003",
        "\u00a0",
        "a",
        "0.5",
    ]
)
texts = st.one_of(st.lists(pieces, max_size=40).map("".join), st.text(max_size=80))


@settings(max_examples=600, deadline=None)
@given(texts)
def test_blocks_match_the_reference_regexes(text):
    for tag, pattern in (("output", OUTPUT_BLOCK), ("think", THINK_BLOCK)):
        match = pattern.search(text)
        assert first_block(text, tag) == (match.group(1) if match else None)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_unfence_matches_the_reference_regex(text):
    body = text.strip()  # the parser unfences stripped bodies only
    match = CODE_FENCE.match(body)
    assert _unfence(body) == (match.group(1).strip() if match else body)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_qwen_fence_matches_the_reference_regex(text):
    match = QWEN_FENCED_JSON.search(text)
    assert _qwen_fenced_json(text) == (match.group(1) if match else None)


def garbage(kind: str, size: int) -> tuple[str, str]:
    """(text, task) of about ``size`` characters."""
    unit = {
        "output": "<output>",
        "think": "<think>",
        "OUTPUT": "<OUTPUT>\n",
        "fence_body": "```",
        "qwen": "```json [",
        "close_first": "</output><output>",
        "mixed": "<think><output>```json [ ]",
    }[kind]
    body = unit * (size // len(unit))
    if kind == "fence_body":
        return f"<think>x</think><output>{body}</output>", "trajectory"
    if kind == "qwen":
        return '"bbox_2d" ' + body, "affordance"
    return body, "affordance"


@pytest.mark.parametrize("kind", ["output", "think", "OUTPUT", "fence_body", "qwen", "close_first", "mixed"])
def test_megabyte_garbage_is_refused_in_linear_time(kind):
    text, task = garbage(kind, MB)
    start = time.process_time()  # CPU time of this process: other work on the machine does not count
    with pytest.raises(ParseError):
        parse_output(text, task, input_size=(640, 480))
    assert time.process_time() - start < SECONDS_PER_MB


def test_megabyte_garbage_in_the_reward_is_linear_too():
    from training.rewards import compute_score, extract_answer

    text = "<think>" * (MB // 7) + "<output>" * (MB // 8)
    start = time.process_time()
    assert extract_answer(text) is None
    score = compute_score(text, "<output>[[0.1, 0.2], [0.3, 0.4]]</output>")
    assert score["score"] == 0.0 and score["format"] == 0.0
    assert time.process_time() - start < SECONDS_PER_MB


def test_a_valid_answer_after_a_megabyte_of_reasoning_is_found():
    answer = '<output>{"x": 0.5, "y": 0.4, "width": 0.1, "height": 0.2}</output>'
    text = "<think>" + "<output" * (MB // 7) + "</think> so, the answer is " + answer
    start = time.process_time()
    prediction = parse_output(text, "affordance")
    assert time.process_time() - start < SECONDS_PER_MB
    assert prediction.action.x == 0.5 and prediction.reasoning.startswith("<output<output")


def test_seeded_random_fuzz_sees_only_parse_errors():
    """Random splices of tags, fences, JSON and bytes-as-text: only ParseError, never a stall."""
    rng = random.Random(14)
    alphabet = [
        "<think>",
        "</think>",
        "<output>",
        "</output>",
        "```",
        "```json",
        "[",
        "]",
        "{",
        "}",
        '"x": ',
        '"y": ',
        '"width": ',
        '"height": ',
        '"bbox_2d": ',
        "0.5",
        "1e999",
        "-0",
        "NaN",
        ",",
        " ",
        "\n",
        "\x00",
        "\ud800",
        "\U0001f916",
        '{"x": 0.5, "y": 0.5, "width": 0.1, "height": 0.1}',
        "[[0.1, 0.1], [0.2, 0.2]]",
    ]
    outcomes = {"parsed": 0, "ParseError": 0}
    start = time.process_time()
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        try:
            parse_output(
                text, rng.choice(["affordance", "trajectory"]), rng.choice(["clip", "reject"]), input_size=(640, 480)
            )
            outcomes["parsed"] += 1
        except ParseError:
            outcomes["ParseError"] += 1
    assert outcomes["ParseError"] > 0 and outcomes["parsed"] > 0, outcomes
    assert time.process_time() - start < 10.0
