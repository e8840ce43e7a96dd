"""The task layer: grounded targets become a robot task — arm segments and gripper commands in order.

ROS-free and used alike by replay, the node and the simulator (``vla_r1_ros.sim``).

- An affordance (``GroundedTargets.kind == "grasp"``) becomes a PICK: open the gripper, move to the
  pre-grasp, descend to the grasp ``grasp_depth_m`` BELOW the grounded top surface (fingertips on a
  top face only pinch its edge; round objects slip out), close the gripper, lift ``lift_height_m``
  straight up, and optionally carry the object to ``place_position_base_m``, open and retreat.
- A trajectory (``kind == "path"``) becomes the Cartesian path with the gripper held in one state.

Safety applies to every arm segment (the lift and the place included) and to the REAL fingertip
points: the bottom corners of the two finger pads, at the commanded opening, a pad length beyond the
tool point along the approach. Nothing here moves anything: the plan is plain data (frozen
dataclasses, no ROS messages) that an executor — the simulator, or the ROS layer — carries out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from vla_r1_model.validation import finite_number, one_of

from ..perception.grounding import GroundedTargets
from .planning import JointTrajectory, Planner, PlanningError
from .robot_profile import PANDA
from .safety import SafetyConfig, SafetyViolation, check_targets, check_tool_points

GRIPPER_ACTIONS = ("open", "close")
TASK_STAGES = ("safety", "planning")
BASE_Z = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class TaskConfig:
    """How a grounded answer becomes a task. Lengths in metres, forces in newtons.

    Defaults grasp the demo objects (docs/simulation.md has the measurements): with the fingertip
    centre AT the grounded top surface a sphere slips out of the pads' upper edge; 2 cm below it, the
    pads (18.5 mm tall on the Panda) close around the object's upper body.
    """

    grasp_depth_m: float = 0.02  # tool point this far below the grounded grasp point, along the approach
    gripper_open_width_m: float = PANDA.gripper_open_width_m
    gripper_close_width_m: float = 0.0  # commanded width when closing (the object stops the fingers)
    gripper_force_n: float = 20.0  # squeezing force of a closing gripper
    lift_height_m: float = 0.10  # straight up along base z after closing
    # Optional place: carried above this point (tool point, base frame) at the lift height, lowered, released.
    place_position_base_m: tuple[float, float, float] | None = None
    retreat_height_m: float = 0.08  # after a place: up this far with the gripper open
    trajectory_gripper: str = "open"  # the state held along a trajectory answer
    # The finger pad reaches this far beyond the tool point along the approach, and its outer edge
    # this far from the closing plane beyond the opening (the robot profile's pads).
    finger_pad_extent_m: float = PANDA.finger_pad_extent_m
    finger_pad_thickness_m: float = PANDA.finger_pad_thickness_m

    def __post_init__(self) -> None:
        finite_number("grasp_depth_m", self.grasp_depth_m, 0.0)
        finite_number("gripper_open_width_m", self.gripper_open_width_m, 0.0, strict=True)
        finite_number("gripper_close_width_m", self.gripper_close_width_m, 0.0)
        if self.gripper_close_width_m >= self.gripper_open_width_m:
            raise ValueError(
                f"gripper_close_width_m ({self.gripper_close_width_m}) must be below "
                f"gripper_open_width_m ({self.gripper_open_width_m})"
            )
        finite_number("gripper_force_n", self.gripper_force_n, 0.0, strict=True)
        finite_number("lift_height_m", self.lift_height_m, 0.0)
        finite_number("retreat_height_m", self.retreat_height_m, 0.0)
        finite_number("finger_pad_extent_m", self.finger_pad_extent_m, 0.0)
        finite_number("finger_pad_thickness_m", self.finger_pad_thickness_m, 0.0)
        one_of("trajectory_gripper", self.trajectory_gripper, GRIPPER_ACTIONS)
        if self.place_position_base_m is not None:
            place = tuple(finite_number("place_position_base_m", v) for v in self.place_position_base_m)
            if len(place) != 3:
                raise ValueError(f"place_position_base_m must be 3 numbers (x, y, z), got {len(place)}")
            object.__setattr__(self, "place_position_base_m", place)
        for f in fields(self):
            if isinstance(getattr(self, f.name), (int, np.integer, np.floating)) and not isinstance(
                getattr(self, f.name), bool
            ):
                object.__setattr__(self, f.name, float(getattr(self, f.name)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown task config keys {unknown}; known keys: {sorted(known)}")
        values = dict(data)
        if isinstance(values.get("place_position_base_m"), list):
            values["place_position_base_m"] = tuple(values["place_position_base_m"])
        return cls(**values)


@dataclass(frozen=True)
class GripperCommand:
    """Open or close the gripper to ``width_m`` (distance between the pads) with at most ``force_n``."""

    action: str
    width_m: float
    force_n: float

    def __post_init__(self) -> None:
        if self.action not in GRIPPER_ACTIONS:
            raise ValueError(f"gripper action must be one of {GRIPPER_ACTIONS}, got {self.action!r}")
        finite_number("width_m", self.width_m, 0.0)
        finite_number("force_n", self.force_n, 0.0, strict=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "gripper", "action": self.action, "width_m": self.width_m, "force_n": self.force_n}


@dataclass(frozen=True, eq=False)
class ArmSegment:
    """One timed joint trajectory and the tip poses it reaches; ``role``: approach, lift, place, retreat, path."""

    role: str
    trajectory: JointTrajectory
    targets_base_T_tip: tuple[np.ndarray, ...]
    grasp_points_base_m: np.ndarray  # (K, 3) tool points of the targets

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "arm",
            "role": self.role,
            "n_targets": len(self.targets_base_T_tip),
            "grasp_points_base_m": np.round(self.grasp_points_base_m, 6).tolist(),
            "trajectory": self.trajectory.summary(),
        }


TaskStep = GripperCommand | ArmSegment


@dataclass(frozen=True, eq=False)
class TaskPlan:
    """Steps in execution order. ``kind``: "pick" (affordance) or "path" (trajectory)."""

    kind: str
    steps: tuple[TaskStep, ...]
    grasp_point_base_m: np.ndarray | None = None  # where the fingertips close (pick)

    def __post_init__(self) -> None:
        if self.kind not in ("pick", "path"):
            raise ValueError(f"kind must be 'pick' or 'path', got {self.kind!r}")
        if not self.steps:
            raise ValueError("a task plan needs at least one step")
        object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def arm_segments(self) -> tuple[ArmSegment, ...]:
        return tuple(s for s in self.steps if isinstance(s, ArmSegment))

    @property
    def duration_s(self) -> float:
        return sum(s.trajectory.duration_s for s in self.arm_segments)

    def step_names(self) -> list[str]:
        """``["gripper:open", "arm:approach", "gripper:close", "arm:lift"]`` and so on."""
        return [f"gripper:{s.action}" if isinstance(s, GripperCommand) else f"arm:{s.role}" for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "steps": [s.to_dict() for s in self.steps],
            "duration_s": self.duration_s,
            "grasp_point_base_m": None
            if self.grasp_point_base_m is None
            else np.round(self.grasp_point_base_m, 6).tolist(),
        }


class TaskError(RuntimeError):
    """The task could not be planned: ``stage`` (safety | planning), the segment, the reason."""

    def __init__(self, stage: str, segment: str, reason: str, violations: Sequence[SafetyViolation] = ()) -> None:
        if stage not in TASK_STAGES:
            raise ValueError(f"unknown task stage {stage!r}; known: {TASK_STAGES}")
        self.stage, self.segment, self.reason = stage, segment, reason
        self.violations = tuple(violations)
        super().__init__(f"{stage} refused the {segment} segment: {reason}")


def _translated(base_T_tip: np.ndarray, offset_base_m: np.ndarray) -> np.ndarray:
    pose = np.array(base_T_tip, dtype=np.float64)
    pose[:3, 3] += offset_base_m
    return pose


def fingertip_points(base_T_grasp: np.ndarray, width_m: float, config: TaskConfig) -> np.ndarray:
    """(2, 3) lowest outer points of the two finger pads for a tool pose opened to ``width_m``: the
    points that touch the table first (what ``tool_min_z_m`` must hold for, not only the pad centre)."""
    rotation, tool = base_T_grasp[:3, :3], base_T_grasp[:3, 3]
    closing, approach = rotation[:, 1], rotation[:, 2]
    half = width_m / 2.0 + config.finger_pad_thickness_m
    bottom = tool + config.finger_pad_extent_m * approach
    return np.stack([bottom + half * closing, bottom - half * closing])


@dataclass(frozen=True, eq=False)
class _SegmentSpec:
    role: str
    poses_base_T_grasp: tuple[np.ndarray, ...]
    width_m: float  # gripper opening while this segment moves


def _split(poses: Sequence[np.ndarray], max_step_m: float) -> tuple[np.ndarray, ...]:
    """Straight pieces no longer than ``max_step_m`` between consecutive poses (the orientation of the
    later pose held along the piece), so a long lift or carry is not refused by the step rule."""
    out = [np.asarray(poses[0])]
    for pose in poses[1:]:
        start = out[-1][:3, 3]
        offset = np.asarray(pose)[:3, 3] - start
        pieces = max(1, math.ceil(float(np.linalg.norm(offset)) / max_step_m - 1e-9))
        for k in range(1, pieces):
            out.append(_translated(pose, start + offset * k / pieces - np.asarray(pose)[:3, 3]))
        out.append(np.asarray(pose))
    return tuple(out)


def _tip_poses(poses_base_T_grasp: Sequence[np.ndarray], grasp_T_tip: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(p) @ grasp_T_tip for p in poses_base_T_grasp)


def check_segment(
    spec: _SegmentSpec, grasp_T_tip: np.ndarray, safety: SafetyConfig, config: TaskConfig
) -> list[SafetyViolation]:
    """Safety of one segment: tip-link rules on every pose, the floor on every real fingertip point."""
    tips = _tip_poses(spec.poses_base_T_grasp, grasp_T_tip)
    violations = check_targets(np.array([t[:3, 3] for t in tips]), safety)
    points = np.concatenate([fingertip_points(p, spec.width_m, config) for p in spec.poses_base_T_grasp])
    violations += check_tool_points(points, safety)
    return violations


def _segments_for(
    targets: GroundedTargets, config: TaskConfig
) -> tuple[str, list[GripperCommand | _SegmentSpec], np.ndarray | None]:
    open_cmd = GripperCommand("open", config.gripper_open_width_m, config.gripper_force_n)
    if targets.kind == "path":
        held = (
            open_cmd
            if config.trajectory_gripper == "open"
            else GripperCommand("close", config.gripper_close_width_m, config.gripper_force_n)
        )
        poses = tuple(t.base_T_grasp for t in targets.targets)
        return "path", [held, _SegmentSpec("path", poses, held.width_m)], None
    pregrasp, grasp = targets.targets[0], targets.targets[-1]
    approach = np.asarray(grasp.base_T_grasp)[:3, 2]
    deep = _translated(grasp.base_T_grasp, config.grasp_depth_m * approach)
    lifted = _translated(deep, config.lift_height_m * BASE_Z)
    close_cmd = GripperCommand("close", config.gripper_close_width_m, config.gripper_force_n)
    # While closed on an object the pads are as far apart as the object is wide; the open width bounds it.
    steps: list = [
        open_cmd,
        _SegmentSpec("approach", (pregrasp.base_T_grasp, deep), config.gripper_open_width_m),
        close_cmd,
        _SegmentSpec("lift", (deep, lifted), config.gripper_open_width_m),
    ]
    if config.place_position_base_m is not None:
        place = np.array(deep)
        place[:3, 3] = config.place_position_base_m
        above = _translated(place, (lifted[2, 3] - place[2, 3]) * BASE_Z)
        retreat = _translated(place, config.retreat_height_m * BASE_Z)
        steps += [
            _SegmentSpec("place", (lifted, above, place), config.gripper_open_width_m),
            open_cmd,
            _SegmentSpec("retreat", (place, retreat), config.gripper_open_width_m),
        ]
    return "pick", steps, deep[:3, 3].copy()


def plan_task(
    targets: GroundedTargets,
    planner: Planner | None,
    start_positions: np.ndarray,
    safety: SafetyConfig,
    grasp_T_tip: np.ndarray,
    config: TaskConfig | None = None,
) -> TaskPlan:
    """The task for grounded ``targets``: every segment checked, then planned from where the last one ended.

    ``grasp_T_tip``: inverse of the tool offset (``GroundingConfig.grasp_T_tip``). Raises TaskError
    (stage ``safety`` before anything is planned, or ``planning``) naming the segment. With
    ``planner=None`` the segments are checked but not planned (a TaskError is raised: nothing to execute).
    """
    config = config or TaskConfig()
    kind, specs, grasp_point = _segments_for(targets, config)
    step_m = 0.9 * safety.max_step_m
    specs = [
        s
        if isinstance(s, GripperCommand) or s.role == "path"
        else _SegmentSpec(s.role, _split(s.poses_base_T_grasp, step_m), s.width_m)
        for s in specs
    ]
    for spec in specs:  # every segment is safe, or nothing is planned at all
        if isinstance(spec, _SegmentSpec):
            violations = check_segment(spec, grasp_T_tip, safety, config)
            if violations:
                message = "; ".join(v.message for v in violations[:3]) + (
                    f"; and {len(violations) - 3} more" if len(violations) > 3 else ""
                )
                raise TaskError("safety", spec.role, message, violations)
    if planner is None:
        first = next(s for s in specs if isinstance(s, _SegmentSpec))
        raise TaskError("planning", first.role, "no planner (plan-only without a robot model)")
    steps: list[TaskStep] = []
    q = np.asarray(start_positions, dtype=np.float64)
    for spec in specs:
        if isinstance(spec, GripperCommand):
            steps.append(spec)
            continue
        tips = _tip_poses(spec.poses_base_T_grasp, grasp_T_tip)
        try:
            trajectory = planner.plan(list(tips), q)
        except PlanningError as error:
            raise TaskError("planning", spec.role, str(error), error.violations) from error
        q = trajectory.positions[-1]
        steps.append(ArmSegment(spec.role, trajectory, tips, np.array([p[:3, 3] for p in spec.poses_base_T_grasp])))
    return TaskPlan(kind, tuple(steps), grasp_point)


def task_plan_summary(plan: TaskPlan | None) -> dict[str, Any] | None:
    return None if plan is None else plan.to_dict()


__all__ = [
    "ArmSegment",
    "GripperCommand",
    "TaskConfig",
    "TaskError",
    "TaskPlan",
    "TaskStep",
    "check_segment",
    "fingertip_points",
    "plan_task",
    "task_plan_summary",
]
