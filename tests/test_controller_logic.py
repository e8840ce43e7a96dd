"""The decisions of executing a task plan through ros2_control (controller_logic.py), without ROS."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_robot.motion.controller_logic import (
    HOLD_TIME_S,
    ControllerConfig,
    ExecutionReport,
    JointStateSlot,
    StepWatch,
    arm_command,
    fresh_positions,
    gripper_command,
    hold_command,
    start_deviation,
    step_label,
)
from vla_r1_robot.motion.planning import JointTrajectory
from vla_r1_robot.motion.task import ArmSegment, GripperCommand

JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
CONFIG = ControllerConfig()


def segment(role: str = "lift", duration_s: float = 2.0, end: float = 0.5) -> ArmSegment:
    positions = np.zeros((3, 7))
    positions[1], positions[2] = end / 2, end
    trajectory = JointTrajectory(JOINTS, positions, np.array([0.0, duration_s / 2, duration_s]), np.zeros((3, 7)))
    return ArmSegment(role, trajectory, (np.eye(4),), np.zeros((1, 3)))


def state(value: float, **overrides) -> dict[str, float]:
    return {**{j: value for j in JOINTS}, **overrides}


def test_an_arm_segment_is_done_after_its_time_and_within_the_goal_tolerance():
    watch = StepWatch(arm_command(segment(), CONFIG), CONFIG, sent_s=10.0)
    assert watch.update(11.0, state(0.5)) == "running", "at the goal before the trajectory's end: not yet (JTC rule)"
    assert watch.update(12.0, state(0.5, panda_joint3=0.52)) == "running", "0.02 rad off > goal_tolerance_rad"
    assert watch.update(12.1, state(0.5, panda_joint3=0.509)) == "done"


def test_an_arm_segment_times_out_at_duration_times_factor_plus_margin_and_says_why():
    watch = StepWatch(arm_command(segment(), CONFIG), CONFIG, sent_s=10.0)
    assert watch.deadline_s == pytest.approx(10.0 + 2.0 * 1.5 + 2.0)
    assert watch.update(14.99, state(0.5, panda_joint2=0.3)) == "running"
    assert watch.update(15.0, state(0.5, panda_joint2=0.3)) == "timeout"
    message = watch.failure(step_label(3, segment()))
    assert message.startswith("segment 3 (lift) did not reach its goal within 5.00 s")
    assert "panda_joint2 is 0.2000 rad from it" in message and "execution.goal_tolerance_rad 0.01" in message


def test_a_gripper_step_is_done_at_the_commanded_opening():
    command = gripper_command(GripperCommand("open", 0.08, 20.0), CONFIG)
    assert command.joint_names == ("panda_finger_joint1",) and command.positions[0, 0] == pytest.approx(0.04)
    assert command.effort == (20.0,) and command.duration_s == CONFIG.gripper_duration_s
    watch = StepWatch(command, CONFIG, sent_s=0.0)
    assert watch.update(0.1, {"panda_finger_joint1": 0.02}) == "running"
    assert watch.update(0.5, {"panda_finger_joint1": 0.036}) == "done"


def test_a_closing_gripper_is_done_when_an_object_stops_it_but_not_when_it_never_moved():
    command = gripper_command(GripperCommand("close", 0.0, 20.0), CONFIG)
    grasp = StepWatch(command, CONFIG, sent_s=0.0, closing=True)
    t, statuses = 0.0, []
    for position in np.concatenate([np.linspace(0.04, 0.02, 20), np.full(30, 0.02)]):  # moves, then stands still
        t += 0.02
        statuses.append(grasp.update(t, {"panda_finger_joint1": float(position)}))
    assert "done" in statuses and statuses.index("done") == 19 + 10, (
        "at rest from sample 19: done gripper_stall_s (10 samples) later"
    )
    stuck = StepWatch(command, CONFIG, sent_s=0.0, closing=True)
    results = [stuck.update(0.02 * k, {"panda_finger_joint1": 0.04}) for k in range(1, 300)]
    assert "done" not in results and results[-1] == "timeout", "a gripper that never moved did not grasp anything"
    assert "did not stall on an object" in stuck.failure("segment 2 (gripper close)")
    opening = StepWatch(gripper_command(GripperCommand("open", 0.08, 20.0), CONFIG), CONFIG, sent_s=0.0)
    assert all(opening.update(0.02 * k, {"panda_finger_joint1": 0.02}) != "done" for k in range(1, 100)), (
        "an opening gripper never counts a stall as done"
    )


def test_a_grasp_is_seen_when_the_first_state_read_after_sending_already_shows_the_finger_on_the_object():
    # A loaded executor may take a burst of joint states in at once and the watcher reads only the newest:
    # the finger has already closed from 0.04 onto the object at 0.023 by the first state it sees.
    command = gripper_command(GripperCommand("close", 0.0, 20.0), CONFIG)
    watch = StepWatch(command, CONFIG, sent_s=0.0, closing=True, start_position=0.04)
    statuses = [watch.update(0.3 + 0.02 * k, {"panda_finger_joint1": 0.023}) for k in range(30)]
    assert statuses.index("done") == 10, "done once it stood still for gripper_stall_s"


def test_the_hold_is_one_point_at_the_measured_positions_with_zero_velocity():
    hold = hold_command({**state(0.3), "panda_finger_joint1": 0.01}, CONFIG)
    assert hold.joint_names == JOINTS and hold.positions.shape == (1, 7) and np.all(hold.positions == 0.3)
    assert np.all(hold.velocities == 0) and hold.time_from_start_s.tolist() == [HOLD_TIME_S] == [0.1]


def test_arm_commands_must_name_the_configured_joints():
    assert arm_command(segment(), CONFIG).joint_names == JOINTS
    with pytest.raises(ValueError, match=r"execution\.arm_joints"):
        arm_command(segment(), ControllerConfig(arm_joints=("a", "b")))


def test_fresh_positions_and_the_start_deviation():
    assert fresh_positions({}, None, 1.0, JOINTS, 0.5) == (None, "no joint state received yet")
    positions, why = fresh_positions(state(0.1), 0.0, 1.0, JOINTS, 0.5)
    assert positions is None and "1.00 s old" in why
    positions, why = fresh_positions(state(0.1), 0.0, 0.2, JOINTS + ("panda_finger_joint1",), 0.5)
    assert positions is None and "panda_finger_joint1" in why
    positions, _ = fresh_positions(state(0.1), 0.0, 0.2, JOINTS, 0.5)
    assert positions == state(0.1)
    assert start_deviation(arm_command(segment(), CONFIG), state(0.0, panda_joint5=0.07)) == (
        "panda_joint5",
        pytest.approx(0.07),
    )


def test_the_joint_state_slot_merges_messages_and_wakes_waiters():
    slot = JointStateSlot(clock=lambda: 5.0)
    slot.put(["a", "b"], [1.0, 2.0])
    slot.put(["b"], [3.0])
    positions, received, count = slot.latest()
    assert positions == {"a": 1.0, "b": 3.0} and received == 5.0 and count == 2
    slot.wait_newer(1, 0.0)  # already newer: returns at once


@pytest.mark.parametrize(
    "field, value",
    [
        ("goal_tolerance_rad", 0.0),
        ("segment_timeout_factor", 0.9),
        ("segment_timeout_margin_s", -1.0),
        ("controller_interface", "rpc"),
        ("arm_joints", ()),
        ("gripper_joint", ""),
    ],
)
def test_bad_controller_settings_are_refused_naming_the_parameter(field, value):
    with pytest.raises(ValueError, match=f"execution.{field}"):
        ControllerConfig(**{field: value})


def test_an_executed_report_finished_every_step():
    ExecutionReport(True, False, 4, 4)
    with pytest.raises(ValueError):
        ExecutionReport(True, False, 4, 3)
