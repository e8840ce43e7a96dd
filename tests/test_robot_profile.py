"""The robot profile: one place for the Panda's names and sizes, the generic configs' defaults
taken from it, and the shipped node parameters still saying the same."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from calibration import SE3
from vla_r1_robot.motion.controller_logic import ControllerConfig
from vla_r1_robot.motion.planning import PlanningError
from vla_r1_robot.motion.robot_profile import PANDA, RobotProfile
from vla_r1_robot.motion.task import TaskConfig
from vla_r1_robot.perception.grounding_config import GroundingConfig
from vla_r1_robot.pipeline import default_start_positions
from vla_r1_ros.node_config import ExecutionSettings

PARAMS = Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "vla_r1_ros" / "config" / "params.yaml"


def test_panda_profile_values():
    assert PANDA.ready == {
        "panda_joint1": 0.0,
        "panda_joint2": -0.785,
        "panda_joint3": 0.0,
        "panda_joint4": -2.356,
        "panda_joint5": 0.0,
        "panda_joint6": 1.571,
        "panda_joint7": 0.785,
    }
    np.testing.assert_array_equal(PANDA.ready_positions(), [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
    assert PANDA.hand_T_fingertip == SE3(np.eye(3), (0.0, 0.0, 0.1034))
    assert PANDA.finger_joints[0] == "panda_finger_joint1" and PANDA.tip_link == "panda_hand"


def test_generic_defaults_come_from_the_profile():
    controller = ControllerConfig()
    assert controller.arm_joints == PANDA.arm_joints and controller.gripper_joint == PANDA.finger_joints[0]
    assert (controller.arm_controller, controller.gripper_controller) == (
        PANDA.arm_controller,
        PANDA.gripper_controller,
    )
    task = TaskConfig()
    assert task.gripper_open_width_m == PANDA.gripper_open_width_m
    assert (task.finger_pad_extent_m, task.finger_pad_thickness_m) == (
        PANDA.finger_pad_extent_m,
        PANDA.finger_pad_thickness_m,
    )
    assert GroundingConfig().tip_T_grasp.allclose(PANDA.hand_T_fingertip)
    execution = ExecutionSettings()
    assert (execution.planning_group, execution.pose_link) == (PANDA.planning_group, PANDA.tip_link)


def test_shipped_node_parameters_keep_their_values():
    params = yaml.safe_load(PARAMS.read_text())["vla_r1_node"]["ros__parameters"]
    execution, task = params["execution"], params["task"]
    assert execution["arm_joints"] == list(PANDA.arm_joints) and execution["gripper_joint"] == PANDA.finger_joints[0]
    assert execution["arm_controller"] == PANDA.arm_controller
    assert execution["gripper_controller"] == PANDA.gripper_controller
    assert (execution["planning_group"], execution["pose_link"]) == (PANDA.planning_group, PANDA.tip_link)
    assert task["gripper_open_width_m"] == PANDA.gripper_open_width_m
    assert task["finger_pad_extent_m"] == PANDA.finger_pad_extent_m


def test_default_start_is_the_profiles_ready_pose_for_its_arm():
    panda = SimpleNamespace(joint_names=PANDA.arm_joints, lower_limits=[-1.0] * 7, upper_limits=[3.0] * 7)
    np.testing.assert_array_equal(default_start_positions(panda), PANDA.ready_positions())
    other = replace(PANDA, name="other", arm_joints=tuple(f"j{i}" for i in range(7)), ready_positions_rad=(0.1,) * 7)
    robot = SimpleNamespace(joint_names=other.arm_joints, lower_limits=[-1.0] * 7, upper_limits=[3.0] * 7)
    np.testing.assert_array_equal(default_start_positions(robot), [1.0] * 7)  # not the Panda: mid-range
    np.testing.assert_array_equal(default_start_positions(robot, other), [0.1] * 7)
    with pytest.raises(PlanningError, match="no robot model"):
        default_start_positions(None)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ready_positions_rad": (0.0,) * 6}, "ready_positions_rad must be 7 finite values"),
        ({"ready_positions_rad": (float("nan"),) * 7}, "ready_positions_rad must be 7 finite values"),
        ({"arm_joints": ("a", "a")}, "arm_joints must be unique non-empty names"),
        ({"finger_links": ()}, "finger_links must be unique non-empty names"),
        ({"tip_link": " "}, "robot profile tip_link must be a non-empty name"),
        ({"fingertip_offset_m": -0.1}, "robot profile fingertip_offset_m must be a finite number > 0"),
        ({"gripper_open_width_m": True}, "gripper_open_width_m must be a finite number > 0"),
    ],
)
def test_profile_validation(change, message):
    with pytest.raises(ValueError, match=message):
        replace(PANDA, **change)


def test_profile_is_frozen_and_normalized():
    profile = RobotProfile(
        **{
            **{f: getattr(PANDA, f) for f in PANDA.__dataclass_fields__},
            "arm_joints": list(PANDA.arm_joints),
            "ready_positions_rad": list(PANDA.ready_positions_rad),
        }
    )
    assert profile == PANDA and isinstance(profile.arm_joints, tuple)
    with pytest.raises(AttributeError):
        PANDA.tip_link = "x"  # type: ignore[misc]
