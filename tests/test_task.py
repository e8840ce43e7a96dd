"""The task layer: grounded targets -> gripper commands and arm segments, safety on every segment."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.motion.task import ArmSegment, GripperCommand, TaskConfig, TaskError, fingertip_points, plan_task
from vla_r1_robot.perception.grounding import GraspTarget, GroundedTargets, GroundingConfig, PathTarget

READY = PANDA.ready_positions()
GROUNDING = GroundingConfig()
TOP_DOWN = np.diag([1.0, -1.0, -1.0])


def _grasp_targets(grasp_point=(0.55, 0.0, 0.05)) -> GroundedTargets:
    targets = []
    for role, offset in (("pregrasp", 0.10), ("grasp", 0.0)):
        base_T_grasp = np.eye(4)
        base_T_grasp[:3, :3] = TOP_DOWN
        base_T_grasp[:3, 3] = np.add(grasp_point, (0.0, 0.0, offset))
        targets.append(
            GraspTarget(
                role,
                base_T_grasp,
                base_T_grasp @ GROUNDING.grasp_T_tip,
                (320.0, 240.0),
                (300.0, 220.0, 340.0, 260.0),
                0.7,
                100,
                100,
                TOP_DOWN[:, 2],
                TOP_DOWN[:, 1],
                0.0,
                "box",
                0,
            )
        )
    return GroundedTargets("grasp", tuple(targets), 0.0)


@pytest.fixture(scope="module")
def planner():
    from vla_r1_robot.motion.kinematics import RobotModel
    from vla_r1_robot.motion.planning import PinocchioPlanner

    try:
        from vla_r1_robot.sim.robot_description import panda_urdf

        urdf = panda_urdf()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return PinocchioPlanner(RobotModel.from_urdf(str(urdf), "panda_hand"), SafetyConfig())


def test_pick_plan_has_gripper_and_lift_steps_in_order(planner):
    config = TaskConfig(grasp_depth_m=0.02, lift_height_m=0.10)
    plan = plan_task(_grasp_targets(), planner, READY, SafetyConfig(), GROUNDING.grasp_T_tip, config)
    assert plan.step_names() == ["gripper:open", "arm:approach", "gripper:close", "arm:lift"]
    open_cmd, approach, close_cmd, lift = plan.steps
    assert isinstance(open_cmd, GripperCommand) and open_cmd.width_m == pytest.approx(0.08)
    assert isinstance(close_cmd, GripperCommand) and close_cmd.action == "close" and close_cmd.force_n == 20.0
    # The fingertips close grasp_depth_m below the grounded point; the lift goes straight up from there.
    np.testing.assert_allclose(plan.grasp_point_base_m, [0.55, 0.0, 0.03], atol=1e-12)
    np.testing.assert_allclose(approach.grasp_points_base_m[-1], [0.55, 0.0, 0.03], atol=1e-12)
    np.testing.assert_allclose(lift.grasp_points_base_m[-1], [0.55, 0.0, 0.13], atol=1e-12)
    # Each segment starts where the previous one ended, and ends at its last target.
    np.testing.assert_allclose(lift.trajectory.positions[0], approach.trajectory.positions[-1])
    for segment in (approach, lift):
        np.testing.assert_allclose(
            planner.robot.fk(segment.trajectory.positions[-1]), segment.targets_base_T_tip[-1], atol=1e-3
        )


def test_place_adds_carry_release_and_retreat(planner):
    config = TaskConfig(place_position_base_m=(0.45, 0.2, 0.03))
    plan = plan_task(_grasp_targets(), planner, READY, SafetyConfig(), GROUNDING.grasp_T_tip, config)
    assert plan.step_names() == [
        "gripper:open",
        "arm:approach",
        "gripper:close",
        "arm:lift",
        "arm:place",
        "gripper:open",
        "arm:retreat",
    ]
    place = plan.steps[4]
    np.testing.assert_allclose(place.grasp_points_base_m[-1], [0.45, 0.2, 0.03], atol=1e-12)
    # The carry is split so that no step exceeds the safety step rule.
    steps = np.linalg.norm(np.diff(place.grasp_points_base_m, axis=0), axis=1)
    assert steps.max() <= SafetyConfig().max_step_m


def test_trajectory_holds_the_gripper_state(planner):
    poses = []
    for k, x in enumerate(np.linspace(0.45, 0.55, 6)):
        base_T_grasp = np.eye(4)
        base_T_grasp[:3, :3] = TOP_DOWN
        base_T_grasp[:3, 3] = (x, 0.0, 0.12)
        poses.append(
            PathTarget(
                "waypoint",
                float(k),
                base_T_grasp,
                base_T_grasp @ GROUNDING.grasp_T_tip,
                ((1.0, 1.0),),
                np.array([x, 0.0, 0.0]),
                0.12,
                0.7,
                9,
                9,
            )
        )
    targets = GroundedTargets("path", tuple(poses), 0.0)
    plan = plan_task(
        targets, planner, READY, SafetyConfig(), GROUNDING.grasp_T_tip, TaskConfig(trajectory_gripper="close")
    )
    assert plan.kind == "path"
    assert plan.step_names() == ["gripper:close", "arm:path"]
    assert isinstance(plan.steps[1], ArmSegment) and len(plan.steps[1].targets_base_T_tip) == 6


@pytest.mark.parametrize(
    "config, segment",
    [
        (TaskConfig(lift_height_m=1.2), "lift"),  # above the workspace's 1 m ceiling
        (TaskConfig(place_position_base_m=(1.5, 0.0, 0.05)), "place"),  # beyond the workspace box and the reach
        (TaskConfig(place_position_base_m=(0.5, 0.2, 0.0)), "place"),  # fingertips into the table
    ],
)
def test_safety_refuses_a_lift_or_place_outside_the_workspace(config, segment):
    # Refused before anything is planned: no planner is even needed.
    with pytest.raises(TaskError) as caught:
        plan_task(_grasp_targets(), None, READY, SafetyConfig(), GROUNDING.grasp_T_tip, config)
    assert caught.value.stage == "safety" and caught.value.segment == segment
    assert caught.value.violations
    assert f"the {segment} segment" in str(caught.value)


def test_the_real_fingertip_points_are_checked_not_only_the_pad_centre():
    # A grasp 1 cm above the table with 2 cm depth puts the pad centre below the table: refused.
    with pytest.raises(TaskError) as caught:
        plan_task(_grasp_targets((0.55, 0.0, 0.01)), None, READY, SafetyConfig(), GROUNDING.grasp_T_tip, TaskConfig())
    assert caught.value.segment == "approach"
    assert any(v.rule == "tool_min_height" for v in caught.value.violations)
    # The pad centre alone would pass at 14 mm, but the pad reaches 9.25 mm lower than its centre.
    tool = np.eye(4)
    tool[:3, :3] = TOP_DOWN
    tool[:3, 3] = (0.5, 0.0, 0.014)
    points = fingertip_points(tool, 0.08, TaskConfig())
    np.testing.assert_allclose(points[:, 2], 0.014 - 0.00925)
    assert np.ptp(points[:, 1]) == pytest.approx(0.08 + 2 * 0.0076)
    with pytest.raises(TaskError, match=r"tool_min_height|fingertip"):
        plan_task(
            _grasp_targets((0.55, 0.0, 0.033)),
            None,
            READY,
            SafetyConfig(tool_min_z_m=0.005),
            GROUNDING.grasp_T_tip,
            TaskConfig(grasp_depth_m=0.02),
        )


def test_task_config_is_validated():
    with pytest.raises(ValueError, match="grasp_depth_m"):
        TaskConfig(grasp_depth_m=-0.01)
    with pytest.raises(ValueError, match="gripper_close_width_m"):
        TaskConfig(gripper_close_width_m=0.09)
    with pytest.raises(ValueError, match="unknown task config keys"):
        TaskConfig.from_dict({"lift_hieght_m": 0.1})
    assert TaskConfig.from_dict({"place_position_base_m": [0.4, 0.1, 0.05]}).place_position_base_m == (0.4, 0.1, 0.05)
