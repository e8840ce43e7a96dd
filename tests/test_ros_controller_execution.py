"""vla_r1_node executing task plans through ros2_control's topic interfaces, for real over DDS: the
node (planner pinocchio), the recorded D435 frame on the camera topics, fixed answers from the local
chat server, and a fake controller (tests/fake_controller.py) that follows the JointTrajectory
commands and publishes /joint_states."""

from __future__ import annotations

import time

import numpy as np
import pytest

# ros_harness first: it skips this module where ROS 2 is not installed
from ros_harness import CameraPublisher, Client, d435_frame, ros, wait_until  # noqa: F401

# isort: split
from action_msgs.msg import GoalStatus
from chat_server import ChatServer
from fake_controller import ARM_JOINTS, FakeController
from rclpy.parameter import Parameter
from test_ros_node import HAND_EYE_YAML, answer, node_overrides

from vla_r1_ros.node import VlaR1Node
from vla_r1_ros.node_logic import ERROR_CODES

PICK = ["gripper:open", "arm:approach", "gripper:close", "arm:lift"]
NODE = "vla_r1_node_controllers"


@pytest.fixture(scope="module")
def chat():
    with ChatServer(answer, delay_s=0.1) as server:
        yield server


@pytest.fixture(scope="module")
def camera(ros, testdata):
    publisher = ros.add(CameraPublisher(d435_frame(testdata), ros.context, rate_hz=5.0, name="test_camera_exec"))
    yield publisher
    publisher.active = False


@pytest.fixture(scope="module")
def fake(ros):
    return ros.add(FakeController(ros.context))


@pytest.fixture(scope="module")
def node(ros, chat, camera, fake, testdata, tmp_path_factory):
    hand_eye = tmp_path_factory.mktemp("controllers") / "base_T_camera.yaml"
    hand_eye.write_text(HAND_EYE_YAML)
    server = ros.add(
        VlaR1Node(
            NODE,
            context=ros.context,
            parameter_overrides=node_overrides(
                chat.url,
                hand_eye,
                **{
                    "execution.planner": "pinocchio",
                    "execution.urdf_path": str(testdata / "urdf_panda" / "panda.urdf"),
                    "model.timeout_s": 30.0,
                    "execution.allow_execution": True,
                    "execution.segment_timeout_factor": 1.2,
                    "execution.segment_timeout_margin_s": 0.6,
                    "execution.gripper_duration_s": 0.3,
                    # fast motions keep the test short (the fake controller follows any speed)
                    "planner.velocity_scaling": 1.0,
                    "planner.max_acceleration_rad_s2": 10.0,
                },
            ),
        )
    )
    wait_until(lambda: server.ready, 20, "the model client")
    yield server


@pytest.fixture(scope="module")
def client(ros, node):
    return ros.add(Client(ros.context, NODE, "client_controllers"))


@pytest.fixture(autouse=True)
def fresh(fake, node):
    fake.reset()
    fake.stuck_joint, fake.object_width_m, fake.active, fake.finger_speed_m_s = "", 0.0, True, 0.1
    node.set_parameters([Parameter("execution.allow_execution", value=True)])
    time.sleep(0.1)
    fake.arm_msgs.clear()
    fake.gripper_msgs.clear()
    yield


def executing(run) -> list[tuple[int, int, str]]:
    return [(f.segment_index, f.segment_count, f.segment_kind) for f in run.feedback if f.stage == "executing"]


def test_a_pick_runs_every_segment_and_reports_executed(client, fake):
    start = np.array(fake.positions()) + np.array([0.05, -0.03, 0.02, 0.04, 0.0, -0.02, 0.03])
    fake.reset(start)
    fake.object_width_m = 0.04  # the fingers close on an object: the close step ends by stalling
    time.sleep(0.1)
    run = client.run("pick up the cup", execute=True, timeout_s=60)
    r = run.result
    assert run.status == GoalStatus.STATUS_SUCCEEDED, r.error_message
    assert r.executed and r.error_message == "executed"
    assert (r.segment_count, r.segments_completed) == (4, 4)
    assert executing(run) == [(i, 4, kind) for i, kind in enumerate(PICK)], "one feedback per segment, in order"
    stages = run.stages
    assert (
        stages.index("waiting_for_frame") < stages.index("model") < stages.index("planned") < stages.index("executing")
    )
    assert all(f.segment_index == -1 for f in run.feedback if f.stage != "executing")
    # planned from the measured joint state, not from the ready pose
    assert list(r.plan.points[0].positions) == pytest.approx(list(start), abs=2e-3)
    # what reached the controllers: open, approach, close, lift
    assert [len(m.points) > 1 for _, m in fake.arm_msgs] == [True, True]
    opening, closing = (m.points[0] for _, m in fake.gripper_msgs)
    assert (opening.positions[0], closing.positions[0]) == pytest.approx((0.04, 0.0))
    assert list(closing.effort) == pytest.approx([20.0])
    assert all(m.joint_names == ["panda_finger_joint1"] for _, m in fake.gripper_msgs)
    assert fake.finger == pytest.approx(0.02, abs=1e-3), "stopped on the object"
    lift_end = np.array(fake.arm_msgs[-1][1].points[-1].positions)
    order = [fake.arm_msgs[-1][1].joint_names.index(j) for j in ARM_JOINTS]
    assert np.abs(fake.positions() - lift_end[order]).max() < 0.01
    timings = {t.stage for t in r.timings}
    assert {"model", "planning", "execution", "execution.3:arm:lift"} <= timings


def test_a_grasp_counts_when_the_first_state_after_the_close_already_shows_the_finger_on_the_object(client, fake):
    # A hand much faster than the 50 Hz joint states (or states read late, in a burst): the first state
    # after sending the close shows the finger already stopped. "It moved" is judged from the position
    # at sending; judged from the first state seen, the close would time out as "never moved".
    fake.object_width_m, fake.finger_speed_m_s = 0.04, float("inf")
    run = client.run("pick up the cup", execute=True, timeout_s=60)
    assert run.status == GoalStatus.STATUS_SUCCEEDED and run.result.executed, run.result.error_message
    assert fake.finger == pytest.approx(0.02)


def test_nothing_reaches_the_controllers_unless_the_goal_and_the_node_allow_it(client, node, fake):
    sent = {}
    for allow in (False, True):
        node.set_parameters([Parameter("execution.allow_execution", value=allow)])
        for execute in (False, True):
            fake.reset()
            before = len(fake.arm_msgs) + len(fake.gripper_msgs)
            run = client.run("pick up the cup", execute=execute, timeout_s=60)
            assert run.status == GoalStatus.STATUS_SUCCEEDED, run.result.error_message
            time.sleep(0.3)  # a message in flight would arrive by now
            sent[(execute, allow)] = (
                len(fake.arm_msgs) + len(fake.gripper_msgs) - before,
                run.result.executed,
                "executing" in run.stages,
            )
    assert sent[(True, True)] == (4, True, True)
    for key in ((False, False), (True, False), (False, True)):
        assert sent[key] == (0, False, False), key


def test_cancel_during_a_segment_holds_the_arm_and_ends_canceled(client, fake):
    start = fake.positions()
    start[0] += 1.2  # turned away from the cup: a long approach
    fake.reset(start)
    time.sleep(0.1)
    handle, run = client.send("pick up the cup", execute=True)
    wait_until(lambda: (1, 4, "arm:approach") in executing(run), 30, "the approach segment")

    def moving():
        before = fake.positions()
        time.sleep(0.03)
        return np.abs(fake.positions() - before).max() > 1e-3

    wait_until(moving, 5, "the arm to move")
    moving = fake.positions()
    asked = time.monotonic()
    handle.cancel_goal_async()
    client.finish(handle, run, timeout_s=10)
    took = time.monotonic() - asked
    assert run.status == GoalStatus.STATUS_CANCELED, run.status_name
    assert run.result.error_code == ERROR_CODES["CANCELLED"] and not run.result.executed
    assert took < 1.5, f"cancel took {took:.2f} s"
    wait_until(lambda: len(fake.arm_msgs) == 2, 2, "the hold (DDS does not order it with the result)")
    approach, hold = fake.arm_msgs[0][1], fake.arm_msgs[1][1]
    assert len(hold.points) == 1 and list(hold.points[0].velocities) == [0.0] * 7
    assert hold.points[0].time_from_start.sec == 0 and hold.points[0].time_from_start.nanosec == 100_000_000
    order = [hold.joint_names.index(j) for j in ARM_JOINTS]
    held = np.array(hold.points[0].positions)[order]
    approach_end = np.array(approach.points[-1].positions)[order]
    # the measured position when the cancel arrived: past where the test saw the arm moving (the
    # cancel takes a few hundred ms on a loaded machine), short of the approach's end
    progress = np.abs(approach_end - start).max()
    assert np.abs(held - start).max() >= np.abs(moving - start).max() - 1e-3
    assert np.abs(held - approach_end).max() > 0.05 * progress, "not the plan's end"
    time.sleep(0.3)
    settled = fake.positions()
    time.sleep(0.3)
    assert np.abs(fake.positions() - settled).max() < 1e-3, "the arm stays still after the hold"
    assert np.abs(settled - held).max() < 5e-3
    assert len(fake.gripper_msgs) == 1, "the close was never sent"


def test_a_stuck_joint_fails_the_segment_and_names_it_and_the_tolerance(client, fake):
    fake.stuck_joint = "panda_joint2"
    run = client.run("pick up the cup", execute=True, timeout_s=60)
    r = run.result
    assert run.status == GoalStatus.STATUS_ABORTED
    assert r.error_code == ERROR_CODES["EXECUTION_FAILED"] and not r.executed
    assert "segment 1 (approach)" in r.error_message and "panda_joint2" in r.error_message
    assert "goal_tolerance_rad 0.01" in r.error_message
    assert (r.segment_count, r.segments_completed) == (4, 1)
    wait_until(lambda: len(fake.arm_msgs) == 2, 2, "the hold")
    hold = fake.arm_msgs[-1][1]
    assert len(hold.points) == 1, "the failed segment, then the hold"
    assert len(fake.gripper_msgs) == 1, "nothing after the failed segment"


def test_several_goals_in_a_row_each_start_where_the_arm_is(client, fake):
    def at_rest() -> bool:  # the last goal ended within tolerance; the arm may still be converging
        first = fake.positions()
        time.sleep(0.1)
        return bool(np.abs(fake.positions() - first).max() < 1e-4)

    for k in range(3):
        wait_until(at_rest, 10, "the arm to come to rest")
        before = fake.positions()
        run = client.run("pick up the cup", execute=True, timeout_s=60)
        assert run.status == GoalStatus.STATUS_SUCCEEDED, (k, run.result.error_message)
        assert run.result.executed and run.result.segments_completed == 4
        assert list(run.result.plan.points[0].positions) == pytest.approx(list(before), abs=2e-3)


def test_a_trajectory_answer_runs_the_held_gripper_and_the_path(client, fake):
    run = client.run("reach along the counter", task="trajectory", execute=True, timeout_s=60)
    r = run.result
    assert run.status == GoalStatus.STATUS_SUCCEEDED, r.error_message
    assert r.executed and (r.segment_count, r.segments_completed) == (2, 2)
    assert executing(run) == [(0, 2, "gripper:open"), (1, 2, "arm:path")]
    assert len(fake.arm_msgs) == 1 and len(fake.arm_msgs[0][1].points) >= 3


def test_without_joint_states_an_executing_goal_is_refused_before_anything_moves(client, fake, node):
    fake.active = False

    def node_saw_none_lately():
        # what the node itself last received: a loaded executor may take in a queued state late
        _, received, _ = node._controllers.joint_states.latest()
        return received is not None and time.monotonic() - received > 0.7  # older than joint_state_max_age_s

    wait_until(node_saw_none_lately, 10, "the node's newest joint state to age")
    before = len(fake.arm_msgs) + len(fake.gripper_msgs)
    run = client.run("pick up the cup", execute=True, timeout_s=60)
    assert run.status == GoalStatus.STATUS_ABORTED and run.result.error_code == ERROR_CODES["PLANNING_FAILED"]
    assert "joint state" in run.result.error_message and "/joint_states" in run.result.error_message
    assert len(fake.arm_msgs) + len(fake.gripper_msgs) == before
    plan_only = client.run("pick up the cup", execute=False, timeout_s=60)
    assert plan_only.status == GoalStatus.STATUS_SUCCEEDED, "plan-only goals plan from the ready pose"


def test_controller_names_are_parameters_and_an_absent_controller_is_a_clear_failure(
    ros, chat, camera, fake, client, testdata, tmp_path
):
    hand_eye = tmp_path / "base_T_camera.yaml"
    hand_eye.write_text(HAND_EYE_YAML)
    other = ros.add(
        VlaR1Node(
            "vla_r1_node_other_arm",
            context=ros.context,
            parameter_overrides=node_overrides(
                chat.url,
                hand_eye,
                **{
                    "execution.planner": "pinocchio",
                    "model.timeout_s": 30.0,
                    "execution.urdf_path": str(testdata / "urdf_panda" / "panda.urdf"),
                    "execution.allow_execution": True,
                    "execution.arm_controller": "other_arm_controller",
                },
            ),
        )
    )
    other_client = ros.add(Client(ros.context, "vla_r1_node_other_arm", "client_other_arm"))
    try:
        wait_until(lambda: other.ready, 20, "the second node")
        run = other_client.run("pick up the cup", execute=True, timeout_s=60)
        r = run.result
        assert run.status == GoalStatus.STATUS_ABORTED and r.error_code == ERROR_CODES["EXECUTION_FAILED"]
        assert r.error_message == (
            "execution: nothing sent: nothing subscribes to /other_arm_controller/joint_trajectory: "
            "is the controller running?"
        )
        assert not r.executed and (r.segment_count, r.segments_completed) == (4, 0)
        time.sleep(0.3)
        assert fake.arm_msgs == [] and fake.gripper_msgs == []
    finally:
        ros.remove(other_client)
        ros.remove(other)
