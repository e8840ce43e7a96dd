"""vla_r1_node for real: rclpy over Fast DDS, the recorded D435 frame on the RealSense topics, a real
ActionClient; fixed model answers from the local chat server, the pinocchio planner on the Panda
URDF, base_T_camera from a hand-eye YAML (no tf2 in a pip install)."""

from __future__ import annotations

import json
import math
import threading
import time

import pytest

# ros_harness first: it skips this module where ROS 2 is not installed
from ros_harness import CAMERA_FRAME, CameraPublisher, Client, d435_frame, ros, wait_until  # noqa: F401

# isort: split
from action_msgs.msg import GoalStatus
from chat_server import ChatServer
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from vla_r1_interfaces.msg import Affordance2D, Trajectory2D
from vla_r1_ros.node import VlaR1Node
from vla_r1_ros.node_logic import ERROR_CODES

# The camera looks straight down from 0.73 m above (0.45, 0, 0) of the base: camera x -> base -y,
# y -> base -x, z -> base -z. The D435 frame's right side is ~0.58 m away (a grasp at ~0.15 m
# height), its left side ~1.8 m (below the table: a safety rejection).
HAND_EYE_YAML = """\
frame_id: base_link
child_frame_id: camera_color_optical_frame
x: 0.45
y: 0.0
z: 0.73
qx: 0.7071067811865476
qy: -0.7071067811865476
qz: 0.0
qw: 0.0
info:
  setup: eye-to-hand
"""
BOX = {"x": 0.92, "y": 0.5, "width": 0.08, "height": 0.1}
ANSWERS = {  # instruction keyword -> the model's fixed answer
    "cup": f"<think>The cup is on the right.</think> so, the answer is <output>{json.dumps(BOX)}</output>",
    "wall": "<think>The wall, far away.</think> so, the answer is "
    '<output>{"x": 0.1, "y": 0.3, "width": 0.08, "height": 0.1}</output>',
    "reach": "<think>Along the counter.</think> so, the answer is "
    "<output>[[0.85, 0.4], [0.9, 0.5], [0.92, 0.6]]</output>",
    "ramble": "<think>I am not sure what to do here.</think> no answer",
    "long": "<think>" + "thinking slowly about the scene. " * 40 + "</think>",
}
SLOW_ANSWER_S = 2.5
PARSE_FAILED, SAFETY_REJECTED = ERROR_CODES["PARSE_FAILED"], ERROR_CODES["SAFETY_REJECTED"]


def answer(body: dict) -> str:
    """The fixed answer for the instruction in the request's text parts (the image part is skipped)."""
    parts = [
        m["content"] if isinstance(m["content"], str) else " ".join(p.get("text", "") for p in m["content"])
        for m in body["messages"]
    ]
    text = " ".join(parts)
    for keyword, reply in ANSWERS.items():
        if keyword in text:
            if keyword == "long":
                time.sleep(SLOW_ANSWER_S)  # a generation that takes a while (the server answers other requests)
            return reply
    return ANSWERS["ramble"]


@pytest.fixture(scope="module")
def chat():
    with ChatServer(answer, delay_s=0.2) as server:
        yield server


@pytest.fixture(scope="module")
def frame(testdata):
    return d435_frame(testdata)


@pytest.fixture(scope="module")
def hand_eye(tmp_path_factory):
    path = tmp_path_factory.mktemp("ros_node") / "base_T_camera.yaml"
    path.write_text(HAND_EYE_YAML)
    return path


def node_overrides(server_url: str, hand_eye, **extra) -> list[Parameter]:
    values = {
        "model.backend": "openai",
        "model.model": "vla-r1-test",
        "model.server_url": server_url,
        "model.timeout_s": 5.0,
        "camera.camera_frame_id": CAMERA_FRAME,
        "camera.frame_wait_timeout_s": 1.0,
        "transforms.hand_eye_yaml": str(hand_eye),
        "execution.planner": "none",
        "output.diagnostics_period_s": 0.3,
        "output.feedback_period_s": 0.05,
    }
    values.update(extra)
    return [Parameter(name, value=value) for name, value in values.items()]


@pytest.fixture(scope="module")
def camera(ros, frame):
    publisher = ros.add(CameraPublisher(frame, ros.context, rate_hz=10.0))
    yield publisher
    publisher.active = False


@pytest.fixture(scope="module")
def node(ros, chat, hand_eye, testdata, camera):
    urdf = testdata / "urdf_panda" / "panda.urdf"
    server = ros.add(
        VlaR1Node(
            context=ros.context,
            parameter_overrides=node_overrides(
                chat.url,
                hand_eye,
                **{
                    "execution.planner": "pinocchio",
                    "execution.urdf_path": str(urdf),
                    "execution.pose_link": "panda_hand",
                },
            ),
        )
    )
    wait_until(lambda: server.ready, 20, "the model client")
    yield server


@pytest.fixture(scope="module")
def client(ros, node):
    c = ros.add(Client(ros.context))
    c.overlay = c.record(Image, "/vla_r1_node/overlay")
    c.markers = c.record(MarkerArray, "/vla_r1_node/markers")
    c.affordance = c.record(Affordance2D, "/vla_r1_node/affordance")
    c.trajectory = c.record(Trajectory2D, "/vla_r1_node/trajectory")
    c.plans = c.record(JointTrajectory, "/vla_r1_node/planned_trajectory")
    c.reasoning = c.record(String, "/vla_r1_node/reasoning")
    c.diagnostics = c.record(DiagnosticArray, "/diagnostics")
    return c


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def test_a_valid_affordance_goal_succeeds_with_base_frame_targets_and_a_plan(client, camera):
    counts = {name: len(getattr(client, name)) for name in ("overlay", "markers", "affordance", "plans", "reasoning")}
    run = client.run("pick up the cup")
    r = run.result
    assert run.status == GoalStatus.STATUS_SUCCEEDED, (run.status_name, r.error_message)
    assert r.success and r.error_code == 0 and not r.executed
    assert "plan only" in r.error_message
    assert r.task == "affordance" and r.reasoning == "The cup is on the right." and "<output>" in r.raw_text
    # the 2D answer, in the image it was predicted on
    a = r.affordance
    assert (a.center_x_normalized, a.center_y_normalized, a.width_normalized, a.height_normalized) == pytest.approx(
        (BOX["x"], BOX["y"], BOX["width"], BOX["height"])
    )
    assert (a.image_width, a.image_height) == (640, 480) and a.header.frame_id == CAMERA_FRAME
    image_stamp = stamp_s(a.header.stamp)
    assert abs(time.time() - image_stamp) < 30, "the stamp of a frame published by the test camera"
    # targets in the base frame: pre-grasp above the grasp, where the hand-eye transform puts them
    assert r.targets.header.frame_id == "base_link" and stamp_s(r.targets.header.stamp) == image_stamp
    poses = [(p.position.x, p.position.y, p.position.z) for p in r.targets.poses]
    assert len(poses) == 2 and poses[0][2] > poses[1][2] + 0.05
    x, y, z = poses[1]
    assert 0.35 < x < 0.55 and -0.35 < y < -0.15 and 0.15 < z < 0.45
    # the pinocchio plan: Panda joints, times increasing
    plan = r.plan
    assert plan.joint_names[:7] == [f"panda_joint{i}" for i in range(1, 8)] and len(plan.points) >= 2
    times = [stamp_s(p.time_from_start) for p in plan.points]
    assert times == sorted(times) and times[-1] > 0
    assert {t.stage for t in r.timings} >= {"model", "parse", "grounding", "safety", "planning"}
    wait_until(lambda: "planned" in run.stages, 5, "the 'planned' feedback")
    assert run.stages[0] == "waiting_for_frame" and "model" in run.stages

    # published alongside: overlay and 2D action in the image frame, markers and plan in the base frame
    overlay = wait_until(lambda: client.overlay.since(counts["overlay"]), 5, "the overlay image")[-1]
    assert overlay.header.frame_id == CAMERA_FRAME and stamp_s(overlay.header.stamp) == image_stamp
    assert (overlay.width, overlay.height, overlay.encoding) == (640, 480, "rgb8") and len(
        overlay.data
    ) == 640 * 480 * 3
    affordance = wait_until(lambda: client.affordance.since(counts["affordance"]), 5, "the affordance topic")[-1]
    assert affordance.header.frame_id == CAMERA_FRAME and stamp_s(affordance.header.stamp) == image_stamp
    markers = wait_until(lambda: client.markers.since(counts["markers"]), 5, "the markers")[-1].markers
    assert all(m.header.frame_id == "base_link" and stamp_s(m.header.stamp) == image_stamp for m in markers)
    assert {"box_rays", "targets"} <= {m.ns for m in markers}
    planned = wait_until(lambda: client.plans.since(counts["plans"]), 5, "the planned trajectory")[-1]
    assert planned.header.frame_id == "base_link" and len(planned.points) == len(plan.points)
    reasoning = wait_until(lambda: client.reasoning.since(counts["reasoning"]), 5, "the reasoning")[-1]
    assert reasoning.data == "The cup is on the right."


def test_goals_with_different_outcomes_on_one_node_each_get_their_own_result(client):
    """Regression: after one goal ended, a goal whose success differed came back ABORTED with an
    empty result (rclpy refused a logging call site that changed severity, after the goal ended)."""
    runs = [client.run(text) for text in ("pick up the cup", "ramble on", "pick up the cup", "touch the wall")]
    assert [r.status for r in runs] == [
        GoalStatus.STATUS_SUCCEEDED,
        GoalStatus.STATUS_ABORTED,
        GoalStatus.STATUS_SUCCEEDED,
        GoalStatus.STATUS_ABORTED,
    ]
    assert [r.result.error_code for r in runs] == [0, PARSE_FAILED, 0, SAFETY_REJECTED]
    parse, safety = runs[1].result, runs[3].result
    assert not parse.success and parse.error_message.startswith("parse:") and parse.raw_text == ANSWERS["ramble"]
    assert parse.reasoning == "I am not sure what to do here." and len(parse.plan.points) == 0
    assert safety.error_message.startswith("safety:") and "below" in safety.error_message
    assert len(safety.targets.poses) > 0 and len(safety.plan.points) == 0, "targets reported, nothing planned"
    assert safety.affordance.header.frame_id == CAMERA_FRAME


def test_a_trajectory_goal_gives_waypoints_in_the_base_frame(client):
    count = len(client.trajectory)
    run = client.run("reach along the counter", task="trajectory")
    r = run.result
    assert run.status == GoalStatus.STATUS_SUCCEEDED, r.error_message
    assert list(r.trajectory.x_normalized) == pytest.approx([0.85, 0.9, 0.92])
    assert list(r.trajectory.y_normalized) == pytest.approx([0.4, 0.5, 0.6])
    assert len(r.targets.poses) >= 3 and r.targets.header.frame_id == "base_link"
    published = wait_until(lambda: client.trajectory.since(count), 5, "the trajectory topic")[-1]
    assert published.header.frame_id == CAMERA_FRAME and published.header.stamp == r.trajectory.header.stamp


def test_a_failing_model_server_aborts_the_goal_with_model_failed(client, chat):
    chat.mode = "error503"
    try:
        run = client.run("pick up the cup")
    finally:
        chat.mode = "ok"
    assert run.status == GoalStatus.STATUS_ABORTED
    assert run.result.error_code == ERROR_CODES["MODEL_FAILED"] and "503" in run.result.error_message
    assert client.run("pick up the cup").status == GoalStatus.STATUS_SUCCEEDED, "the node recovers"


def test_cancel_during_generation_ends_canceled_quickly_and_a_second_goal_meanwhile_is_rejected(client):
    handle, run = client.send("think long about it")  # the server takes SLOW_ANSWER_S to answer
    assert handle is not None
    wait_until(lambda: "model" in run.stages, 10, "the model stage")
    second, second_run = client.send("pick up the cup")
    assert second is None and not second_run.accepted, "one goal at a time"
    asked = time.monotonic()
    cancel = handle.cancel_goal_async()
    wait_until(lambda: cancel.done(), 5, "the cancel response")
    client.finish(handle, run, timeout_s=10)
    took = time.monotonic() - asked
    assert run.status == GoalStatus.STATUS_CANCELED, run.status_name
    assert run.result.error_code == ERROR_CODES["CANCELLED"] and not run.result.executed
    assert run.result.error_message == "cancelled"
    assert took < SLOW_ANSWER_S + 2.5, f"cancel took {took:.1f} s"
    assert client.run("pick up the cup").status == GoalStatus.STATUS_SUCCEEDED, "free again after the cancel"


@pytest.mark.parametrize("instruction, task", [("", "affordance"), ("   ", "affordance"), ("pick up the cup", "dance")])
def test_invalid_goals_are_rejected(client, instruction, task):
    handle, run = client.send(instruction, task)
    assert handle is None and not run.accepted


def test_stale_frames_are_refused_after_the_wait(client, camera):
    camera.active = False
    try:
        time.sleep(0.8)  # older than camera.max_frame_age_s (0.5 s)
        started = time.monotonic()
        run = client.run("pick up the cup")
        waited = time.monotonic() - started
    finally:
        camera.active = True
    assert run.status == GoalStatus.STATUS_ABORTED and run.result.error_code == ERROR_CODES["NO_FRAME"]
    assert "s old" in run.result.error_message and "/camera/camera/color/image_raw" in run.result.error_message
    assert 0.9 < waited < 5.0, "refused after camera.frame_wait_timeout_s (1 s)"
    wait_until(
        lambda: client.run("pick up the cup").status == GoalStatus.STATUS_SUCCEEDED,
        10,
        "success once frames flow again",
    )


class ExecutingPlanner:
    """Test double of an arm: plans with the real planner, records every execute call."""

    def __init__(self, planner) -> None:
        self.planner = planner
        self.robot = planner.robot
        self.executed: list = []

    def plan(self, targets, start):
        return self.planner.plan(targets, start)

    def execute(self, plan, cancel: threading.Event | None = None) -> None:
        self.executed.append(plan)


def test_the_execution_gate_needs_the_goal_and_the_node_to_allow_it(client, node):
    real = node._planner
    double = ExecutingPlanner(real)
    node._planner = double
    outcomes = {}
    try:
        for allow in (False, True):
            node.set_parameters([Parameter("execution.allow_execution", value=allow)])
            for execute in (False, True):
                before = len(double.executed)
                run = client.run("pick up the cup", execute=execute)
                assert run.status == GoalStatus.STATUS_SUCCEEDED, run.result.error_message
                outcomes[(execute, allow)] = (
                    run.result.executed,
                    len(double.executed) - before,
                    run.result.error_message,
                    "executing" in run.stages,
                )
    finally:
        node._planner = real
        node.set_parameters([Parameter("execution.allow_execution", value=False)])
    assert outcomes[(True, True)][:2] == (True, 1) and outcomes[(True, True)][2] == "executed"
    for key in ((False, False), (False, True), (True, False)):
        executed, calls, _, _ = outcomes[key]
        assert (executed, calls) == (False, 0), key
    assert "did not ask" in outcomes[(False, True)][2] and "did not ask" in outcomes[(False, False)][2]
    assert "allow_execution is false" in outcomes[(True, False)][2]


def test_diagnostics_report_model_camera_and_inference(client):
    def newest():
        for array in reversed(client.diagnostics.since(0)):
            names = {s.name for s in array.status}
            if "vla_r1_node: camera" in names and array.status[1].level == b"\x00":
                return array
        return None

    array = wait_until(newest, 10, "diagnostics with a live camera")
    status = {s.name.split(": ")[1]: s for s in array.status}
    assert status["model"].level == b"\x00" and status["model"].message == "loaded"
    values = {kv.key: kv.value for kv in status["camera"].values}
    assert float(values["rate_hz"]) > 0 and float(values["last_frame_age_s"]) < 1.0
    assert status["inference"].message.startswith("last ")
    assert abs(time.time() - stamp_s(array.header.stamp)) < 10 and all(
        s.hardware_id == "vla_r1_node" for s in array.status
    )


def test_an_unreachable_server_and_a_silent_camera_are_clear_refusals(ros, hand_eye, camera):
    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    unreachable = ros.add(
        VlaR1Node("vla_r1_node_unreachable", context=ros.context, parameter_overrides=node_overrides(closed, hand_eye))
    )
    silent = ros.add(
        VlaR1Node(
            "vla_r1_node_silent",
            context=ros.context,
            parameter_overrides=node_overrides(
                closed,
                hand_eye,
                **{
                    "camera.color_topic": "/nobody/color",
                    "camera.depth_topic": "/nobody/depth",
                    "camera.info_topic": "/nobody/info",
                },
            ),
        )
    )
    clients = [
        ros.add(Client(ros.context, "vla_r1_node_unreachable", "client_unreachable")),
        ros.add(Client(ros.context, "vla_r1_node_silent", "client_silent")),
    ]
    try:
        wait_until(lambda: unreachable.ready and silent.ready, 10, "the two nodes")
        run = clients[0].run("pick up the cup")
        assert run.status == GoalStatus.STATUS_ABORTED and run.result.error_code == ERROR_CODES["MODEL_FAILED"]
        assert "127.0.0.1:9" in run.result.error_message
        started = time.monotonic()
        run = clients[1].run("pick up the cup")
        assert run.status == GoalStatus.STATUS_ABORTED and run.result.error_code == ERROR_CODES["NO_FRAME"]
        assert "no synchronized camera frame has been received" in run.result.error_message
        assert "/nobody/color" in run.result.error_message and time.monotonic() - started >= 1.0
    finally:
        for n in clients + [unreachable, silent]:
            ros.remove(n)


def test_the_transformers_path_with_the_tiny_checkpoint(ros, hand_eye, camera, tiny_checkpoint):
    tiny = ros.add(
        VlaR1Node(
            "vla_r1_node_tiny",
            context=ros.context,
            parameter_overrides=node_overrides(
                "",
                hand_eye,
                **{
                    "model.backend": "transformers",
                    "model.model": str(tiny_checkpoint),
                    "model.max_new_tokens": 12,
                    "model.device": "cpu",
                },
            ),
        )
    )
    client = ros.add(Client(ros.context, "vla_r1_node_tiny", "client_tiny"))
    try:
        wait_until(lambda: tiny.ready or tiny._model_error, 60, "the tiny checkpoint to load")
        assert tiny._model_error is None
        run = client.run("pick up the cup", timeout_s=60)
        r = run.result
        # random weights write random tokens: the goal ends with a parse failure (or, by luck, a box)
        assert run.status in (GoalStatus.STATUS_SUCCEEDED, GoalStatus.STATUS_ABORTED)
        assert r.error_code in (0, PARSE_FAILED, ERROR_CODES["GROUNDING_FAILED"], SAFETY_REJECTED), r.error_message
        assert r.error_message and "model" in {t.stage for t in r.timings}
        assert not math.isnan(next(t.seconds for t in r.timings if t.stage == "model"))
    finally:
        ros.remove(client)
        ros.remove(tiny)


def test_a_failure_after_the_goal_ended_keeps_its_result(client, node, monkeypatch):
    """Regression: the execute callback's fallback aborted a goal that had already ended ("invalid
    transition from state SUCCEEDED"), so the goal's result was lost."""
    finish = node._finish

    def finish_then_fail(goal_handle, data, frame=None):
        finish(goal_handle, data, frame)
        raise RuntimeError("a bug after the goal ended")

    monkeypatch.setattr(node, "_finish", finish_then_fail)
    run = client.run("pick up the cup")
    monkeypatch.undo()
    assert run.status == GoalStatus.STATUS_SUCCEEDED
    assert run.result.success and run.result.error_code == 0 and len(run.result.plan.points) >= 2
    failing = client.run("touch the wall")  # later goals get their own results again
    assert failing.status == GoalStatus.STATUS_ABORTED and failing.result.error_code == SAFETY_REJECTED
    assert client.run("pick up the cup").status == GoalStatus.STATUS_SUCCEEDED, "not left busy"


def test_an_internal_error_before_the_goal_ends_aborts_it_with_the_reason(client, node, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("overlay renderer broke")

    monkeypatch.setattr(node, "_publish_outcome", broken)
    run = client.run("pick up the cup")
    monkeypatch.undo()
    assert run.status == GoalStatus.STATUS_ABORTED
    assert run.result.error_message == "internal error: RuntimeError: overlay renderer broke"
    assert client.run("pick up the cup").status == GoalStatus.STATUS_SUCCEEDED, "not left busy"
