"""The node's decisions, without ROS: goals, frame freshness, the execution gate, results, feedback."""

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from vla_r1_ros import node_logic as nl


class FakeClock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


def test_node_logic_imports_without_ros():
    import subprocess
    import sys

    code = (
        "import sys, vla_r1_ros.node_logic, vla_r1_ros.node_config, vla_r1_robot.bags.realsense_source, "
        "vla_r1_ros.conversions;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'moveit', 'sensor_msgs', 'message_filters')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "instruction,task,age,busy,fragment",
    [
        ("pick the cup", "affordance", 0.0, True, "another instruction"),
        ("  ", "affordance", 0.0, False, "empty"),
        ("x" * 5000, "affordance", 0.0, False, "characters"),
        ("pick", "grasp", 0.0, False, "task must be"),
        ("pick", "trajectory", math.nan, False, "finite"),
    ],
)
def test_goal_refusals(instruction, task, age, busy, fragment):
    assert fragment in nl.goal_refusal(instruction, task, age, busy)


def test_goal_accepted():
    assert nl.goal_refusal("pick the cup", "trajectory", 0.0, False) is None


def test_effective_max_age():
    assert nl.effective_max_age_s(0.0, 0.5) == 0.5
    assert nl.effective_max_age_s(2.0, 0.5) == 2.0
    assert nl.effective_max_age_s(-1.0, 0.5) == -math.inf


def test_frame_decision_cases():
    assert not nl.frame_decision(None, 10.0, 10.0, 1.0).usable
    assert nl.frame_decision(10.5, 10.0, 10.6, 0.0).usable  # newer than the goal
    assert nl.frame_decision(9.6, 10.0, 10.0, 0.5).usable  # 0.4 s old at the goal, 0.5 allowed
    late = nl.frame_decision(8.0, 10.0, 12.0, 0.5)
    assert not late.usable and "4.000 s old" in late.reason
    assert not nl.frame_decision(9.99, 10.0, 10.0, -math.inf).usable  # only frames after the goal


def test_frame_slot_waits_for_a_new_frame():
    slot = nl.FrameSlot()
    slot.put("old")
    goal = __import__("time").monotonic() + 0.001
    threading.Timer(0.05, slot.put, args=("new",)).start()
    frame, decision = slot.wait_for_usable(goal, -math.inf, 2.0)
    assert frame == "new" and decision.usable


def test_frame_slot_refuses_a_silent_camera_clearly():
    slot = nl.FrameSlot()
    frame, decision = slot.wait_for_usable(__import__("time").monotonic(), 0.5, 0.05)
    assert frame is None and "no synchronized camera frame" in decision.reason
    message = nl.no_frame_message(decision, 0.05, ("/color", "/depth", "/info"))
    assert "/color, /depth, /info" in message


def test_frame_slot_stops_waiting_on_cancel():
    cancel = threading.Event()
    cancel.set()
    frame, _ = nl.FrameSlot().wait_for_usable(0.0, 0.5, 10.0, cancel)
    assert frame is None


def test_tf_lookup_stamp():
    assert nl.tf_lookup_stamp_s(False, 123.4) == 0.0
    assert nl.tf_lookup_stamp_s(True, 123.4) == 123.4


@pytest.mark.parametrize(
    "goal,allow,plan,executor,execute",
    [
        (False, False, True, True, False),
        (True, False, True, True, False),
        (False, True, True, True, False),
        (True, True, False, True, False),
        (True, True, True, False, False),
        (True, True, True, True, True),
    ],
)
def test_execution_needs_goal_and_parameter(goal, allow, plan, executor, execute):
    assert nl.execution_decision(goal, allow, plan, executor).execute is execute


def _outcome(**kw):
    base = dict(
        task="affordance",
        reasoning="r",
        raw_text="t",
        timings_s={"model": 1.0},
        ok=True,
        failed_stage=None,
        error=None,
        plan=None,
        prediction=None,
        targets=None,
    )
    base.update(kw)
    base["ok"] = base["failed_stage"] is None
    return SimpleNamespace(**base)


def test_results_codes_and_messages():
    codes = nl.ERROR_CODES
    plan = object()
    gate = nl.execution_decision(True, False, True, True)
    plan_only = nl.assemble_result(_outcome(plan=plan), gate)
    assert plan_only.success and not plan_only.executed and "allow_execution" in plan_only.error_message
    assert nl.assemble_result(_outcome(plan=plan), executed=True).error_message == "executed"
    assert "targets only" in nl.assemble_result(_outcome()).error_message
    for stage, code in [
        ("parse", "PARSE_FAILED"),
        ("safety", "SAFETY_REJECTED"),
        ("planning", "PLANNING_FAILED"),
        ("grounding", "GROUNDING_FAILED"),
        ("model", "MODEL_FAILED"),
    ]:
        result = nl.assemble_result(_outcome(failed_stage=stage, error="why"))
        assert result.error_code == codes[code] and not result.success and result.error_message == f"{stage}: why"
    assert nl.assemble_result(_outcome(failed_stage="model", error="cancelled")).error_code == codes["CANCELLED"]
    cancelled = nl.assemble_result(_outcome(plan=plan), executed=False, cancelled=True)
    assert cancelled.error_code == codes["CANCELLED"] and not cancelled.executed
    failed = nl.assemble_result(
        _outcome(plan=plan), execution_error="controller aborted", extra_timings_s={"execution": 2.0}
    )
    assert failed.error_code == codes["EXECUTION_FAILED"] and failed.timings_s["execution"] == 2.0
    with pytest.raises(ValueError):
        nl.ResultData(False, codes["NO_FRAME"], "x", "affordance", executed=True)
    assert nl.refusal("NO_FRAME", "silent").error_code == codes["NO_FRAME"]


def test_reasoning_feedback_is_throttled():
    clock = FakeClock()
    feedback = nl.ReasoningFeedback(0.2, clock)
    assert feedback.add("a") == "a"
    assert feedback.add("b") is None
    clock.t += 0.25
    assert feedback.add("c") == "abc" and feedback.text == "abc"


def test_rate_and_diagnostics():
    clock = FakeClock()
    meter = nl.RateMeter(2.0, clock)
    for _ in range(20):
        meter.tick()
        clock.t += 0.1
    assert meter.rate_hz() == pytest.approx(10.0, abs=0.6)
    entries = {e.name: e for e in nl.diagnostics(False, None, 0.0, None, None, 0.5, False)}
    assert entries["model"].level == nl.WARN and entries["camera"].level == nl.ERROR
    entries = {e.name: e for e in nl.diagnostics(True, None, 30.0, 0.03, 1.2, 0.5, False)}
    assert all(e.level == nl.OK for e in entries.values()) and "1.20" in entries["inference"].message
    assert nl.diagnostics(False, "OOM", 0, 5.0, None, 0.5, True)[0].level == nl.ERROR


def test_marker_specs_from_an_affordance():
    from calibration import SE3, CameraModel
    from vla_r1_model.actions import Affordance
    from vla_r1_robot.perception.frame import Frame

    camera = CameraModel.from_camera_info(
        {
            "width": 64,
            "height": 48,
            "k": [50, 0, 32, 0, 50, 24, 0, 0, 1],
            "d": [0, 0, 0, 0, 0],
            "distortion_model": "plumb_bob",
        }
    )
    frame = Frame(np.zeros((48, 64, 3), np.uint8), np.ones((48, 64), np.float32), camera, 1.0)
    targets = SimpleNamespace(positions_base_m=np.array([[0.4, 0, 0.2], [0.4, 0, 0.1]]))
    outcome = SimpleNamespace(prediction=SimpleNamespace(action=Affordance(0.5, 0.5, 0.2, 0.2)), targets=targets)
    specs = nl.marker_specs(frame, outcome, SE3.identity())
    rays = specs[0]
    assert rays.marker_type == nl.LINE_LIST and len(rays.points_base_m) == 16
    assert np.allclose(rays.points_base_m[0], 0) and np.isclose(rays.points_base_m[1][2], 1.0)
    assert [s.ns for s in specs] == ["box_rays", "targets", "path"]
