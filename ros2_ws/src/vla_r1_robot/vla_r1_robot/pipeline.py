"""One instruction on one frame: model -> parse -> ground -> safety -> plan, as plain data.

The ROS node and the offline replay call exactly this. Bad model output, missing depth, a
safety violation or an unreachable target are *outcomes* (``failed_stage`` + ``error``), never
exceptions: a robot loop must keep running and report, not crash.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla_r1_model.actions import Action, Prediction, action_to_dict, validate_task

from .motion.planning import HasRobotModel, JointTrajectory, Planner, PlanningError
from .motion.robot_profile import PANDA, RobotProfile
from .motion.safety import SafetyConfig, SafetyViolation, check_targets, check_tool_points
from .perception.frame import Frame
from .perception.grounding import GroundedTargets, GroundingConfig, GroundingError, ground

STAGES = ("model", "parse", "grounding", "safety", "planning")


@dataclass(frozen=True)
class Outcome:
    """Everything one run produced, and where and why it stopped when it did."""

    instruction: str
    task: str
    stamp_s: float
    raw_text: str = ""
    reasoning: str = ""
    prediction: Prediction | None = None
    targets: GroundedTargets | None = None
    plan: JointTrajectory | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    model_timings: dict[str, float] = field(default_factory=dict)
    failed_stage: str | None = None
    error: str | None = None
    violations: tuple[SafetyViolation, ...] = ()
    task_plan: Any = (
        None  # task.TaskPlan when the pipeline plans a task (gripper steps, lift); plan = its first arm segment
    )

    def __post_init__(self) -> None:
        if self.failed_stage is not None and self.failed_stage not in STAGES:
            raise ValueError(f"failed_stage must be one of {STAGES}, got {self.failed_stage!r}")
        if (self.failed_stage is None) != (self.error is None):
            raise ValueError("failed_stage and error go together")

    @property
    def ok(self) -> bool:
        return self.failed_stage is None

    def to_dict(self, image_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """JSON-ready (one line of results.jsonl)."""
        width, height = image_size or (None, None)
        return {
            "stamp_s": self.stamp_s,
            "instruction": self.instruction,
            "task": self.task,
            "ok": self.ok,
            "failed_stage": self.failed_stage,
            "error": self.error,
            "raw_text": self.raw_text,
            "reasoning": self.reasoning,
            "action": action_to_dict(self.prediction.action, width, height) if self.prediction else None,
            "targets": self.targets.to_dict() if self.targets else None,
            "plan": self.plan.summary() if self.plan else None,
            "violations": [v.message for v in self.violations],
            "task_plan": self.task_plan.to_dict() if self.task_plan is not None else None,
            "timings_ms": {k: round(v * 1e3, 3) for k, v in self.timings_s.items()},
            "model_timings": self.model_timings,
        }


BaseTCamera = Any  # calibration.SE3, or a callable Frame -> SE3 (eye-in-hand: the arm moves the camera)


class Pipeline:
    """``Pipeline(policy, grounding, safety, planner).run(frame, instruction, task) -> Outcome``.

    ``policy`` may be None for runs that start from a given action (``run_action``), and
    ``planner`` None for plan-free runs (grounding and safety only). With ``task_config``
    (a ``task.TaskConfig``) the planner plans the whole task (open, approach, close, lift, …) through
    ``task.plan_task``: ``Outcome.task_plan`` holds it and ``Outcome.plan`` its first arm segment.
    """

    def __init__(
        self,
        policy,
        grounding: GroundingConfig,
        safety: SafetyConfig,
        planner: Planner | None,
        base_T_camera: BaseTCamera,
        start_positions: Callable[[], np.ndarray] | np.ndarray | None = None,
        task_config=None,
    ):
        self.policy = policy
        self.grounding = grounding
        self.safety = safety
        self.planner = planner
        self.base_T_camera = base_T_camera
        self.start_positions = start_positions
        self.task_config = task_config

    def _camera_pose(self, frame: Frame):
        if not callable(self.base_T_camera):
            return self.base_T_camera
        try:  # eye-in-hand: the arm's pose at the frame's time may be unavailable
            return self.base_T_camera(frame)
        except Exception as exc:  # an outcome, not a crash of the robot loop
            raise GroundingError(
                f"no base_T_camera for the frame at {frame.stamp_s:.3f} s: {type(exc).__name__}: {exc}"
            ) from exc

    def _start(self) -> np.ndarray:
        """The start joint positions; anything unusable is a PlanningError (an outcome), never a NaN
        start for the planner (np.asarray(None, float) is NaN) nor an escaping exception."""
        if self.start_positions is None:
            return default_start_positions(self.planner.robot if isinstance(self.planner, HasRobotModel) else None)
        if callable(self.start_positions):
            try:
                value = self.start_positions()
            except Exception as exc:  # a state monitor's failure is this goal's failure
                raise PlanningError(
                    "input", f"cannot read the current joint positions: {type(exc).__name__}: {exc}"
                ) from exc
        else:
            value = self.start_positions
        if value is None:
            raise PlanningError("input", "no current joint positions (no joint state received yet?)")
        try:
            start = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise PlanningError("input", f"start joint positions are not numbers: {exc}") from exc
        if start.ndim != 1 or start.size == 0 or not np.isfinite(start).all():
            raise PlanningError(
                "input",
                f"start joint positions must be a non-empty finite vector, got {start.tolist()} "
                "(not finite or wrong shape)",
            )
        return start

    def run(
        self,
        frame: Frame,
        instruction: str,
        task: str,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Outcome:
        """The whole chain. Raises only for programming errors (a bad task name, no policy)."""
        validate_task(task)
        if self.policy is None:
            raise ValueError("this pipeline has no policy: use run_action")
        from vla_r1_model.backends.base import BackendError

        base: dict[str, Any] = dict(instruction=instruction, task=task, stamp_s=frame.stamp_s)
        start = time.perf_counter()
        try:
            output = self.policy.predict(frame.color_rgb, instruction, task, on_text=on_text, cancel=cancel)
        except BackendError as exc:
            return Outcome(
                **base, timings_s={"model": time.perf_counter() - start}, failed_stage="model", error=str(exc)
            )
        timings = {"model": time.perf_counter() - start - output.timings.parse_s, "parse": output.timings.parse_s}
        model: dict[str, Any] = dict(
            raw_text=output.raw_text, reasoning=output.reasoning, model_timings=output.timings.to_dict()
        )
        if output.stop_reason == "cancelled":
            return Outcome(**base, **model, timings_s=timings, failed_stage="model", error="cancelled")
        if output.prediction is None:
            return Outcome(**base, **model, timings_s=timings, failed_stage="parse", error=output.error)
        return self._after_prediction(frame, output.prediction, base, model, timings)

    def run_action(self, frame: Frame, action: Action, instruction: str = "", task: str | None = None) -> Outcome:
        """Ground, check and plan a given action (ground truth, another model, a replayed answer)."""
        task = task or ("affordance" if action.kind == "affordance" else "trajectory")
        prediction = Prediction(task, action, reasoning="", raw_text="")  # type: ignore[arg-type]
        return self._after_prediction(
            frame, prediction, dict(instruction=instruction, task=task, stamp_s=frame.stamp_s), {}, {}
        )

    def _after_prediction(
        self, frame: Frame, prediction: Prediction, base: dict, model: dict, timings: dict
    ) -> Outcome:
        done = dict(**base, **model, prediction=prediction, timings_s=timings)

        t = time.perf_counter()
        try:
            targets = ground(frame, prediction.action, self._camera_pose(frame), self.grounding)
        except GroundingError as exc:
            timings["grounding"] = time.perf_counter() - t
            return Outcome(**done, failed_stage="grounding", error=str(exc))
        timings["grounding"] = time.perf_counter() - t
        done["targets"] = targets

        t = time.perf_counter()
        violations = tuple(
            check_targets(targets.positions_base_m, self.safety)
            + check_tool_points(targets.grasp_points_base_m, self.safety)
        )
        timings["safety"] = time.perf_counter() - t
        if violations:  # nothing unsafe reaches a planner
            message = "; ".join(v.message for v in violations[:3]) + (
                f"; and {len(violations) - 3} more" if len(violations) > 3 else ""
            )
            return Outcome(**done, failed_stage="safety", error=message, violations=violations)
        if self.planner is None:
            return Outcome(**done)

        t = time.perf_counter()
        if self.task_config is not None:
            return self._plan_task(targets, done, timings, t)
        try:
            plan = self.planner.plan(list(targets.poses_base_T_tip), self._start())
        except PlanningError as exc:
            timings["planning"] = time.perf_counter() - t
            return Outcome(**done, failed_stage="planning", error=str(exc), violations=tuple(exc.violations))
        timings["planning"] = time.perf_counter() - t
        for stage, seconds in getattr(plan, "timings_s", {}).items():
            timings[f"planning.{stage.removesuffix('_s')}"] = seconds
        return Outcome(**done, plan=plan)

    def _plan_task(self, targets, done: dict, timings: dict, t: float) -> Outcome:
        from .motion.task import TaskError, plan_task

        try:
            task_plan = plan_task(
                targets, self.planner, self._start(), self.safety, self.grounding.grasp_T_tip, self.task_config
            )
        except (TaskError, PlanningError) as exc:
            timings["planning"] = time.perf_counter() - t
            stage = exc.stage if isinstance(exc, TaskError) else "planning"
            return Outcome(**done, failed_stage=stage, error=str(exc), violations=tuple(exc.violations))
        timings["planning"] = time.perf_counter() - t
        return Outcome(**done, plan=task_plan.arm_segments[0].trajectory, task_plan=task_plan)


def default_start_positions(robot, profile: RobotProfile = PANDA) -> np.ndarray:
    """The profile's ready state (its MoveIt configuration's "ready") for the profile's arm, else the
    middle of every joint's range."""
    if robot is None:
        raise PlanningError("input", "no start joint positions were given and the planner has no robot model")
    if list(robot.joint_names) == list(profile.arm_joints):
        return profile.ready_positions()
    return (np.asarray(robot.lower_limits) + np.asarray(robot.upper_limits)) / 2.0


def build_planner(urdf: str, tip_link: str, safety: SafetyConfig, planner_options: dict | None = None) -> Planner:
    """The ROS-free planner: pinocchio IK + time parameterization on ``urdf``."""
    from .motion.kinematics import RobotModel
    from .motion.planning import PinocchioPlanner, PlannerConfig

    robot = RobotModel.from_urdf(urdf, tip_link)
    return PinocchioPlanner(robot, safety, PlannerConfig.from_dict(planner_options or {}))
