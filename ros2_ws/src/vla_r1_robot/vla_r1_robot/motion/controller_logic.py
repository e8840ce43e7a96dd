"""Executing a TaskPlan through ros2_control controllers: every decision, as plain functions (no rclpy).

controller_execution.py moves messages; what it sends and when a step is done is decided here:
- which command a step becomes (``arm_command``, ``gripper_command``) and the hold (``hold_command``);
- when a step is done (``StepWatch``): an arm segment when the trajectory's time has passed (the
  joint_trajectory_controller's rule) and every joint is within ``goal_tolerance_rad`` of its last
  point; a gripper step when the finger is within ``gripper_tolerance_m`` of the commanded opening,
  or, while closing, when it has moved and then stood still for ``gripper_stall_s`` (an object
  stops it: a grasp never reaches the commanded width). Both before
  ``time_from_start(last) * segment_timeout_factor + segment_timeout_margin_s``;
- the messages that name a failed step ("segment 3 (lift) ...", with the tolerance).

Commands are plain data (``TrajectoryCommand``); conversions happen in the ROS layer.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla_r1_model.validation import non_empty_text, one_of, positive_number

from .robot_profile import PANDA

HOLD_TIME_S = 0.1  # the hold point's time_from_start: a JTC then holds there
INTERFACES = ("auto", "action", "topic")
GRIPPER_MOVED_M = 0.001  # a closing finger must move this far before standing still counts as a grasp


@dataclass(frozen=True)
class ControllerConfig:
    """The controllers, joints and tolerances (node parameters ``execution.*`` of the same names)."""

    controller_interface: str = "auto"  # auto: control_msgs actions where importable, else the topics
    arm_controller: str = PANDA.arm_controller
    gripper_controller: str = PANDA.gripper_controller
    arm_joints: tuple[str, ...] = PANDA.arm_joints
    gripper_joint: str = PANDA.finger_joints[0]  # one finger's travel: commanded opening = width_m / 2
    joint_states_topic: str = "/joint_states"
    joint_state_max_age_s: float = 0.5  # an older /joint_states is not "the current position"
    start_tolerance_rad: float = 0.05  # the arm must be this close to a plan's first point to start it
    goal_tolerance_rad: float = 0.01
    gripper_tolerance_m: float = 0.005
    gripper_duration_s: float = 1.0  # time_from_start of a gripper command's point
    gripper_stall_s: float = 0.2
    gripper_stall_speed_m_s: float = 0.002  # slower than this = standing still
    segment_timeout_factor: float = 1.5
    segment_timeout_margin_s: float = 2.0

    def __post_init__(self) -> None:
        one_of("execution.controller_interface", self.controller_interface, INTERFACES)
        for name in ("arm_controller", "gripper_controller", "gripper_joint", "joint_states_topic"):
            non_empty_text(f"execution.{name}", getattr(self, name), "name")
        joints = tuple(self.arm_joints)
        if not joints or not all(isinstance(j, str) and j for j in joints) or len(set(joints)) != len(joints):
            raise ValueError(f"execution.arm_joints must be unique non-empty joint names, got {list(joints)}")
        object.__setattr__(self, "arm_joints", joints)
        for name in (
            "joint_state_max_age_s",
            "start_tolerance_rad",
            "goal_tolerance_rad",
            "gripper_tolerance_m",
            "gripper_duration_s",
            "gripper_stall_s",
            "gripper_stall_speed_m_s",
        ):
            positive_number(f"execution.{name}", getattr(self, name))
        if not (isinstance(self.segment_timeout_factor, (int, float)) and self.segment_timeout_factor >= 1):
            raise ValueError(f"execution.segment_timeout_factor must be >= 1, got {self.segment_timeout_factor!r}")
        if not (math.isfinite(self.segment_timeout_margin_s) and self.segment_timeout_margin_s >= 0):
            raise ValueError(f"execution.segment_timeout_margin_s must be >= 0, got {self.segment_timeout_margin_s!r}")

    def timeout_s(self, duration_s: float) -> float:
        return duration_s * self.segment_timeout_factor + self.segment_timeout_margin_s


# --- commands -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectoryCommand:
    """What one JointTrajectory (or FollowJointTrajectory / GripperCommand goal) carries."""

    target: str  # "arm" | "gripper"
    joint_names: tuple[str, ...]
    positions: np.ndarray  # (T, N)
    time_from_start_s: np.ndarray  # (T,)
    velocities: np.ndarray | None = None  # (T, N)
    effort: tuple[float, ...] = ()  # gripper: the force limit (N), one value for the one point

    @property
    def duration_s(self) -> float:
        return float(self.time_from_start_s[-1])

    @property
    def goal(self) -> dict[str, float]:
        return dict(zip(self.joint_names, (float(v) for v in self.positions[-1]), strict=True))


def step_name(step: Any) -> str:
    """ "lift", "approach" for an arm segment; "gripper open" / "gripper close" for a gripper step."""
    role = getattr(step, "role", None)
    return role if role is not None else f"gripper {step.action}"


def step_label(index: int, step: Any) -> str:
    """How results and logs name a step: ``segment 3 (lift)`` (0-based over all steps of the plan)."""
    return f"segment {index} ({step_name(step)})"


def arm_command(segment: Any, config: ControllerConfig) -> TrajectoryCommand:
    """The segment's trajectory for the arm controller; its joints must be the configured arm joints."""
    trajectory = segment.trajectory
    if set(trajectory.joint_names) != set(config.arm_joints):
        raise ValueError(
            f"the plan's joints {list(trajectory.joint_names)} are not execution.arm_joints {list(config.arm_joints)}"
        )
    return TrajectoryCommand(
        "arm",
        tuple(trajectory.joint_names),
        np.asarray(trajectory.positions),
        np.asarray(trajectory.time_from_start_s),
        None if trajectory.velocities is None else np.asarray(trajectory.velocities),
    )


def gripper_command(command: Any, config: ControllerConfig) -> TrajectoryCommand:
    """One point: the finger joint at half the commanded width, the force as its effort limit."""
    return TrajectoryCommand(
        "gripper",
        (config.gripper_joint,),
        np.array([[command.width_m / 2.0]]),
        np.array([config.gripper_duration_s]),
        None,
        (float(command.force_n),),
    )


def hold_command(current: dict[str, float], config: ControllerConfig) -> TrajectoryCommand:
    """The arm held where it is: one point at the measured positions, zero velocity, HOLD_TIME_S."""
    positions = np.array([[current[j] for j in config.arm_joints]])
    return TrajectoryCommand("arm", config.arm_joints, positions, np.array([HOLD_TIME_S]), np.zeros_like(positions))


# --- joint states ---------------------------------------------------------------------------------


class JointStateSlot:
    """The newest /joint_states as {name: position} and its receipt time; the executor waits on it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._positions: dict[str, float] = {}
        self._received: float | None = None
        self.count = 0

    def put(self, names, positions) -> None:
        with self._condition:
            # a JointState's position array is either one per name or empty (a message of efforts only)
            self._positions = {**self._positions, **{n: float(p) for n, p in zip(names, positions, strict=False)}}
            self._received = self._clock()
            self.count += 1
            self._condition.notify_all()

    def latest(self) -> tuple[dict[str, float], float | None, int]:
        """(positions, receipt time or None, how many messages so far)."""
        with self._condition:
            return dict(self._positions), self._received, self.count

    def wait_newer(self, count: int, timeout_s: float) -> None:
        """Return when a message after the ``count``-th arrived, or after ``timeout_s``."""
        with self._condition:
            self._condition.wait_for(lambda: self.count > count, timeout=timeout_s)


def fresh_positions(
    positions: dict[str, float], received: float | None, now: float, joints, max_age_s: float
) -> tuple[dict[str, float] | None, str]:
    """The named joints' positions when the newest joint state is fresh and names them all, else (None, why)."""
    if received is None:
        return None, "no joint state received yet"
    age = now - received
    if age > max_age_s:
        return None, f"the newest joint state is {age:.2f} s old (execution.joint_state_max_age_s {max_age_s})"
    missing = [j for j in joints if j not in positions]
    if missing:
        return None, f"the joint states do not name {missing}"
    return {j: positions[j] for j in joints}, ""


def start_deviation(command: TrajectoryCommand, current: dict[str, float]) -> tuple[str, float]:
    """(joint, |current - first point|) of the joint farthest from the command's first point."""
    errors = {j: abs(current[j] - float(command.positions[0, k])) for k, j in enumerate(command.joint_names)}
    joint = max(errors, key=errors.__getitem__)
    return joint, errors[joint]


# --- when a step is done --------------------------------------------------------------------------


@dataclass
class StepWatch:
    """Follows one step from the moment its command was sent; ``update`` with each joint state."""

    command: TrajectoryCommand
    config: ControllerConfig
    sent_s: float
    closing: bool = False  # gripper: closing (may stall on an object)
    # the finger's position when the command was sent: "it moved" is judged against it, not against the
    # first state seen after sending (a burst of states read late may already show it closed on the object)
    start_position: float | None = None
    _history: deque = field(default_factory=deque)
    worst: tuple[str, float] = ("", math.inf)

    @property
    def deadline_s(self) -> float:
        return self.sent_s + self.config.timeout_s(self.command.duration_s)

    def update(self, now_s: float, positions: dict[str, float]) -> str:
        """ "done", "running" or "timeout" for a joint state received at ``now_s``."""
        goal = self.command.goal
        errors = {j: abs(positions[j] - g) for j, g in goal.items()}
        joint = max(errors, key=errors.__getitem__)
        self.worst = (joint, errors[joint])
        if self.command.target == "arm":
            reached = errors[joint] <= self.config.goal_tolerance_rad
            done = reached and now_s - self.sent_s >= self.command.duration_s
        else:
            done = errors[joint] <= self.config.gripper_tolerance_m or self._stalled(now_s, positions[joint])
        if done:
            return "done"
        return "timeout" if now_s >= self.deadline_s else "running"

    def _stalled(self, now_s: float, position: float) -> bool:
        if not self.closing:
            return False
        if self.start_position is None:
            self.start_position = position
        self._history.append((now_s, position))
        while len(self._history) > 1 and now_s - self._history[1][0] >= self.config.gripper_stall_s:
            self._history.popleft()  # keep just over stall_s of samples
        first_t, _ = self._history[0]
        if now_s - first_t < self.config.gripper_stall_s or abs(position - self.start_position) < GRIPPER_MOVED_M:
            return False
        values = [p for _, p in self._history]
        return max(values) - min(values) <= self.config.gripper_stall_speed_m_s * self.config.gripper_stall_s

    def failure(self, label: str) -> str:
        """The result message of a step that timed out."""
        joint, error = self.worst
        limit = self.config.timeout_s(self.command.duration_s)
        if self.command.target == "arm":
            tolerance = f"execution.goal_tolerance_rad {self.config.goal_tolerance_rad}"
            unit = "rad"
        else:
            tolerance = (
                f"execution.gripper_tolerance_m {self.config.gripper_tolerance_m}, and it did not stall on an object"
            )
            unit = "m"
        return (
            f"{label} did not reach its goal within {limit:.2f} s ({self.command.duration_s:.2f} s x "
            f"{self.config.segment_timeout_factor} + {self.config.segment_timeout_margin_s} s): {joint} is "
            f"{error:.4f} {unit} from it (tolerance {tolerance})"
        )


@dataclass(frozen=True)
class ExecutionReport:
    """How executing a task plan ended. ``executed`` only when every step finished within tolerance."""

    executed: bool
    cancelled: bool
    steps_total: int
    steps_completed: int
    error: str | None = None
    step_seconds: tuple[tuple[str, float], ...] = ()  # (label, seconds) per finished step

    def __post_init__(self) -> None:
        if self.executed and (self.cancelled or self.error or self.steps_completed != self.steps_total):
            raise ValueError("an executed plan finished every step, without error or cancel")
