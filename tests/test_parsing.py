import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_r1_model import Affordance, ParseError, Trajectory, parse_output

BOX = '{"x": 0.512345, "y": 0.4, "width": 0.1, "height": 0.2}'


def test_reference_answer_format():
    text = f"<think>The pot is on the left.</think> so, the answer is <output>{BOX}</output>"
    pred = parse_output(text, "affordance")
    assert pred.action == Affordance(0.512345, 0.4, 0.1, 0.2)
    assert pred.reasoning == "The pot is on the left." and pred.raw_text == text


def test_tolerates_case_whitespace_fences_and_trailing_text():
    text = (
        "<THINK>\nsteps\n</Think>\n<OUTPUT>\n```json\n[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]\n```\n</output> extra words"
    )
    pred = parse_output(text, "trajectory")
    assert pred.action == Trajectory(((0.1, 0.2), (0.3, 0.4), (0.5, 0.6)))
    assert pred.reasoning == "steps"


def test_first_output_block_wins():
    text = "<output>[[0.1, 0.1], [0.2, 0.2]]</output> or maybe <output>[[0.9, 0.9], [0.8, 0.8]]</output>"
    assert parse_output(text, "trajectory").action.points_normalized[0] == (0.1, 0.1)


@pytest.mark.parametrize(
    "text, task, message",
    [
        ("<think>only thinking</think>", "affordance", "no <output>"),
        ("<think>x</think><output>[[0.1, 0.2]", "trajectory", "never closed"),
        ("<output></output>", "affordance", "is empty"),
        ("<output>{x: 1}</output>", "affordance", "not valid JSON"),
        ("<output>[[0.1, 0.2], [0.3, 0.4]]</output>", "affordance", "trajectory .* for an affordance task"),
        (f"<output>{BOX}</output>", "trajectory", "box for a trajectory task"),
        ('<output>{"x": NaN, "y": 0.4, "width": 0.1, "height": 0.2}</output>', "affordance", "not a finite number"),
        ('<output>{"x": 0.5, "y": 0.4}</output>', "affordance", "keys"),
        ("<output>[[0.1, 0.2]]</output>", "trajectory", "at least 2"),
        ('<output>[[0.1, "a"], [0.3, 0.4]]</output>', "trajectory", "point 0 y must be a number"),
        ("<output>[0.1, 0.2, 0.3]</output>", "trajectory", "list of \\[x, y\\] points"),
        ("anything", "grasp", "task must be one of"),
    ],
)
def test_errors_say_what_is_wrong(text, task, message):
    with pytest.raises(ParseError, match=message):
        parse_output(text, task)


def test_out_of_range_clip_or_reject():
    text = '<output>{"x": 1.5, "y": 0.4, "width": 0.1, "height": 0.2}</output>'
    with pytest.warns(UserWarning):
        assert parse_output(text, "affordance").action.x == 1.0
    with pytest.raises(ParseError, match="outside"):
        parse_output(text, "affordance", out_of_range="reject")


def test_negative_size_reads_as_its_absolute_value_like_the_reward():
    pred = parse_output('<output>{"x": 0.5, "y": 0.5, "width": -0.2, "height": -0.1}</output>', "affordance")
    assert (pred.action.width, pred.action.height) == (0.2, 0.1)


def test_qwen_base_model_grounding_answer_in_resized_pixels():
    text = '```json\n[{"bbox_2d": [100, 50, 300, 250], "label": "broccoli"}]\n```'
    pred = parse_output(text, "affordance", input_size=(400, 500))
    assert pred.source_format == "qwen_bbox_2d"
    assert (pred.action.x, pred.action.y, pred.action.width, pred.action.height) == pytest.approx((0.5, 0.3, 0.5, 0.4))
    with pytest.raises(ParseError, match="size is needed"):
        parse_output(text, "affordance")
    with pytest.raises(ParseError, match="no <output>"):  # not a trajectory answer
        parse_output(text, "trajectory", input_size=(400, 500))


def test_non_string_input_is_a_parse_error():
    with pytest.raises(ParseError, match="must be a string"):
        parse_output(None, "affordance")  # type: ignore[arg-type]


fragments = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<output>",
        "</output>",
        "<OUTPUT>",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        '"x"',
        '"y"',
        '"width"',
        '"height"',
        '"bbox_2d"',
        "0.5",
        "-1",
        "1e999",
        "NaN",
        "Infinity",
        "null",
        "true",
        "```json",
        "```",
        " ",
        "\n",
        "[[0.1, 0.2], [0.3, 0.4]]",
        BOX,
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.text(max_size=200), st.lists(fragments, max_size=30).map("".join)),
    st.sampled_from(["affordance", "trajectory"]),
    st.sampled_from(["clip", "reject"]),
)
def test_never_raises_anything_but_parse_error(text, task, policy):
    try:
        pred = parse_output(text, task, out_of_range=policy, input_size=(640, 480))
    except ParseError as exc:
        assert str(exc)
        return
    values = (
        [pred.action.x, pred.action.y]
        if task == "affordance"
        else [v for p in pred.action.points_normalized for v in p]
    )
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)
