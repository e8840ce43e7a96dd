"""Pipeline: every failure is an Outcome naming its stage; unsafe targets never reach the planner."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from calibration import SE3, CameraModel
from vla_r1_model.actions import Affordance, Trajectory
from vla_r1_model.backends.base import BackendError, GenerationResult
from vla_r1_model.policy import Policy
from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.perception.frame import Frame
from vla_r1_robot.perception.grounding import GroundingConfig
from vla_r1_robot.pipeline import Outcome, Pipeline, build_planner

WIDTH, HEIGHT = 320, 240
CAMERA = CameraModel(
    WIDTH, HEIGHT, np.array([[250.0, 0, 159.5], [0, 250.0, 119.5], [0, 0, 1]]), "plumb_bob", np.zeros(5)
)
# Camera 0.8 m above the table looking straight down; image x -> base -y, image y -> base -x.
BASE_T_CAMERA = SE3(np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), (0.5, 0.0, 0.8))


def table_frame(depth_value: float = 0.75, stamp_s: float = 1.0) -> Frame:
    """The camera sees a flat surface 5 cm above the table (z = 0.05 m) at the default depth."""
    depth = np.full((HEIGHT, WIDTH), depth_value, dtype=np.float32)
    return Frame(np.zeros((HEIGHT, WIDTH, 3), np.uint8), depth, CAMERA, stamp_s)


class FixedTextBackend:
    """Stands in for generation only: returns a fixed answer (the parser and everything after are real)."""

    name = "fixed"

    def __init__(self, text: str = "", error: Exception | None = None):
        self.text, self.error = text, error

    def generate(self, image, prompt, settings, on_text=None, cancel=None):
        if self.error:
            raise self.error
        if on_text:
            on_text(self.text)
        stop = "cancelled" if cancel is not None and cancel.is_set() else "eos"
        return GenerationResult(self.text, 10, stop, 0.001, 0.002, 0.003, (WIDTH, HEIGHT))


class RecordingPlanner:
    def __init__(self):
        self.calls = []

    def plan(self, targets, start_positions):
        self.calls.append(targets)
        from vla_r1_robot.motion.planning import JointTrajectory

        return JointTrajectory(("j1",), np.array([[0.0], [0.1]]), np.array([0.0, 1.0]))


def pipeline(text="", error=None, planner=None, safety=None, base_T_camera=BASE_T_CAMERA):
    return Pipeline(
        Policy(FixedTextBackend(text, error)),
        GroundingConfig(),
        safety or SafetyConfig(),
        planner,
        base_T_camera,
        start_positions=np.zeros(1),
    )


BOX = '<think>centre</think><output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>'


def test_success_runs_every_stage_and_plans():
    planner = RecordingPlanner()
    outcome = pipeline(BOX, planner=planner).run(table_frame(), "pick it up", "affordance")
    assert outcome.ok and outcome.plan is not None and outcome.reasoning == "centre"
    grasp = outcome.targets.grasp_points_base_m[-1]
    np.testing.assert_allclose(grasp, [0.5, 0.0, 0.05], atol=0.01)  # the image centre on the raised surface
    assert len(planner.calls) == 1 and len(planner.calls[0]) == 2  # pre-grasp, grasp
    assert {"model", "parse", "grounding", "safety", "planning"} <= set(outcome.timings_s)
    record = outcome.to_dict((WIDTH, HEIGHT))
    assert record["ok"] and record["action"]["kind"] == "affordance" and record["plan"]["num_points"] == 2


@pytest.mark.parametrize(
    "text, stage, message",
    [
        ("no block here", "parse", "no <output>"),
        ('<output>{"x": 0.5}</output>', "parse", "keys"),
    ],
)
def test_bad_model_output_is_a_parse_outcome(text, stage, message):
    outcome = pipeline(text, planner=RecordingPlanner()).run(table_frame(), "x", "affordance")
    assert outcome.failed_stage == stage and message in outcome.error and outcome.targets is None


def test_unreachable_server_is_a_model_outcome():
    outcome = pipeline(error=BackendError("server http://x unreachable")).run(table_frame(), "x", "affordance")
    assert outcome.failed_stage == "model" and "unreachable" in outcome.error


def test_cancelled_generation_is_a_model_outcome():
    cancel = threading.Event()
    cancel.set()
    outcome = pipeline(BOX).run(table_frame(), "x", "affordance", cancel=cancel)
    assert outcome.failed_stage == "model" and outcome.error == "cancelled"


def test_missing_depth_is_a_grounding_outcome():
    outcome = pipeline(BOX).run(table_frame(depth_value=np.nan), "x", "affordance")
    assert outcome.failed_stage == "grounding" and "valid" in outcome.error


def test_fingertips_into_the_table_never_reach_the_planner():
    """Depth read 6 cm too deep: the hand stays above min_z_m but the fingertips would be 6 cm below the table."""
    planner = RecordingPlanner()
    outcome = pipeline(BOX, planner=planner).run(table_frame(depth_value=0.86), "x", "affordance")
    assert outcome.failed_stage == "safety" and "fingertip" in outcome.error
    assert {v.rule for v in outcome.violations} == {"tool_min_height"} and planner.calls == []


def test_unsafe_target_never_reaches_the_planner():
    planner = RecordingPlanner()
    safety = SafetyConfig(workspace_max_xyz_m=(0.3, 0.85, 1.0))  # the table centre at x = 0.5 m is outside
    outcome = pipeline(BOX, planner=planner, safety=safety).run(table_frame(), "x", "affordance")
    assert outcome.failed_stage == "safety" and outcome.violations
    assert {v.rule for v in outcome.violations} == {"workspace_box"}
    assert planner.calls == [] and outcome.plan is None


def test_unreachable_target_is_a_planning_outcome(testdata):
    safety = SafetyConfig(workspace_min_xyz_m=(-2, -2, 0), workspace_max_xyz_m=(2, 2, 2), max_reach_m=3.0)
    planner = build_planner(str(testdata / "urdf_panda" / "panda.urdf"), "panda_hand", safety)
    far = SE3(BASE_T_CAMERA.rotation, (1.6, 0.0, 0.8))  # the table point 1.6 m away from the base
    outcome = Pipeline(None, GroundingConfig(), safety, planner, far).run_action(
        table_frame(), Affordance(0.5, 0.5, 0.2, 0.2)
    )
    assert outcome.failed_stage == "planning" and "planning failed" in outcome.error


@pytest.mark.parametrize(
    "start, message",
    [
        (lambda: None, "no current joint positions"),  # e.g. no joint state received yet
        (lambda: np.array([np.nan]), "not finite"),
        (lambda: (_ for _ in ()).throw(RuntimeError("state monitor down")), "state monitor down"),
    ],
)
def test_unusable_start_state_is_a_planning_outcome_and_never_reaches_the_planner(start, message):
    planner = RecordingPlanner()
    outcome = Pipeline(
        Policy(FixedTextBackend(BOX)), GroundingConfig(), SafetyConfig(), planner, BASE_T_CAMERA, start_positions=start
    ).run(table_frame(), "x", "affordance")
    assert outcome.failed_stage == "planning" and message in outcome.error
    assert planner.calls == [] and outcome.plan is None


def test_eye_in_hand_camera_pose_is_taken_per_frame():
    seen = []

    def base_T_camera(frame):
        seen.append(frame.stamp_s)
        return BASE_T_CAMERA

    outcome = pipeline(BOX, base_T_camera=base_T_camera).run(table_frame(stamp_s=7.5), "x", "affordance")
    assert outcome.ok and seen == [7.5]


def test_failing_eye_in_hand_camera_pose_is_a_grounding_outcome():
    planner = RecordingPlanner()

    def base_T_camera(frame):
        raise LookupError("no joint state at the frame's time")

    outcome = pipeline(BOX, planner=planner, base_T_camera=base_T_camera).run(table_frame(), "x", "affordance")
    assert outcome.failed_stage == "grounding" and "no joint state" in outcome.error
    assert planner.calls == []


def test_run_action_trajectory_without_a_model():
    path = Trajectory(((0.3, 0.5), (0.5, 0.5), (0.7, 0.5)))
    outcome = Pipeline(None, GroundingConfig(), SafetyConfig(), None, BASE_T_CAMERA).run_action(table_frame(), path)
    assert outcome.ok and outcome.task == "trajectory" and outcome.targets.kind == "path"
    heights = outcome.targets.grasp_points_base_m[:, 2]
    assert heights[0] == pytest.approx(0.15, abs=0.005) and heights[-1] < 0.10  # hover 0.10 m, then descend


def test_outcome_validation():
    with pytest.raises(ValueError, match="failed_stage"):
        Outcome("x", "affordance", 0.0, failed_stage="nowhere", error="e")
    with pytest.raises(ValueError, match="together"):
        Outcome("x", "affordance", 0.0, failed_stage="parse")
