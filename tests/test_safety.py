"""Safety rules: each rule triggers with its name, limit and offending value; NaN is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_r1_robot.motion.safety import (
    RULES,
    SafetyConfig,
    SafetyViolation,
    UnsafeTargetError,
    check_targets,
    raise_if_unsafe,
)

CONFIG = SafetyConfig(
    workspace_min_xyz_m=(0.1, -0.4, 0.0),
    workspace_max_xyz_m=(0.7, 0.4, 0.6),
    min_z_m=0.05,
    max_reach_m=0.8,
    max_step_m=0.1,
)


def only(violations, rule):
    found = [v for v in violations if v.rule == rule]
    assert len(found) == 1, violations
    return found[0]


def test_safe_path_has_no_violation():
    path = np.array([[0.4, -0.1, 0.3], [0.45, -0.05, 0.25], [0.5, 0.0, 0.2]])
    assert check_targets(path, CONFIG) == []
    raise_if_unsafe(path, CONFIG)  # does not raise


def test_workspace_box_names_axis_limit_and_value():
    v = only(check_targets([[0.75, 0.0, 0.3]], CONFIG), "workspace_box")
    assert (v.limit, v.value, v.index) == (0.7, 0.75, 0)
    assert "x" in v.message and "max" in v.message
    v = only(check_targets([[0.4, -0.5, 0.3]], CONFIG), "workspace_box")
    assert (v.limit, v.value) == (-0.4, -0.5)


def test_min_height():
    violations = check_targets([[0.4, 0.0, 0.1], [0.4, 0.0, 0.03]], CONFIG)
    v = only(violations, "min_height")
    assert (v.rule, v.limit, v.value, v.index) == ("min_height", 0.05, 0.03, 1)
    assert [x.rule for x in violations] == ["min_height"]  # 0.03 is inside the box


def test_max_reach():
    v = only(check_targets([[0.7, 0.4, 0.5]], CONFIG), "max_reach")
    assert v.limit == 0.8
    assert v.value == pytest.approx(math.sqrt(0.7**2 + 0.4**2 + 0.5**2))


def test_max_step_names_the_later_target():
    v = only(check_targets([[0.4, 0.0, 0.3], [0.4, 0.0, 0.3], [0.4, 0.15, 0.3]], CONFIG), "max_step")
    assert (v.limit, v.index) == (0.1, 2)
    assert v.value == pytest.approx(0.15)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_reports_only_the_finite_rule(bad):
    violations = check_targets([[0.4, 0.0, 0.3], [0.4, bad, 0.3], [0.4, 0.0, 0.3]], CONFIG)
    assert [(v.rule, v.index) for v in violations] == [("finite", 1)]
    assert math.isnan(violations[0].value) if math.isnan(bad) else violations[0].value == bad


def test_raise_if_unsafe_carries_all_violations():
    with pytest.raises(UnsafeTargetError) as info:
        raise_if_unsafe([[0.4, 0.0, 0.01], [0.9, 0.0, 0.3]], CONFIG)
    rules = {v.rule for v in info.value.violations}
    assert rules == {"min_height", "workspace_box", "max_reach", "max_step"}
    assert str(info.value).startswith("4 safety violation(s): target 0: z = 0.010 m below minimum height")


def test_rule_subset_and_shapes():
    assert check_targets([[0.4, 0.0, 0.01]], CONFIG, rules=("finite", "max_reach")) == []
    assert check_targets(np.zeros((0, 3)), CONFIG) == []
    assert check_targets([0.4, 0.0, 0.3], CONFIG) == []  # one (3,) point
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        check_targets(np.zeros((2, 2)), CONFIG)
    with pytest.raises(ValueError, match="unknown safety rules"):
        check_targets([[0.4, 0.0, 0.3]], CONFIG, rules=("speed",))


def test_steps_touching_a_non_finite_target_are_not_measured():
    # 0.4 m between targets 0 and 2 would break max_step, but they are not consecutive; the steps
    # to and from the NaN target mean nothing, so only `finite` is reported.
    path = [[0.4, -0.2, 0.3], [np.nan, 0.0, 0.3], [0.4, 0.2, 0.3]]
    assert [(v.rule, v.index) for v in check_targets(path, CONFIG)] == [("finite", 1)]
    far = [[0.4, -0.2, 0.3], [0.4, 0.2, 0.3]]
    assert [(v.rule, v.index) for v in check_targets(far, CONFIG)] == [("max_step", 1)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"workspace_min_xyz_m": (0.5, 0, 0), "workspace_max_xyz_m": (0.4, 1, 1)}, "min x"),
        ({"workspace_min_xyz_m": (0, 0)}, "3 values"),
        ({"max_reach_m": 0.0}, "max_reach_m"),
        ({"max_step_m": -1.0}, "max_step_m"),
        ({"min_z_m": math.nan}, "min_z_m"),
        ({"min_z_m": 2.0}, "below the workspace max z"),
        ({"workspace_max_xyz_m": (1, 1, math.inf)}, "finite"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SafetyConfig(**kwargs)


def test_config_from_dict_and_yaml(tmp_path):
    config = SafetyConfig.from_dict({"workspace_min_xyz_m": [0.1, -0.4, 0.0], "max_step_m": 0.05})
    assert config.workspace_min_xyz_m == (0.1, -0.4, 0.0) and config.max_step_m == 0.05
    with pytest.raises(ValueError, match="unknown safety config keys"):
        SafetyConfig.from_dict({"max_speed": 1.0})
    path = tmp_path / "safety.yaml"
    path.write_text("safety:\n  min_z_m: 0.1\n  max_reach_m: 0.7\n")
    assert SafetyConfig.from_yaml(path) == SafetyConfig(min_z_m=0.1, max_reach_m=0.7)
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        SafetyConfig.from_yaml(tmp_path / "missing.yaml")


def test_violation_is_validated():
    with pytest.raises(ValueError, match="unknown safety rule"):
        SafetyViolation("speed", 1.0, 2.0, 0, "")
    assert set(RULES) == {"finite", "workspace_box", "min_height", "max_reach", "max_step", "tool_min_height"}


def test_fingertips_below_the_tool_floor_are_refused_while_the_hand_is_high_enough():
    from vla_r1_robot.motion.safety import check_tool_points

    config = SafetyConfig(tool_min_z_m=0.005)
    hand = np.array([[0.5, 0.0, 0.043]])  # 0.1034 m above the fingertips: passes min_z_m 0.02
    fingertips = hand - [0.0, 0.0, 0.1034]
    assert check_targets(hand, config) == []
    (violation,) = check_tool_points(fingertips, config)
    assert violation.rule == "tool_min_height" and violation.limit == 0.005
    assert violation.value == pytest.approx(-0.0604) and "fingertip" in violation.message
    assert check_tool_points(fingertips + [0.0, 0.0, 0.07], config) == []
    (nan,) = check_tool_points([[np.nan, 0.0, 0.1]], config)
    assert nan.rule == "finite"
    with pytest.raises(ValueError, match="tool_min_z_m"):
        SafetyConfig(tool_min_z_m=float("nan"))


coordinate = st.floats(min_value=-1.5, max_value=1.5, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=1, max_size=6))
def test_violations_match_a_direct_reading_of_the_rules(points):
    positions = np.array(points)
    found = {(v.rule, v.index) for v in check_targets(positions, CONFIG)}
    lo, hi = np.array(CONFIG.workspace_min_xyz_m), np.array(CONFIG.workspace_max_xyz_m)
    for i, p in enumerate(positions):
        assert (("workspace_box", i) in found) == bool(((p < lo) | (p > hi)).any())
        assert (("min_height", i) in found) == (p[2] < CONFIG.min_z_m)
        assert (("max_reach", i) in found) == (np.linalg.norm(p) > CONFIG.max_reach_m)
        step = np.linalg.norm(p - positions[i - 1]) if i else 0.0
        assert (("max_step", i) in found) == (step > CONFIG.max_step_m)
