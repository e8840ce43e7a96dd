"""The ground-truth answer source writes VLA-R1's exact output format for the object the instruction names."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from vla_r1_model.actions import Affordance, Trajectory
from vla_r1_model.policy import Policy
from vla_r1_robot.sim.policies import GroundTruthBackend, named_object

BOXES = {
    "red_box": {
        "box_pixels": {"x_min": 236, "y_min": 229, "x_max": 284, "y_max": 263},
        "box_normalized": {"x": 0.40625, "y": 0.5125, "width": 0.075, "height": 0.070833},
    },
    "yellow_box": {
        "box_pixels": {"x_min": 369, "y_min": 194, "x_max": 403, "y_max": 226},
        "box_normalized": {"x": 0.603125, "y": 0.4375, "width": 0.053125, "height": 0.066667},
    },
    "blue_sphere": None,  # hidden from the camera
}
IMAGE = Image.new("RGB", (640, 480))
FORMAT = re.compile(
    r'^<think>[^<]+</think> so, the answer is <output>\{"x": \d\.\d{6}, "y": \d\.\d{6}, '
    r'"width": \d\.\d{6}, "height": \d\.\d{6}\}</output>$'
)


def test_the_box_of_the_named_object_in_the_exact_format():
    policy = Policy(GroundTruthBackend(lambda: {"boxes": BOXES}))
    out = policy.predict(IMAGE, "pick up the yellow box", "affordance")
    assert FORMAT.match(out.raw_text), out.raw_text
    assert '<output>{"x": 0.603125, "y": 0.437500, "width": 0.053125, "height": 0.066667}</output>' in out.raw_text
    assert out.prediction.action == Affordance(0.603125, 0.4375, 0.053125, 0.066667)
    assert "yellow box" in out.reasoning


def test_noise_moves_the_box_and_is_reproducible():
    answers = [
        Policy(GroundTruthBackend(lambda: {"boxes": BOXES}, noise_px=5.0, seed=3))
        .predict(IMAGE, "pick up the red box", "affordance")
        .prediction.action
        for _ in range(2)
    ]
    assert answers[0] == answers[1] != Affordance(0.40625, 0.5125, 0.075, 0.070833)
    assert abs(answers[0].x - 0.40625) * 640 < 30


def test_an_unnamed_or_hidden_object_is_a_parse_failure_with_the_reason():
    policy = Policy(GroundTruthBackend(lambda: {"boxes": BOXES}))
    out = policy.predict(IMAGE, "pick up the purple cone", "affordance")
    assert out.prediction is None and "names none of the objects" in out.raw_text
    assert policy.predict(IMAGE, "pick up the blue sphere", "affordance").prediction is None


def test_trajectory_answers_and_object_names():
    truth = {"boxes": BOXES, "trajectories": {"red_box": [[0.4, 0.8], [0.41, 0.6], [0.40625, 0.5125]]}}
    out = Policy(GroundTruthBackend(lambda: truth)).predict(IMAGE, "reach for the red box", "trajectory")
    assert out.raw_text.endswith("<output>[[0.400000, 0.800000], [0.410000, 0.600000], [0.406250, 0.512500]]</output>")
    assert isinstance(out.prediction.action, Trajectory) and len(out.prediction.action.as_array()) == 3
    assert named_object("Pick up the Red Box, please", BOXES) == "red_box"
    assert named_object("pick up the box", BOXES) is None
    with pytest.raises(ValueError):
        GroundTruthBackend(lambda: truth, noise_px=-1)
