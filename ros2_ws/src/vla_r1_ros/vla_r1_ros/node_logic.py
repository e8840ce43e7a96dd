"""Every decision the ROS node makes, as plain functions over plain data (no rclpy here).

The node (node.py) only moves messages in and out; what it decides lives here so that it is
tested without ROS: which frame a goal may use and when it is refused, whether a plan is executed,
which error code a result carries, how often feedback goes out, what diagnostics say.

Times: ``*_mono_s`` are ``time.monotonic()`` seconds at RECEIPT on this machine. Freshness is
judged on receipt, not on header stamps, so it holds for bag replay (old stamps, a looping
/clock) as much as for a live camera: a frame received after the goal proves the camera is alive.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vla_r1_model.actions import TASKS

# Must equal the constants of ExecuteInstruction.action (a test compares them).
ERROR_CODES: dict[str, int] = {
    "SUCCESS": 0,
    "INVALID_GOAL": 1,
    "NOT_READY": 2,
    "NO_FRAME": 3,
    "MODEL_FAILED": 4,
    "PARSE_FAILED": 5,
    "GROUNDING_FAILED": 6,
    "SAFETY_REJECTED": 7,
    "PLANNING_FAILED": 8,
    "EXECUTION_FAILED": 9,
    "CANCELLED": 10,
}
_STAGE_CODES = {
    "model": "MODEL_FAILED",
    "parse": "PARSE_FAILED",
    "grounding": "GROUNDING_FAILED",
    "safety": "SAFETY_REJECTED",
    "planning": "PLANNING_FAILED",
}
MAX_INSTRUCTION_CHARS = 2000


# --- goals ----------------------------------------------------------------------------------------


def goal_refusal(instruction: str, task: str, max_frame_age_s: float, busy: bool) -> str | None:
    """Why a goal is rejected before any work, or None when it is acceptable."""
    if busy:
        return "another instruction is running: one goal at a time (cancel it first)"
    if not instruction or not instruction.strip():
        return "the instruction is empty"
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        return f"the instruction is {len(instruction)} characters long (at most {MAX_INSTRUCTION_CHARS})"
    if task not in TASKS:
        return f"task must be one of {TASKS}, got {task!r}"
    if not math.isfinite(max_frame_age_s):
        return f"max_frame_age_s must be finite, got {max_frame_age_s}"
    return None


def effective_max_age_s(goal_max_age_s: float, default_max_age_s: float) -> float:
    """Goal value 0 = the node's default; < 0 = only frames received after the goal (age limit -inf)."""
    if goal_max_age_s == 0:
        return default_max_age_s
    return goal_max_age_s if goal_max_age_s > 0 else -math.inf


# --- frames ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameDecision:
    usable: bool
    reason: str  # why it is or is not usable (goes into logs and refusals)


def frame_decision(
    received_mono_s: float | None, goal_mono_s: float, now_mono_s: float, max_age_s: float
) -> FrameDecision:
    """May a goal that arrived at ``goal_mono_s`` use a frame received at ``received_mono_s``?

    Yes when it arrived after the goal, or when at the time of the goal it was at most
    ``max_age_s`` old (an image taken just before the request shows the scene the user saw).
    """
    if received_mono_s is None:
        return FrameDecision(False, "no synchronized camera frame has been received yet")
    if received_mono_s >= goal_mono_s:
        return FrameDecision(True, "received after the goal")
    age_at_goal = goal_mono_s - received_mono_s
    if age_at_goal <= max_age_s:
        return FrameDecision(True, f"received {age_at_goal:.3f} s before the goal (max {max_age_s:.3f} s)")
    return FrameDecision(False, f"the newest frame is {now_mono_s - received_mono_s:.3f} s old")


def no_frame_message(decision: FrameDecision, waited_s: float, topics: tuple[str, ...]) -> str:
    return (
        f"no usable camera frame after waiting {waited_s:.1f} s: {decision.reason}. "
        f"Is the camera publishing synchronized color, aligned depth and camera_info on {', '.join(topics)}?"
    )


class FrameSlot:
    """The newest synchronized frame and when it was received; goals wait on it.

    The camera callback puts, the worker thread waits: a Condition, so a waiting goal wakes as
    soon as a frame arrives instead of polling.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._item: tuple[Any, float] | None = None

    def put(self, frame: Any) -> None:
        with self._condition:
            self._item = (frame, self._clock())
            self._condition.notify_all()

    def latest(self) -> tuple[Any, float] | None:
        with self._condition:
            return self._item

    def wait_for_usable(
        self, goal_mono_s: float, max_age_s: float, timeout_s: float, cancel: threading.Event | None = None
    ) -> tuple[Any | None, FrameDecision]:
        """(frame, decision): the frame when usable, else (None, the last reason) after ``timeout_s``
        or when ``cancel`` is set."""
        deadline = self._clock() + timeout_s
        with self._condition:
            while True:
                received = self._item[1] if self._item else None
                decision = frame_decision(received, goal_mono_s, self._clock(), max_age_s)
                if decision.usable:
                    return self._item[0], decision  # type: ignore[index]
                remaining = deadline - self._clock()
                if remaining <= 0 or (cancel is not None and cancel.is_set()):
                    return None, decision
                self._condition.wait(min(remaining, 0.05))  # short waits: cancel is noticed quickly


# --- transforms -----------------------------------------------------------------------------------


def tf_lookup_stamp_s(eye_in_hand: bool, frame_stamp_s: float) -> float:
    """The time to look base_T_camera up at: eye-in-hand the frame's stamp (the arm moves the
    camera), eye-to-hand 0.0 = tf2's "latest" (a static transform holds at all times)."""
    return frame_stamp_s if eye_in_hand else 0.0


# --- execution gate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionDecision:
    execute: bool
    note: str


def execution_decision(
    goal_execute: bool, allow_execution: bool, plan_ok: bool, has_executor: bool
) -> ExecutionDecision:
    """Execution needs the goal to ask for it AND the node's allow_execution parameter AND a plan."""
    if not goal_execute:
        return ExecutionDecision(False, "plan only: the goal did not ask for execution")
    if not allow_execution:
        return ExecutionDecision(
            False, "plan only: execution is disabled (parameter execution.allow_execution is false)"
        )
    if not plan_ok:
        return ExecutionDecision(False, "nothing to execute: no plan")
    if not has_executor:
        return ExecutionDecision(
            False,
            "plan only: nothing can execute this plan (planner moveit executes its own "
            "plans, planner pinocchio its task plans through ros2_control)",
        )
    return ExecutionDecision(True, "executing")


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultData:
    """What goes into ExecuteInstruction.Result, before conversion to the message."""

    success: bool
    error_code: int
    error_message: str
    task: str
    reasoning: str = ""
    raw_text: str = ""
    outcome: Any = None  # pipeline Outcome (action, targets, plan) when the pipeline ran
    executed: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)
    segment_count: int = 0  # steps of the task plan sent to the controllers
    segments_completed: int = 0

    def __post_init__(self) -> None:
        if self.error_code not in ERROR_CODES.values():
            raise ValueError(f"unknown error code {self.error_code}")
        if self.success != (self.error_code == ERROR_CODES["SUCCESS"]):
            raise ValueError("success and error_code SUCCESS go together")
        if self.executed and not self.success:
            raise ValueError("an executed result must be a success")


def refusal(code: str, message: str, task: str = "") -> ResultData:
    """A result for a goal that never reached the pipeline (no frame, not ready, invalid)."""
    return ResultData(False, ERROR_CODES[code], message, task)


def assemble_result(
    outcome: Any,
    execution: ExecutionDecision | None = None,
    executed: bool = False,
    execution_error: str | None = None,
    cancelled: bool = False,
    extra_timings_s: dict[str, float] | None = None,
    segments: tuple[int, int] = (0, 0),
) -> ResultData:
    """The result of a goal that ran the pipeline (and maybe execution).

    Precedence: a cancel wins (even over a finished plan: the user asked to stop), then a pipeline
    failure, then an execution failure. A plan that was not executed because the gate said no is a
    SUCCESS whose message says why nothing moved.
    """
    timings = dict(outcome.timings_s)
    timings.update(extra_timings_s or {})
    common = dict(
        task=outcome.task,
        reasoning=outcome.reasoning,
        raw_text=outcome.raw_text,
        outcome=outcome,
        timings_s=timings,
        segment_count=segments[0],
        segments_completed=segments[1],
    )
    if cancelled or outcome.error == "cancelled":
        return ResultData(False, ERROR_CODES["CANCELLED"], "cancelled", executed=False, **common)
    if not outcome.ok:
        code = _STAGE_CODES[outcome.failed_stage]
        return ResultData(False, ERROR_CODES[code], f"{outcome.failed_stage}: {outcome.error}", **common)
    if execution_error is not None:
        return ResultData(False, ERROR_CODES["EXECUTION_FAILED"], f"execution: {execution_error}", **common)
    if executed:
        note = "executed"
    elif outcome.plan is None:
        note = "targets only: no planner is configured"
    else:
        note = execution.note if execution is not None else "plan only"
    return ResultData(True, ERROR_CODES["SUCCESS"], note, executed=executed, **common)


# --- feedback and diagnostics ---------------------------------------------------------------------


class ReasoningFeedback:
    """Accumulates streamed text; ``add`` says when to publish (at most every ``period_s``)."""

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_s
        self._clock = clock
        self._parts: list[str] = []
        self._last_sent = -math.inf
        self._lock = threading.Lock()

    def add(self, delta: str) -> str | None:
        """Append; returns the whole text so far when it is time to publish, else None."""
        with self._lock:
            self._parts.append(delta)
            now = self._clock()
            if now - self._last_sent >= self.period_s:
                self._last_sent = now
                return "".join(self._parts)
            return None

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


class RateMeter:
    """Events per second over a sliding window (the camera's synchronized frame rate)."""

    def __init__(self, window_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._stamps.append(self._clock())
            self._trim()

    def _trim(self) -> None:
        cutoff = self._clock() - self.window_s
        while self._stamps and self._stamps[0] < cutoff:
            self._stamps.popleft()

    def rate_hz(self) -> float:
        with self._lock:
            self._trim()
            return len(self._stamps) / self.window_s


OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


@dataclass(frozen=True)
class DiagnosticEntry:
    name: str
    level: int
    message: str
    values: dict[str, str]


def diagnostics(
    model_loaded: bool,
    model_error: str | None,
    camera_rate_hz: float,
    last_frame_age_s: float | None,
    last_inference_s: float | None,
    max_frame_age_s: float,
    allow_execution: bool,
) -> list[DiagnosticEntry]:
    """Model state, camera rate and freshness, last inference time: what an operator checks first."""
    if model_loaded:
        model = DiagnosticEntry("model", OK, "loaded", {})
    elif model_error:
        model = DiagnosticEntry("model", ERROR, f"failed to load: {model_error}", {})
    else:
        model = DiagnosticEntry("model", WARN, "loading", {})
    values = {
        "rate_hz": f"{camera_rate_hz:.2f}",
        "last_frame_age_s": "never" if last_frame_age_s is None else f"{last_frame_age_s:.3f}",
    }
    if last_frame_age_s is None:
        camera = DiagnosticEntry("camera", ERROR, "no synchronized frame received", values)
    elif last_frame_age_s > max(1.0, 4 * max_frame_age_s):
        camera = DiagnosticEntry("camera", WARN, "frames are stale: is the camera still publishing?", values)
    else:
        camera = DiagnosticEntry("camera", OK, f"{camera_rate_hz:.1f} Hz", values)
    inference = DiagnosticEntry(
        "inference",
        OK,
        "no goal yet" if last_inference_s is None else f"last {last_inference_s:.2f} s",
        {
            "last_inference_s": "" if last_inference_s is None else f"{last_inference_s:.3f}",
            "allow_execution": str(bool(allow_execution)).lower(),
        },
    )
    return [model, camera, inference]


# --- markers --------------------------------------------------------------------------------------

SPHERE_LIST, LINE_STRIP, LINE_LIST = 7, 4, 5  # visualization_msgs/Marker types


@dataclass(frozen=True)
class MarkerSpec:
    """One visualization marker in the base frame; conversions.py turns it into a Marker."""

    ns: str
    marker_id: int
    marker_type: int
    points_base_m: Any  # (N, 3)
    rgba: tuple[float, float, float, float]
    width_m: float


def marker_specs(frame: Any, outcome: Any, base_T_camera: Any, ray_length_m: float = 1.0) -> list[MarkerSpec]:
    """Box rays (camera centre through the box corners), the 3D targets, and the path through them."""
    import numpy as np

    specs: list[MarkerSpec] = []
    action = outcome.prediction.action if outcome is not None and outcome.prediction is not None else None
    if action is not None and action.kind == "affordance" and base_T_camera is not None:
        x1, y1, x2, y2 = action.corners_pixels(frame.width, frame.height)
        corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
        far = base_T_camera.apply(frame.camera.deproject(corners, np.full(4, ray_length_m)))
        origin = base_T_camera.apply(np.zeros((1, 3)))[0]
        pairs = [p for corner in far for p in (origin, corner)]  # LINE_LIST: one segment per pair
        pairs += [p for i in range(4) for p in (far[i], far[(i + 1) % 4])]
        specs.append(MarkerSpec("box_rays", 0, LINE_LIST, np.asarray(pairs), (1.0, 1.0, 0.0, 0.8), 0.003))
    if outcome is not None and outcome.targets is not None:
        points = np.asarray(outcome.targets.positions_base_m, dtype=np.float64)
        specs.append(MarkerSpec("targets", 1, SPHERE_LIST, points, (1.0, 0.6, 0.0, 1.0), 0.02))
        if len(points) > 1:
            specs.append(MarkerSpec("path", 2, LINE_STRIP, points, (0.0, 0.8, 1.0, 1.0), 0.005))
    return specs
