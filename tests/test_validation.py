"""The shared value checks of the config dataclasses (vla_r1_model.validation): one wording per
rule, bools refused as numbers, numpy numbers accepted, and the configs refusing in those words."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vla_r1_model.validation import (
    finite_number,
    integer_at_least,
    is_number,
    non_empty_text,
    non_negative_number,
    one_of,
    positive_number,
)


def test_is_number():
    assert all(is_number(v) for v in (1, 1.5, np.float32(2), np.int64(3), -0.0, math.inf))
    assert not any(is_number(v) for v in (True, "1", None, [1], 1j))


def test_finite_number():
    assert finite_number("a", np.int64(3)) == 3.0 and isinstance(finite_number("a", np.int64(3)), float)
    assert finite_number("a", 0, minimum=0.0) == 0.0
    for bad in (True, "1", math.nan, math.inf, None):
        with pytest.raises(ValueError, match=r"^a must be a finite number, got "):
            finite_number("a", bad)
    with pytest.raises(ValueError, match=r"^a must be >= 0.0, got -1.0$"):
        finite_number("a", -1, minimum=0.0)
    with pytest.raises(ValueError, match=r"^a must be > 0.0, got 0.0$"):
        finite_number("a", 0.0, minimum=0.0, strict=True)


@pytest.mark.parametrize(
    "check, bad, good, message",
    [
        (
            positive_number,
            (0, -1.0, True, math.nan, "2"),
            (1e-9, np.float64(2), np.int32(1)),
            "must be a finite number > 0",
        ),
        (non_negative_number, (-1e-9, False, math.inf), (0, 0.0, np.float32(3)), "must be a finite number >= 0"),
    ],
)
def test_sign_checks(check, bad, good, message):
    for value in good:
        assert check("x.y", value) == float(value)
    for value in bad:
        with pytest.raises(ValueError, match=f"^x.y {message}, got {value!r}$".replace("(", r"\(").replace(")", r"\)")):
            check("x.y", value)


def test_integer_at_least_one_of_and_text():
    assert integer_at_least("n", np.int64(2), 1) == 2
    for bad in (0, 1.0, True, "3"):
        with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
            integer_at_least("n", bad, 1)
    assert one_of("mode", "b", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=r"^mode must be one of \('a', 'b'\), got 'c'$"):
        one_of("mode", "c", ("a", "b"))
    assert non_empty_text("t", "/x", "topic name") == "/x"
    for bad in ("", "  ", None, 3):
        with pytest.raises(ValueError, match=r"^t must be a non-empty topic name, got "):
            non_empty_text("t", bad, "topic name")


def test_configs_refuse_in_the_shared_words():
    from vla_r1_robot.motion.controller_logic import ControllerConfig
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.motion.task import TaskConfig
    from vla_r1_robot.perception.grounding_config import GroundingConfig
    from vla_r1_ros.node_config import CameraSettings, ModelSettings

    cases = [
        (lambda: ModelSettings(timeout_s=0), "model.timeout_s must be a finite number > 0, got 0"),
        (lambda: ModelSettings(backend="grpc"), "model.backend must be one of ('transformers', 'openai'), got 'grpc'"),
        (lambda: CameraSettings(color_topic=""), "camera.color_topic must be a non-empty topic name, got ''"),
        (
            lambda: ControllerConfig(gripper_stall_s=True),
            "execution.gripper_stall_s must be a finite number > 0, got True",
        ),
        (lambda: ControllerConfig(arm_controller=" "), "execution.arm_controller must be a non-empty name, got ' '"),
        (lambda: GroundingConfig(min_surface_points=2), "min_surface_points must be an integer >= 3, got 2"),
        (lambda: GroundingConfig(inner_fraction="0.5"), "inner_fraction must be a finite number, got '0.5'"),
        (lambda: TaskConfig(gripper_force_n=0.0), "gripper_force_n must be > 0.0, got 0.0"),
        (
            lambda: TaskConfig(trajectory_gripper="half"),
            "trajectory_gripper must be one of ('open', 'close'), got 'half'",
        ),
        (lambda: SafetyConfig(max_step_m=math.nan), "max_step_m must be a finite number, got nan"),
    ]
    for build, message in cases:
        with pytest.raises(ValueError) as caught:
            build()
        assert str(caught.value) == message


def test_motion_configs_refuse_in_the_shared_words():
    from vla_r1_robot.motion.kinematics import IKConfig
    from vla_r1_robot.motion.planning import PlannerConfig
    from vla_r1_robot.sim.execute import ExecutionConfig

    cases = [
        (lambda: IKConfig(damping=-1.0), "damping must be a finite number > 0, got -1.0"),
        (lambda: PlannerConfig(check_spacing_m=math.inf), "check_spacing_m must be a finite number > 0, got inf"),
        (lambda: ExecutionConfig(settle_s=-0.5), "settle_s must be a finite number >= 0, got -0.5"),
    ]
    for build, message in cases:
        with pytest.raises(ValueError) as caught:
            build()
        assert str(caught.value) == message
