"""Carry out a TaskPlan on the simulated cell, and stop where a real cell would stop.

Arm segments are tracked at the simulator's rate: the set-point is the trajectory sampled as a
ROS joint_trajectory_controller samples it (cubic Hermite on positions and velocities), with the
velocity as feed-forward. A gripper command drives the fingers until they stop moving (or a timeout).

Detectors, checked every ``check_every_steps`` steps; the first that fires stops execution:
- ``arm_table_collision``: any robot body touching the table, the floor or the pedestal;
- ``excessive_contact_force``: a finger touches an object that the table pushes back on with more
  than its weight plus ``max_press_force_n`` (a finger pressing the object into the table);
- ``object_dropped``: during the lift (and the carry) the grasped object falls behind the
  fingertips by more than ``drop_distance_m`` compared with when the lift began;
- ``empty_grasp``: after closing, no object is held between both fingers;
- ``simulation_unstable``: MuJoCo met non-finite states (and reset them): the episode's
  physics are void, whatever it looks like afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla_r1_model.validation import non_negative_number

from ..motion.robot_profile import PANDA
from ..motion.task import ArmSegment, GripperCommand, TaskPlan
from .cell import TIMESTEP_S, Contact, SimCell

DETECTORS = ("arm_table_collision", "excessive_contact_force", "object_dropped", "empty_grasp", "simulation_unstable")
TABLE_BODIES = ("world",)  # the table, the floor and the pedestal are world geoms
STAGE_OF_ROLE = {"approach": "execute", "path": "execute", "lift": "lift", "place": "place", "retreat": "place"}


@dataclass(frozen=True)
class ExecutionConfig:
    settle_s: float = 0.2  # after each arm segment, holding its last point
    gripper_timeout_s: float = 1.0
    gripper_still_m_s: float = 0.002  # the fingers are done when slower than this
    max_press_force_n: float = 60.0
    press_window_s: float = 0.05  # the press must last this long (contact impacts spike for a step or two)
    drop_distance_m: float = 0.02
    check_every_steps: int = 5  # 10 ms
    video_fps: float = 0.0  # side-camera frames per second of simulated time (0: none)
    log_every_s: float = 0.02  # joint log for the report

    def __post_init__(self) -> None:
        for name in (
            "settle_s",
            "gripper_timeout_s",
            "gripper_still_m_s",
            "max_press_force_n",
            "press_window_s",
            "drop_distance_m",
            "video_fps",
            "log_every_s",
        ):
            non_negative_number(name, getattr(self, name))
        if self.check_every_steps < 1:
            raise ValueError(f"check_every_steps must be >= 1, got {self.check_every_steps}")


@dataclass(frozen=True)
class Stop:
    """Why execution stopped: the detector, the stage it stopped (execute | close | lift | place), the reason."""

    detector: str
    stage: str
    reason: str
    time_s: float

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; known: {DETECTORS}")


@dataclass
class ExecutionResult:
    stop: Stop | None = None
    held_object: str | None = None
    log_t_s: list[float] = field(default_factory=list)
    log_q_desired: list[list[float]] = field(default_factory=list)
    log_q: list[list[float]] = field(default_factory=list)
    log_width_m: list[float] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)  # name, start and end time (s)
    video: list[np.ndarray] = field(default_factory=list)
    max_tracking_error_rad: float = 0.0
    max_press_force_n: float = 0.0


# ------------------------------------------------------------------ detectors (pure functions over contacts)
def arm_table_collision(contacts: list[Contact]) -> Contact | None:
    """The first contact between a robot body and the table/floor/pedestal, or None."""
    for c in contacts:
        pair = {c.body1, c.body2}
        if pair & set(TABLE_BODIES) and any(b.startswith("panda_") for b in pair):
            return c
    return None


def press_forces(contacts: list[Contact], weights_n: dict[str, float]) -> dict[str, float]:
    """Per object touched by a finger: how much more than its weight the table pushes back (N)."""
    touched = {
        b
        for c in contacts
        for b in (c.body1, c.body2)
        if b in weights_n and ({c.body1, c.body2} & set(PANDA.finger_links))
    }
    support: dict[str, float] = {}
    for c in contacts:
        for obj, other in ((c.body1, c.body2), (c.body2, c.body1)):
            if obj in touched and other in TABLE_BODIES:
                support[obj] = support.get(obj, 0.0) + c.normal_force_n
    return {obj: support.get(obj, 0.0) - weights_n[obj] for obj in touched}


def held_objects(contacts: list[Contact], object_names) -> list[str]:
    """Objects touched by both fingers."""
    touching: dict[str, set[str]] = {}
    for c in contacts:
        for finger, other in ((c.body1, c.body2), (c.body2, c.body1)):
            if finger in PANDA.finger_links and other in object_names:
                touching.setdefault(other, set()).add(finger)
    return [name for name, fingers in touching.items() if len(fingers) == 2]


def dropped(distance_now_m: float, distance_at_lift_m: float, limit_m: float) -> bool:
    return distance_now_m - distance_at_lift_m > limit_m


# ------------------------------------------------------------------ execution
class _Runner:
    def __init__(self, cell: SimCell, config: ExecutionConfig) -> None:
        self.cell, self.config = cell, config
        self.result = ExecutionResult()
        model = cell.model
        gravity = float(abs(model.opt.gravity[2]))
        self.weights_n = {
            name: float(model.body_subtreemass[body]) * gravity for name, body in cell.object_bodies.items()
        }
        self.steps = 0
        self.next_log = 0.0
        self.next_video = 0.0
        self.watch_drop: tuple[str, float] | None = None  # (object, fingertip distance when the lift began)
        self.q_desired = cell.arm_positions()
        self.press_history: dict[str, list[float]] = {}
        self.press_window = max(1, round(config.press_window_s / (TIMESTEP_S * config.check_every_steps)))

    def _record(self) -> None:
        cell, cfg, res = self.cell, self.config, self.result
        t = cell.time_s
        if t + 1e-9 >= self.next_log:
            res.log_t_s.append(round(t, 4))
            res.log_q_desired.append(np.round(self.q_desired, 5).tolist())
            res.log_q.append(np.round(cell.arm_positions(), 5).tolist())
            res.log_width_m.append(round(cell.finger_width_m(), 5))
            self.next_log = t + cfg.log_every_s
        if cfg.video_fps > 0 and t + 1e-9 >= self.next_video:
            res.video.append(cell.render_side())
            self.next_video = t + 1.0 / cfg.video_fps

    def _check(self, stage: str) -> Stop | None:
        cell, cfg, res = self.cell, self.config, self.result
        if cell.unstable():
            return Stop(
                "simulation_unstable",
                stage,
                "MuJoCo met non-finite or huge positions, velocities or accelerations and reset the state",
                cell.time_s,
            )
        contacts = cell.contacts()
        hit = arm_table_collision(contacts)
        if hit is not None:
            robot = hit.body1 if hit.body1.startswith("panda_") else hit.body2
            return Stop(
                "arm_table_collision",
                stage,
                f"{robot} touched the table ({hit.normal_force_n:.1f} N) at t = {cell.time_s:.2f} s",
                cell.time_s,
            )
        pressing = press_forces(contacts, self.weights_n)
        for obj in self.weights_n:
            history = self.press_history.setdefault(obj, [])
            history.append(pressing.get(obj, 0.0))
            del history[: -self.press_window]
            force = min(history) if len(history) == self.press_window else 0.0  # sustained over the window
            res.max_press_force_n = max(res.max_press_force_n, force)
            if force > cfg.max_press_force_n:
                return Stop(
                    "excessive_contact_force",
                    stage,
                    f"the fingers press {obj} into the table with {force:.1f} N beyond its weight "
                    f"for {cfg.press_window_s * 1e3:.0f} ms (limit {cfg.max_press_force_n:.1f} N) "
                    f"at t = {cell.time_s:.2f} s",
                    cell.time_s,
                )
        if self.watch_drop is not None:
            obj, start = self.watch_drop
            distance = float(np.linalg.norm(cell.object_position(obj) - cell.fingertip_centre_base_m()))
            if dropped(distance, start, cfg.drop_distance_m):
                return Stop(
                    "object_dropped",
                    stage,
                    f"{obj} dropped during the {stage}: {distance * 100:.1f} cm from the fingertips, "
                    f"{start * 100:.1f} cm when the lift began (limit +{cfg.drop_distance_m * 100:.1f} cm)",
                    cell.time_s,
                )
        return None

    def _advance(self, stage: str) -> Stop | None:
        self.cell.step(1)
        self.steps += 1
        self._record()
        if self.steps % self.config.check_every_steps == 0:
            return self._check(stage)
        return None

    def arm(self, segment: ArmSegment) -> Stop | None:
        cell, cfg, res = self.cell, self.config, self.result
        stage = STAGE_OF_ROLE.get(segment.role, "execute")
        trajectory = segment.trajectory
        n = math.ceil((trajectory.duration_s + cfg.settle_s) / TIMESTEP_S)
        times = np.arange(1, n + 1) * TIMESTEP_S
        positions = trajectory.sample(times)
        half = TIMESTEP_S / 2
        velocities = (trajectory.sample(times + half) - trajectory.sample(times - half)) / TIMESTEP_S
        velocities[times > trajectory.duration_s] = 0.0
        start = cell.time_s
        if stage in ("lift", "place") and res.held_object is not None and self.watch_drop is None:
            obj = res.held_object
            self.watch_drop = (obj, float(np.linalg.norm(cell.object_position(obj) - cell.fingertip_centre_base_m())))
        for q, qd in zip(positions, velocities, strict=True):
            self.q_desired = q
            cell.command_arm(q, qd)
            stop = self._advance(stage)
            res.max_tracking_error_rad = max(res.max_tracking_error_rad, float(np.abs(cell.arm_positions() - q).max()))
            if stop is not None:
                return stop
        res.segments.append({"name": f"arm:{segment.role}", "start_s": round(start, 4), "end_s": round(cell.time_s, 4)})
        return None

    def gripper(self, command: GripperCommand, target_object: str | None) -> Stop | None:
        cell, cfg, res = self.cell, self.config, self.result
        stage = "close" if command.action == "close" else "execute"
        start = cell.time_s
        cell.command_gripper(command.width_m, command.force_n)
        previous = cell.finger_width_m()
        window = max(1, round(0.05 / TIMESTEP_S))
        min_steps = round(0.1 / TIMESTEP_S)
        for k in range(1, math.ceil(cfg.gripper_timeout_s / TIMESTEP_S) + 1):
            stop = self._advance(stage)
            if stop is not None:
                return stop
            if k % window == 0:
                width = cell.finger_width_m()
                if k >= min_steps and abs(width - previous) / (window * TIMESTEP_S) < cfg.gripper_still_m_s:
                    break
                previous = width
        res.segments.append(
            {"name": f"gripper:{command.action}", "start_s": round(start, 4), "end_s": round(cell.time_s, 4)}
        )
        if command.action == "close":
            held = held_objects(cell.contacts(), cell.object_bodies)
            if not held:
                return Stop(
                    "empty_grasp",
                    "close",
                    f"the gripper closed on nothing: width {cell.finger_width_m() * 1e3:.1f} mm, "
                    "no object between both fingers",
                    cell.time_s,
                )
            res.held_object = target_object if target_object in held else held[0]
        else:
            res.held_object = None
            self.watch_drop = None
        return None


def execute_plan(
    cell: SimCell, plan: TaskPlan, config: ExecutionConfig | None = None, target_object: str | None = None
) -> ExecutionResult:
    """Run every step of ``plan`` on ``cell`` from its current state; stops at the first detector that fires."""
    runner = _Runner(cell, config or ExecutionConfig())
    runner._record()
    for step in plan.steps:
        stop = runner.gripper(step, target_object) if isinstance(step, GripperCommand) else runner.arm(step)
        if stop is not None:
            runner.result.stop = stop
            break
    return runner.result


def hold(
    cell: SimCell,
    seconds: float,
    result: ExecutionResult | None = None,
    config: ExecutionConfig | None = None,
    stage: str = "lift",
) -> Stop | None:
    """Keep the last set-points for ``seconds`` (the detectors stay on): the wait before judging."""
    runner = _Runner(cell, config or ExecutionConfig())
    if result is not None:
        runner.result = result
        if result.held_object is not None:
            obj = result.held_object
            runner.watch_drop = (obj, float(np.linalg.norm(cell.object_position(obj) - cell.fingertip_centre_base_m())))
    for _ in range(round(seconds / TIMESTEP_S)):
        stop = runner._advance(stage)
        if stop is not None:
            return stop
    return None
